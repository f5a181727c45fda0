import pytest

from optimizer.tests.origin import Origin
from smolpix.celery import app as celery_app


@pytest.fixture
def origin():
    server = Origin()
    yield server
    server.close()


@pytest.fixture
def reachable_origin(origin: Origin, settings) -> Origin:
    """The origin with the fetcher allowed to reach it: private networks allowed (as in local
    development) and its port allowed."""
    settings.OPTIMIZER_ALLOW_PRIVATE_NETWORKS = True
    settings.OPTIMIZER_ALLOWED_PORTS = [origin.port]
    return origin


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in the test process even when a broker is configured, so tests see their
    settings overrides. The real worker has tests of its own (test_worker.py)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous
