"""`Client` and `AsyncClient`: the same API, blocking or with asyncio. Everything but the sending and
the sleeping is in `protocol`, shared by both."""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Union

import httpx

from smolpix_client.errors import NotSent
from smolpix_client.protocol import (
    DEFAULT_TIMEOUT,
    Conversation,
    Outcome,
    Pacer,
    Requests,
    Retries,
    Step,
    Wait,
    optimize_result,
    usage_result,
)
from smolpix_client.results import OptimizeResult, PathLike, Usage

Timeout = Union[float, httpx.Timeout]


class _Base:
    _http_class: type[httpx.Client] | type[httpx.AsyncClient]

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retries: Retries | None = None,
        pace: bool = True,
    ) -> None:
        self._requests = Requests(api_key, base_url)
        self._retries = retries or Retries()
        self._pacer = Pacer() if pace else None
        self._http = self._http_class(timeout=timeout)

    @property
    def base_url(self) -> str:
        return self._requests.base_url

    def _conversation(self, request: httpx.Request) -> Conversation:
        return Conversation(request, retries=self._retries, pacer=self._pacer)


class Client(_Base):
    """The Smolpix API.

    `api_key` defaults to $SMOLPIX_API_KEY, `base_url` to $SMOLPIX_BASE_URL or https://smolpix.co.
    `retries` says what is retried (see `Retries`); with `pace` (the default) the client keeps within
    the account's per-minute rate limit by waiting, rather than collecting 429s. One client may be
    shared by threads; close it (or use it as a context manager) when done.
    """

    _http_class = httpx.Client
    _http: httpx.Client

    def optimize(
        self,
        *,
        url: str | None = None,
        file: PathLike | bytes | None = None,
        format: str | None = None,
        quality: int | None = None,
        max_width: int | None = None,
        smart: bool | None = None,
    ) -> OptimizeResult:
        """Optimize the image at `url` (fetched by the server) or in `file` (a path, or the bytes).

        `format` is "auto" (the smaller of WebP and AVIF), "webp" or "avif"; `quality` 1-100;
        `max_width` in pixels; `smart` content-aware compression. Options left at None take the
        API's defaults (auto, 80, 1920, true). Raises a `SmolpixError` subclass on failure.
        """
        request = self._requests.optimize(
            url=url, file=file, format=format, quality=quality, max_width=max_width, smart=smart
        )
        return optimize_result(self._send(request))

    def usage(self) -> Usage:
        """The account's plan, limits and this month's use."""
        return usage_result(self._send(self._requests.usage()))

    def _send(self, request: httpx.Request) -> httpx.Response:
        with self._conversation(request) as conversation:
            step = conversation.next_step(None)
            while step is not None:
                step = conversation.next_step(self._perform(step))
        return conversation.response

    def _perform(self, step: Step) -> Outcome:
        if isinstance(step, Wait):
            return time.sleep(step.seconds)
        try:
            return self._http.send(step)
        except httpx.HTTPError as error:  # the conversation decides what each means
            return error

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient(_Base):
    """`Client` for asyncio: the same arguments and methods, to be awaited. Calls made at once
    (`asyncio.gather`) share one connection pool and one pacer."""

    _http_class = httpx.AsyncClient
    _http: httpx.AsyncClient
    _stop: asyncio.Event | None = None  # made in the event loop, on first use (Python 3.9 binds it there)

    def stop_waiting(self) -> None:
        """From now on, calls that would wait before sending (for the rate limit's next minute, or a
        Retry-After) raise `NotSent` instead, those waiting now at once; requests in flight go on, so
        their answers are not lost. For stopping a batch (Ctrl-C) without sending anything more."""
        self._stop_event().set()

    def _stop_event(self) -> asyncio.Event:
        if self._stop is None:
            self._stop = asyncio.Event()
        return self._stop

    async def optimize(
        self,
        *,
        url: str | None = None,
        file: PathLike | bytes | None = None,
        format: str | None = None,
        quality: int | None = None,
        max_width: int | None = None,
        smart: bool | None = None,
    ) -> OptimizeResult:
        """See `Client.optimize`."""
        request = self._requests.optimize(
            url=url, file=file, format=format, quality=quality, max_width=max_width, smart=smart
        )
        return optimize_result(await self._send(request))

    async def usage(self) -> Usage:
        """See `Client.usage`."""
        return usage_result(await self._send(self._requests.usage()))

    async def _send(self, request: httpx.Request) -> httpx.Response:
        with self._conversation(request) as conversation:
            step = conversation.next_step(None)
            while step is not None:
                step = conversation.next_step(await self._perform(step))
        return conversation.response

    async def _perform(self, step: Step) -> Outcome:
        if isinstance(step, Wait):
            return await self._wait(step.seconds)
        try:
            return await self._http.send(step)
        except httpx.HTTPError as error:  # the conversation decides what each means
            return error

    async def _wait(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop_event().wait(), seconds)
        except asyncio.TimeoutError:
            return  # waited all the time asked, not stopped
        raise NotSent("Not sent: stopped while waiting to send")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()
