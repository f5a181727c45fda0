"""`make run`'s server (runserver) answers what it refuses itself in JSON, as gunicorn does, and
de-chunks a body sent chunked."""

import http.client
import io
import json
import socket
import threading

import pytest
from django.core.management import get_commands, load_command_class

from smolpix.devserver.server import DevelopmentServer, MalformedChunks, dechunk


@pytest.fixture
def server():
    """A DevelopmentServer on a free port, its application answering every request 200 "ok", then
    the body it read by the request's Content-Length."""

    def application(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(2 + len(body)))])
        return [b"ok" + body]

    httpd = DevelopmentServer(("127.0.0.1", 0), None)
    httpd.set_app(application)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_port
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def exchange(port: int, head: bytes, body: bytes = b"") -> tuple[str, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" + body)
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    return status_line, dict(line.split(": ", 1) for line in header_lines), body


@pytest.mark.parametrize(
    ("head", "status_line", "message"),
    [
        (b"GET /?" + b"x" * 70_000 + b" HTTP/1.1", "HTTP/1.1 414 Request-URI Too Long", "Request-URI Too Long"),
        (
            b"GET / HTTP/1.1\r\nX-Long: " + b"x" * 70_000,
            "HTTP/1.1 431 Request Header Fields Too Large",
            "Request Header Fields Too Large: got more than 65536 bytes when reading header line",
        ),
        (
            b"GET / HTTP/1.1" + b"".join(b"\r\nX-%d: 1" % n for n in range(101)),
            "HTTP/1.1 431 Request Header Fields Too Large",
            "Request Header Fields Too Large: got more than 100 headers",
        ),
        (b"GARBAGE", "HTTP/1.1 400 Bad Request", "Bad Request: Bad request syntax ('GARBAGE')"),
        (
            b"GET / HTTP/9.9",
            "HTTP/1.1 505 HTTP Version Not Supported",
            "HTTP Version Not Supported: Invalid HTTP version (9.9)",
        ),
    ],
)
def test_a_request_it_cannot_parse_is_a_json_error(server, head, status_line, message):
    answered, headers, body = exchange(server, head)

    assert answered == status_line
    assert headers["Content-Type"] == "application/json"
    assert headers["Connection"] == "close"
    assert int(headers["Content-Length"]) == len(body)
    assert json.loads(body) == {"error": message, "code": "BAD_REQUEST"}


def test_a_request_it_can_parse_reaches_the_application(server):
    answered, _, body = exchange(server, b"GET /healthz HTTP/1.1")

    assert answered == "HTTP/1.1 200 OK"
    assert body == b"ok"


def test_manage_py_runserver_is_this_one_serving_no_static_files_itself():
    assert get_commands()["runserver"] == "smolpix.devserver"
    command = load_command_class("smolpix.devserver", "runserver")

    assert command.server_cls is DevelopmentServer
    assert command.create_parser("manage.py", "runserver").get_default("use_static_handler") is False  # WhiteNoise's


def test_a_body_sent_chunked_reaches_the_application_whole_and_the_connection_serves_the_next(server):
    body = bytes(range(256)) * 1000
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    try:
        answers = []
        for _ in range(2):  # on one kept-alive connection
            # An iterable body with no Content-Length: http.client sends it chunked.
            pieces = (body[start : start + 30_000] for start in range(0, len(body), 30_000))
            connection.request("POST", "/", body=pieces)
            answer = connection.getresponse()
            answers.append((answer.status, answer.read()))
    finally:
        connection.close()

    assert answers == [(200, b"ok" + body)] * 2


def test_a_body_sent_chunked_past_the_largest_accepted_reaches_it_one_byte_too_long(server, settings):
    settings.OPTIMIZER_MAX_SOURCE_BYTES = 1000
    limit = settings.OPTIMIZER_MAX_SOURCE_BYTES + 64 * 1024  # with api.optimize's multipart overhead
    # Of a chunk far longer, only what the server reads is sent: the rest left unread on a closed
    # connection would reset it, and the answer with it.
    chunks = b"%x\r\n%s" % (10 * limit, b"x" * (limit + 1))

    answered, _, body = exchange(server, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked", chunks)

    assert answered == "HTTP/1.1 200 OK"
    assert body == b"ok" + b"x" * (limit + 1)


@pytest.mark.parametrize(
    ("chunks", "problem"),
    [
        (b"zz\r\nabc\r\n0\r\n\r\n", "not a chunk size: b'zz\\r\\n'"),
        (b"3\r\nabcdef\r\n0\r\n\r\n", "a chunk longer than its size"),
    ],
)
def test_a_broken_chunked_body_is_a_json_400(server, chunks, problem):
    answered, headers, body = exchange(server, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked", chunks)

    assert answered == "HTTP/1.1 400 Bad Request"
    assert headers["Connection"] == "close"
    assert json.loads(body) == {"error": f"Bad Request: Bad chunked body: {problem}", "code": "BAD_REQUEST"}


def test_dechunk_reads_extensions_trailers_and_bare_line_feeds():
    stream = io.BytesIO(b"5;name=value\r\nhello\r\n1\n \n0\r\nExpires: never\r\n\r\nNEXT REQUEST")

    body, length, whole = dechunk(stream, max_bytes=100)

    assert (body.read(), length, whole) == (b"hello ", 6, True)
    assert stream.read() == b"NEXT REQUEST"


def test_dechunk_stops_one_byte_past_the_largest_body():
    stream = io.BytesIO(b"4\r\nabcd\r\n8\r\nefghijkl\r\n0\r\n\r\n")

    body, length, whole = dechunk(stream, max_bytes=6)

    assert (body.read(), length, whole) == (b"abcdefg", 7, False)


@pytest.mark.parametrize(
    "chunks",
    [
        b"0x5\r\nhello\r\n0\r\n\r\n",  # int(_, 16) would take these three
        b"+5\r\nhello\r\n0\r\n\r\n",
        b"0_5\r\nhello\r\n0\r\n\r\n",
        b"-1\r\n",
        b"5\r\nhel",  # the body ends inside a chunk
        b"5\r\nhello\r\n",  # before its last chunk
        b"0\r\nExpires: never",  # inside its trailers
    ],
)
def test_dechunk_refuses_what_is_not_chunked(chunks):
    with pytest.raises(MalformedChunks):
        dechunk(io.BytesIO(chunks), max_bytes=100)
