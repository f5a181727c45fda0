"""How long the request a thread serves waited for that thread.

gunicorn's worker (smolpix.gunicorn_worker) queues each request for one of its process's threads,
and notes here how long it waited. Waiting for a web thread is waiting for capacity, as waiting
for a Celery worker is, so an optimization's OPTIMIZER_QUEUE_TIMEOUT counts both: a customer is
refused for lack of capacity within that timeout of the request's arrival (plus a URL's fetch),
never a thread's wait later. Outside gunicorn (runserver starts a thread per connection; tests) nothing waited: 0.
"""

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_waited: ContextVar[float] = ContextVar("thread_wait", default=0.0)


@contextlib.contextmanager
def noted(seconds: float) -> Iterator[None]:
    """While the request is served: it waited `seconds` for its thread."""
    token = _waited.set(seconds)
    try:
        yield
    finally:
        _waited.reset(token)


def waited() -> float:
    """Seconds the current request waited for its thread."""
    return _waited.get()
