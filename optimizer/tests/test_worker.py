"""The endpoint against a real Celery worker (started here; skipped only without a broker).

The worker, not this process, must optimize (this process fetches a URL's image, and may not).
A worker killed mid-task, or a task over its hard time limit, is a clean 500 and the next request
succeeds; a worker gone, or one busy past OPTIMIZER_QUEUE_TIMEOUT, is a quick 503; a URL being
fetched holds no worker process; a child that leaked ImageMagick caches is replaced.
"""

import os
import signal
import threading
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.cache import cache

from api.tests.checks import SERVER_ERROR_BODY, assert_error, assert_reference_response
from optimizer import jobs, magick, transfer
from optimizer.pipeline import OptimizeOptions
from optimizer.tasks import optimize_image_task
from optimizer.tests import images
from optimizer.tests.celery_worker import SOFT_TIME_LIMIT
from optimizer.worker import RECYCLE_MARKER, SOURCE
from smolpix import thread_wait
from tests.holds import HeldImage, held
from tests.processes import pool_children

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="no Celery broker configured"),
]


def test_a_url_job_is_fetched_here_and_optimized_by_the_worker(post_to_worker, worker_origin):
    url = worker_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))

    response = post_to_worker({"url": url, "maxWidth": 128})

    assert response.status_code == 200, response.content
    assert (response.json()["width"], response.json()["height"]) == (128, 96)
    assert_reference_response(response.json())


def test_an_upload_and_its_result_travel_through_redis(post_to_worker):
    response = post_to_worker({"format": "avif", "maxWidth": "64"}, upload=images.encode(images.photo(), "JPEG"))

    assert response.status_code == 200, response.content
    assert (response.json()["format"], response.json()["width"]) == ("avif", 64)
    assert_reference_response(response.json())


def test_errors_found_by_the_worker_keep_their_code(post_to_worker, worker_origin):
    url = worker_origin.serve("/page.html", b"<html></html>")

    assert_error(post_to_worker({"url": url}), 400, "UNSUPPORTED_IMAGE", "url")


def test_a_worker_killed_mid_task_is_a_clean_500_and_the_next_request_succeeds(
    post_to_worker, worker, worker_origin, tmp_path
):
    doomed = HeldImage(worker_origin, images.encode(images.photo(), "PNG"), folder=tmp_path, hold_seconds=60)
    good = worker_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))

    def kill_the_pool_child_mid_job() -> None:
        doomed.running()
        for pid in pool_children(worker):
            os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_the_pool_child_mid_job)
    killer.start()
    response = post_to_worker({"url": doomed.url})
    killer.join()

    assert response.status_code == 500
    assert response.json() == SERVER_ERROR_BODY
    assert worker.poll() is None
    assert post_to_worker({"url": good}).status_code == 200


def test_a_task_over_its_time_limit_is_a_clean_500_and_the_next_request_succeeds(
    post_to_worker, worker_origin, tmp_path
):
    endless = HeldImage(worker_origin, images.encode(images.photo(), "PNG"), folder=tmp_path, hold_seconds=60)
    good = worker_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))

    started = time.monotonic()
    response = post_to_worker({"url": endless.url})

    assert response.status_code == 500
    assert response.json() == SERVER_ERROR_BODY
    assert time.monotonic() - started >= SOFT_TIME_LIMIT
    assert post_to_worker({"url": good}).status_code == 200


def test_a_child_that_reports_leaked_caches_is_replaced_before_its_next_job(post_to_worker, worker, worker_origin):
    url = worker_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))
    assert post_to_worker({"url": url}).status_code == 200
    (child,) = pool_children(worker)
    # What the child itself leaves when ImageMagick still holds caches after a job (optimizer.worker).
    (magick.CACHE_ROOT / str(child) / RECYCLE_MARKER).touch()

    assert post_to_worker({"url": url}).status_code == 200  # the job that finds the marker completes
    deadline = time.monotonic() + 30
    while pool_children(worker) in ([child], []) and time.monotonic() < deadline:
        time.sleep(0.2)

    (replacement,) = pool_children(worker)
    assert replacement != child
    assert not (magick.CACHE_ROOT / str(child)).exists()  # it left nothing behind
    assert post_to_worker({"url": url}).status_code == 200


@pytest.fixture
def busy_worker(worker, tmp_path):
    """The worker's one child busy with a job held until the job's time limit: the next job waits
    for it in the queue. The overload noticed meanwhile is not left to later tests."""
    busy = _job_sent_to_worker(held(images.encode(images.photo(), "PNG"), path=tmp_path / "busy", seconds=60))
    yield busy
    cache.delete(jobs.OVERLOADED_KEY)
    busy.get(timeout=30, propagate=False)


