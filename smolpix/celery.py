"""The Celery application. Its configuration is the CELERY_* names in smolpix.settings.

The signal handlers below give tasks the same structured logs as requests: the id of the request
that queued a task travels in the task message's headers, and every task run writes one line.
"""

import logging
import os
import time
from logging.config import dictConfig

from celery import Celery, signals

from smolpix.logging import request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smolpix.settings")

# smolpix is no Django app, so its tasks module is named here rather than found by autodiscovery.
app = Celery("smolpix", include=["smolpix.tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger("smolpix.task")
REQUEST_ID_MESSAGE_HEADER = "request_id"

# task id → (start time, token restoring the request id) for the runs in progress in this process.
_runs: dict[str, tuple[float, object]] = {}


@signals.setup_logging.connect
def use_django_logging(**kwargs) -> None:
    """Worker and beat log exactly as the web processes do (settings.LOGGING), not Celery's way."""
    from django.conf import settings

    dictConfig(settings.LOGGING)


@signals.before_task_publish.connect
def add_request_id_header(headers: dict, **kwargs) -> None:
    if (current := request_id.get()) is not None:
        headers[REQUEST_ID_MESSAGE_HEADER] = current


@signals.task_prerun.connect
def start_task_log(task_id: str, task, **kwargs) -> None:
    # A task run eagerly has no message: it keeps the request id of the code that called it.
    incoming = getattr(task.request, REQUEST_ID_MESSAGE_HEADER, None) or request_id.get()
    _runs[task_id] = (time.perf_counter(), request_id.set(incoming))


@signals.task_postrun.connect
def write_task_log(task_id: str, task, state: str | None = None, **kwargs) -> None:
    run = _runs.pop(task_id, None)
    if run is None:
        return
    started, token = run
    logger.info(
        "task",
        extra={
            "fields": {
                "task": task.name,
                "task_id": task_id,
                "state": state,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            }
        },
    )
    request_id.reset(token)
