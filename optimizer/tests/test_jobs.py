"""The hand-over of a job between the web process and a worker, through the cache."""

import time
import uuid

import pytest

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
    assert not jobs.job_alive(job_id=job_id)


def test_a_running_job_beats_and_keeps_beating_a_while_after_it_ends(job_id, monkeypatch):
    monkeypatch.setattr(jobs, "WORKER_HEARTBEAT_SECONDS", 0.05)
    monkeypatch.setattr(jobs, "HEARTBEAT_EXPIRY_SECONDS", 1)
    jobs.job_claim(job_id=job_id)
    with jobs.job_heartbeat(job_id=job_id):
        time.sleep(1.5)  # beyond the expiry: only the beats keep it alive
        assert jobs.job_alive(job_id=job_id)
    assert jobs.job_alive(job_id=job_id)  # the result is on its way
    jobs.job_forget(job_id=job_id)
    assert not jobs.job_alive(job_id=job_id)


def test_a_claimed_job_whose_worker_stopped_beating_is_not_alive(job_id, monkeypatch):
    monkeypatch.setattr(jobs, "HEARTBEAT_EXPIRY_SECONDS", 1)
    jobs.job_claim(job_id=job_id)  # and no heartbeat after it: the worker died right away

    time.sleep(1.2)

    assert jobs.job_started(job_id=job_id)
    assert not jobs.job_alive(job_id=job_id)


def test_workers_are_alive_while_one_says_so(monkeypatch):
    monkeypatch.setattr(jobs, "WORKERS_ALIVE_KEY", f"test-workers-alive-{uuid.uuid4().hex}")
    monkeypatch.setattr(jobs, "HEARTBEAT_EXPIRY_SECONDS", 1)
    assert not jobs.workers_alive()

    jobs.announce_worker_alive()
    assert jobs.workers_alive()

    time.sleep(1.2)
    assert not jobs.workers_alive()


def test_saying_a_worker_is_alive_never_fails_with_the_cache_down(unreachable_redis):
    jobs.announce_worker_alive()  # logged; a worker's event loop must not die of it
