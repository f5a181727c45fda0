"""The worker's pool: Celery's prefork pool, looked after every POOL_MAINTENANCE_SECONDS rather
than every 5 s.

Celery 5.7's prefork pool can hand a job to a child just as that child leaves after its task
(replaced for its peak memory, CELERY_WORKER_MAX_MEMORY_PER_CHILD, or its task count; or stopped
by optimizer.tasks once idle); the job then waits for the pool's next maintenance, which starts the
replacement and hands the job on (celery/celery#9588). Every 5 s, an image sent just after a large
one waited 3.5-5 s for nothing; a worker with nothing to replace does next to nothing there.
"""

from celery.concurrency import asynpool, prefork

POOL_MAINTENANCE_SECONDS = 0.5


class AsynPool(asynpool.AsynPool):
    @property
    def timers(self) -> dict:
        return {self.maintain_pool: POOL_MAINTENANCE_SECONDS}


class TaskPool(prefork.TaskPool):
    Pool = AsynPool
