"""Optimizing an image, as the API (and the web "try it" page) ask for it: the web process's half.

`optimize_image` checks what it can without the network or ImageMagick, charges the image, fetches
a URL's image on the request's own thread, hands the job to a Celery worker and waits for the
answer, watching that a worker takes the job and stays alive (optimizer.jobs). The worker's half
is optimizer.worker. ImageMagick never runs in the web process unless tasks run eagerly (the
embedded defaults), and then one image at a time, as in a worker's child process.
"""

import contextlib
import logging
import threading
import uuid
from dataclasses import asdict, dataclass
from time import monotonic
from typing import Any

from celery import states
from celery.exceptions import TimeoutError as ResultNotReady
from celery.result import AsyncResult
from django.conf import settings

from accounts.models import Account
from optimizer import fetch, jobs, transfer
from optimizer.formats import OutputFormat
from optimizer.pipeline import Optimized, OptimizeOptions
from optimizer.tasks import optimize_image_task
from optimizer.worker import RESULT, SOURCE, SOURCE_REFUSALS
from smolpix.errors import ServiceUnavailable, SmolpixError, SourceRefused
from smolpix.outages import REDIS_DOWN, RETRY_AFTER_SECONDS, traceback_due
from usage.services import quota_charge

logger = logging.getLogger(__name__)

# How often the waiting web process looks at its job's state between waits for the result.
POLL_SECONDS = 1.0
# Eager tasks (the embedded defaults) run one image at a time in the web process, as each child
# of a worker does: ImageMagick's resource limits are counted per process.
_ONE_IMAGE_AT_A_TIME = threading.BoundedSemaphore(1)


# Seconds a client is told to wait when no worker is alive: long enough for one to be restarted.
RETRY_AFTER_NO_WORKER = 30


@dataclass(frozen=True)
class Bounds:
    min: int
    max: int


# What a request may ask for, and gets when it does not say: the API's serializer and the try-it
# form both hold requests to these (a URL's length is the fetcher's, fetch.MAX_URL_LENGTH).
DEFAULT_OPTIONS = OptimizeOptions()
QUALITY_BOUNDS = Bounds(min=1, max=100)
MAX_WIDTH_BOUNDS = Bounds(min=1, max=16384)


class OptimizationFailed(SmolpixError):
    """The optimization failed on our side: the worker crashed or ran past its time limit, the
    result went missing, or a bug. Nothing the customer did; the details are logged, never shown,
    and the image is not charged."""


class WorkerLost(OptimizationFailed):
    """The worker running the job died, or it ran past every time limit."""


class NoCapacity(ServiceUnavailable):
    """No worker took the job in time: none is alive, or all are busy."""


@dataclass(frozen=True)
class ImageSource:
    """Where the image comes from: a URL to fetch, or uploaded bytes."""

    url: str | None = None
    upload: bytes | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.upload is None):
            raise ValueError("An image source is either a URL or an upload.")

    @property
    def field(self) -> str:
        """The request field errors about this source are reported against."""
        return "url" if self.url is not None else "file"


@dataclass(frozen=True)
class Optimization:
    """An image optimized for an account, and the account's count of images this month with it."""

    image: Optimized
    quota_used: int


def optimize_image(
    *, account: Account, source: ImageSource, options: OptimizeOptions, already_waited: float = 0.0
) -> Optimization:
    """Optimize one image in a worker, for `account`, and return the result.

    The image is charged to the account's monthly quota before the job is queued, and refunded if
    the optimization fails: only successes count. The job waits for a worker at most
    OPTIMIZER_QUEUE_TIMEOUT, less the seconds the request `already_waited` for capacity (for a
    web thread: smolpix.thread_wait).

    Raises SourceRefused (fetch.InvalidUrl, fetch.FetchFailed, fetch.SourceTooLarge,
    probe.UnsupportedImage or probe.ImageTooLarge) concerning the source's field;
    usage.services.QuotaExceeded when the month's images are used up; ServiceUnavailable when
    Redis (the queue, the results and the cache) cannot be reached or no worker takes the job; or
    OptimizationFailed when the worker crashed, was lost or timed out (the details are logged only).
    """
    _check_before_queueing(source)
    queue_seconds = settings.OPTIMIZER_QUEUE_TIMEOUT - already_waited
    with quota_charge(account=account) as reservation:
        image = _optimize_job(source=source, options=options, queue_seconds=queue_seconds)
    return Optimization(image=image, quota_used=reservation.used)


