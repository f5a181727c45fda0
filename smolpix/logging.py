"""Structured logs: every log line is one JSON object, tagged with the id of the request (or of the
request that queued the task) it belongs to.

The request id lives in a context variable: the request log middleware sets it for each request, the
Celery signal handlers in `smolpix.celery` carry it in a task's message headers and set it again in the
worker. This module imports nothing from Django, so gunicorn's own log configuration can use it too.
"""

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

REQUEST_ID_HEADER = "X-Request-ID"
# Ids from a proxy or a client are kept only when they cannot disturb a log line or a header.
WELL_FORMED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")

# Keys are never logged; should one slip into a message or a path anyway, it is masked. Display
# prefixes (`pk_live_AbC1…`, four characters) stay readable.
API_KEY_SHAPE = re.compile(r"pk_live_[0-9A-Za-z]{5,}")
API_KEY_MASK = "pk_live_[redacted]"

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id_for(incoming: str | None) -> str:
    """The incoming id when it is well formed, else a new one."""
    if incoming and WELL_FORMED_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, plus the record's `fields`
    (pass them as `logger.info("request", extra={"fields": {...}})`)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return API_KEY_SHAPE.sub(API_KEY_MASK, json.dumps(line, default=str, ensure_ascii=False))


class OutageTracebacks(logging.Filter):
    """django.request's lines keep an outage's traceback at most once a minute (traceback_due): a
    page met by a database outage logged its whole traceback on every request."""

    def filter(self, record: logging.LogRecord) -> bool:
        from smolpix.outages import OUTAGES, traceback_due  # Django's database module, once set up

        error = record.exc_info[1] if record.exc_info else None
        # Judged once: logging set up again (smolpix.wsgi's django.setup) adds a second filter.
        if isinstance(error, OUTAGES) and not getattr(record, "outage_judged", False):
            record.outage_judged = True
            if not traceback_due(error):
                record.exc_info, record.exc_text = None, None
        return True
