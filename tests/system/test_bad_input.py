"""Bytes no one should send (issue 14, items 8 and 9): an image host's Content-Length written in
non-ASCII digits, a request's, a truncated JPEG; a path the API does not have; a form in another
charset than UTF-8; requests gunicorn or runserver cannot parse (JSON like every error). Each is a 4xx
naming the problem (or runserver's 505 for an HTTP version it lacks), never a 500, and nothing is
charged for it."""

import json

import pytest

from tests.system import pictures
from tests.system.http import assert_error, csrf_token, optimize_request, raw
from tests.system.stack import MARKS

pytestmark = MARKS

# "²" in a header, as the byte ISO-8859-1 gives it (how HTTP headers are decoded): str.isdigit()
# says it is a digit, int() refuses it.
SUPERSCRIPT_TWO = "\u00b2"


def test_an_image_host_answering_a_non_ascii_content_length_is_a_fetch_failure(serve, origin):
    _, api = serve.customer()
    url = origin.serve("/superscript-length.png", pictures.small(), headers={"Content-Length": SUPERSCRIPT_TWO})

    answer = api.optimize_url(url)

    assert_error(answer, 400, "FETCH_FAILED")
    assert api.used() == 0


@pytest.mark.parametrize("stack_name", ["run", "serve"])
def test_a_request_with_a_non_ascii_content_length_is_a_4xx(request, stack_name):
    stack = request.getfixturevalue(stack_name)
    _, api = stack.customer()

    status, answer = raw(stack.port, optimize_request(api.api_key, content_length=SUPERSCRIPT_TWO.encode("latin-1")))

    assert 400 <= status < 500, f"got {status}: {answer[:600]!r}"


@pytest.mark.parametrize("stack_name", ["run", "serve"])
def test_a_path_the_api_does_not_have_is_its_json_404(request, stack_name):
    stack = request.getfixturevalue(stack_name)
    _, api = stack.customer()

    for method, path in [("POST", "/api/v1/optimise"), ("POST", "/api/v1"), ("GET", "/api/v1/usage/")]:
        assert_error(api.request(method, path), 404, "NOT_FOUND")


@pytest.mark.parametrize("stack_name", ["run", "serve"])
def test_a_form_in_another_charset_than_utf8_is_a_400(request, stack_name):
    browser = request.getfixturevalue(stack_name).browser()
    token = csrf_token(browser.get("/accounts/login/"))
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-16"}

    answer = browser.request(
        "POST", "/accounts/login/", headers=headers, body=f"csrfmiddlewaretoken={token}".encode("utf-16")
    )

    assert answer.status == 400, str(answer)


def test_a_truncated_jpeg_is_refused_as_unsupported_and_not_charged(serve):
    _, api = serve.customer()

    answer = api.optimize(pictures.truncated_jpeg())

    assert_error(answer, 400, "UNSUPPORTED_IMAGE")
    assert api.used() == 0


@pytest.mark.parametrize(
    ("what", "start", "body", "status"),
    [
        ("a header too large", b"GET /api/v1/usage HTTP/1.1\r\nAuthorization: Bearer " + b"x" * 9000, b"", 431),
        ("a request line too long", b"GET /api/v1/usage?" + b"x" * 5000 + b" HTTP/1.1", b"", 414),
        ("not HTTP", b"GARBAGE", b"", 400),
        (
            "a broken chunk",
            b"POST /api/v1/optimize HTTP/1.1\r\nTransfer-Encoding: chunked",
            b"zz\r\n{}\r\n0\r\n\r\n",
            400,
        ),
    ],
)
def test_a_request_gunicorn_cannot_parse_is_a_json_error(serve, what, start, body, status):
    assert_json_refusal(serve.port, start, body, status, what)


@pytest.mark.parametrize(
    ("what", "start", "status"),
    [
        ("a request line too long", b"GET /api/v1/usage?" + b"x" * 70_000 + b" HTTP/1.1", 414),
        ("a header too large", b"GET /api/v1/usage HTTP/1.1\r\nAuthorization: Bearer " + b"x" * 70_000, 431),
        ("too many headers", b"GET /api/v1/usage HTTP/1.1" + b"".join(b"\r\nX-%d: 1" % n for n in range(101)), 431),
        ("not HTTP", b"GARBAGE", 400),
        ("an HTTP version it lacks", b"GET /api/v1/usage HTTP/9.9", 505),
    ],
)
def test_a_request_runserver_cannot_parse_is_a_json_error(run, what, start, status):
    assert_json_refusal(run.port, start, b"", status, what)


def assert_json_refusal(port: int, start: bytes, body: bytes, status: int, what: str) -> None:
    answered, answer = raw(port, start + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" + body)

    head, answer_body = answer.split(b"\r\n\r\n", 1)
    assert answered == status, f"{what}: {answer[:300]!r}"
    assert b"\r\nContent-Type: application/json\r\n" in head, f"{what}: {head!r}"
    assert json.loads(answer_body)["code"] == "BAD_REQUEST", f"{what}: {answer_body!r}"
