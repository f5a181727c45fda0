"""The production stack, as `make serve` runs it: scripts/serve.sh (migrate, collectstatic, then the
Procfile's gunicorn, Celery worker and Celery beat) on a loopback port, against this run's test
database and the configured Redis, with DEBUG off. Skipped when no broker is configured.

The tests share one stack; the last one stops it as Ctrl-C does while a request and a task are held
in flight (by table locks this test holds), and checks that gunicorn is stopped first, that both
finish and that a queued task survives for the next worker.
"""

import http.client
import importlib
import json
import os
import re
import shelve
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.utils import timezone

from apikeys.keys import generate_key
from apikeys.tests.factories import ApiKeyFactory
from optimizer.tests import images
from smolpix.celery import app as celery_app
from smolpix.logging import request_id
from tests import processes

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 120  # generous: the machine is shared and small
IN_FLIGHT_AFTER_SIGTERM_SECONDS = 3
PERIODIC_TASK = settings.CELERY_BEAT_SCHEDULE["clear-expired-sessions"]["task"]

pytestmark = [
    pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="no broker configured (REDIS_URL): tasks run eagerly"),
    pytest.mark.skipif(
        connection.vendor != "postgresql" or "DATABASE_URL" not in os.environ,
        reason="the stack needs PostgreSQL, named by DATABASE_URL in the environment",
    ),
    # The stack's processes see only committed rows.
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("database_restored_afterwards"),
]
seed_plans = importlib.import_module("accounts.migrations.0002_seed_plans").seed_plans


@pytest.fixture(autouse=True)
def plans(transactional_db) -> None:
    # Committed data is flushed after each test, plans included; they are seeded again as the data
    # migration does (and the database's snapshot restored once the module is done).
    seed_plans(apps, None)


@dataclass
class Stack:
    process: subprocess.Popen
    port: int
    output: Path
    environment: dict[str, str]

    def request(self, method: str, path: str, *, headers: dict | None = None, body: str | None = None):
        """One HTTP request (redirects not followed); returns (status, headers, body)."""
        client = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT_SECONDS)
        try:
            client.request(method, path, body=body, headers=headers or {})
            response = client.getresponse()
            return response.status, response.headers, response.read()
        finally:
            client.close()

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def lines(self) -> list[dict]:
        """The JSON log lines written so far (banners and other plain lines skipped)."""
        found = []
        for line in self.text().splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return found

    def wait_for(self, condition: Callable[[], object], what: str) -> object:
        deadline = time.monotonic() + WAIT_SECONDS
        while not (outcome := condition()):
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not happen within {WAIT_SECONDS} s; the stack's output:\n{self.text()}")
            time.sleep(0.2)
        return outcome

    def log_line(self, **fields) -> dict | None:
        return next((line for line in self.lines() if fields.items() <= line.items()), None)


