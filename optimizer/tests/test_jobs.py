"""The hand-over of a job between the web process and a worker, through the cache."""

import threading
import time
import uuid

import pytest
from django.core.cache import cache

from optimizer import jobs


@pytest.fixture
def job_id() -> str:
    return uuid.uuid4().hex


def test_a_job_is_claimed_once_by_the_worker_or_given_up_by_the_web_process(job_id):
    assert jobs.job_claim(job_id=job_id)
    assert jobs.job_started(job_id=job_id)
    assert not jobs.job_abandon(job_id=job_id)  # it runs: the web process keeps waiting
    assert not jobs.job_claim(job_id=job_id)


def test_a_job_given_up_before_any_worker_took_it_is_never_run(job_id):
    assert jobs.job_abandon(job_id=job_id)
    assert not jobs.job_claim(job_id=job_id)
    assert not jobs.job_started(job_id=job_id)
    assert not jobs.job_alive(job_id=job_id, patience=0)


def test_a_running_job_beats_and_keeps_beating_a_while_after_it_ends(job_id, monkeypatch):
    monkeypatch.setattr(jobs, "WORKER_HEARTBEAT_SECONDS", 0.05)
    monkeypatch.setattr(jobs, "HEARTBEAT_EXPIRY_SECONDS", 1)
    jobs.job_claim(job_id=job_id)
    with jobs.job_heartbeat(job_id=job_id):
        time.sleep(1.5)  # beyond the expiry: only the beats keep it alive
        assert jobs.job_alive(job_id=job_id, patience=0)
    assert jobs.job_alive(job_id=job_id, patience=0)  # the result is on its way
    jobs.job_forget(job_id=job_id)
    assert not jobs.job_alive(job_id=job_id, patience=0)


def test_a_heartbeat_expired_early_comes_back_with_the_next_beat(job_id, monkeypatch):
    """Redis's clock jumped forward (its host was paused): every heartbeat expired at once."""
    monkeypatch.setattr(jobs, "WORKER_HEARTBEAT_SECONDS", 0.05)
    jobs.job_claim(job_id=job_id)
    with jobs.job_heartbeat(job_id=job_id):
        cache.delete(jobs._heartbeat_key(job_id))
        time.sleep(0.2)
        assert jobs.job_alive(job_id=job_id, patience=0)


def test_a_missing_heartbeat_is_looked_for_again_before_it_counts_as_stopped(job_id):
    jobs.job_claim(job_id=job_id)
    cache.delete(jobs._heartbeat_key(job_id))
    comes_back = threading.Timer(0.5, lambda: cache.set(jobs._heartbeat_key(job_id), True, timeout=5))
    comes_back.start()
    try:
        assert not jobs.job_alive(job_id=job_id, patience=0)
        assert jobs.job_alive(job_id=job_id, patience=2)
    finally:
        comes_back.cancel()


def test_a_heartbeat_missing_for_the_whole_patience_is_stopped(job_id):
    started = time.monotonic()
    assert not jobs.job_alive(job_id=job_id, patience=0.5)
    assert time.monotonic() - started >= 0.5


def test_a_claimed_job_whose_worker_stopped_beating_is_not_alive(job_id, monkeypatch):
    monkeypatch.setattr(jobs, "HEARTBEAT_EXPIRY_SECONDS", 1)
    jobs.job_claim(job_id=job_id)  # and no heartbeat after it: the worker died right away

    time.sleep(1.2)

    assert jobs.job_started(job_id=job_id)
    assert not jobs.job_alive(job_id=job_id, patience=0)


def test_workers_are_alive_while_one_says_so(monkeypatch):
    monkeypatch.setattr(jobs, "WORKERS_ALIVE_KEY", f"test-workers-alive-{uuid.uuid4().hex}")
    monkeypatch.setattr(jobs, "HEARTBEAT_EXPIRY_SECONDS", 1)
    assert not jobs.workers_alive(patience=0)

    jobs.announce_worker_alive()
    assert jobs.workers_alive(patience=0)

    time.sleep(1.2)
    assert not jobs.workers_alive(patience=0)
    comes_back = threading.Timer(0.5, jobs.announce_worker_alive)
    comes_back.start()
    assert jobs.workers_alive(patience=2)


def test_saying_a_worker_is_alive_never_fails_with_the_cache_down(unreachable_redis):
    jobs.announce_worker_alive()  # logged; a worker's event loop must not die of it
