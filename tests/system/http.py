"""HTTP to a stack, and nothing else: the tests see what a customer's client or browser sees."""

import http.client
import json
import re
import socket
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

ANSWER_SECONDS = 120  # a request the test does not time on purpose: generous, the machine is small


class NoAnswer(AssertionError):
    """The stack did not answer (in time, or at all)."""


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float  # from sending the request to the end of the answer

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def json(self) -> dict:
        assert self.content_type.startswith("application/json"), f"not JSON: {self}"
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        """The `code` of a JSON error body, else None."""
        return self.json().get("code") if self.content_type.startswith("application/json") else None

    def __str__(self) -> str:
        title = re.search(rb"<title>(.*?)</title>", self.body, re.DOTALL)
        body = f"a page titled {title.group(1).strip()!r}" if title else self.body[:600].decode(errors="replace")
        return f"{self.status} {self.content_type!r} after {self.seconds:.1f} s: {body}"


def request(
    port: int, method: str, path: str, *, headers: dict | None = None, body: bytes | None = None, timeout: float
) -> Answer:
    """One request on a new connection; redirects are not followed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.monotonic()
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return Answer(response.status, response.headers, body, time.monotonic() - started)
    except TimeoutError:
        raise NoAnswer(f"{method} {path}: no answer within {timeout} s") from None
    except OSError as error:
        raise NoAnswer(f"{method} {path}: {error!r} after {time.monotonic() - started:.1f} s") from None
    finally:
        connection.close()


def raw(port: int, data: bytes, *, timeout: float = ANSWER_SECONDS) -> tuple[int, bytes]:
    """Bytes sent as they are, as no well-behaved client would write them; returns the answer's
    status and all of it. Send `Connection: close`."""
    answer = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
            connection.sendall(data)
            while chunk := connection.recv(65536):
                answer += chunk
    except TimeoutError:
        raise NoAnswer(f"{data[:60]!r}...: no answer within {timeout} s") from None
    assert answer.startswith(b"HTTP/"), f"not an HTTP answer: {answer[:200]!r}"
    return int(answer.split(b" ", 2)[1]), answer


def stalled(port: int, *, start: bytes, timeout: float) -> socket.socket:
    """A connection that sent `start` of a request, and then nothing (yet)."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    connection.sendall(start)
    return connection


def answer_of(connection: socket.socket) -> tuple[int, bytes, bytes]:
    """The status, head and body of the answer the connection got, once it closed."""
    with connection:
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, body = answer.split(b"\r\n\r\n", 1)
    return int(head.split(b" ", 2)[1]), head, body


def multipart(fields: dict[str, str], files: dict[str, bytes]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    for name, data in files.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
        parts.append(f"{head}Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class Client:
    """A customer: through the API with `api_key`, or a browser with the cookies it was given."""

    def __init__(self, port: int, *, api_key: str | None = None) -> None:
        self.port = port
        self.api_key = api_key
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict | None = None,
        body: bytes | None = None,
        timeout: float = ANSWER_SECONDS,
    ) -> Answer:
        headers = dict(headers or {})
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        answer = request(self.port, method, path, headers=headers, body=body, timeout=timeout)
        for cookie in answer.headers.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value
        return answer

    def get(self, path: str, **options) -> Answer:
        return self.request("GET", path, **options)

    # --- the API --------------------------------------------------------------------------

    def optimize(self, image: bytes, *, timeout: float = ANSWER_SECONDS, **options) -> Answer:
        """POST /api/v1/optimize with the image uploaded; options are form fields (maxWidth=...)."""
        fields = {name: json.dumps(value).strip('"') for name, value in options.items()}  # true, not True
        body, content_type = multipart(fields, {"file": image})
        return self.request(
            "POST", "/api/v1/optimize", headers={"Content-Type": content_type}, body=body, timeout=timeout
        )

    def optimize_url(self, url: str, *, timeout: float = ANSWER_SECONDS, **options) -> Answer:
        body = json.dumps({"url": url, **options}).encode()
        return self.request(
            "POST", "/api/v1/optimize", headers={"Content-Type": "application/json"}, body=body, timeout=timeout
        )

    def used(self) -> int:
        """This month's optimizations charged to the key's account (GET /api/v1/usage)."""
        answer = self.get("/api/v1/usage")
        assert answer.status == 200, f"GET /api/v1/usage: {answer}"
        return answer.json()["used"]

    # --- the site -------------------------------------------------------------------------

    def submit(self, path: str, fields: dict[str, str], *, timeout: float = ANSWER_SECONDS) -> Answer:
        """Fill in and post the form of the page at `path`, as a browser does (CSRF token included)."""
        page = self.get(path, timeout=timeout)
        assert page.status == 200, f"GET {path}: {page}"
        return self.post_form(path, fields, token=csrf_token(page), timeout=timeout)

    def post_form(self, path: str, fields: dict[str, str], *, token: str, timeout: float = ANSWER_SECONDS) -> Answer:
        body = urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.request("POST", path, headers=headers, body=body, timeout=timeout)

    def sign_in(self, email: str, password: str) -> None:
        answer = self.submit("/accounts/login/", {"username": email, "password": password})
        assert answer.status == 302, f"signing in as {email}: {answer}"


def csrf_token(page: Answer) -> str:
    found = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    assert found, f"no CSRF token in the page: {page}"
    return found.group(1).decode()


def optimize_request(api_key: str, *, content_length: bytes) -> bytes:
    """POST /api/v1/optimize with `{}` for a body and this Content-Length, raw bytes, whatever they are."""
    return (
        b"POST /api/v1/optimize HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Authorization: Bearer " + api_key.encode() + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + content_length + b"\r\n\r\n{}"
    )


def assert_error(answer: Answer, status: int, code: str) -> None:
    """A JSON error body of the API's contract, with this status and code."""
    assert (answer.status, answer.code) == (status, code), f"expected {status} {code}, got {answer}"


def assert_unavailable(answer: Answer, *, within: float | None = None) -> None:
    """The API's answer while a backing service is out: JSON 503 with Retry-After (within `within` s)."""
    assert_error(answer, 503, "SERVICE_UNAVAILABLE")
    assert int(answer.headers.get("Retry-After", "0")) > 0, f"no Retry-After: {answer.headers}"
    if within is not None:
        assert answer.seconds <= within, f"answered after {answer.seconds:.1f} s, expected within {within} s"


def summary(answers: list[Answer]) -> str:
    """Each answer's status, then the first of every kind in full, for a failure's message."""
    firsts = {answer.status: answer for answer in reversed(answers)}
    return f"statuses {[answer.status for answer in answers]}; " + "; ".join(map(str, firsts.values()))
