import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from celery import Celery
from django.core.cache import cache, caches
from django.urls import reverse

from optimizer import jobs
from smolpix import views

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"  # the discard port: nothing listens there


def test_healthz_reports_every_service_with_tasks_run_eagerly(client, eager_tasks):  # as with no broker

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok", "broker": "eager", "worker": "eager"}


@pytest.mark.parametrize("host", ["10.0.3.7", "evil.example.net"])
def test_healthz_answers_json_whatever_the_host(client, eager_tasks, settings, host):
    """A load balancer probes each machine by its address, which ALLOWED_HOSTS need not list: it was
    answered 400, an HTML page, and every machine looked down."""
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["smolpix.example.com"]

    response = client.get("/healthz", headers={"Host": host})

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert client.get("/status/", headers={"Host": host}).status_code == 400  # the rest of the site still refuses it


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


def _status_badges(body: str) -> dict[str, str]:
    """Each service's name on the status page, with what its badge says."""
    return dict(re.findall(r'<strong>([^<]+)</strong>.*?<span class="badge[^"]*">([^<]+)</span>', body, re.DOTALL))


def test_the_status_page_says_in_words_what_healthz_says_in_json(client, eager_tasks):
    response = client.get(reverse("status"))

    body = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "no-cache" in response["Cache-Control"]
    assert "Everything is working" in body
    assert _status_badges(body) == {
        "Database": "Working",
        "Cache": "Working",
        "Job queue": "Not used here",
        "Image workers": "Not used here",
    }
    assert "optimizes images in its web process" in body
    assert '"broker"' not in body and "eager" not in body


def test_the_status_page_names_what_is_down_and_still_answers_200(client, unreachable_redis):
    response = client.get(reverse("status"))

    body = response.content.decode()
    assert response.status_code == 200  # a proxy may put its own page in place of a 503's
    assert "Something is down" in body
    assert "may fail for now with a <code>503</code>" in body
    assert _status_badges(body)["Cache"] == "Down"
    assert _status_badges(body)["Database"] == "Working"


def test_the_footer_links_the_status_page_not_the_json(client):
    body = client.get(reverse("landing")).content.decode()

    assert f'<a href="{reverse("status")}">Status</a>' in body
    assert 'href="/healthz"' not in body


def _health_twice_at_once(monkeypatch, *, seconds: float) -> tuple[dict, dict, int, float]:
    """Two health checks, the second started while the first's checks run; each check takes
    `seconds`. Returns both answers, how many checks were started, and how long both took."""
    started = []

    def check() -> str:
        started.append(1)
        time.sleep(seconds)
        return "ok"

    for probe in views.PROBES.values():
        monkeypatch.setattr(probe, "check", check)
    begun = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(views._health)
        time.sleep(0.2)
        second = pool.submit(views._health)
        answers = first.result(), second.result()
    took = time.monotonic() - begun
    for probe in views.PROBES.values():
        probe.running.result()  # no check of this test is left running for the tests after it
    return *answers, len(started), took


def test_two_health_checks_at_once_share_the_checks_running_and_both_see_ok(monkeypatch):
    """Two load balancers probing at the same moment: the second waits for the checks the first
    started (it read "down" before, a 503 that could take a healthy machine out of rotation)."""
    first, second, started, _ = _health_twice_at_once(monkeypatch, seconds=0.5)

    assert first == second == dict.fromkeys(views.PROBES, "ok")
    assert started == len(views.PROBES)


def test_a_hung_check_is_not_started_again_and_reads_down_within_the_probe_time(monkeypatch):
    first, second, started, took = _health_twice_at_once(monkeypatch, seconds=views.PROBE_SECONDS + 1)

    assert first == second == dict.fromkeys(views.PROBES, "down")
    assert started == len(views.PROBES)
    assert took < views.PROBE_SECONDS + 1
