"""Faults of the services Smolpix stands on, for real: PostgreSQL out of reach or hung, Redis stopped
and started again or hung, a worker left idle. The API answers as documented (503 SERVICE_UNAVAILABLE with
Retry-After, never a 500 or a traceback), /healthz says what is down, Stripe's webhook answers
non-2xx so Stripe sends the event again, nothing is half-written, and all recovers.

A worker killed mid-task and a task over its hard time limit are in optimizer/tests/test_worker.py.

The shared PostgreSQL and Redis are never stopped: this process's database connection is pointed
at a port where nothing listens, a hung PostgreSQL is a proxy in front of it that stops passing
anything on, and Redis faults use a private redis-server on a spare loopback port, with a web
server (gunicorn) and a Celery worker started here against it.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import urllib3
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from billing.models import StripeEvent
from billing.tests.fake_stripe import sign
from optimizer.tests import images
from tests import processes
from tests.holds import HeldImage

# Transactional: the web server and the worker started here must see the rows a test creates, and
# the database must be restored afterwards (the plans are seeded by a migration).
committed = pytest.mark.django_db(transaction=True, serialized_rollback=True)
needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL): other processes share its data"
)

SERVICE_UNAVAILABLE = {
    "error": "The service is briefly unavailable; please try again after the seconds in Retry-After.",
    "code": "SERVICE_UNAVAILABLE",
}
PHOTO = images.encode(images.photo(64, 48), "PNG")


# --- PostgreSQL out of reach --------------------------------------------------------------


class DatabaseSwitch:
    """Points this process's database connection at a port where nothing listens, and back."""

    def __init__(self) -> None:
        self._real = {name: connection.settings_dict[name] for name in ("HOST", "PORT")}

    def cut(self) -> None:
        connection.close()
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(processes.free_port()))

    def restore(self) -> None:
        connection.close()
        connection.settings_dict.update(self._real)


@pytest.fixture
def database():
    switch = DatabaseSwitch()
    yield switch
    switch.restore()


def _webhook(client, event: dict):
    payload = json.dumps(event).encode()
    return client.post(
        "/billing/webhook/", payload, content_type="application/json", headers={"Stripe-Signature": sign(payload)}
    )


@committed
@needs_postgresql
@pytest.mark.usefixtures("eager_tasks", "fake_stripe")
def test_with_postgresql_unreachable_the_api_healthz_and_webhook_answer_503_then_recover(client, pro_api_key, database):
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "customer.created",
        "created": int(time.time()),
        "data": {"object": {"id": "cus_fault", "object": "customer"}},
    }

    def optimize():
        upload = SimpleUploadedFile("photo.png", PHOTO)
        return client.post("/api/v1/optimize", {"file": upload}, HTTP_AUTHORIZATION=f"Bearer {pro_api_key}")

    database.cut()
    api, health, webhook = optimize(), client.get("/healthz"), _webhook(client, event)
    database.restore()

    assert (api.status_code, api.json(), api["Retry-After"]) == (503, SERVICE_UNAVAILABLE, "30")
    assert (health.status_code, health.json()["database"]) == (503, "down")
    assert webhook.status_code == 503, webhook.content  # non-2xx: Stripe sends the event again
    assert not StripeEvent.objects.filter(stripe_id=event["id"]).exists()  # nothing half-written
    # Back: Stripe's retry is stored once and acknowledged, and the API works again.
    assert _webhook(client, event).status_code == 200
    assert _webhook(client, event).status_code == 200
    assert StripeEvent.objects.filter(stripe_id=event["id"]).count() == 1
    assert optimize().status_code == 200
    assert client.get("/healthz").status_code == 200


# --- PostgreSQL hung: a web server on the test database through a proxy that can freeze ------


