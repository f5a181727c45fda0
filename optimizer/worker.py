"""The worker's half of an optimization job (run by the Celery task optimizer.optimize_image):
claim the job, take its source (the web process fetched a URL's), run the pipeline, hand the
result back.

The web process's half, which queues the job and waits for it, is optimizer.services.
"""

import logging
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from django.conf import settings

from optimizer import jobs, magick, transfer
from optimizer.formats import RequestedFormat
from optimizer.pipeline import Optimized, OptimizeOptions, optimize
from optimizer.probe import ImageTooLarge, UnsupportedImage
from smolpix.errors import SourceRefused

logger = logging.getLogger(__name__)

SOURCE, RESULT = "source", "result"
# Left in the process's own ImageMagick folder when ImageMagick leaked caches: the worker's main
# process then replaces this child (optimizer.tasks._replace_children_that_asked).
RECYCLE_MARKER = "recycle"
# What the customer's image can be refused as (its URL is refused by the web process, before the
# job). The worker reports a refusal as data, its kind (the class's name) and message, and the web
# process raises it again (optimizer.services).
SOURCE_REFUSALS: dict[str, type[SourceRefused]] = {
    refusal.__name__: refusal for refusal in (UnsupportedImage, ImageTooLarge)
}


def optimization_job_run(*, job_id: str, options: dict[str, Any]) -> dict[str, Any]:
    """Run one job: {"result": facts} with the bytes stored for the web process,
    {"error": {"kind", "message"}} for a problem with the customer's image, or
    {"abandoned": True} when the web process stopped waiting before the job started."""
    if not jobs.job_claim(job_id=job_id):
        logger.info("optimization job %s skipped: nobody waits for it any more", job_id)
        return {"abandoned": True}
    try:
        with jobs.job_heartbeat(job_id=job_id):
            optimized = optimize(
                _source_bytes(job_id=job_id), _options(options), max_pixels=settings.OPTIMIZER_MAX_PIXELS
            )
            if optimized.optimized_size > settings.OPTIMIZER_MAX_SOURCE_BYTES:
                raise ImageTooLarge("The optimized image would be larger than the size limit; try a smaller maxWidth.")
            transfer.put(job_id=job_id, part=RESULT, data=optimized.data)
    except tuple(SOURCE_REFUSALS.values()) as refused:
        return {"error": {"kind": type(refused).__name__, "message": refused.message}}
    finally:
        _check_for_leaked_caches(job_id)
    # Every fact but the bytes, which travel through the cache: the web process rebuilds Optimized.
    facts = {field.name: getattr(optimized, field.name) for field in fields(Optimized) if field.name != "data"}
    return {"result": facts}


def _check_for_leaked_caches(job_id: str) -> None:
    """Every image of the job is closed: ImageMagick should hold no cache. If it does (it leaked
    on an error path), this process would refuse images it could take, until it ends: ask to be
    replaced."""
    leaked = magick.caches_in_use()
    if leaked:
        logger.error("ImageMagick holds %d bytes of caches after job %s; replacing this process", leaked, job_id)
        (Path(os.environ["MAGICK_TEMPORARY_PATH"]) / RECYCLE_MARKER).touch()


def _source_bytes(*, job_id: str) -> bytes:
    data = transfer.take(job_id=job_id, part=SOURCE)
    if data is None:
        raise RuntimeError(f"job {job_id}: the source expired before a worker took it")
    return data


def _options(options: dict[str, Any]) -> OptimizeOptions:
    return OptimizeOptions(
        format=RequestedFormat(options["format"]),
        quality=int(options["quality"]),
        max_width=int(options["max_width"]),
        smart=bool(options["smart"]),
    )
