import io
import json
import logging
import re
import sys

import pytest
from celery import shared_task

from smolpix.celery import app as celery_app
from smolpix.logging import JsonFormatter, request_id

pytestmark = pytest.mark.django_db


class CapturedLines:
    """What the root logger wrote, formatted as production formats it."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def parsed(self, logger: str) -> list[dict]:
        return [line for line in map(json.loads, self.text.splitlines()) if line["logger"] == logger]


@pytest.fixture
def log_lines():
    """Every log line of every logger, at DEBUG level, through the JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield CapturedLines(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@shared_task(name="smolpix.tests.log_something")
def log_something() -> str:
    logging.getLogger("smolpix.tests").info("inside the task")
    return "done"


@shared_task(name="smolpix.tests.fail")
def fail() -> None:
    raise RuntimeError("as planned")


def test_a_request_gets_an_id_in_its_header_and_one_log_line(client, log_lines):
    response = client.get("/pricing/")

    assert response.status_code == 200
    generated = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    [line] = log_lines.parsed("smolpix.request")
    assert line == {
        "time": line["time"],
        "level": "INFO",
        "logger": "smolpix.request",
        "message": "request",
        "request_id": generated,
        "account_id": None,
        "key_prefix": None,
        "user_id": None,
        "method": "GET",
        "path": "/pricing/",
        "status": 200,
        "duration_ms": line["duration_ms"],
        "bytes": len(response.content),
    }
    assert line["duration_ms"] >= 0


def test_a_well_formed_incoming_request_id_is_kept(client, log_lines):
    response = client.get("/pricing/", headers={"X-Request-ID": "lb-7f3a9c21:0001"})

    assert response.headers["X-Request-ID"] == "lb-7f3a9c21:0001"
    assert log_lines.parsed("smolpix.request")[0]["request_id"] == "lb-7f3a9c21:0001"


@pytest.mark.parametrize("incoming", ["short", "has spaces in it", 'quote"and\\backslash', "x" * 129, "é" * 10])
def test_a_malformed_incoming_request_id_is_replaced(client, log_lines, incoming):
    response = client.get("/pricing/", headers={"X-Request-ID": incoming})

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
    assert incoming not in log_lines.text


def test_an_api_request_logs_the_account_and_key_prefix_and_never_the_key(client, pro_api_key, log_lines):
    response = client.get("/api/v1/usage", headers={"Authorization": f"Bearer {pro_api_key}"})

    assert response.status_code == 200
    [line] = log_lines.parsed("smolpix.request")
    api_key = response.wsgi_request.auth
    assert line["account_id"] == api_key.account_id
    assert line["key_prefix"] == api_key.display_prefix == pro_api_key[:12] + "…"
    assert line["user_id"] == api_key.account.owner_id
    assert line["status"] == 200
    assert pro_api_key not in log_lines.text
    assert pro_api_key[:16] not in log_lines.text  # not even the stored lookup prefix


def test_a_key_sent_in_the_query_string_is_not_logged(client, pro_api_key, log_lines):
    response = client.get(f"/api/v1/usage?key={pro_api_key}", headers={"Authorization": f"Bearer {pro_api_key}"})

    assert response.status_code == 401
    [line] = log_lines.parsed("smolpix.request")
    assert line["path"] == "/api/v1/usage"
    assert line["key_prefix"] is None
    assert pro_api_key[:13] not in log_lines.text


def test_a_key_that_reaches_a_log_message_is_masked(client, pro_api_key, log_lines):
    client.get(f"/no-such-page/{pro_api_key}/")  # Django logs the 404 with its path

    assert "pk_live_[redacted]" in log_lines.text
    assert pro_api_key[:13] not in log_lines.text


def test_a_signed_in_browser_request_logs_the_user(signed_in_client, pro_account, log_lines):
    signed_in_client.get("/dashboard/")

    [line] = log_lines.parsed("smolpix.request")
    assert line["user_id"] == pro_account.owner_id
    assert line["account_id"] is None  # only API keys name the account without a query


def test_a_task_logs_one_line_with_the_request_id_of_its_caller(log_lines, eager_tasks):
    token = request_id.set("caller-request-0001")
    try:
        log_something.delay()
    finally:
        request_id.reset(token)

    [inside] = log_lines.parsed("smolpix.tests")
    [line] = log_lines.parsed("smolpix.task")
    assert inside["request_id"] == "caller-request-0001"
    assert line["request_id"] == "caller-request-0001"
    assert line["task"] == "smolpix.tests.log_something"
    assert line["state"] == "SUCCESS"
    assert line["task_id"]
    assert line["duration_ms"] >= 0
    assert request_id.get() is None


def test_a_failing_task_logs_its_state(log_lines, eager_tasks, monkeypatch):
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)

    result = fail.delay()

    assert result.state == "FAILURE"
    [line] = log_lines.parsed("smolpix.task")
    assert line["state"] == "FAILURE"


def test_the_formatter_writes_one_json_object_per_line_with_exceptions_inside():
    try:
        raise ValueError("line one\nline two")
    except ValueError:
        record = logging.getLogger("x").makeRecord("x", logging.ERROR, __file__, 1, "failed: %s", ("why",), None)
        record.exc_info = sys.exc_info()
    text = JsonFormatter().format(record)

    assert "\n" not in text
    line = json.loads(text)
    assert line["message"] == "failed: why"
    assert "ValueError: line one\nline two" in line["exception"]