class FreezableProxy:
    """A TCP proxy to PostgreSQL that can freeze as a hung server does: connections are still
    accepted and nothing gets through either way, until it thaws (what was held then goes on)."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._flowing = threading.Event()
        self._flowing.set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(self._upstream)
            except OSError:
                return
            for source, destination in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, destination), daemon=True).start()

    def _pipe(self, source: socket.socket, destination: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()
                destination.sendall(data)
        except OSError:
            pass
        finally:
            destination.close()

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._listener.close()


@pytest.mark.slow
@committed
@needs_postgresql
def test_with_postgresql_hung_the_api_healthz_and_pages_answer_within_seconds_then_recover(
    client, pro_account, pro_api_key, tmp_path
):
    client.force_login(pro_account.owner)
    signed_in = f"sessionid={client.cookies['sessionid'].value}"
    proxy = FreezableProxy(connection.settings_dict["HOST"] or "127.0.0.1", int(connection.settings_dict["PORT"]))
    # A kept connection hangs too. Pages name their static files from collectstatic's manifest.
    env = processes.environment(DATABASE_TIMEOUT="2", CONN_MAX_AGE="60", STATIC_ROOT=str(tmp_path / "static"))
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=processes.REPO, env=env, check=True)
    url = urlsplit(env["DATABASE_URL"])
    env["DATABASE_URL"] = urlunsplit(url._replace(netloc=f"{url.username}@127.0.0.1:{proxy.port}"))
    # Without a bound the requests below would wait until the proxy thaws, after them: this fails.
    web = WebServer(env, tmp_path / "web.log", read_timeout=30)
    try:
        assert web.get("/api/v1/usage", pro_api_key).status == 200

        proxy.freeze()
        try:
            health, health_seconds = _timed(lambda: web.get("/healthz"))
            down, usage_seconds = _timed(lambda: web.get("/api/v1/usage", pro_api_key))
            page, page_seconds = _timed(lambda: web.get("/dashboard/", cookie=signed_in))
            landing, landing_seconds = _timed(lambda: web.get("/"))
        finally:
            proxy.thaw()

        assert (health.status, json.loads(health.data)["database"]) == (503, "down")
        assert health_seconds < 4
        assert (down.status, json.loads(down.data), down.headers["Retry-After"]) == (503, SERVICE_UNAVAILABLE, "30")
        assert usage_seconds < 10  # the kept connection's check (2 s), then a new connection (2 s)
        assert (page.status, page.headers["Retry-After"]) == (503, "30")
        # Within 2 waits of 2 s, as the API: its session read once, not by the view and three
        # middleware each (6-8 s).
        assert page_seconds < 5
        assert (landing.status, landing.headers["Retry-After"]) == (503, "30")
        assert landing_seconds < 5
        assert _until_ok(lambda: web.get("/api/v1/usage", pro_api_key), RECOVERY_SECONDS).status == 200
        health = _until_ok(lambda: web.get("/healthz"), RECOVERY_SECONDS, ok=_database_ok)
        assert json.loads(health.data)["database"] == "ok"  # (no worker runs here: its status stays 503)
    finally:
        processes.stop(web.process)
        proxy.close()


def _database_ok(health: urllib3.BaseHTTPResponse) -> bool:
    return json.loads(health.data)["database"] == "ok"


# --- Redis stopped, and a worker left idle: a whole stack on a private Redis ----------------

# Redis closes connections idle this long: by the end of IDLE_SECONDS every connection a process
# left idle is gone, as after minutes behind a NAT or a firewall that forgets idle flows.
REDIS_IDLE_TIMEOUT = 5
IDLE_SECONDS = 40
RECOVERY_SECONDS = 90


class PrivateRedis:
    """A redis-server of this test's own, on a spare loopback port, that can be stopped."""

    def __init__(self, directory: Path) -> None:
        self.port = processes.free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--timeout", str(REDIS_IDLE_TIMEOUT), "--dir", str(self._directory)]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        pytest.fail("the private redis-server did not start")

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=30)

    def hang(self) -> None:
        """Frozen, not gone: connections are still accepted (by the kernel), nothing is answered."""
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._process.send_signal(signal.SIGCONT)


