"""Celery tasks of the optimizer: thin, the work is in optimizer.worker.

Also the worker's side of the hand-over (optimizer.jobs): every second the main process says it
is alive and replaces the idle children that ImageMagick left with leaked caches; each child
keeps its disk caches in a folder of its own.
"""

import os
import signal
from pathlib import Path
from typing import Any

from celery import shared_task, signals
from celery.worker import state as worker_state

# Importing the ImageMagick gateway proves its security policy is in force, at worker start-up.
from optimizer import jobs, magick
from optimizer.worker import RECYCLE_MARKER, optimization_job_run


@shared_task(name="optimizer.optimize_image", acks_late=False)
def optimize_image_task(*, job_id: str, options: dict[str, Any], url: str | None = None) -> dict[str, Any]:
    """Optimize one image, its bytes handed over by the web process (optimizer.transfer). Runs under
    the hard time limit CELERY_TASK_TIME_LIMIT; acknowledged on receipt, so an image that crashes or
    hangs a worker is never delivered to another one (the web process, watching the job's heartbeat,
    answers).

    `url` is always None: workers of the release before 00e7038 fetched a URL's image themselves,
    and take None for an image handed over, so they run these jobs during a deploy. Remove it here
    and in optimizer.services once no worker runs that release. A URL comes from a web process of
    that release, which handed over no image: its job fails, saying why."""
    if url is not None:
        raise RuntimeError(f"job {job_id}: a web process of a release before 00e7038 sent a URL; upgrade web first")
    return optimization_job_run(job_id=job_id, options=options)


@signals.worker_ready.connect
def look_after_the_pool(sender, **kwargs) -> None:
    """Every second, from the worker's main process and its own event loop: say the worker is
    alive (a worker killed, hung or cut off from Redis stops saying so, see optimizer.jobs), and
    replace the children that asked for it."""

    def every_second() -> None:
        jobs.announce_worker_alive()
        _replace_children_that_asked()

    every_second()
    sender.timer.call_repeatedly(jobs.WORKER_HEARTBEAT_SECONDS, every_second)


def _replace_children_that_asked() -> None:
    """Stop the children of this worker that left the recycle marker (optimizer.worker), once they
    are idle; the pool starts fresh ones. An idle child has no job a stop could lose: a job only
    written to its queue is handed to another child when it ends."""
    busy = {request.worker_pid for request in worker_state.active_requests}
    for marker in magick.CACHE_ROOT.glob(f"*/{RECYCLE_MARKER}"):
        pid = int(marker.parent.name)
        if pid not in busy and _parent_of(pid) == os.getpid():
            os.kill(pid, signal.SIGTERM)  # it removes its folder, the marker with it, as it ends


def _parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


@signals.worker_process_init.connect
def child_gets_its_own_cache_folder(**kwargs) -> None:
    magick.use_own_cache_folder()


@signals.worker_process_shutdown.connect
def child_leaves_no_cache_behind(**kwargs) -> None:
    # A child ends with os._exit, which skips atexit.
    magick.remove_own_cache_folder()
