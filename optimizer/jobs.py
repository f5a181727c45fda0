"""How the web process and a Celery worker hand one optimization over, through the shared cache
(Redis), so that the web process learns within seconds, not at the time limit, that no worker is
alive, that the queue is too long, or that the worker running its job died.

- Workers say they are alive: each worker's main process refreshes WORKERS_ALIVE_KEY every
  second; the key expires a few seconds after the last worker stopped (or hung).
- A job is claimed once, by whoever comes first (`cache.add` is atomic): the worker when it
  starts the job, or the web process when it stops waiting for a start. A job the web process
  gave up on is skipped by the worker, so it never runs for nobody.
- While it runs, the worker keeps the job's heartbeat fresh from a thread: a heartbeat that
  stops means the worker died.
- Redis expires keys by its host's wall clock, which jumps forward when the host was paused (a
  virtual machine suspended, a live migration): every heartbeat then expires at once, with every
  worker well. So each beat writes its key anew, and the web process takes a heartbeat for
  stopped only once it stayed missing for HEARTBEAT_PATIENCE_SECONDS of its own, monotonic clock.
"""

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from django.core.cache import cache

from smolpix.outages import traceback_due

logger = logging.getLogger(__name__)

WORKERS_ALIVE_KEY = "optimizer:workers-alive"
# Set when a job waited OPTIMIZER_QUEUE_TIMEOUT without a worker taking it: the workers are behind.
OVERLOADED_KEY = "optimizer:overloaded"
WORKER_HEARTBEAT_SECONDS = 1.0
# A worker or a job is taken for dead this long after its last heartbeat: several beats, so one
# slow beat on a busy machine is not a death.
HEARTBEAT_EXPIRY_SECONDS = 5
# After the job's function returns, Celery still stores its result; the heartbeat outlives the job
# by this much, so that a result on its way is never mistaken for a lost worker.
RESULT_GRACE_SECONDS = 30
# A heartbeat found missing is looked for again this long before it counts as stopped: two beats,
# and a margin for a slow one.
HEARTBEAT_PATIENCE_SECONDS = 2 * WORKER_HEARTBEAT_SECONDS + 0.5
_PATIENCE_POLL_SECONDS = 0.25
CLAIM_SECONDS = 3600  # longer than any job waits or runs
WORKER, ABANDONED = "worker", "abandoned"


def _claim_key(job_id: str) -> str:
    return f"optimizer:job:{job_id}:claim"


def _heartbeat_key(job_id: str) -> str:
    return f"optimizer:job:{job_id}:alive"


# --- the worker's side ----------------------------------------------------------------------


def announce_worker_alive() -> None:
    """Called every WORKER_HEARTBEAT_SECONDS by each worker's main process."""
    try:
        cache.set(WORKERS_ALIVE_KEY, True, timeout=HEARTBEAT_EXPIRY_SECONDS)
    except Exception as error:
        logger.warning(
            "cache unavailable: could not say this worker is alive", exc_info=error if traceback_due(error) else None
        )


def job_claim(*, job_id: str) -> bool:
    """Take the job for this worker; False when the web process already gave up on it."""
    cache.set(_heartbeat_key(job_id), True, timeout=HEARTBEAT_EXPIRY_SECONDS)  # alive before claimed
    if cache.add(_claim_key(job_id), WORKER, timeout=CLAIM_SECONDS):
        return True
    cache.delete(_heartbeat_key(job_id))
    return False


@contextlib.contextmanager
def job_heartbeat(*, job_id: str) -> Iterator[None]:
    """Keep the claimed job's heartbeat fresh while the block runs, and for RESULT_GRACE_SECONDS
    after it."""
    stopped = threading.Event()

    def beat() -> None:
        while not stopped.wait(WORKER_HEARTBEAT_SECONDS):
            with contextlib.suppress(Exception):  # a missed beat or two is what the expiry allows for
                # Written anew, not touched: a key expired early by a clock jump comes back.
                cache.set(_heartbeat_key(job_id), True, timeout=HEARTBEAT_EXPIRY_SECONDS)

    thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopped.set()
        thread.join()
        with contextlib.suppress(Exception):
            cache.set(_heartbeat_key(job_id), True, timeout=RESULT_GRACE_SECONDS)


# --- the web process's side -------------------------------------------------------------------


def workers_alive(*, patience: float) -> bool:
    """Whether a worker said it is alive; if none did, looked at again for `patience` seconds."""
    return _beating(WORKERS_ALIVE_KEY, patience=patience)


def overload_noticed(*, seconds: int) -> None:
    """A job waited its whole time in the queue: for `seconds`, the next jobs are refused at once
    instead of each waiting out the same time to be refused."""
    with contextlib.suppress(Exception):
        cache.set(OVERLOADED_KEY, True, timeout=seconds)


def overloaded() -> bool:
    return bool(cache.get(OVERLOADED_KEY))


def job_abandon(*, job_id: str) -> bool:
    """Stop waiting for a job no worker has started: True if no worker will run it now; False
    if a worker claimed it meanwhile (it is running: keep waiting)."""
    return cache.add(_claim_key(job_id), ABANDONED, timeout=CLAIM_SECONDS)


def job_started(*, job_id: str) -> bool:
    return cache.get(_claim_key(job_id)) == WORKER


def job_alive(*, job_id: str, patience: float) -> bool:
    """Whether the job's worker is beating; if not, looked at again for `patience` seconds."""
    return _beating(_heartbeat_key(job_id), patience=patience)


def _beating(key: str, *, patience: float) -> bool:
    give_up_at = time.monotonic() + patience
    while not cache.get(key):
        if time.monotonic() >= give_up_at:
            return False
        time.sleep(_PATIENCE_POLL_SECONDS)
    return True


def job_forget(*, job_id: str) -> None:
    with contextlib.suppress(Exception):
        cache.delete_many([_claim_key(job_id), _heartbeat_key(job_id)])
