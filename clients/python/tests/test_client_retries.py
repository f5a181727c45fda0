"""Retries and pacing against a small scripted server on loopback: what is sent again, after how
long, and when the client gives up; a rate limit kept without a single 429; and successes that are
not the API's (another server's page), which are errors, not crashes."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from smolpix_client import (
    AsyncClient,
    Client,
    ConnectionFailed,
    InvalidRequest,
    QuotaExceeded,
    RateLimited,
    Retries,
    ServerError,
    ServiceUnavailable,
    SmolpixError,
)

IMAGE = b"RIFF\x0c\x00\x00\x00WEBPVP8 "  # what the fake sends as an optimized image
FIGURES = {
    "X-Smolpix-Original-Size": "1000",
    "X-Smolpix-Optimized-Size": str(len(IMAGE)),
    "X-Smolpix-Savings": str(1000 - len(IMAGE)),
    "X-Smolpix-Savings-Percent": "98",
    "X-Smolpix-Format": "webp",
    "X-Smolpix-Width": "10",
    "X-Smolpix-Height": "10",
    "X-Smolpix-Lossless": "false",
    "X-Smolpix-Quality-Metric": "ssimulacra2",
    "X-Smolpix-Quality-Score": "80.5",
}
# A connection closed without an answer.
DROP = "drop"


@dataclass
class Answer:
    status: int = 200
    body: dict | list | bytes | None = None  # JSON; bytes: a page (text/html); None: the image
    headers: dict[str, str] = field(default_factory=dict)


def rate_limited(retry_after: int | None = 1) -> Answer:
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return Answer(429, {"error": "Rate limit exceeded", "code": "LIMIT_REACHED", "used": 61, "limit": 60}, headers)


def unavailable(retry_after: int = 1) -> Answer:
    body = {"error": "The service is briefly unavailable", "code": "SERVICE_UNAVAILABLE"}
    return Answer(503, body, {"Retry-After": str(retry_after)})


class FakeApi:
    """Answers the scripted answers in turn (then successes), or with `limit_per_second`, plays a
    fixed-window rate limiter as the real API does, with its X-RateLimit-* headers. Records the
    time of every request and the status it got."""

    def __init__(self, script: list[Answer | str] | None = None, *, limit_per_second: int | None = None) -> None:
        self.script = list(script or [])
        self.limit_per_second = limit_per_second
        self.log: list[tuple[float, int]] = []  # (time.monotonic(), status); DROP is 0
        self._counts: dict[int, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def statuses(self) -> list[int]:
        return [status for _, status in self.log]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self) -> Answer | str:
        with self._lock:
            if self.script:
                return self.script.pop(0)
            if self.limit_per_second is None:
                return Answer()
            now = time.time()
            window = int(now)
            self._counts[window] = used = self._counts.get(window, 0) + 1
            headers = {
                "X-RateLimit-Limit": str(self.limit_per_second),
                "X-RateLimit-Remaining": str(max(self.limit_per_second - used, 0)),
                "X-RateLimit-Reset": str(window + 1),
            }
            if used > self.limit_per_second:
                return Answer(429, rate_limited().body, {**headers, "Retry-After": "1"})
            return Answer(200, None, headers)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._answer()

            def _answer(self) -> None:
                answer = api._next()
                with api._lock:
                    api.log.append((time.monotonic(), 0 if answer == DROP else answer.status))
                if answer == DROP:
                    self.close_connection = True
                    return
                if answer.body is None:
                    body, content_type = IMAGE, "image/webp"
                elif isinstance(answer.body, bytes):
                    body, content_type = answer.body, "text/html"
                else:
                    body, content_type = json.dumps(answer.body).encode(), "application/json"
                self.send_response(answer.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in {**(FIGURES if answer.body is None else {}), **answer.headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:
                pass

        return Handler


@pytest.fixture
def fake() -> Iterator[type[FakeApi]]:
    servers: list[FakeApi] = []

    def make(*args, **kwargs) -> FakeApi:
        servers.append(FakeApi(*args, **kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def client_of(api: FakeApi, **options) -> Client:
    return Client(api_key="pk_live_test", base_url=api.base_url, **options)


def gaps(api: FakeApi) -> list[float]:
    times = [moment for moment, _ in api.log]
    return [later - earlier for earlier, later in zip(times, times[1:])]


def test_a_rate_limit_429_is_retried_after_retry_after(fake):
    api = fake([rate_limited(retry_after=1)])

    with client_of(api) as client:
        result = client.optimize(file=b"image")

    assert api.statuses() == [429, 200]
    assert gaps(api)[0] >= 1.0
    assert (result.format, result.data, result.quality.score) == ("webp", IMAGE, 80.5)


def test_a_503_is_retried_after_retry_after(fake):
    api = fake([unavailable(retry_after=1)])

    with client_of(api) as client:
        client.optimize(url="https://example.com/photo.jpg")

    assert api.statuses() == [503, 200]
    assert gaps(api)[0] >= 1.0


def test_a_429_without_retry_after_is_retried_with_backoff(fake):
    api = fake([rate_limited(retry_after=None), rate_limited(retry_after=None)])

    with client_of(api, retries=Retries(backoff=0.2)) as client:
        client.optimize(file=b"image")

    assert api.statuses() == [429, 429, 200]
    first, second = gaps(api)
    assert first >= 0.1 and second >= 0.2  # half to all of 0.2 s, then of 0.4 s
    assert first + second < 3  # not the Retry-After of a rate limit (a minute at most), nor stuck


def test_header_numbers_that_int_refuses_count_as_absent(fake):
    """ "²" (a Latin-1 byte a proxy may send) passes str.isdigit() but not int(): a Retry-After of it
    is retried with backoff, and rate-limit headers of it give the pacer nothing to go by. Both
    raised ValueError."""
    superscript_two = {"X-RateLimit-Limit": "²", "X-RateLimit-Remaining": "²", "X-RateLimit-Reset": "²"}
    api = fake([Answer(503, unavailable().body, {"Retry-After": "²"}), Answer(200, None, superscript_two)])

    with client_of(api, retries=Retries(backoff=0.2)) as client:
        first = client.optimize(file=b"image")
        second = client.optimize(file=b"image")

    assert api.statuses() == [503, 200, 200]
    assert gaps(api)[0] < 1  # backoff, not a second's Retry-After
    assert first.data == second.data == IMAGE


def test_retries_are_bounded(fake):
    api = fake([unavailable(retry_after=0)] * 10)

    with client_of(api, retries=Retries(max_retries=3)) as client, pytest.raises(ServiceUnavailable) as error:
        client.optimize(file=b"image")

    assert api.statuses() == [503] * 4
    assert (error.value.status, error.value.code, error.value.retry_after) == (503, "SERVICE_UNAVAILABLE", 0)


def test_a_retry_after_longer_than_max_wait_is_not_waited_for(fake):
    api = fake([rate_limited(retry_after=120)])

    started = time.monotonic()
    with client_of(api) as client, pytest.raises(RateLimited) as error:
        client.optimize(file=b"image")

    assert time.monotonic() - started < 10  # not the two minutes asked for
    assert api.statuses() == [429]
    assert (error.value.retry_after, error.value.used, error.value.limit) == (120, 61, 60)


def test_the_monthly_quota_is_never_retried(fake):
    body = {"error": "Monthly image limit reached", "code": "LIMIT_REACHED", "used": 10, "limit": 10}
    api = fake([Answer(429, body, {"Retry-After": "1"})])

    with client_of(api) as client, pytest.raises(QuotaExceeded) as error:
        client.optimize(file=b"image")

    assert api.statuses() == [429]
    assert (error.value.used, error.value.limit) == (10, 10)


@pytest.mark.parametrize(
    ("answer", "exception"),
    [
        (Answer(400, {"error": "quality: Must be 1-100.", "code": "BAD_REQUEST", "field": "quality"}), InvalidRequest),
        (Answer(500, {"error": "Internal server error during optimization", "code": "SERVER_ERROR"}), ServerError),
    ],
)
def test_other_errors_are_never_retried(fake, answer, exception):
    api = fake([answer])

    with client_of(api) as client, pytest.raises(exception) as error:
        client.optimize(file=b"image")

    assert api.statuses() == [answer.status]
    assert error.value.body == answer.body


def test_a_dropped_connection_is_retried(fake):
    api = fake([DROP])

    with client_of(api, retries=Retries(backoff=0.05)) as client:
        client.optimize(file=b"image")

    assert api.statuses() == [0, 200]


def test_connection_failures_are_bounded(fake):
    api = fake([DROP] * 10)

    client = client_of(api, retries=Retries(backoff=0.05, max_connection_retries=2))
    with client, pytest.raises(ConnectionFailed) as error:
        client.optimize(file=b"image")

    assert api.statuses() == [0, 0, 0]
    assert error.value.status is None and "127.0.0.1" in str(error.value)


def test_the_async_client_retries_alike(fake):
    api = fake([unavailable(retry_after=1), rate_limited(retry_after=1)])

    async def main():
        async with AsyncClient(api_key="pk_live_test", base_url=api.base_url) as client:
            return await client.optimize(file=b"image")

    result = asyncio.run(main())

    assert api.statuses() == [503, 429, 200]
    assert min(gaps(api)) >= 1.0
    assert result.data == IMAGE


# --- Pacing ---------------------------------------------------------------------------------------


def test_without_pacing_a_burst_runs_into_the_rate_limit(fake):
    api = fake(limit_per_second=2)

    client = client_of(api, pace=False, retries=Retries(max_retries=0))
    with client, pytest.raises(RateLimited):
        for _ in range(6):  # at most two windows: one of them gets three or more
            client.optimize(file=b"image")


def test_pacing_keeps_a_client_within_the_rate_limit(fake):
    api = fake(limit_per_second=2)

    with client_of(api) as client:
        for _ in range(5):
            client.optimize(file=b"image")

    assert api.statuses() == [200] * 5


def test_pacing_keeps_concurrent_requests_within_the_rate_limit(fake):
    api = fake(limit_per_second=2)

    async def main():
        async with AsyncClient(api_key="pk_live_test", base_url=api.base_url) as client:
            await asyncio.gather(*(client.optimize(file=b"image") for _ in range(6)))

    asyncio.run(main())

    assert api.statuses() == [200] * 6


# --- Successes that are not the API's -----------------------------------------------------

USAGE = {"plan": "pro", "monthlyLimit": 10, "used": 1, "remaining": 9, "month": "2026-12", "rateLimitPerMinute": 60}


@pytest.mark.parametrize(
    ("call", "answer"),
    [
        ("usage", Answer(200, b"<html><body>Welcome to nginx!</body></html>")),
        ("usage", Answer(200, {"hello": "world"})),
        ("usage", Answer(200, ["not", "an", "object"])),
        ("usage", Answer(200, {**USAGE, "resetsAt": 5})),
        ("optimize", Answer(200, None, {"X-Smolpix-Width": "ten"})),
    ],
    ids=["a page", "another object", "a list", "a number for a date", "a garbled figure"],
)
def test_a_success_that_is_not_the_api_s_is_a_smolpix_error_not_a_crash(fake, call, answer):
    """A wrong base URL, or a proxy's page answered 200: a KeyError or a JSONDecodeError before."""
    api = fake([answer])

    with client_of(api) as client, pytest.raises(SmolpixError, match="is not the Smolpix API's") as raised:
        client.usage() if call == "usage" else client.optimize(url="https://images.example/cat.png")

    assert raised.value.status == 200
