"""A worker killed outright (power cut, OOM killer, SIGKILL): the next request knows within
seconds, not at the time limit. Its own module: no other worker may be alive meanwhile."""

import os
import signal
import time

import pytest
from django.conf import settings

from api.tests.checks import assert_error
from optimizer import jobs
from optimizer.tests import images
from smolpix.celery import app as celery_app
from tests import processes

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="no Celery broker configured"),
]


def test_a_worker_killed_outright_is_noticed_in_seconds(post, worker_origin, settings, tmp_path):
    assert not celery_app.conf.task_always_eager  # so the 200 below came from the worker
    doomed = processes.start_worker(env=processes.environment(), log_path=tmp_path / "worker.log")
    settings.OPTIMIZER_ALLOW_PRIVATE_NETWORKS = True
    settings.OPTIMIZER_ALLOWED_PORTS = [worker_origin.port]
    settings.OPTIMIZER_QUEUE_TIMEOUT = 60  # the answer must not come from waiting in the queue
    url = worker_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))
    assert post({"url": url}).status_code == 200
    os.killpg(doomed.pid, signal.SIGKILL)  # the main process and its children
    doomed.wait()

    started = time.monotonic()
    response = post({"url": url})

    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert time.monotonic() - started < jobs.HEARTBEAT_EXPIRY_SECONDS + jobs.HEARTBEAT_PATIENCE_SECONDS + 3
