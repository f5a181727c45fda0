"""Image bytes between the web process and the Celery workers.

Sources (uploads, and the images of URLs the web process fetched) and results travel under
short-lived, size-capped keys of the shared cache (Redis when REDIS_URL is set; with the embedded
defaults the cache is process-local, which is right because tasks then run in the same process).
Task messages and results carry only the key's job id.
"""

import contextlib

from django.conf import settings
from django.core.cache import cache

from smolpix.outages import REDIS_DOWN

# Beyond the longest a job may wait in the queue and run (its hard time limit): for the result to
# be picked up.
EXTRA_SECONDS = 60


def _key(job_id: str, part: str) -> str:
    return f"optimizer:job:{job_id}:{part}"


def put(*, job_id: str, part: str, data: bytes) -> None:
    if len(data) > settings.OPTIMIZER_MAX_SOURCE_BYTES:
        raise ValueError(f"{len(data)} bytes is over the {settings.OPTIMIZER_MAX_SOURCE_BYTES}-byte transfer cap")
    cache.set(
        _key(job_id, part),
        data,
        timeout=settings.OPTIMIZER_QUEUE_TIMEOUT + settings.CELERY_TASK_TIME_LIMIT + EXTRA_SECONDS,
    )


def take(*, job_id: str, part: str) -> bytes | None:
    """The bytes stored under the job's key, removed from the cache; None once expired."""
    key = _key(job_id, part)
    data = cache.get(key)
    cache.delete(key)
    return data


def discard(*, job_id: str, part: str) -> None:
    """Best effort: with the cache unreachable the bytes simply expire."""
    with contextlib.suppress(*REDIS_DOWN):
        cache.delete(_key(job_id, part))
