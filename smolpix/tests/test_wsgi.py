"""The WSGI application's handling of request bodies: sent chunked (smolpix.wsgi.ChunkedBodies), and
left unread by an early answer (smolpix.wsgi.UnreadBodies)."""

import io
import json

import pytest

from smolpix import wsgi
from smolpix.gunicorn_worker import RequestTooSlow
from smolpix.wsgi import ChunkedBodies, UnreadBodies

MAX_BYTES = 1000


class Recorder:
    """A WSGI application that keeps the length and the body it was given."""

    def __call__(self, environ, start_response):
        self.length = environ.get("CONTENT_LENGTH")
        self.body = environ["wsgi.input"].read(int(self.length or 0))
        start_response("200 OK", [])
        return [b""]


def call(body: bytes, **environ) -> tuple[Recorder, str, bytes]:
    recorder, started = Recorder(), []
    application = ChunkedBodies(recorder, max_bytes=MAX_BYTES)
    answer = application(
        {"REQUEST_METHOD": "POST", "wsgi.input": io.BytesIO(body), **environ},
        lambda status, headers: started.append(status),
    )
    return recorder, started[0], b"".join(answer)


CHUNKED = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}


@pytest.mark.parametrize("size", [0, 1, 700, MAX_BYTES])
def test_a_chunked_body_the_server_ended_is_handed_on_whole_with_its_length(size):
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)

    recorder, status, _ = call(body, **CHUNKED)

    assert status == "200 OK"
    assert (recorder.length, recorder.body) == (str(size), body)


def test_a_chunked_body_over_the_largest_accepted_is_handed_on_one_byte_past_it():
    """So that the API refuses it by its length, as it refuses any other body that long."""
    recorder, _, _ = call(b"x" * (MAX_BYTES * 5), **CHUNKED)

    assert recorder.length == str(MAX_BYTES + 1)


def test_a_chunked_body_a_server_could_not_end_is_411_length_required():
    recorder, status, answer = call(b"5\r\nhello\r\n0\r\n\r\n", HTTP_TRANSFER_ENCODING="chunked")

    assert status == "411 Length Required"
    assert json.loads(answer)["code"] == "BAD_REQUEST"
    assert not hasattr(recorder, "length")


def test_a_chunked_body_too_slow_for_the_workers_deadline_is_408():
    recorder, status, answer = call(b"", **CHUNKED | {"wsgi.input": TricklingBody(RequestTooSlow("Too slowly."))})

    assert status == "408 Request Timeout"
    assert json.loads(answer) == {"error": "Too slowly.", "code": "BAD_REQUEST"}
    assert not hasattr(recorder, "length")


def test_a_body_with_a_length_is_left_to_django():
    recorder, _, _ = call(b"hello world", CONTENT_LENGTH="5")

    assert (recorder.length, recorder.body) == ("5", b"hello")


class EarlyAnswer:
    """A WSGI application that answers without reading the body (as a 401 to an upload does)."""

    def __call__(self, environ, start_response):
        start_response("401 Unauthorized", [])
        return [b"no"]


def unread(body: bytes, length: str | None, stream: io.RawIOBase | None = None, **environ) -> tuple[io.IOBase, bytes]:
    stream = stream or io.BytesIO(body)
    environ = {"REQUEST_METHOD": "POST", "wsgi.input": stream, **environ}
    if length is not None:
        environ["CONTENT_LENGTH"] = length
    answer = UnreadBodies(EarlyAnswer(), max_bytes=MAX_BYTES)(environ, lambda status, headers: None)
    return stream, b"".join(answer)


class TricklingBody(io.RawIOBase):
    """A body whose client sends a little, then nothing: reads time out, as gunicorn's socket does
    (TimeoutError), or its worker's deadline for a body passes (RequestTooSlow)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.reads = 0
        self.error = error or TimeoutError("timed out")

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if self.reads > 2:
            raise self.error
        return b"x"


class Socket:
    """gunicorn's socket, as far as its timeout goes."""

    def __init__(self) -> None:
        self.timeouts: list[float | None] = [None]

    def gettimeout(self) -> float | None:
        return self.timeouts[-1]

    def settimeout(self, timeout: float | None) -> None:
        self.timeouts.append(timeout)


@pytest.mark.parametrize("size", [1, 700, MAX_BYTES])
def test_a_body_an_early_answer_left_unread_is_read_to_its_end(size):
    stream, answer = unread(b"x" * size, str(size))

    assert answer == b"no"
    assert stream.tell() == size


@pytest.mark.parametrize("length", [None, "", "0", str(MAX_BYTES + 1), "-5", "12x", "\u00b2", "\u0663"])
def test_a_body_longer_than_the_site_accepts_or_of_no_length_is_left_alone(length):
    stream, answer = unread(b"x" * (MAX_BYTES + 1), length)

    assert answer == b"no"
    assert stream.tell() == 0


@pytest.mark.parametrize("error", [TimeoutError("timed out"), RequestTooSlow("The request body arrived too slowly")])
def test_a_body_trickling_in_is_read_within_the_drain_time_on_the_connections_own_timeout(error):
    connection = Socket()

    stream, answer = unread(b"", str(MAX_BYTES), TricklingBody(error), **{"gunicorn.socket": connection})

    assert answer == b"no"
    assert stream.reads == 3
    bounds, restored = connection.timeouts[1:-1], connection.timeouts[-1]
    assert len(bounds) == 3 and all(0 < bound <= wsgi.DRAIN_SECONDS for bound in bounds)
    assert restored is None


def test_the_site_reads_what_an_early_answer_left_of_bodies_up_to_the_largest_upload():
    assert isinstance(wsgi.application, UnreadBodies)
    assert isinstance(wsgi.application.application, ChunkedBodies)
    assert wsgi.application.max_bytes == wsgi.application.application.max_bytes == wsgi.MAX_BODY_BYTES
