"""`make run`'s server (runserver) answers what it refuses itself in JSON, as gunicorn does."""

import json
import socket
import threading

import pytest
from django.core.management import get_commands, load_command_class

from smolpix.devserver.server import DevelopmentServer


@pytest.fixture
def server():
    """A DevelopmentServer on a free port, its application answering every request 200."""

    def application(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    httpd = DevelopmentServer(("127.0.0.1", 0), None)
    httpd.set_app(application)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_port
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def exchange(port: int, head: bytes) -> tuple[str, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
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
