"""runserver's HTTP server: http.server's HTML error page replaced by smolpix.refusals, and a body
sent chunked de-chunked, as gunicorn does under `make serve`."""

import re
import tempfile

from django.conf import settings
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer

from api.optimize import max_body_bytes
from smolpix.refusals import refusal

MAX_LINE_BYTES = 65536  # a chunk's size line or a trailer line, as http.server bounds a header line
CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")  # extensions are ignored
COPY_BYTES = 64 * 1024


class MalformedChunks(ValueError):
    pass


class DevelopmentHandler(WSGIRequestHandler):
    """What http.server answers itself before Django sees the request (a request line or a header
    line over 64 KiB, over 100 headers, not HTTP, an HTTP version it lacks, a broken chunked body)
    is JSON. A body sent chunked (a streamed upload) is de-chunked and handed to Django with its
    length: Django reads a body only as far as its Content-Length. (It was answered 411, its chunks
    left unread on a connection then closed: a client still sending them met a broken pipe.)"""

    def handle_one_request(self) -> None:
        connection = self.rfile
        try:
            super().handle_one_request()
        finally:
            if self.rfile is not connection:  # parse_request put a de-chunked body in its place
                self.rfile.close()
                self.rfile = connection

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            return True
        try:
            body, length, whole = dechunk(self.rfile, max_bytes=max_body_bytes())
        except MalformedChunks as error:
            self.send_error(400, explain=f"Bad chunked body: {error}")
            return False
        # One byte past the largest accepted body is enough for it to be refused by its length, as
        # any other; the rest is left unread, so this connection serves no further request.
        if not whole:
            self.close_connection = True
        del self.headers["Transfer-Encoding"], self.headers["Content-Length"]
        self.headers["Content-Length"] = str(length)
        self.rfile = body
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        reason = self.responses.get(code, ("Error",))[0]
        self.log_error("code %d, message %s", code, message or reason)
        self.close_connection = True
        # Always with a status line and headers, even to what http.server took for HTTP/0.9 (a
        # request line that is not HTTP), as gunicorn answers.
        self.wfile.write(refusal(code, reason, explain or message or ""))


class DevelopmentServer(WSGIServer):
    def __init__(self, address, handler_class, *args, **kwargs) -> None:
        super().__init__(address, DevelopmentHandler, *args, **kwargs)


def dechunk(stream, *, max_bytes: int) -> tuple[tempfile.SpooledTemporaryFile, int, bool]:
    """The body read from `stream`'s chunks (RFC 9112 §7.1), up to one byte past `max_bytes`: the
    body, its length, and whether it was read whole (its last chunk and trailers too)."""
    body = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115 (Django reads it)
    length = 0
    while size := _chunk_size(stream):
        if length + size > max_bytes:
            _copy(stream, body, max_bytes + 1 - length)
            body.seek(0)
            return body, max_bytes + 1, False
        _copy(stream, body, size)
        length += size
        if stream.readline(3) not in (b"\r\n", b"\n"):
            raise MalformedChunks("a chunk longer than its size")
    while _line(stream) not in (b"\r\n", b"\n"):
        pass  # trailer fields: none is used
    body.seek(0)
    return body, length, True


def _chunk_size(stream) -> int:
    line = _line(stream)
    if not (size := CHUNK_SIZE.fullmatch(line)):
        raise MalformedChunks(f"not a chunk size: {line[:40]!r}")
    return int(size.group(1), 16)


def _line(stream) -> bytes:
    line = stream.readline(MAX_LINE_BYTES + 1)
    if not line.endswith(b"\n") or len(line) > MAX_LINE_BYTES:
        raise MalformedChunks("the body ends, or a line is too long, before its last chunk")
    return line


def _copy(stream, body, size: int) -> None:
    while size:
        if not (data := stream.read(min(size, COPY_BYTES))):
            raise MalformedChunks("the body ends inside a chunk")
        body.write(data)
        size -= len(data)
