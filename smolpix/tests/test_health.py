import uuid

import pytest
from celery import Celery
from django.core.cache import cache, caches

from optimizer import jobs

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"  # the discard port: nothing listens there


def test_healthz_reports_every_service_with_tasks_run_eagerly(client, eager_tasks):  # as with no broker

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok", "broker": "eager", "worker": "eager"}


def _healthz_with_broker(client, monkeypatch, broker_url: str):
    # A throwaway app aimed at that broker: closing the real app's connection pools instead would
    # leave them closed, and every later task (even an eager one) would fail to acquire a producer.
    throwaway_app = Celery("health-test", broker=broker_url, set_as_current=False)
    monkeypatch.setattr("smolpix.views.celery_app", throwaway_app)
    try:
        return client.get("/healthz")
    finally:
        throwaway_app.close()


@pytest.fixture
def own_cache(settings):
    """A cache of this test's own (its keys prefixed): workers other tests started say they are
    alive in the shared one."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"health-{uuid.uuid4().hex}"}}
    caches._settings = None
    yield
    caches._settings = None


def test_healthz_sees_a_worker_by_its_heartbeat(client, monkeypatch, own_cache):
    # A broker that works (kombu's in-process transport); the worker is known by the key each
    # worker refreshes every second (optimizer.jobs). The stack test in tests/stack/ sees a real one.
    jobs.announce_worker_alive()
    alive = _healthz_with_broker(client, monkeypatch, "memory://")
    cache.delete(jobs.WORKERS_ALIVE_KEY)  # as when the last worker's key expires
    gone = _healthz_with_broker(client, monkeypatch, "memory://")

    assert (alive.status_code, alive.json()["worker"]) == (200, "ok")
    assert gone.status_code == 503
    assert (gone.json()["status"], gone.json()["broker"], gone.json()["worker"]) == ("down", "ok", "down")


def test_healthz_is_503_when_the_cache_is_unreachable(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": UNREACHABLE_REDIS,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    caches._settings = None  # let the cache handler read the overridden setting
    try:
        response = client.get("/healthz")
    finally:
        caches._settings = None

    assert response.status_code == 503
    assert response.json()["cache"] == "down"
    assert response.json()["status"] == "down"


def test_healthz_is_503_when_the_broker_is_unreachable(client, monkeypatch):
    response = _healthz_with_broker(client, monkeypatch, UNREACHABLE_REDIS)

    assert response.status_code == 503
    assert response.json()["broker"] == "down"
    assert response.json()["worker"] == "down"  # not asked: no worker is reachable without a broker
