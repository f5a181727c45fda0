"""Clients that send their request slowly (slowloris) cannot hold make serve's threads: more of
them than the web process has threads, each stalled in its request's head or body, and everyone
else is still answered; each of them gets a JSON 408 once its deadline passes (a page's form, the
site's 400 page: smolpix/gunicorn_worker.py), and nothing is charged."""

import json
import socket
import time

from tests.system.http import answer_of, optimize_request, stalled
from tests.system.stack import MARKS

pytestmark = MARKS

THREADS = 8  # the test stack's GUNICORN_THREADS
# The worker's deadlines (HEAD_SECONDS, BODY_GRACE_SECONDS) are 10 s: after them, and a thread's
# wait for the queue, the others are answered.
ANSWERED_WITHIN = 30
STALLED_TIMEOUT = ANSWERED_WITHIN + 30


def json_answer_of(connection: socket.socket) -> tuple[int, dict]:
    status, head, body = answer_of(connection)
    assert b"\r\nContent-Type: application/json\r\n" in head, head
    return status, json.loads(body)


def test_clients_stalled_in_their_request_do_not_hold_the_service(serve):
    _, api = serve.customer()
    head_start = b"GET /api/v1/usage HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a"
    heads = [stalled(serve.port, timeout=STALLED_TIMEOUT, start=head_start) for _ in range(THREADS)]
    # A whole head promising a 100,000-byte JSON body, of which only "{}" comes.
    body_start = optimize_request(api.api_key, content_length=b"100000")
    bodies = [stalled(serve.port, timeout=STALLED_TIMEOUT, start=body_start) for _ in range(THREADS // 2)]
    browser = serve.browser()
    browser.get("/accounts/login/")  # its CSRF cookie: the form's body is read for the token
    form = stalled(
        serve.port,
        timeout=STALLED_TIMEOUT,
        start=b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Cookie: csrftoken=" + browser.cookies["csrftoken"].encode() + b"\r\nContent-Length: 1000\r\n\r\nusername=",
    )

    assert api.get("/api/v1/usage", timeout=ANSWERED_WITHIN).status == 200  # everyone else's request
    answers = [json_answer_of(connection) for connection in heads + bodies]
    page_status, _, page = answer_of(form)

    assert answers[:THREADS] == [(408, {"error": answers[0][1]["error"], "code": "BAD_REQUEST"})] * THREADS
    assert "headers took over 10 s" in answers[0][1]["error"]
    for status, body in answers[THREADS:]:
        assert (status, body["code"]) == (408, "BAD_REQUEST")
        assert body["error"].startswith("The request body arrived too slowly")
    assert page_status == 400, page[:300]  # the site's own 400 page
    assert api.used() == 0


def test_a_slow_but_steady_body_is_read_whole(serve):
    """A body that keeps coming, if slowly (20 KiB/s for 15 s, past the grace), is not cut off."""
    _, api = serve.customer()
    body = b'{"url": "ftp://example.com/photo.jpg"}' + b" " * (300 * 1024)
    start = optimize_request(api.api_key, content_length=str(len(body)).encode()).removesuffix(b"{}")
    with socket.create_connection(("127.0.0.1", serve.port), timeout=ANSWERED_WITHIN) as connection:
        connection.sendall(start)
        for offset in range(0, len(body), 2048):
            connection.sendall(body[offset : offset + 2048])
            time.sleep(0.1)
        status, answer = json_answer_of(connection)

    assert (status, answer["code"]) == (400, "INVALID_URL"), answer