@pytest.fixture(scope="module")
def stack(django_db_setup, tmp_path_factory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("stack")
    port = processes.free_port()
    environment = processes.environment(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        DEBUG="false",
        SECRET_KEY="stack-test-secret-key-not-for-production",
        API_KEY_HASH_SECRET=settings.API_KEY_HASH_SECRET,  # keys made here must verify there
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",  # no TLS proxy in front of the test stack
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="4",
        CELERY_WORKER_CONCURRENCY="1",  # one task at a time, so a second one waits in the queue
        STATIC_ROOT=str(folder / "static"),
        CELERY_BEAT_SCHEDULE_FILENAME=str(folder / "beat-schedule"),
        EMAIL_URL=f"filemail:///{folder / 'mail'}",
        DATABASE_TIMEOUT="30",  # the shutdown test holds a task on a lock for longer than the default 5 s
    )
    # Tasks the suite's other tests queued with no worker running (welcome e-mails, say): the stack's
    # worker would run them against rows the tests are flushing (a deadlock with the flush, in CI).
    celery_app.control.purge()
    output = folder / "output.log"
    process = processes.start([str(ROOT / "scripts" / "serve.sh")], env=environment, log_path=output)
    running = Stack(process=process, port=port, output=output, environment=environment)
    try:
        running.wait_for(lambda: _healthy(running), "the stack answering /healthz with 200")
        yield running
    finally:
        if process.poll() is None:
            processes.stop(process)


def _healthy(stack: Stack) -> bool:
    if stack.process.poll() is not None:
        pytest.fail(f"the stack exited with {stack.process.returncode}:\n{stack.text()}")
    try:
        return stack.request("GET", "/healthz")[0] == 200
    except OSError:
        return False


def test_health_check_sees_database_cache_broker_and_a_live_worker(stack):
    status, _, body = stack.request("GET", "/healthz")

    assert status == 200
    assert json.loads(body) == {"status": "ok", "database": "ok", "cache": "ok", "broker": "ok", "worker": "ok"}


def test_the_worker_and_beat_print_no_banner_among_the_json_lines(stack):
    stack.wait_for(lambda: stack.log_line(logger="celery.beat", message="beat: Starting..."), "beat starting")
    output = stack.text()

    assert "[config]" not in output  # the worker's
    assert "celery beat v" not in output


def test_an_api_request_is_logged_in_one_line_with_its_request_id_and_never_the_key(stack, pro_account):
    key = generate_key()
    api_key = ApiKeyFactory(account=pro_account, key=key)

    status, headers, _ = stack.request(
        "GET", "/api/v1/usage", headers={"Authorization": f"Bearer {key}", "X-Request-ID": "stack-test-usage-0001"}
    )

    assert status == 200
    assert headers["X-Request-ID"] == "stack-test-usage-0001"
    line = stack.wait_for(lambda: stack.log_line(request_id="stack-test-usage-0001"), "the request's log line")
    assert line["logger"] == "smolpix.request"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/v1/usage", 200)
    assert (line["account_id"], line["key_prefix"]) == (pro_account.pk, api_key.display_prefix)
    assert line["bytes"] > 0
    assert line["duration_ms"] > 0
    assert key[: len(api_key.prefix)] not in stack.text()


def test_an_image_is_optimized_in_the_worker_under_the_request_id(stack, pro_account):
    key = generate_key()
    ApiKeyFactory(account=pro_account, key=key)
    upload = SimpleUploadedFile("photo.png", images.encode(images.photo(), "PNG"))

    status, headers, body = stack.request(
        "POST",
        "/api/v1/optimize",
        body=encode_multipart(BOUNDARY, {"file": upload, "format": "webp"}),
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": MULTIPART_CONTENT,
            "X-Request-ID": "stack-test-optimize-0001",
        },
    )

    assert status == 200, body
    assert headers["X-Request-ID"] == "stack-test-optimize-0001"
    answer = json.loads(body)
    assert (answer["success"], answer["format"], answer["width"]) == (True, "webp", 256)
    request_line = stack.wait_for(
        lambda: stack.log_line(request_id="stack-test-optimize-0001", path="/api/v1/optimize"), "the request's line"
    )
    assert (request_line["status"], request_line["bytes"]) == (200, len(body))
    task_line = stack.log_line(request_id="stack-test-optimize-0001", logger="smolpix.task")
    assert (task_line["task"], task_line["state"]) == ("optimizer.optimize_image", "SUCCESS")
    received = stack.log_line(request_id="stack-test-optimize-0001", logger="smolpix.task.received")
    assert (received["task"], received["task_id"]) == ("optimizer.optimize_image", task_line["task_id"])
    # Every line about the task carries the request id (Celery's own "received" line had none).
    about_the_task = [line for line in stack.lines() if task_line["task_id"] in line["message"]]
    assert {line["request_id"] for line in about_the_task} <= {"stack-test-optimize-0001"}


def test_a_generated_request_id_comes_back_in_the_header(stack):
    status, headers, _ = stack.request("GET", "/pricing/")

    assert status == 200
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])
    stack.wait_for(lambda: stack.log_line(request_id=headers["X-Request-ID"], path="/pricing/"), "the log line")


