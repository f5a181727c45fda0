import pytest
from django.core.cache import caches

from smolpix.celery import app as celery_app

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
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    monkeypatch.setitem(celery_app.conf, "broker_url", UNREACHABLE_REDIS)
    celery_app.pool.force_close_all()
    try:
        response = client.get("/healthz")
    finally:
        celery_app.pool.force_close_all()  # do not leave a pool aimed at the dead broker

    assert response.status_code == 503
    assert response.json()["broker"] == "down"