def fetch_policy() -> fetch.FetchPolicy:
    return fetch.FetchPolicy(
        max_bytes=settings.OPTIMIZER_MAX_SOURCE_BYTES,
        timeout=settings.OPTIMIZER_FETCH_TIMEOUT,
        allowed_ports=frozenset(settings.OPTIMIZER_ALLOWED_PORTS),
        exempt_networks=fetch.EVERY_ADDRESS if settings.OPTIMIZER_ALLOW_PRIVATE_NETWORKS else (),
    )


def _source_data(source: ImageSource) -> bytes:
    """The image's bytes: the upload, or the URL's body, fetched here, on the thread that waits for
    the job anyway. (Fetched in the worker, a slow origin held one of its processes, which
    optimize everyone's images, for up to OPTIMIZER_FETCH_TIMEOUT without using it: a few requests
    of one account kept every other account's images waiting until they were answered 503.)"""
    if source.upload is not None:
        return source.upload
    try:
        return fetch.fetch(source.url, policy=fetch_policy())
    except fetch.FetchError as refused:
        # The customer sees the message; the log keeps why a URL failed, under the request's id.
        logger.info("URL not fetched: %s: %s", type(refused).__name__, refused.message)
        raise refused.concerning(source.field) from None


def _optimize_job(*, source: ImageSource, options: OptimizeOptions, queue_seconds: float) -> Optimized:
    job_id = uuid.uuid4().hex
    try:
        outcome = _run_job(job_id=job_id, source=source, options=options, queue_seconds=queue_seconds)
        if "error" in outcome:
            refused = outcome["error"]
            raise SOURCE_REFUSALS[refused["kind"]](refused["message"], field=source.field)
        data = transfer.take(job_id=job_id, part=RESULT)
        if data is None:
            raise RuntimeError(f"job {job_id}: the result expired before it was collected")
        facts = outcome["result"]
        return Optimized(data=data, format=OutputFormat(facts.pop("format")), **facts)
    except SourceRefused:
        raise
    except NoCapacity as busy:
        logger.warning("optimization job %s not taken: %s", job_id, busy)
        raise
    except REDIS_DOWN as error:
        logger.warning(
            "optimization job %s: the queue or the cache is unreachable: %s",
            job_id,
            type(error).__name__,
            exc_info=error if traceback_due(error) else None,
        )
        raise ServiceUnavailable("the queue or the cache is unreachable", retry_after=RETRY_AFTER_SECONDS) from None
    except Exception as error:
        # A crash, a time limit, a lost worker or a bug: the details are for the logs only.
        logger.exception("optimization job %s failed", job_id)
        if isinstance(error, OptimizationFailed):
            raise
        raise OptimizationFailed(f"optimization job {job_id} failed") from error
    finally:
        transfer.discard(job_id=job_id, part=SOURCE)
        transfer.discard(job_id=job_id, part=RESULT)


def _check_before_queueing(source: ImageSource) -> None:
    """What can be refused without the network or ImageMagick: the URL's syntax, the upload's size."""
    try:
        if source.url is not None:
            fetch.parse_target(source.url, allowed_ports=frozenset(settings.OPTIMIZER_ALLOWED_PORTS))
        elif len(source.upload) > settings.OPTIMIZER_MAX_SOURCE_BYTES:
            raise fetch.SourceTooLarge.over(settings.OPTIMIZER_MAX_SOURCE_BYTES)
    except fetch.FetchError as refused:
        raise refused.concerning(source.field) from None


def _run_job(*, job_id: str, source: ImageSource, options: OptimizeOptions, queue_seconds: float) -> dict[str, Any]:
    """The job's outcome, run eagerly or by a worker that takes it within `queue_seconds` (counted
    from the end of a URL's fetch, which is tried only when there is a worker to take the job)."""
    # url: None for workers of the release before 00e7038, which fetched a job's URL themselves
    # (optimizer.tasks); remove it there and here once no worker runs that release.
    task_options = {"kwargs": {"job_id": job_id, "url": None, "options": asdict(options)}}
    if optimize_image_task.app.conf.task_always_eager:
        data = _source_data(source)  # before taking the turn: a slow origin holds up no other image
        return _run_eagerly(job_id=job_id, data=data, task_options=task_options, queue_seconds=queue_seconds)
    _refuse_without_capacity(queue_seconds)
    data = _source_data(source)
    return _run_queued(job_id=job_id, data=data, task_options=task_options, queue_seconds=queue_seconds)


