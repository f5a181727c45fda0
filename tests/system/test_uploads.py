"""Uploads as some clients stream them: chunked, with no Content-Length (Node's fetch of a stream,
Go's net/http with a pipe, a requests generator). Django reads a body only as far as its
Content-Length, so such an upload arrived empty ("url: This field is required"). make serve's
gunicorn and make run's development server de-chunk it and the image is optimized, or refused by
its size as any other upload is. And an upload answered before it was
read (a wrong key, a rate limit) leaves its connection fit for the client's next request."""

import http.client

import pytest
from django.conf import settings

from tests.system import pictures
from tests.system.http import Client, assert_error, multipart
from tests.system.stack import MARKS

pytestmark = MARKS


def streamed_upload(api: Client, image: bytes):
    body, content_type = multipart({}, {"file": image})
    # An iterable body with no Content-Length: http.client sends it chunked, a piece at a time.
    pieces = (body[start : start + 65536] for start in range(0, len(body), 65536))
    return api.request("POST", "/api/v1/optimize", headers={"Content-Type": content_type}, body=pieces)


@pytest.mark.parametrize("stack_name", ["run", "serve"])
def test_an_upload_sent_chunked_is_optimized(request, stack_name):
    _, api = request.getfixturevalue(stack_name).customer()

    answer = streamed_upload(api, pictures.small())

    assert answer.status == 200, str(answer)
    assert answer.json()["optimizedSize"] > 0
    assert api.used() == 1


def test_an_upload_sent_chunked_over_the_size_limit_is_refused_by_its_size(serve):
    _, api = serve.customer()

    answer = streamed_upload(api, b"\xff" * (settings.OPTIMIZER_MAX_SOURCE_BYTES + 100_000))

    assert_error(answer, 400, "IMAGE_TOO_LARGE")
    assert api.used() == 0


def test_an_upload_answered_unread_leaves_its_kept_alive_connection_usable(serve):
    """gunicorn drains 64 KB of a body the application did not read, then closes the connection it
    had announced as kept alive: a client's next request on it (a retry after a 429) got no answer."""
    body, content_type = multipart({}, {"file": b"\xff" * 1_000_000})
    connection = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=60)
    try:
        connection.request(
            "POST",
            "/api/v1/optimize",
            body=body,
            headers={"Content-Type": content_type, "Authorization": "Bearer pk_live_wrong"},
        )
        first = connection.getresponse()
        first.read()
        connection.request("GET", "/healthz")
        second = connection.getresponse()
        second.read()
    finally:
        connection.close()

    assert (first.status, first.getheader("Connection")) == (401, "keep-alive")
    assert second.status == 200
