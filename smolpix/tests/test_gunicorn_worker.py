"""The answers gunicorn gives itself, to requests it cannot parse, are the API's JSON errors; a client
that sends its request slowly meets deadlines (PacedReads), and one that does not read its answer
too (PacedConnection)."""

import json
import os
import runpy
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from django.core.exceptions import BadRequest
from gunicorn import util as gunicorn_util
from gunicorn.config import Config
from gunicorn.workers import gthread
from rest_framework.decorators import api_view
from rest_framework.test import APIRequestFactory

from smolpix import gunicorn_worker
from smolpix.gunicorn_worker import (
    GuardedThreadWorker,
    PacedConnection,
    PacedReads,
    RequestTooSlow,
    write_json_error,
)


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
        (505, "HTTP Version Not Supported", "BAD_REQUEST"),
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

    assert config.worker_class is GuardedThreadWorker


def test_gunicorn_s_own_lines_follow_log_level():
    with mock.patch.dict(os.environ, {"DEBUG": "false", "LOG_LEVEL": "WARNING"}):
        settings = runpy.run_path("gunicorn.conf.py")

    assert settings["logconfig_dict"]["loggers"]["gunicorn.error"]["level"] == "WARNING"


# --- a slow client's deadlines --------------------------------------------------------------


@pytest.fixture
def connection(monkeypatch):
    """PacedReads on one end of a socket pair (deadlines shortened), and the client's end."""
    monkeypatch.setattr(gunicorn_worker, "HEAD_SECONDS", 0.3)
    monkeypatch.setattr(gunicorn_worker, "BODY_GRACE_SECONDS", 0.3)
    monkeypatch.setattr(gunicorn_worker, "BODY_BYTES_PER_SECOND", 100)
    server, client = socket.socketpair()
    with server, client:
        yield PacedReads(server), client


def test_a_head_on_time_is_read(connection):
    reads, client = connection
    client.sendall(b"GET / HTTP/1.1\r\n")

    assert reads.recv(100) == b"GET / HTTP/1.1\r\n"
    assert not reads.expired


def test_a_head_stalled_past_its_deadline_is_answered_408_and_read_as_the_end(connection, caplog):
    caplog.set_level("INFO", logger="gunicorn.error")
    reads, client = connection
    client.sendall(b"GET / HTTP/1.1\r\nX-Slow: ")
    reads.recv(100)

    started = time.monotonic()
    assert reads.recv(100) == b""  # gunicorn's parser: the client is gone
    assert 0.2 < time.monotonic() - started < 1.0
    assert reads.expired
    assert "headers took over 0.3 s: answered 408" in caplog.text  # gunicorn's log: Django never saw it
    assert reads.recv(100) == b""
    client.settimeout(1)
    answer = client.recv(1000)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {
        "error": "Request Timeout: the request's headers took over 0.3 s",
        "code": "BAD_REQUEST",
    }


def test_a_kept_alive_connection_gives_each_head_its_own_deadline(connection):
    reads, client = connection
    time.sleep(0.4)  # the last request's head started this long ago
    reads.head_started()
    client.sendall(b"GET / HTTP/1.1\r\n")

    assert reads.recv(100) == b"GET / HTTP/1.1\r\n"


def test_a_body_stalled_past_its_grace_fails_to_read_as_a_bad_request(connection):
    reads, client = connection
    reads.body_started()
    client.sendall(b"{")
    reads.recv(100)

    with pytest.raises(RequestTooSlow, match="under 100 bytes a second") as raised:
        reads.recv(100)
    assert isinstance(raised.value, BadRequest)  # Django's 400 on the site's pages
    assert reads.expired
    assert reads.recv(100) == b""
    client.settimeout(0.1)
    with pytest.raises(TimeoutError):
        client.recv(100)  # the application answers, not the reader


def test_each_byte_of_a_body_buys_more_time(connection):
    reads, client = connection
    reads.body_started()
    for _ in range(5):  # 0.5 s, past the 0.3 s grace, at 100 bytes a second
        time.sleep(0.1)
        client.sendall(b"x" * 10)
        assert reads.recv(100) == b"x" * 10

    assert not reads.expired


def test_a_callers_own_sooner_timeout_is_its_own(connection):
    reads, _ = connection
    reads.settimeout(0.05)  # gunicorn's, draining a body left unread

    with pytest.raises(TimeoutError):
        reads.recv(100)
    assert not reads.expired
    assert reads.gettimeout() == 0.05


def test_a_slow_body_is_a_408_from_the_api():
    @api_view(["POST"])
    def view(request):
        raise RequestTooSlow("The request body arrived too slowly (under 16,384 bytes a second).")

    response = view(APIRequestFactory().post("/api/v1/optimize", {}, format="json"))

    assert response.status_code == 408
    assert response.data == {
        "error": "The request body arrived too slowly (under 16,384 bytes a second).",
        "code": "BAD_REQUEST",
    }


@pytest.fixture
def tcp_connection(monkeypatch):
    """A PacedConnection as gunicorn accepts one (write deadline shortened), and the client's end."""
    monkeypatch.setattr(gunicorn_worker, "WRITE_SECONDS", 1)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        accepted, address = listener.accept()
        server_address = listener.getsockname()
    with client, accepted:
        connection = PacedConnection(Config(), accepted, address, server_address)
        connection.init()
        yield connection, client


def test_an_answer_the_client_does_not_read_is_given_up_after_the_write_deadline(tcp_connection):
    connection, client = tcp_connection
    started = time.monotonic()
    writer = ThreadPoolExecutor(1)
    writing = writer.submit(gunicorn_util.write, connection.sock, b"x" * 100_000_000)  # far past the buffers

    try:
        with pytest.raises(BlockingIOError):
            writing.result(timeout=10)
        assert time.monotonic() - started > 0.9
    finally:
        client.close()  # a write still blocked (no deadline) fails, and its thread ends
        writer.shutdown()


def test_an_answer_read_as_it_comes_is_written_whole(tcp_connection):
    connection, client = tcp_connection
    answer = b"x" * 20_000_000
    received = 0

    def read_slowly():
        nonlocal received
        while chunk := client.recv(1_000_000):
            received += len(chunk)
            time.sleep(0.01)

    with ThreadPoolExecutor(1) as reader:
        reading = reader.submit(read_slowly)
        gunicorn_util.write(connection.sock, answer)
        connection.sock.shutdown(socket.SHUT_WR)
        reading.result(timeout=30)
    assert received == len(answer)


def test_the_worker_closes_a_connection_whose_client_stopped_reading(monkeypatch, caplog):
    def stalled_write(self, req, conn):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(gthread.ThreadWorker, "handle_request", stalled_write)
    caplog.set_level("INFO", logger="gunicorn.error")
    worker = GuardedThreadWorker.__new__(GuardedThreadWorker)  # as far as handle_request needs one

    assert worker.handle_request(mock.Mock(), mock.Mock(reads=None)) is False
    assert "nothing of an answer could be sent for 30 s (the client stopped reading)" in caplog.text