def test_static_files_are_collected_and_served_by_whitenoise(stack):
    manifest = json.loads((Path(stack.environment["STATIC_ROOT"]) / "staticfiles.json").read_text())
    hashed = manifest["paths"]["css/smolpix.css"]

    status, headers, body = stack.request("GET", f"/static/{hashed}", headers={"Accept-Encoding": "gzip"})

    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert "immutable" in headers["Cache-Control"]  # whitenoise: hashed names are cached forever
    assert body


def test_the_periodic_task_runs_in_the_worker_with_the_request_id_of_its_sender(stack):
    Session.objects.create(session_key="expired", session_data="", expire_date=timezone.now() - timedelta(days=1))
    Session.objects.create(session_key="current", session_data="", expire_date=timezone.now() + timedelta(days=1))

    token = request_id.set("stack-test-periodic-0001")
    try:
        task_id = celery_app.send_task(PERIODIC_TASK).id
    finally:
        request_id.reset(token)

    line = stack.wait_for(lambda: stack.log_line(logger="smolpix.task", task_id=task_id), "the task's log line")
    assert (line["task"], line["state"], line["request_id"]) == (PERIODIC_TASK, "SUCCESS", "stack-test-periodic-0001")
    assert list(Session.objects.values_list("session_key", flat=True)) == ["current"]


def test_signing_up_through_the_site_sends_the_welcome_email_from_the_worker(stack):
    status, headers, page = stack.request("GET", "/accounts/signup/")
    assert status == 200
    csrf_cookie = re.search(r"csrftoken=([^;]+)", headers["Set-Cookie"]).group(1)
    csrf_field = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
    form = {
        "csrfmiddlewaretoken": csrf_field,
        "email": "stack-welcome@example.com",
        "password1": "a-long-unusual-pass",
        "password2": "a-long-unusual-pass",
    }

    status, headers, _ = stack.request(
        "POST",
        "/accounts/signup/",
        body=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={csrf_cookie}"},
    )

    assert status == 302
    mail_folder = Path(stack.environment["EMAIL_URL"].removeprefix("filemail://"))
    [sent] = stack.wait_for(lambda: mail_folder.exists() and list(mail_folder.iterdir()), "the welcome e-mail")
    message = sent.read_text()
    assert "To: stack-welcome@example.com" in message
    assert "Subject: Welcome to Smolpix" in message


def test_an_upload_spooled_by_a_killed_web_worker_is_removed(stack, pro_account):
    """Django spools an upload over 2.5 MB to a file; a worker killed mid-request (its timeout, the
    OOM killer) left it in /tmp for good. Each worker spools into a folder of its own, which the
    master removes when the worker is gone."""
    key = generate_key()
    ApiKeyFactory(account=pro_account, key=key)
    part = b'--%s\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n' % BOUNDARY.encode()
    length = len(part) + 6_000_000
    uploads = Path(tempfile.gettempdir()) / f"smolpix-uploads-{os.getuid()}"

    with socket.create_connection(("127.0.0.1", stack.port)) as client:
        client.sendall(
            b"POST /api/v1/optimize HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {key}\r\nContent-Type: {MULTIPART_CONTENT}\r\n".encode()
            + f"Content-Length: {length}\r\n\r\n".encode()
            + part
            + bytes(4_000_000)  # the rest never comes
        )
        spooled = stack.wait_for(
            lambda: next((found for found in uploads.glob("*/*") if _runs_under(stack, found.parent.name)), None),
            "the upload spooled to a file",
        )
        worker = int(spooled.parent.name)
        os.kill(worker, signal.SIGKILL)

        stack.wait_for(lambda: not spooled.parent.exists(), "the killed worker's uploads removed")
    stack.wait_for(lambda: _healthy(stack), "a new web worker answering")


