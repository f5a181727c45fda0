"""Site-wide pages (landing, pricing, docs) and the health check."""

import json
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from accounts.selectors import plan_list
from apikeys.selectors import api_key_list
from optimizer.api import REFERENCE_EXAMPLE_RESPONSE
from smolpix.celery import app as celery_app
from smolpix.examples import example_list

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2
WORKER_PING_TIMEOUT_SECONDS = 1


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/landing.html", {"plans": plan_list(), "examples": example_list()})


def pricing(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/pricing.html", {"plans": plan_list(), "examples": example_list()})


def docs(request: HttpRequest) -> HttpResponse:
    """The API reference. A signed-in reader sees their newest key's prefix in the examples."""
    newest_key = None
    if request.user.is_authenticated:
        newest_key = next(iter(api_key_list(account=request.user.account)), None)
    return render(
        request,
        "pages/docs.html",
        {
            "plans": plan_list(),
            "newest_key": newest_key,
            "max_source_bytes": settings.OPTIMIZER_MAX_SOURCE_BYTES,
            # The OpenAPI schema's example too: one source for both.
            "example_response": json.dumps(REFERENCE_EXAMPLE_RESPONSE, indent=2),
        },
    )


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_cache() -> str:
    cache.set("healthz", "ok", timeout=10)
    if cache.get("healthz") != "ok":
        raise RuntimeError("cache did not return what was stored")
    return "ok"


def _check_broker() -> str:
    if celery_app.conf.task_always_eager:
        return "eager"  # no broker configured: tasks run in-process
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
    return "ok"


def _check_worker() -> str:
    if celery_app.conf.task_always_eager:
        return "eager"  # no broker configured: tasks run in-process, no worker is needed
    # Answers as soon as one worker replies; an empty list after the timeout means none is alive.
    if not celery_app.control.ping(timeout=WORKER_PING_TIMEOUT_SECONDS, limit=1):
        raise RuntimeError(f"no Celery worker answered a ping within {WORKER_PING_TIMEOUT_SECONDS} s")
    return "ok"


CHECKS = {"database": _check_database, "cache": _check_cache, "broker": _check_broker, "worker": _check_worker}


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when every backing service answers and a Celery worker is alive, else 503 naming what is
    down."""
    results = {}
    for name, check in CHECKS.items():
        if name == "worker" and results["broker"] == "down":
            results[name] = "down"  # no worker is reachable without the broker; asking would only retry
            continue
        try:
            results[name] = check()
        except Exception as error:
            logger.warning("health check %s failed: %s", name, error)
            results[name] = "down"
    healthy = "down" not in results.values()
    return JsonResponse({"status": "ok" if healthy else "down", **results}, status=200 if healthy else 503)
