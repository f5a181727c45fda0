"""The conversation with the API, without any I/O, shared by `Client` and `AsyncClient`: building
requests, reading answers, keeping within the rate limit, and deciding when to wait, retry or give up.

`exchange` is a generator that yields what to do next (send this request, or wait this long) and is
sent back the outcome of each request (the response, or the transport error). Each client drives it
with its own way of sending and sleeping, so the sync and async clients behave alike by construction.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Union, cast

import httpx

from smolpix_client.errors import (
    ConnectionFailed,
    ImageTooLarge,
    InvalidApiKey,
    InvalidBaseUrl,
    MissingApiKey,
    QuotaHeldInFlight,
    RateLimited,
    ServiceUnavailable,
    SmolpixError,
    error_from_response,
    http_date,
    whole_number,
    without_credentials,
)
from smolpix_client.results import OptimizeResult, PathLike, QualityScore, Usage

DEFAULT_BASE_URL = "https://smolpix.co"
OPTIMIZE_PATH = "/api/v1/optimize"
USAGE_PATH = "/api/v1/usage"


def _version() -> str:
    try:
        return version("smolpix-client")
    except PackageNotFoundError:  # imported from a checkout without being installed
        return "unknown"


USER_AGENT = f"smolpix-python/{_version()}"
# An optimization may take a minute on the server (its task's time limit) before it answers.
DEFAULT_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
# The largest image the API takes (the server's OPTIMIZER_MAX_SOURCE_BYTES, 32 MiB by default).
MAX_UPLOAD_BYTES = 32 * 1024 * 1024
# The longest a request holds one of the month's images on the server, 110 s with its defaults (the
# image's fetch, OPTIMIZER_FETCH_TIMEOUT, 10 s, a worker's wait, OPTIMIZER_QUEUE_TIMEOUT, 10 s, its
# run, CELERY_TASK_TIME_LIMIT, 60 s, and 30 s of grace), with a margin: as long as this client
# gives an optimization to answer (DEFAULT_TIMEOUT).
IN_FLIGHT_WAIT_SECONDS = 120.0
# The formats the API returns; the result is saved under its format's name, so no other is taken.
OUTPUT_FORMATS = ("webp", "avif")


@dataclass(frozen=True)
class Wait:
    seconds: float


Step = Union[httpx.Request, Wait]
Outcome = Union[httpx.Response, httpx.HTTPError, None]  # None: a Wait is over


@dataclass(frozen=True)
class Retries:
    """When a request is sent again.

    A 429 "Rate limit exceeded" and a 503 are retried after their Retry-After (or, without one, with
    exponential backoff), unless Retry-After is longer than `max_wait`; a connection that fails or
    breaks is retried with backoff, but not an optimization the server took and did not answer in
    time (a read timeout: sent again, it could be done, and charged, twice). A 429 for the month's
    last images held by the account's requests in flight (`QuotaHeldInFlight`) is retried after each
    Retry-After, as often as it takes, for up to `max_in_flight_wait` seconds from the first: those
    requests end (and give their images back if they fail) within that. With `max_retries=0` no
    answer is retried, that one neither. A 429 for the monthly quota, and every other error, is final.
    """

    max_retries: int = 3  # retried answers (429 rate limit, 503) per request
    max_connection_retries: int = 2  # retried connection failures per request
    backoff: float = 0.5  # seconds before the first retry without a Retry-After; doubled each time
    max_backoff: float = 8.0
    max_wait: float = 60.0  # the longest Retry-After waited for (the rate limit's window is a minute)
    # The longest time to keep asking while the month's last images are held by requests in flight.
    max_in_flight_wait: float = IN_FLIGHT_WAIT_SECONDS

    def after_answer(self, error: SmolpixError, retried: int) -> float | None:
        """Seconds to wait before sending again after `error`, or None to give up."""
        if not isinstance(error, (RateLimited, ServiceUnavailable)) or retried >= self.max_retries:
            return None
        if error.retry_after is None:
            return self._backoff(retried)
        return error.retry_after if error.retry_after <= self.max_wait else None

    def while_held_in_flight(self, error: QuotaHeldInFlight, retried: int, *, waited: float) -> float | None:
        """Seconds to wait before asking again, `waited` seconds after the first QuotaHeldInFlight of
        this request, or None to give up: no answer is retried (`max_retries=0`), Retry-After is
        longer than `max_wait`, or the wait would end past `max_in_flight_wait`. Without a Retry-After,
        or with 0 (a proxy's: asking again at once, thousands of times), the backoff's."""
        if self.max_retries == 0:
            return None
        delay = error.retry_after or self._backoff(retried)
        if delay > self.max_wait or waited + delay > self.max_in_flight_wait:
            return None
        return delay

    def after_connection_failure(self, retried: int) -> float | None:
        return None if retried >= self.max_connection_retries else self._backoff(retried)

    def _backoff(self, retried: int) -> float:
        # Half fixed, half random: clients that failed together do not all come back together.
        ceiling = min(self.max_backoff, self.backoff * 2**retried)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (timing, not secrets)


class Pacer:
    """Keeps one client's requests within the account's per-minute rate limit, from the
    X-RateLimit-Limit/-Remaining/-Reset headers of its answers, by waiting for the next minute
    instead of running into 429s. Shared by all the requests of a client, from threads or tasks.

    It counts requests still in flight as spent (the server may have counted them already), so with
    several at once it stays a few requests under the limit rather than over it.
    """

    # While waiting for an answer in flight to tell more (the limit, or when the window ends): how
    # often to look again.
    _POLL_SECONDS = 0.1

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limit: int | None = None
        self._remaining: int | None = None  # in the current window, as the server last said
        self._resets_at: float | None = None  # time.monotonic() at which the window ends
        self._window: int | None = None  # the server's X-RateLimit-Reset of the latest window seen
        self._in_flight = 0
        self._answered = False  # until the first answer tells the limit, one request at a time

    def pause(self) -> float:
        """Seconds to wait before sending; 0.0 means send now (the request then counts as in flight)."""
        with self._lock:
            now = time.monotonic()
            if not self._answered and self._in_flight:
                return self._POLL_SECONDS
            if self._resets_at is not None and now >= self._resets_at:
                self._remaining, self._resets_at = self._limit, None  # a new window, counted from zero
            if self._remaining is not None and self._remaining - self._in_flight <= 0:
                if self._resets_at is not None:
                    return self._resets_at - now
                if self._in_flight:
                    return self._POLL_SECONDS
            self._in_flight += 1
            return 0.0

    def done(self, response: httpx.Response | None) -> None:
        """A request sent after `pause()` is over: answered (`response`) or failed (None)."""
        with self._lock:
            self._in_flight -= 1
            if response is None:
                return
            self._answered = True
            headers = response.headers
            limit, remaining, reset = (
                whole_number(headers.get(f"X-RateLimit-{name}")) for name in ("Limit", "Remaining", "Reset")
            )
            if remaining is None or reset is None:
                return  # the server did not count this request (its cache is down): nothing to go by
            # Reset is the server's Unix time; measured against the server's own clock (Date), a
            # skewed local clock does not matter. Date has whole seconds: this errs on the late side.
            now = time.monotonic()
            resets_at = now + reset - _server_time(response)
            if resets_at <= now or (self._window is not None and reset < self._window):
                return  # about a window that is over
            self._limit = limit
            if reset != self._window or self._remaining is None:
                self._window, self._remaining, self._resets_at = reset, remaining, resets_at
            else:  # answers of one window come back in any order: the lowest count left is the latest
                self._remaining = min(self._remaining, remaining)


class Requests:
    """Builds the API's requests for one key and one server."""

    def __init__(self, api_key: str | None, base_url: str | None) -> None:
        # A key read from a file or pasted may carry a newline, a CR or spaces around it.
        key = (api_key or os.environ.get("SMOLPIX_API_KEY") or "").strip()
        if not key:
            raise MissingApiKey("No API key: give one (api_key=..., or smolpix --api-key) or set SMOLPIX_API_KEY.")
        if not (key.isascii() and key.isprintable()):
            raise InvalidApiKey(
                "The API key has characters no key has (not printable ASCII): check what was pasted "
                "(api_key=..., smolpix --api-key or SMOLPIX_API_KEY)."
            )
        self.base_url = _checked_base_url(base_url or os.environ.get("SMOLPIX_BASE_URL") or DEFAULT_BASE_URL)
        self._headers = {"Authorization": f"Bearer {key}", "User-Agent": USER_AGENT}

    def optimize(
        self,
        *,
        url: str | None,
        file: PathLike | bytes | None,
        format: str | None,
        quality: int | None,
        max_width: int | None,
        smart: bool | None,
    ) -> httpx.Request:
        if (url is None) == (file is None):
            raise ValueError("Pass either url=... or file=..., not both.")
        options = {"format": format, "quality": quality, "maxWidth": max_width, "smart": smart}
        options = {name: value for name, value in options.items() if value is not None}  # else the API's defaults
        # The image as the body, its figures in X-Smolpix-* headers: no base64 to decode. Errors stay JSON.
        headers = {**self._headers, "Accept": "image/*"}
        endpoint = self.base_url + OPTIMIZE_PATH
        if url is not None:
            request = httpx.Request("POST", endpoint, headers=headers, json={"url": url, **options})
        else:
            if isinstance(file, bytes):
                _refuse_over_the_limit(len(file))
                name, content = "image", file
            else:
                name, content = _upload(Path(file))
            form = {option: _form_value(value) for option, value in options.items()}
            files = {"file": (name, content, "application/octet-stream")}
            request = httpx.Request("POST", endpoint, headers=headers, data=form, files=files)
        request.read()  # the body in memory, so that a retry can send it again
        return request

    def usage(self) -> httpx.Request:
        return httpx.Request("GET", self.base_url + USAGE_PATH, headers=self._headers)


def _checked_base_url(base_url: str) -> str:
    """`base_url` without its trailing slash, or InvalidBaseUrl at once: a typo (no scheme, a port over
    65535, an unclosed bracket) would otherwise fail each request after its retries, or crash in httpx."""
    shown = without_credentials(base_url)  # a password in it is not printed
    try:
        url = httpx.URL(base_url)
        usable = url.scheme in ("http", "https") and bool(url.host) and (url.port is None or url.port <= 65535)
    except httpx.InvalidURL:
        usable = False
    if not usable:
        raise InvalidBaseUrl(
            f"Not a base URL: {shown!r} (an http:// or https:// address such as {DEFAULT_BASE_URL}, "
            "with a port up to 65535)"
        )
    # The API's paths are appended to it: after a query or a fragment they would not be paths.
    extras = [name for mark, name in (("?", "a query"), ("#", "a fragment")) if mark in base_url]
    if extras:
        raise InvalidBaseUrl(
            f"Not a base URL: {shown!r} (it has {' and '.join(extras)}: the API's paths are appended to "
            "a base URL, so it may have neither)"
        )
    return base_url.rstrip("/")


def _upload(path: Path) -> tuple[str, bytes]:
    """The file's name and bytes; one the API would refuse for its size is not read (a 1 GB file
    took 4 GB of memory, then its whole upload, to be refused)."""
    _refuse_over_the_limit(path.stat().st_size)
    return _file_name(path), path.read_bytes()


def _refuse_over_the_limit(size: int) -> None:
    """ImageTooLarge, without sending anything, for a file of `size` bytes the API would refuse."""
    if size > MAX_UPLOAD_BYTES:
        raise ImageTooLarge(
            f"The file is larger than the {MAX_UPLOAD_BYTES:,} bytes the API takes (not sent).",
            code="IMAGE_TOO_LARGE",
            body={"field": "file"},
        )


def _file_name(file: PathLike) -> str:
    """The file's name as sent in the upload: a name that is not UTF-8 (bytes that os.fsdecode kept
    as surrogates) cannot be encoded in the form, so those characters become "?"."""
    return Path(file).name.encode("utf-8", "replace").decode("utf-8")


def exchange(
    request: httpx.Request, *, retries: Retries, pacer: Pacer | None
) -> Generator[Step, Outcome, httpx.Response]:
    """Send `request` until it succeeds, waiting where the pacer or a retry says; returns the
    successful response or raises the SmolpixError of the last answer."""
    answers_retried = failures_retried = held_retried = 0
    held_since: float | None = None  # time.monotonic() of the first QuotaHeldInFlight
    while True:
        if pacer is not None:
            pause = pacer.pause()
            while pause > 0:
                yield Wait(pause)
                pause = pacer.pause()
        outcome: Outcome = None
        try:
            outcome = yield request
        finally:  # also when the caller gives up (a cancelled task)
            if pacer is not None:
                pacer.done(outcome if isinstance(outcome, httpx.Response) else None)
        if isinstance(outcome, httpx.LocalProtocolError):  # this request cannot be sent: sending it again fails alike
            raise SmolpixError(f"Could not send the request: {type(outcome).__name__} {outcome}") from outcome
        # The server has the whole optimization and did not answer in time: sent again, it could be
        # done, and charged, twice.
        delivered = isinstance(outcome, httpx.ReadTimeout) and request.method == "POST"
        if isinstance(outcome, httpx.TransportError):
            delay = None if delivered else retries.after_connection_failure(failures_retried)
            if delay is None:
                raise _connection_failed(request, outcome) from outcome
            failures_retried += 1
        elif isinstance(outcome, httpx.HTTPError):  # an answer httpx cannot read (a body that does not decode)
            message = f"Could not read the answer from {request.url.host}: {type(outcome).__name__} {outcome}"
            raise SmolpixError(message.strip()) from outcome
        else:
            response = cast(httpx.Response, outcome)
            if response.is_success:
                return response
            error = error_from_response(response)
            if isinstance(error, QuotaHeldInFlight):
                now = time.monotonic()
                held_since = now if held_since is None else held_since
                delay = retries.while_held_in_flight(error, held_retried, waited=now - held_since)
                held_retried += 1
            else:
                delay = retries.after_answer(error, answers_retried)
                answers_retried += 1
            if delay is None:
                raise error
        yield Wait(delay)


def _connection_failed(request: httpx.Request, error: httpx.TransportError) -> ConnectionFailed:
    if isinstance(error, httpx.ReadTimeout):  # connected, and sent: no "could not reach"
        seconds = request.extensions["timeout"]["read"]  # httpx sets it on the request it sends
        return ConnectionFailed(f"No answer from {request.url.host} within {seconds:g} s")
    return ConnectionFailed(f"Could not reach {request.url.host}: {type(error).__name__} {error}".strip())


class Conversation:
    """Steps through `exchange`: each client hands in the outcome of the last step and performs the next."""

    def __init__(self, request: httpx.Request, *, retries: Retries, pacer: Pacer | None) -> None:
        self._steps = exchange(request, retries=retries, pacer=pacer)
        self.response: httpx.Response | None = None

    def next_step(self, outcome: Outcome) -> Step | None:
        """The next thing to do, or None when the conversation is over (`response` is then set)."""
        try:
            return self._steps.send(outcome)
        except StopIteration as finished:
            self.response = finished.value
            return None

    def __enter__(self) -> Conversation:
        return self

    def __exit__(self, *exception: object) -> None:
        # Left midway (Ctrl-C, a cancelled task, an exception of the caller's): the request in
        # flight is over for the pacer, which would otherwise hold every later request of the client.
        self._steps.close()


def optimize_result(response: httpx.Response) -> OptimizeResult:
    """The result of an image answer (`Accept: image/*`): the body is the image, the figures are headers."""
    headers = response.headers
    content_type = headers.get("Content-Type", "").split(";")[0].strip()
    if not content_type.startswith("image/"):
        raise SmolpixError(f"Expected an image, got {content_type or 'no Content-Type'}", status=response.status_code)
    format = headers.get("X-Smolpix-Format")
    # The format names the file the image is saved as: any other ("png", a path) would save it as
    # what it is not, over a source, or elsewhere.
    if format not in OUTPUT_FORMATS or content_type.lower() != f"image/{format}":
        raise _not_the_api(response)
    score = headers.get("X-Smolpix-Quality-Score")
    try:
        return OptimizeResult(
            original_size=int(headers["X-Smolpix-Original-Size"]),
            optimized_size=int(headers["X-Smolpix-Optimized-Size"]),
            savings=int(headers["X-Smolpix-Savings"]),
            savings_percent=int(headers["X-Smolpix-Savings-Percent"]),
            format=format,
            width=int(headers["X-Smolpix-Width"]),
            height=int(headers["X-Smolpix-Height"]),
            content_type=content_type,
            lossless=headers["X-Smolpix-Lossless"] == "true",
            notice=headers.get("X-Smolpix-Notice"),
            quality=None if score is None else QualityScore(headers["X-Smolpix-Quality-Metric"], float(score)),
            data=response.content,
        )
    except (KeyError, ValueError) as error:
        raise _not_the_api(response) from error


def usage_result(response: httpx.Response) -> Usage:
    try:
        return Usage.from_json(response.json())
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise _not_the_api(response) from error


def _not_the_api(response: httpx.Response) -> SmolpixError:
    """A success whose body is not what the API sends: another server's (a wrong base URL, a proxy's page)."""
    return SmolpixError(
        f"The answer from {response.url.host} is not the Smolpix API's: is the base URL right?",
        status=response.status_code,
    )


def _form_value(value: Any) -> str:
    """Form fields are strings: booleans the way the API reads them."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _server_time(response: httpx.Response) -> float:
    sent_at = http_date(response.headers.get("Date"))
    return time.time() if sent_at is None else sent_at
