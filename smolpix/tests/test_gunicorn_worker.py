"""The answers gunicorn gives itself, to requests it cannot parse, are the API's JSON errors."""

import json
import os
import runpy
import socket
from unittest import mock

import pytest
from gunicorn.config import Config

from smolpix.gunicorn_worker import JsonErrorsThreadWorker, write_json_error


def answer_written(status_code: int, reason: str, detail: str) -> tuple[str, dict[str, str], dict]:
    server, client = socket.socketpair()
    with server, client:
        write_json_error(server, status_code, reason, detail)
        server.close()
        data = b""
        while chunk := client.recv(65536):
            data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    assert int(headers["Content-Length"]) == len(body)
    return status_line, headers, json.loads(body)


def test_a_header_too_large_is_a_json_431():
    status_line, headers, body = answer_written(
        431, "Request Header Fields Too Large", "Error parsing headers: 'limit request headers fields size'"
    )

    assert status_line == "HTTP/1.1 431 Request Header Fields Too Large"
    assert headers["Content-Type"] == "application/json"
    assert headers["Connection"] == "close"
    assert body == {
        "error": "Request Header Fields Too Large: Error parsing headers: 'limit request headers fields size'",
        "code": "BAD_REQUEST",
    }


@pytest.mark.parametrize(
    ("status_code", "reason", "code"),
    [
        (400, "Bad Request", "BAD_REQUEST"),
        (414, "URI Too Long", "BAD_REQUEST"),
        (501, "Not Implemented", "BAD_REQUEST"),
        (403, "Forbidden", "FORBIDDEN"),
        (500, "Internal Server Error", "SERVER_ERROR"),
    ],
)
def test_each_status_gunicorn_answers_has_its_code(status_code, reason, code):
    status_line, _, body = answer_written(status_code, reason, "")

    assert status_line == f"HTTP/1.1 {status_code} {reason}"
    assert body["code"] == code


def test_gunicorn_is_configured_with_this_worker():
    with mock.patch.dict(os.environ, {"DEBUG": "false"}):  # what the file sets stays in it
        settings = runpy.run_path("gunicorn.conf.py")
    config = Config()
    config.set("worker_class", settings["worker_class"])

    assert config.worker_class is JsonErrorsThreadWorker
