"""Starting the project's own processes (a Celery worker, web servers) against the test database,
for tests that need more than this process. They need PostgreSQL: SQLite's test database lives in
this process's memory."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from celery import Celery
from django.conf import settings
from django.db import connection

from smolpix.celery import app as celery_app

REPO = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 90


def environment(**overrides: str) -> dict[str, str]:
    """This process's environment, with DATABASE_URL (when set) naming the test database, and the
    settings of production (DEBUG off), with a secret that verifies the API keys tests make."""
    production = {
        "DEBUG": "false",
        "SECRET_KEY": "test-processes-secret-key-not-for-production",
        "API_KEY_HASH_SECRET": settings.API_KEY_HASH_SECRET,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",  # no TLS proxy in front of test servers
    }
    env = {**os.environ, **production, **overrides}
    if "DATABASE_URL" in os.environ:
        url = urlsplit(os.environ["DATABASE_URL"])
        env["DATABASE_URL"] = urlunsplit(url._replace(path="/" + connection.settings_dict["NAME"]))
    return env


def start(command: list[str], *, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        # The session this test started: the process and its children, in whichever process group
        # (scripts/serve.sh puts each of its supervisors in one of its own).
        for pid in _in_session(process.pid):
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=30)


def _in_session(session: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # Fields after the command's closing parenthesis: state, parent, group, session...
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[3]) == session:
            found.append(int(stat.parent.name))
    return found


def start_worker(
    *, env: dict[str, str], log_path: Path, concurrency: int = 1, broker_url: str | None = None
) -> subprocess.Popen:
    """A prefork Celery worker, returned once it answers pings (through `broker_url` when it is not
    this process's broker)."""
    node = f"test-{uuid.uuid4().hex[:8]}@localhost"
    command = [sys.executable, "-m", "celery", "-A", "smolpix", "worker", "--pool", "prefork"]
    command += ["--concurrency", str(concurrency), "-n", node, "--loglevel", "INFO"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    process = start(command, env=env, log_path=log_path)
    ping_app = Celery("ping", broker=broker_url, set_as_current=False) if broker_url else celery_app
    try:
        _wait(process, log_path, lambda: ping_app.control.ping(destination=[node], timeout=1.0))
    finally:
        if ping_app is not celery_app:
            ping_app.close()
    return process


def pool_children(worker: subprocess.Popen) -> list[int]:
    """The pids of a worker's pool processes (its direct children)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == worker.pid:
            children.append(int(entry.name))
    return children


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(*, env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, str]:
    """The site under gunicorn (one worker process); returns it and its base URL once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "smolpix.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    process = start(command, env=env, log_path=log_path)
    base_url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2):  # noqa: S310 (our loopback server)
                return True
        except urllib.error.HTTPError:
            return True  # a 503 is an answer too
        except OSError:
            time.sleep(0.2)
            return False

    _wait(process, log_path, answers)
    return process, base_url


def _wait(process: subprocess.Popen, log_path: Path, ready) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[2:4]} exited at start-up:\n{log_path.read_text()[-3000:]}")
        if ready():
            return
    stop(process)
    raise RuntimeError(f"{process.args[2:4]} did not answer within {STARTUP_SECONDS}s:\n{log_path.read_text()[-3000:]}")