def test_a_job_no_worker_takes_in_time_is_503_and_never_runs(
    post_to_worker, busy_worker, worker_origin, settings, tmp_path
):
    settings.OPTIMIZER_QUEUE_TIMEOUT = 2
    late_image = HeldImage(worker_origin, images.encode(images.photo(), "PNG"), folder=tmp_path, hold_seconds=0)
    late = late_image.url

    started = time.monotonic()
    response = post_to_worker({"url": late})

    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert response["Retry-After"] == "2"
    assert time.monotonic() - started < 2 + 3
    # Right after, the next is refused at once, not after a wait of its own.
    started = time.monotonic()
    assert_error(post_to_worker({"url": late}), 503, "SERVICE_UNAVAILABLE")
    assert time.monotonic() - started < 1
    busy_worker.get(timeout=30, propagate=False)  # the stalled job ends at its time limit ...
    time.sleep(1)
    assert not late_image.started()  # ... and the late one never ran


def test_the_wait_for_a_web_thread_counts_against_the_queue_timeout(
    post_to_worker, busy_worker, worker_origin, settings
):
    """A request that waited for one of gunicorn's threads has only the rest of
    OPTIMIZER_QUEUE_TIMEOUT left to wait for a worker: refused within the timeout of its arrival."""
    settings.OPTIMIZER_QUEUE_TIMEOUT = 4
    late = worker_origin.serve("/late.png", images.encode(images.photo(), "PNG"))

    started = time.monotonic()
    with thread_wait.noted(3):
        response = post_to_worker({"url": late})

    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert time.monotonic() - started < 4 - 0.5  # its 1 s left and a poll (POLL_SECONDS), not the whole 4 s again


def test_a_request_that_waited_its_whole_queue_timeout_for_a_web_thread_is_503_at_once(post_to_worker, worker_origin):
    """Even with a worker idle: it was refused for lack of capacity, within the timeout of its
    arrival, and nothing of it is queued."""
    url = worker_origin.serve("/idle.png", images.encode(images.photo(), "PNG"))

    started = time.monotonic()
    with thread_wait.noted(settings.OPTIMIZER_QUEUE_TIMEOUT):
        response = post_to_worker({"url": url})

    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert time.monotonic() - started < 1
    cache.delete(jobs.OVERLOADED_KEY)  # not for the tests after this one
    assert post_to_worker({"url": url}).status_code == 200  # a request that did not wait is served
    assert [path for path, _ in worker_origin.requests].count("/idle.png") == 1


def test_a_job_whose_message_expired_in_the_queue_is_503_even_before_the_wait_runs_out(
    post_to_worker, worker_origin, monkeypatch, tmp_path
):
    """The message's expiry starts a moment before this process's wait: a worker may drop the
    expired job (its result: revoked) just before the wait runs out. Busy, not an error."""
    queue = optimize_image_task.apply_async
    expired = datetime.now(UTC) - timedelta(seconds=1)  # by the time a worker reads the message
    monkeypatch.setattr(optimize_image_task, "apply_async", lambda **options: queue(**{**options, "expires": expired}))
    expired_image = HeldImage(worker_origin, images.encode(images.photo(), "PNG"), folder=tmp_path, hold_seconds=0)

    response = post_to_worker({"url": expired_image.url})

    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    cache.delete(jobs.OVERLOADED_KEY)  # not for the tests after this one
    assert not expired_image.started()  # it never ran


def test_a_url_being_fetched_holds_no_worker_process(post_to_worker, worker_origin):
    """While a URL's host is still answering, the worker's one process optimizes another image. A
    slow host held that process for up to the fetch's timeout (an audit: one account's requests to
    such a host answered another account's uploads 503)."""
    done_meanwhile = []

    def optimize_another_image() -> None:
        # Within the fetch's wait for the headers (fetch.READ_TIMEOUT, 5 s).
        job = _job_sent_to_worker(images.encode(images.photo(64, 48), "PNG"))
        done_meanwhile.append(job.get(timeout=4))

    url = worker_origin.serve("/meanwhile.png", images.encode(images.photo(), "PNG"), on_request=optimize_another_image)

    response = post_to_worker({"url": url})

    assert response.status_code == 200, response.content
    assert "result" in done_meanwhile[0]


def _job_sent_to_worker(data: bytes):
    """A job sent straight to the worker, as the web process sends one: its image first."""
    job_id = "direct-" + uuid.uuid4().hex
    transfer.put(job_id=job_id, part=SOURCE, data=data)
    return optimize_image_task.apply_async(
        kwargs={"job_id": job_id, "options": asdict(OptimizeOptions())}, soft_time_limit=SOFT_TIME_LIMIT
    )


def test_a_url_from_a_web_process_of_the_release_before_fails_its_job_saying_why():
    with pytest.raises(RuntimeError, match="upgrade web first"):
        optimize_image_task.run(job_id=uuid.uuid4().hex, options={}, url="https://example.com/photo.jpg")
