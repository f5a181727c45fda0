"""Optimizing an image, as the API (and the web "try it" page) ask for it.

`optimize_image` runs in the web process: it checks what it can without the network or
ImageMagick, hands the job to a Celery worker and waits for the answer. `optimization_job_run`
is the worker's half: fetch or take the source, run the pipeline, hand the result back.
ImageMagick never runs in the web process unless tasks run eagerly (the embedded defaults).
"""

import logging
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from rest_framework import status

from accounts.models import Account
from optimizer import fetch, transfer
from optimizer.compression import RequestedFormat
from optimizer.imaging import ImageTooLarge, OutputFormat, UnsupportedImage
from optimizer.pipeline import Optimized, OptimizeOptions, optimize
from optimizer.tasks import optimize_image_task
from smolpix.api import SERVER_ERROR_MESSAGE, ApiError, ErrorCode, service_unavailable
from usage.metering import quota_exceeded_error
from usage.services import QuotaExceeded, quota_charge

logger = logging.getLogger(__name__)

# How long the web process waits beyond the task's hard time limit, for the queue and the result.
QUEUE_WAIT_SECONDS = 15
SOURCE, RESULT = "source", "result"

# The customer's mistakes (a 400 each), from the fetcher and the pipeline.
CLIENT_ERRORS: dict[type[Exception], ErrorCode] = {
    fetch.InvalidUrl: ErrorCode.INVALID_URL,
    fetch.FetchFailed: ErrorCode.FETCH_FAILED,
    fetch.SourceTooLarge: ErrorCode.IMAGE_TOO_LARGE,
    UnsupportedImage: ErrorCode.UNSUPPORTED_IMAGE,
    ImageTooLarge: ErrorCode.IMAGE_TOO_LARGE,
}


@dataclass(frozen=True)
class ImageSource:
    """Where the image comes from: a URL the worker fetches, or uploaded bytes."""

    url: str | None = None
    upload: bytes | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.upload is None):
            raise ValueError("An image source is either a URL or an upload.")

    @property
    def field(self) -> str:
        """The request field errors about this source are reported against."""
        return "url" if self.url is not None else "file"


def optimize_image(*, account: Account, source: ImageSource, options: OptimizeOptions) -> Optimized:
    """Optimize one image in a worker, for `account`, and return the result.

    The image is charged to the account's monthly quota before the job is queued, and refunded if
    the optimization fails: only successes count.

    Raises ApiError: 400 with INVALID_URL, FETCH_FAILED, UNSUPPORTED_IMAGE or IMAGE_TOO_LARGE
    naming the source's field; 429 LIMIT_REACHED when the month's images are used up; 503
    SERVICE_UNAVAILABLE when Redis (the queue, the results and the cache) cannot be reached; or
    500 SERVER_ERROR when the worker crashed or timed out (details are logged, never returned).
    """
    _check_before_queueing(source)
    try:
        with quota_charge(account=account):
            return _optimize_in_worker(source=source, options=options)
    except QuotaExceeded as exceeded:
        raise quota_exceeded_error(exceeded) from None


def _optimize_in_worker(*, source: ImageSource, options: OptimizeOptions) -> Optimized:
    job_id = uuid.uuid4().hex
    try:
        outcome = _run_in_worker(job_id=job_id, source=source, options=options)
        if "error" in outcome:
            error = outcome["error"]
            raise _client_error(ErrorCode(error["code"]), error["message"], source.field)
        data = transfer.take(job_id=job_id, part=RESULT)
        if data is None:
            raise RuntimeError(f"job {job_id}: the result expired before it was collected")
        facts = outcome["result"]
        return Optimized(data=data, format=OutputFormat(facts.pop("format")), **facts)
    except ApiError:
        raise
    except transfer.BACKEND_DOWN:
        logger.warning("optimization job %s: the queue or the cache is unreachable", job_id, exc_info=True)
        raise service_unavailable() from None
    except Exception:
        logger.exception("optimization job %s failed", job_id)
        raise ApiError(
            SERVER_ERROR_MESSAGE, code=ErrorCode.SERVER_ERROR, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR
        ) from None
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
    except fetch.FetchError as error:
        raise _client_error(CLIENT_ERRORS[type(error)], str(error), source.field) from error


