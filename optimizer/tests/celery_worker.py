"""A real Celery worker for the endpoint's tests (started once per module that uses it), allowed
to reach a loopback origin that this process may not reach: so only the worker can do the work."""

import pytest

from optimizer.tests.origin import Origin
from smolpix.celery import app as celery_app
from tests import processes

# Time limits of the jobs sent to it (they travel in the task message).
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
        # The worker's own limits, which the settings want above the fetch's; its jobs' limits, 5 and
        # 7 s, travel in their messages.
        CELERY_TASK_SOFT_TIME_LIMIT="70",
        CELERY_TASK_TIME_LIMIT="80",
    )
    process = processes.start_worker(env=env, log_path=tmp_path_factory.mktemp("worker") / "worker.log")
    yield process
    processes.stop(process)


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