def test_ctrl_c_stops_gunicorn_first_lets_the_request_and_the_task_in_flight_finish_and_keeps_the_queued_task(
    stack, pro_account
):
    """Runs last: it stops the stack."""
    key = generate_key()
    ApiKeyFactory(account=pro_account, key=key)
    Session.objects.create(session_key="expired", session_data="", expire_date=timezone.now() - timedelta(days=1))
    # The request's and the task's tables are held, each in a transaction of its own: both wait, in
    # flight, on these locks until this test lets the request's go, then the task's.
    task_lock = connections.create_connection(DEFAULT_DB_ALIAS)
    task_lock.set_autocommit(False)
    try:
        with task_lock.cursor() as cursor:
            cursor.execute("LOCK TABLE django_session IN ACCESS EXCLUSIVE MODE")
        with ThreadPoolExecutor(max_workers=1) as pool, transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE apikeys_apikey IN ACCESS EXCLUSIVE MODE")
            in_flight = pool.submit(
                stack.request,
                "GET",
                "/api/v1/usage",
                headers={"Authorization": f"Bearer {key}", "X-Request-ID": "stack-test-in-flight-0001"},
            )
            running_task = celery_app.send_task(PERIODIC_TASK).id
            queued_task = celery_app.send_task(PERIODIC_TASK).id
            stack.wait_for(lambda: _waiting_on_locks() == 2, "the request and the task waiting on the locks")

            # As Ctrl-C in a terminal: SIGINT to every process of the group (serve.sh's trap for it is
            # its trap for SIGTERM). Each process receiving it itself would stop gunicorn at once.
            os.killpg(stack.process.pid, signal.SIGINT)
            stack.wait_for(lambda: "Handling signal: term" in stack.text(), "gunicorn receiving SIGTERM")
            # A few seconds in flight after the shutdown began: a quick shutdown (or too short a
            # graceful_timeout) would drop the request meanwhile; and the worker, whose optimizations
            # gunicorn's requests in flight may be waiting on, is not stopped until gunicorn ends.
            time.sleep(IN_FLIGHT_AFTER_SIGTERM_SECONDS)
            assert "Warm shutdown" not in stack.text()
            # Leaving the block commits and releases the request's lock.
        status, headers, _ = in_flight.result(timeout=WAIT_SECONDS)
        stack.wait_for(lambda: "Warm shutdown" in stack.text(), "the worker receiving SIGTERM after gunicorn ended")
        time.sleep(IN_FLIGHT_AFTER_SIGTERM_SECONDS)
    finally:
        task_lock.commit()  # releases the task's lock
        task_lock.close()

    assert status == 200
    assert headers["X-Request-ID"] == "stack-test-in-flight-0001"
    assert stack.process.wait(timeout=WAIT_SECONDS) == 0, stack.text()
    assert stack.log_line(logger="smolpix.task", task_id=running_task)["state"] == "SUCCESS"
    assert stack.log_line(logger="smolpix.task", task_id=queued_task) is None  # waiting in the broker...
    _run_worker_until_done(stack, queued_task)  # ...for the next worker
    _beat_knew_the_schedule(Path(stack.environment["CELERY_BEAT_SCHEDULE_FILENAME"]))


def _runs_under(stack: Stack, pid: str) -> bool:
    """Whether process `pid` is one of the stack's (another stack of this user's has folders there too)."""
    while pid.isdigit() and int(pid) > 1:
        if int(pid) == stack.process.pid:
            return True
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False
        pid = re.search(r"^PPid:\s*(\d+)", status, re.MULTILINE)[1]
    return False


def _waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation IN "
            "('apikeys_apikey'::regclass, 'django_session'::regclass)"
        )
        return cursor.fetchone()[0]


def _beat_knew_the_schedule(schedule_file: Path) -> None:
    with shelve.open(str(schedule_file), flag="r") as saved:  # noqa: S301 (written by our own beat)
        assert set(saved["entries"]) >= set(settings.CELERY_BEAT_SCHEDULE)


def _run_worker_until_done(stack: Stack, task_id: str) -> None:
    worker = processes.start_worker(env=stack.environment, log_path=stack.output.with_name("worker.log"))
    after = Stack(process=worker, port=stack.port, output=stack.output.with_name("worker.log"), environment={})
    try:
        line = after.wait_for(lambda: after.log_line(logger="smolpix.task", task_id=task_id), "the queued task's run")
        assert line["state"] == "SUCCESS"
    finally:
        processes.stop(worker)