def _client_error(code: ErrorCode, message: str, field: str) -> ApiError:
    return ApiError(f"{field}: {message}", code=code, field=field)


def _run_in_worker(*, job_id: str, source: ImageSource, options: OptimizeOptions) -> dict[str, Any]:
    if source.upload is not None:
        transfer.put(job_id=job_id, part=SOURCE, data=source.upload)
    # The limits travel in the message (the worker enforces them), and this process waits for
    # as long as they allow plus the queue.
    wait_seconds = settings.CELERY_TASK_TIME_LIMIT + QUEUE_WAIT_SECONDS
    result = optimize_image_task.apply_async(
        kwargs={"job_id": job_id, "url": source.url, "options": asdict(options)},
        soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
        time_limit=settings.CELERY_TASK_TIME_LIMIT,
        expires=wait_seconds,  # a job nobody waits for any more is not worth running
    )
    try:
        # This process is never inside a task, but with the embedded defaults tasks run eagerly in
        # the request threads, and Celery's process-wide "inside a task" flag (set and restored by
        # each eager task without a lock) would make a concurrent request's wait refuse to block.
        outcome = result.get(timeout=wait_seconds, propagate=False, disable_sync_subtasks=False)
        if not result.successful():
            raise RuntimeError(f"job {job_id} ended in {result.state}: {outcome!r}")
        return outcome
    finally:
        result.forget()


def optimization_job_run(*, job_id: str, url: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """The worker's half of a job: returns {"result": facts} with the bytes stored for the web
    process, or {"error": {"code", "message"}} for a problem with the customer's image or URL."""
    try:
        source = _source_bytes(job_id=job_id, url=url)
        optimized = optimize(source, _options(options), max_pixels=settings.OPTIMIZER_MAX_PIXELS)
        if optimized.optimized_size > settings.OPTIMIZER_MAX_SOURCE_BYTES:
            raise ImageTooLarge("The optimized image would be larger than the size limit; try a smaller maxWidth.")
    except tuple(CLIENT_ERRORS) as error:
        return {"error": {"code": CLIENT_ERRORS[type(error)], "message": str(error)}}
    transfer.put(job_id=job_id, part=RESULT, data=optimized.data)
    return {
        "result": {
            "format": optimized.format,
            "width": optimized.width,
            "height": optimized.height,
            "original_size": optimized.original_size,
            "lossless": optimized.lossless,
            "notice": optimized.notice,
            "score": optimized.score,
            "encoding": optimized.encoding,
        }
    }


def _source_bytes(*, job_id: str, url: str | None) -> bytes:
    if url is not None:
        return fetch.fetch(url, policy=fetch_policy())
    data = transfer.take(job_id=job_id, part=SOURCE)
    if data is None:
        raise RuntimeError(f"job {job_id}: the upload expired before a worker took it")
    return data


def _options(options: dict[str, Any]) -> OptimizeOptions:
    return OptimizeOptions(
        format=RequestedFormat(options["format"]),
        quality=int(options["quality"]),
        max_width=int(options["max_width"]),
        smart=bool(options["smart"]),
    )


def fetch_policy() -> fetch.FetchPolicy:
    return fetch.FetchPolicy(
        max_bytes=settings.OPTIMIZER_MAX_SOURCE_BYTES,
        timeout=settings.OPTIMIZER_FETCH_TIMEOUT,
        allowed_ports=frozenset(settings.OPTIMIZER_ALLOWED_PORTS),
        exempt_networks=fetch.EVERY_ADDRESS if settings.OPTIMIZER_ALLOW_PRIVATE_NETWORKS else (),
    )