class WebServer:
    """The site under gunicorn, on a spare loopback port."""

    def __init__(self, env: dict[str, str], log_path: Path, *, read_timeout: float = 120) -> None:
        self.process, self.url = processes.start_server(env=env, log_path=log_path)
        self._http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=read_timeout))

    def get(self, path: str, key: str | None = None, *, cookie: str | None = None) -> urllib3.BaseHTTPResponse:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        if cookie:
            headers["Cookie"] = cookie
        return self._http.request("GET", self.url + path, headers=headers)

    def optimize(self, key: str) -> urllib3.BaseHTTPResponse:
        return self._http.request(
            "POST",
            self.url + "/api/v1/optimize",
            fields={"file": ("photo.png", PHOTO, "image/png"), "maxWidth": "32"},
            headers={"Authorization": f"Bearer {key}"},
        )


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    """A private Redis, a Celery worker and gunicorn, all on it and on the test database."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    directory = tmp_path_factory.mktemp("stack")
    private_redis = PrivateRedis(directory)
    private_redis.start()
    with django_db_blocker.unblock():
        env = processes.environment(
            REDIS_URL=private_redis.url,
            CELERY_BROKER_URL=private_redis.url,
            CELERY_RESULT_BACKEND=private_redis.url,
            CONN_MAX_AGE="0",
        )
    worker = processes.start_worker(env=env, log_path=directory / "worker.log", broker_url=private_redis.url)
    web = WebServer(env, directory / "web.log")
    yield private_redis, web
    processes.stop(web.process)
    processes.stop(worker)
    private_redis.stop()


def _timed(call):
    """What `call()` answers, and the seconds it took."""
    started = time.monotonic()
    return call(), time.monotonic() - started


def _until_ok(call, seconds: float, ok=lambda response: response.status == 200):
    """The first answer of `call` that is `ok` (200) within `seconds`, or its last answer."""
    deadline = time.monotonic() + seconds
    while True:
        response = call()
        if ok(response) or time.monotonic() > deadline:
            return response
        time.sleep(1)


@pytest.mark.slow
@committed
@needs_postgresql
def test_a_worker_left_idle_then_given_a_tiny_job_succeeds(stack, pro_api_key):
    """Long enough idle that Redis has closed every connection the web process and the worker
    left unused (REDIS_IDLE_TIMEOUT): the next job must reconnect, not fail."""
    _, web = stack
    assert web.optimize(pro_api_key).status == 200

    time.sleep(IDLE_SECONDS)

    response = web.optimize(pro_api_key)
    assert response.status == 200, response.data
    assert json.loads(response.data)["width"] == 32


@pytest.mark.slow
@committed
@needs_postgresql
def test_with_redis_stopped_the_api_answers_503_and_recovers_when_it_returns(stack, pro_api_key):
    private_redis, web = stack
    assert web.optimize(pro_api_key).status == 200

    private_redis.stop()
    try:
        down = web.optimize(pro_api_key)
        health = web.get("/healthz")
    finally:
        private_redis.start()

    assert (down.status, json.loads(down.data), down.headers["Retry-After"]) == (503, SERVICE_UNAVAILABLE, "30")
    assert health.status == 503
    checks = json.loads(health.data)
    assert (checks["status"], checks["database"], checks["cache"], checks["broker"]) == ("down", "ok", "down", "down")
    recovered = _until_ok(lambda: web.optimize(pro_api_key), RECOVERY_SECONDS)
    assert recovered.status == 200, recovered.data
    assert _until_ok(lambda: web.get("/healthz"), RECOVERY_SECONDS).status == 200


@pytest.mark.slow
@committed
@needs_postgresql
def test_with_redis_hung_healthz_and_the_api_answer_within_seconds_then_recover(stack, pro_api_key):
    private_redis, web = stack
    assert web.optimize(pro_api_key).status == 200

    private_redis.hang()
    try:
        health, health_seconds = _timed(lambda: web.get("/healthz"))
        down, optimize_seconds = _timed(lambda: web.optimize(pro_api_key))
    finally:
        private_redis.resume()

    assert health.status == 503
    assert health_seconds < 4  # every probe is bounded (the broker's ping once took 100 s)
    assert (down.status, json.loads(down.data)["code"], down.headers["Retry-After"]) == (
        503,
        "SERVICE_UNAVAILABLE",
        "30",
    )
    assert optimize_seconds < 10
    assert _until_ok(lambda: web.optimize(pro_api_key), RECOVERY_SECONDS).status == 200
    assert _until_ok(lambda: web.get("/healthz"), RECOVERY_SECONDS).status == 200


# --- A worker dying or overrunning: the image is refunded, once ------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="no Celery broker configured")
@pytest.mark.parametrize("fault", ["killed", "over its time limit"])
def test_a_failed_job_is_refunded_exactly_once_and_the_next_request_counts(
    post_to_worker, worker, worker_origin, fault, tmp_path
):
    doomed = HeldImage(worker_origin, PHOTO, folder=tmp_path, hold_seconds=60)  # the time limit ends it

    def kill_the_pool_child_mid_job() -> None:
        doomed.running()
        for pid in processes.pool_children(worker):
            os.kill(pid, signal.SIGKILL)

    good = worker_origin.serve("/photo.png", PHOTO)

    assert post_to_worker({"url": good})["X-Quota-Used"] == "1"
    # Over its time limit, the job is left to it.
    killer = threading.Thread(target=kill_the_pool_child_mid_job if fault == "killed" else doomed.running)
    killer.start()
    failed = post_to_worker({"url": doomed.url})
    killer.join()
    after = post_to_worker({"url": good})

    assert (failed.status_code, failed.json()["code"], failed["X-Quota-Used"]) == (500, "SERVER_ERROR", "1")
    assert (after.status_code, after["X-Quota-Used"]) == (200, "2")
    assert worker.poll() is None
