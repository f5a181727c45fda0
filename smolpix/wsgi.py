"""The WSGI application: Django's, behind two adaptations of request bodies: those sent chunked
(ChunkedBodies), and those left unread by an early answer (UnreadBodies)."""

import json
import os
import tempfile
from time import monotonic

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from smolpix.gunicorn_worker import RequestTooSlow

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smolpix.settings")

CHUNK_BYTES = 64 * 1024
DRAIN_SECONDS = 10.0
LENGTH_REQUIRED = "This server needs the request body's length: send it with a Content-Length."


class ChunkedBodies:
    """Django reads a request body only as far as its Content-Length, so a body sent chunked, with
    none (a streamed upload: Node's fetch of a stream, Go, a requests generator), reached it empty
    and the API answered "url: This field is required". Where the server de-chunks the body and
    marks its end (gunicorn: wsgi.input_terminated), it is spooled here, up to one byte past the
    largest body the site accepts, and handed on with that length (a longer one is then refused by
    its length, as any other). Where it cannot (Django's own test server), the answer is 411 Length
    Required; `make run`'s server de-chunks the body itself (smolpix.devserver)."""

    def __init__(self, application, *, max_bytes: int) -> None:
        self.application = application
        self.max_bytes = max_bytes

    def __call__(self, environ, start_response):
        if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return self.application(environ, start_response)
        if not environ.get("wsgi.input_terminated"):
            return _json_error(start_response, "411 Length Required", LENGTH_REQUIRED)
        body = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115 (Django reads it)
        length = 0
        try:
            while length <= self.max_bytes and (
                chunk := environ["wsgi.input"].read(min(CHUNK_BYTES, self.max_bytes + 1 - length))
            ):
                body.write(chunk)
                length += len(chunk)
        except RequestTooSlow as slow:  # as Django's views answer one (api.errors)
            return _json_error(start_response, "408 Request Timeout", str(slow))
        body.seek(0)
        environ.update({"wsgi.input": body, "CONTENT_LENGTH": str(length)})
        return self.application(environ, start_response)


class UnreadBodies:
    """An answer given before the request's body was read (a 401, 403 or 429 to an upload) left the
    rest of the body on the connection. gunicorn drains 64 KB of it and then closes the connection
    it had just announced as kept alive, so a client's next request on it (a retry after a 429)
    failed with "server disconnected". The rest of a body the site could have accepted (up to
    `max_bytes`, by its Content-Length) is read here once the application has answered, within
    DRAIN_SECONDS (a client trickling it holds a thread no longer than that); a longer one, or what is left
    after that time, gunicorn deals with as before, closing the connection."""

    def __init__(self, application, *, max_bytes: int) -> None:
        self.application = application
        self.max_bytes = max_bytes

    def __call__(self, environ, start_response):
        # Taken before the application runs: ChunkedBodies replaces both.
        body, length = environ.get("wsgi.input"), environ.get("CONTENT_LENGTH") or "0"
        answer = self.application(environ, start_response)
        # isdecimal() alone takes "²" and other digits int() refuses (a 500 before any view ran).
        if body is not None and length.isascii() and length.isdecimal() and 0 < int(length) <= self.max_bytes:
            _drain(body, environ.get("gunicorn.socket"))
        return answer


def _drain(body, connection) -> None:
    """Read `body` to its end within DRAIN_SECONDS: each read is bounded by the time left where the
    connection's socket is at hand (gunicorn's), and its own timeout put back after."""
    deadline = monotonic() + DRAIN_SECONDS
    timeout = connection.gettimeout() if connection else None
    try:
        while (left := deadline - monotonic()) > 0:
            if connection:
                connection.settimeout(left)
            if not body.read(CHUNK_BYTES):
                return
    except (OSError, RequestTooSlow):
        pass  # timed out, or the client went: the connection is closed, as it was
    finally:
        if connection:
            connection.settimeout(timeout)


def _json_error(start_response, status: str, message: str) -> list[bytes]:
    body = json.dumps({"error": message, "code": "BAD_REQUEST"}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


django_application = get_wsgi_application()

from api.optimize import max_body_bytes  # noqa: E402 (once Django is set up)

MAX_BODY_BYTES = max_body_bytes()
application = UnreadBodies(ChunkedBodies(django_application, max_bytes=MAX_BODY_BYTES), max_bytes=MAX_BODY_BYTES)
