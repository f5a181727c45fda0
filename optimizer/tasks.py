"""Celery tasks of the optimizer: thin, the work is in optimizer.services."""

from typing import Any

from celery import shared_task

# Importing the ImageMagick gateway proves its security policy is in force, at worker start-up.
from optimizer import magick  # noqa: F401


@shared_task(name="optimizer.optimize_image", acks_late=False)
def optimize_image_task(*, job_id: str, url: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """Fetch (or take the upload of) one image and optimize it. Runs under the hard time limit
    CELERY_TASK_TIME_LIMIT; acknowledged on receipt, so an image that crashes or hangs a worker
    is never delivered to another one (the web process, still waiting, answers 500)."""
    from optimizer.services import optimization_job_run  # services dispatches this task

    return optimization_job_run(job_id=job_id, url=url, options=options)
