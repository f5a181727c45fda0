"""A real Celery worker for the endpoint's tests (started once per module that uses it), which
holds the jobs of images marked so until the test lets them go (tests.holds)."""

import pytest

from optimizer import worker as worker_half
from optimizer.tests.origin import Origin
from smolpix.celery import app as celery_app
from tests import processes
from tests.holds import python_path

# Time limits of the jobs sent to it (they travel in the task message).
SOFT_TIME_LIMIT = 5
HARD_TIME_LIMIT = 7


@pytest.fixture(scope="module")
def worker_origin():
    origin = Origin()
    yield origin
    origin.close()


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    """A prefork worker with one child (its jobs' time limits, 5 and 7 s, travel in their messages)."""
    env = processes.environment(PYTHONPATH=python_path())
    process = processes.start_worker(env=env, log_path=tmp_path_factory.mktemp("worker") / "worker.log")
    yield process
    processes.stop(process)


@pytest.fixture
def post_to_worker(post, worker, worker_origin, settings, monkeypatch):
    """POST with tasks going to the worker, with short time limits (they travel in the task
    message). This process fetches a URL's image from the loopback origin; it may not optimize
    one, so only the worker can."""
    assert not celery_app.conf.task_always_eager
    monkeypatch.setattr(worker_half, "optimize", _not_here)
    settings.OPTIMIZER_ALLOW_PRIVATE_NETWORKS = True
    settings.OPTIMIZER_ALLOWED_PORTS = [worker_origin.port]
    settings.CELERY_TASK_SOFT_TIME_LIMIT = SOFT_TIME_LIMIT
    settings.CELERY_TASK_TIME_LIMIT = HARD_TIME_LIMIT
    return post


def _not_here(*args, **kwargs):
    raise AssertionError("an image was optimized in the test's process, not in the worker")
