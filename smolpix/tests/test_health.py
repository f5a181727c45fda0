import pytest
from celery import Celery
from django.core.cache import caches

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"  # the discard port: nothing listens there


def test_healthz_reports_every_service(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["cache"] == "ok"
    assert body["broker"] in {"ok", "eager"}


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
    # A throwaway app aimed at the dead broker: closing the real app's connection pools instead would
    # leave them closed, and every later task (even an eager one) would fail to acquire a producer.
    dead_broker_app = Celery("dead-broker", broker=UNREACHABLE_REDIS, set_as_current=False)
    monkeypatch.setattr("smolpix.views.celery_app", dead_broker_app)
    try:
        response = client.get("/healthz")
    finally:
        dead_broker_app.close()

    assert response.status_code == 503
    assert response.json()["broker"] == "down"
