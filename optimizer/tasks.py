"""Celery tasks of the optimizer: thin, the work is in optimizer.worker.

Also the worker's side of the hand-over (optimizer.jobs): the main process says it is alive, and
replaces a child that ImageMagick left with leaked caches; each child keeps its disk caches in a
folder of its own.
"""

import os
import signal
from typing import Any

from celery import shared_task, signals
from celery.worker.request import Request

# Importing the ImageMagick gateway proves its security policy is in force, at worker start-up.
from optimizer import jobs, magick
from optimizer.worker import RECYCLE_MARKER, optimization_job_run


class OptimizationRequest(Request):
    """Runs in the worker's main process when a child reports a job done. A child that left the
    recycle marker is stopped here, before it is handed another job; the pool starts a fresh one."""

    def on_success(self, failed__retval__runtime, **kwargs) -> None:
        super().on_success(failed__retval__runtime, **kwargs)
        marker = magick.CACHE_ROOT / str(self.worker_pid) / RECYCLE_MARKER
        if self.worker_pid and marker.exists():
            os.kill(self.worker_pid, signal.SIGTERM)


@shared_task(name="optimizer.optimize_image", acks_late=False, Request=OptimizationRequest)
def optimize_image_task(*, job_id: str, url: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """Fetch (or take the upload of) one image and optimize it. Runs under the hard time limit
    CELERY_TASK_TIME_LIMIT; acknowledged on receipt, so an image that crashes or hangs a worker
    is never delivered to another one (the web process, watching the job's heartbeat, answers)."""
    return optimization_job_run(job_id=job_id, url=url, options=options)


@signals.worker_ready.connect
def announce_while_alive(sender, **kwargs) -> None:
    """Each worker's main process says it is alive every second, from its own event loop: a
    worker killed, hung or cut off from Redis stops saying so (see optimizer.jobs)."""
    jobs.announce_worker_alive()
    sender.timer.call_repeatedly(jobs.WORKER_HEARTBEAT_SECONDS, jobs.announce_worker_alive)


@signals.worker_process_init.connect
def child_gets_its_own_cache_folder(**kwargs) -> None:
    magick.use_own_cache_folder()


@signals.worker_process_shutdown.connect
def child_leaves_no_cache_behind(**kwargs) -> None:
    # A child ends with os._exit, which skips atexit.
    magick.remove_own_cache_folder()
