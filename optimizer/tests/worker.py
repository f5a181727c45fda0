"""A real Celery worker for tests: started as a subprocess with the test's environment plus
overrides, ready once it answers a ping, stopped (with its pool children) afterwards."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from celery import Celery

from smolpix.celery import app as celery_app

REPO = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 90
# Time limits of jobs sent to a test worker (they travel in the task message).
SOFT_TIME_LIMIT = 5
HARD_TIME_LIMIT = 7


@contextmanager
def running_worker(log_path: Path, *, env: dict[str, str], broker_url: str | None = None) -> Iterator[subprocess.Popen]:
    """A prefork worker with one pool child. `env` is added to this process's environment;
    `broker_url` is where to ping it when it is not this process's broker."""
    node = f"smolpix-test-{uuid.uuid4().hex[:8]}@localhost"
    command = [sys.executable, "-m", "celery", "-A", "smolpix", "worker", "--pool", "prefork", "--concurrency", "1"]
    command += ["-n", node, "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    ping_app = Celery("ping", broker=broker_url, set_as_current=False) if broker_url else celery_app
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until_ready(process, node, log_path, ping_app)
        yield process
    finally:
        _stop(process)
        if ping_app is not celery_app:
            ping_app.close()


def _wait_until_ready(process: subprocess.Popen, node: str, log_path: Path, ping_app: Celery) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the worker exited at start-up:\n{log_path.read_text()[-3000:]}")
        if ping_app.control.ping(destination=[node], timeout=1.0):
            return
    pytest.fail(f"the worker did not answer within {STARTUP_SECONDS}s:\n{log_path.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group this test started: the worker and its children
        process.wait(timeout=30)


def pool_children(worker: subprocess.Popen) -> list[int]:
    """The pids of the worker's pool processes (its direct children)."""
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