def _run_eagerly(*, job_id: str, data: bytes, task_options: dict[str, Any], queue_seconds: float) -> dict[str, Any]:
    """Runs the job in this process (no broker: `make run`), one image at a time."""
    if not _ONE_IMAGE_AT_A_TIME.acquire(timeout=max(queue_seconds, 0)):
        raise NoCapacity("the images before it took too long", retry_after=settings.OPTIMIZER_QUEUE_TIMEOUT)
    try:
        transfer.put(job_id=job_id, part=SOURCE, data=data)
        # The web process is not a task, so waiting cannot deadlock a pool: no sync-subtask check
        # (it reads a process-wide flag that eager tasks in other threads set and reset).
        return optimize_image_task.apply(**task_options).get(disable_sync_subtasks=False)
    finally:
        _ONE_IMAGE_AT_A_TIME.release()


def _refuse_without_capacity(queue_seconds: float) -> None:
    """NoCapacity when no worker is alive, jobs just before waited in vain, or the request's whole
    wait went on a web thread."""
    if not jobs.workers_alive(patience=jobs.HEARTBEAT_PATIENCE_SECONDS):
        raise NoCapacity("no worker is alive", retry_after=RETRY_AFTER_NO_WORKER)
    if jobs.overloaded():
        raise NoCapacity("jobs just before it waited in vain", retry_after=settings.OPTIMIZER_QUEUE_TIMEOUT)
    if queue_seconds <= 0:
        raise _busy()


def _run_queued(*, job_id: str, data: bytes, task_options: dict[str, Any], queue_seconds: float) -> dict[str, Any]:
    """Hands the job to the workers through the queue and waits for its outcome."""
    transfer.put(job_id=job_id, part=SOURCE, data=data)
    result = optimize_image_task.apply_async(
        **task_options,
        # The limits travel in the message, so the worker enforces what this process waits for.
        soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
        time_limit=settings.CELERY_TASK_TIME_LIMIT,
        expires=queue_seconds,  # a job nobody waits for is not worth running
    )
    try:
        return _await(result, job_id=job_id, queue_seconds=queue_seconds)
    finally:
        result.forget()
        jobs.job_forget(job_id=job_id)


def _await(result: AsyncResult, *, job_id: str, queue_seconds: float) -> dict[str, Any]:
    """The job's outcome, as soon as it is there; WorkerLost as soon as the worker running it
    stopped beating; NoCapacity when no worker took it within `queue_seconds` (or none is alive any
    more), after which no worker will start it: whether this process gives up first or a worker
    drops the expired message first (the message's clock starts a moment earlier)."""
    queued_until = monotonic() + queue_seconds
    running_until = None
    while True:
        with contextlib.suppress(ResultNotReady):
            # Not a task either: see _run_eagerly.
            outcome = result.get(timeout=POLL_SECONDS, propagate=False, disable_sync_subtasks=False)
            if result.state == states.REVOKED:  # expired in the queue: nothing of it ran
                raise _busy()
            if not result.successful():
                raise RuntimeError(f"job {job_id} ended in {result.state}: {outcome!r}")
            return outcome
        if jobs.job_started(job_id=job_id):
            running_until = running_until or monotonic() + settings.CELERY_TASK_TIME_LIMIT + jobs.RESULT_GRACE_SECONDS
            if not jobs.job_alive(job_id=job_id, patience=jobs.HEARTBEAT_PATIENCE_SECONDS):
                raise WorkerLost(f"job {job_id}: the worker running it stopped")
            if monotonic() > running_until:
                raise WorkerLost(f"job {job_id}: no result long after its time limit")
        elif not jobs.workers_alive(patience=jobs.HEARTBEAT_PATIENCE_SECONDS) and jobs.job_abandon(job_id=job_id):
            raise NoCapacity("the workers stopped", retry_after=RETRY_AFTER_NO_WORKER)
        elif monotonic() > queued_until and jobs.job_abandon(job_id=job_id):
            raise _busy()


def _busy() -> NoCapacity:
    """No worker took the job in time; the requests that came with it would each wait as long to be
    refused, so they are refused at once for a while."""
    jobs.overload_noticed(seconds=max(settings.OPTIMIZER_QUEUE_TIMEOUT // 2, 1))
    return NoCapacity("every worker is busy", retry_after=settings.OPTIMIZER_QUEUE_TIMEOUT)
