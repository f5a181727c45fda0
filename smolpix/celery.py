"""The Celery application. Its configuration is the CELERY_* names in smolpix.settings.

The signal handlers below give tasks the context of the request that queued them: its id, for the
same structured logs as requests, and the address it reached us at, for the links in e-mails
(smolpix.emails.site_url). Both travel in the task message's headers; every task run writes one line.
"""

import logging
import os
import time
from contextvars import ContextVar, Token
from logging.config import dictConfig

from celery import Celery, signals

from smolpix.emails import request_site_url
from smolpix.logging import request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smolpix.settings")

# smolpix is no Django app, so its tasks module is named here rather than found by autodiscovery.
app = Celery("smolpix", include=["smolpix.tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger("smolpix.task")
received_logger = logging.getLogger("smolpix.task.received")
# Message header → the context variable it carries from the request into the task.
CARRIED_CONTEXT: dict[str, ContextVar[str | None]] = {"request_id": request_id, "site_url": request_site_url}

# task id → (start time, tokens restoring the carried context) for the runs in progress in this process.
_runs: dict[str, tuple[float, list[tuple[ContextVar, Token]]]] = {}


@signals.celeryd_init.connect
@signals.import_modules.connect  # beat's first signal: before its scheduler opens the schedule file
def refuse_debug(**kwargs) -> None:
    """The production processes refuse DEBUG, the worker and beat as gunicorn does. Unset, DEBUG is
    on (for `make run`), and so is the development SECRET_KEY: a worker set up by hand without
    them would sign the links in e-mails with a key the web processes do not verify."""
    from django.conf import settings

    if settings.DEBUG:
        raise SystemExit("celery refuses to run with DEBUG on: set DEBUG=false and SECRET_KEY, as for gunicorn.")


@signals.setup_logging.connect
def use_django_logging(**kwargs) -> None:
    """Worker and beat log exactly as the web processes do (settings.LOGGING), not Celery's way."""
    from django.conf import settings

    dictConfig(settings.LOGGING)


@signals.before_task_publish.connect
def add_context_headers(headers: dict, **kwargs) -> None:
    for header, variable in CARRIED_CONTEXT.items():
        if (current := variable.get()) is not None:
            headers[header] = current


@signals.task_received.connect
def write_received_log(request, **kwargs) -> None:
    """The worker's line for a task it took from the queue, under the request id that queued it:
    Celery's own (its logger celery.worker.strategy, silenced in settings.LOGGING) had none."""
    token = request_id.set(request.request_dict.get("request_id"))
    try:
        received_logger.info("task received", extra={"fields": {"task": request.name, "task_id": request.id}})
    finally:
        request_id.reset(token)


@signals.task_prerun.connect
def start_task_log(task_id: str, task, **kwargs) -> None:
    # A task run eagerly has no message: it keeps the context of the code that called it.
    tokens = [
        (variable, variable.set(getattr(task.request, header, None) or variable.get()))
        for header, variable in CARRIED_CONTEXT.items()
    ]
    _runs[task_id] = (time.perf_counter(), tokens)


@signals.task_postrun.connect
def write_task_log(task_id: str, task, state: str | None = None, **kwargs) -> None:
    run = _runs.pop(task_id, None)
    if run is None:
        return
    started, tokens = run
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
    for variable, token in tokens:
        variable.reset(token)
