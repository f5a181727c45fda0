"""A small scripted Smolpix API on loopback, for the tests of retries and pacing and of the command's
decisions that need no real optimization: it answers every optimization with the same tiny WebP."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from api.errors import QUOTA_IN_FLIGHT_MESSAGE

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
# A request read and never answered (until the server is closed).
SILENT = "silent"


@dataclass
class Answer:
    status: int = 200
    body: dict | list | bytes | None = None  # JSON; bytes: a page (text/html); None: the image
    headers: dict[str, str] = field(default_factory=dict)


def rate_limited(retry_after: int | None = 1) -> Answer:
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return Answer(429, {"error": "Rate limit exceeded", "code": "LIMIT_REACHED", "used": 61, "limit": 60}, headers)


def held_in_flight(retry_after: int | None = 1) -> Answer:
    """The month's last images held by the account's requests still running, in the site's own words."""
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    body = {"error": QUOTA_IN_FLIGHT_MESSAGE, "code": "LIMIT_REACHED", "used": 10, "limit": 10}
    return Answer(429, body, headers)


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
        self.log: list[tuple[float, int]] = []  # (time.monotonic(), status); DROP and SILENT are 0
        self.bodies: list[bytes] = []  # of the POSTs
        self._counts: dict[int, int] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def statuses(self) -> list[int]:
        return [status for _, status in self.log]

    def close(self) -> None:
        self._closed.set()
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
                api.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self._answer()

            def _answer(self) -> None:
                answer = api._next()
                with api._lock:
                    api.log.append((time.monotonic(), 0 if answer in (DROP, SILENT) else answer.status))
                if answer == SILENT:
                    api._closed.wait()
                if answer in (DROP, SILENT):
                    self.close_connection = True
                    return
                if answer.body is None:
                    body, content_type = IMAGE, "image/webp"
                elif isinstance(answer.body, bytes):
                    body, content_type = answer.body, "text/html"
                else:
                    body, content_type = json.dumps(answer.body).encode(), "application/json"
                if "Date" in answer.headers:  # the scripted one instead of the server's clock's
                    self.send_response_only(answer.status)
                else:
                    self.send_response(answer.status)
                figures = FIGURES if answer.body is None else {}
                headers = {"Content-Type": content_type, "Content-Length": str(len(body)), **figures, **answer.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:
                pass

        return Handler
