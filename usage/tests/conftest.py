import pytest

from smolpix.celery import app as celery_app


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in the test process even when a broker is configured. The real worker has
    tests of its own (test_worker.py)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous
