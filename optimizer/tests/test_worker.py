"""The endpoint against a real Celery worker (started here; skipped only without a broker).

The worker, not this process, must do the work: it alone may reach private networks, so a
fetched loopback image proves the job ran there. A worker killed mid-task, or a task over its hard
time limit, is a clean 500 and the next request succeeds.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings

from optimizer.tests import images
from optimizer.tests.api_checks import SERVER_ERROR_BODY, assert_error, assert_reference_response
from optimizer.tests.origin import Origin, Route
from smolpix.celery import app as celery_app
from tests import processes

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="no Celery broker configured"),
]

SOFT_TIME_LIMIT = 5
HARD_TIME_LIMIT = 7


@pytest.fixture(scope="module")
def worker_origin():
    origin = Origin()
    yield origin
    origin.close()


@pytest.fixture(scope="module")
def worker(worker_origin, tmp_path_factory):
    """A prefork worker with one child, allowed to reach the loopback origin."""
    env = processes.environment(
        OPTIMIZER_ALLOW_PRIVATE_NETWORKS="true",
        OPTIMIZER_ALLOWED_PORTS=str(worker_origin.port),
        OPTIMIZER_FETCH_TIMEOUT="60",  # longer than a task may run: the time limit must end it
    )
    process = processes.start_worker(env=env, log_path=tmp_path_factory.mktemp("worker") / "worker.log")
    yield process
    processes.stop(process)


def _pool_children(worker: subprocess.Popen) -> list[int]:
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


@pytest.fixture
def post_to_worker(post, worker, worker_origin, settings):
    """POST with tasks going to the worker, with short time limits (they travel in the task
    message). This process may not reach private networks, so only the worker can fetch from the
    origin."""
    assert not celery_app.conf.task_always_eager
    assert not settings.OPTIMIZER_ALLOW_PRIVATE_NETWORKS
    settings.OPTIMIZER_ALLOWED_PORTS = [worker_origin.port]  # the syntax check happens here too
    settings.CELERY_TASK_SOFT_TIME_LIMIT = SOFT_TIME_LIMIT
    settings.CELERY_TASK_TIME_LIMIT = HARD_TIME_LIMIT
    return post


def test_a_url_job_is_fetched_and_optimized_by_the_worker(post_to_worker, worker_origin):
    url = worker_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))

    response = post_to_worker({"url": url, "maxWidth": 128})

    assert response.status_code == 200, response.content
    assert (response.json()["width"], response.json()["height"]) == (128, 96)
    assert_reference_response(response.json())


def test_an_upload_and_its_result_travel_through_redis(post_to_worker):
    response = post_to_worker({"format": "avif", "maxWidth": "64"}, upload=images.encode(images.photo(), "JPEG"))

    assert response.status_code == 200, response.content
    assert (response.json()["format"], response.json()["width"]) == ("avif", 64)
    assert_reference_response(response.json())


def test_errors_found_by_the_worker_keep_their_code(post_to_worker, worker_origin):
    url = worker_origin.serve("/page.html", b"<html></html>")

    assert_error(post_to_worker({"url": url}), 400, "UNSUPPORTED_IMAGE", "url")


def test_a_worker_killed_mid_task_is_a_clean_500_and_the_next_request_succeeds(post_to_worker, worker, worker_origin):
    def kill_the_pool_child() -> None:
        for pid in _pool_children(worker):
            os.kill(pid, signal.SIGKILL)

    worker_origin.routes["/doomed.png"] = Route(body=b"x" * 1000, stall=True, on_request=kill_the_pool_child)
    good = worker_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))

    response = post_to_worker({"url": worker_origin.url("/doomed.png")})

    assert response.status_code == 500
    assert response.json() == SERVER_ERROR_BODY
    assert worker.poll() is None
    assert post_to_worker({"url": good}).status_code == 200


def test_a_task_over_its_time_limit_is_a_clean_500_and_the_next_request_succeeds(post_to_worker, worker_origin):
    # A byte every half second: never a read timeout, and the fetch's own limit is 60 s.
    worker_origin.routes["/endless.png"] = Route(body=b"x" * 1000, drip_seconds=0.5)
    good = worker_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))

    started = time.monotonic()
    response = post_to_worker({"url": worker_origin.url("/endless.png")})

    assert response.status_code == 500
    assert response.json() == SERVER_ERROR_BODY
    assert time.monotonic() - started >= SOFT_TIME_LIMIT
    assert post_to_worker({"url": good}).status_code == 200
