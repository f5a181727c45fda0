"""Customers' image hosts on loopback (optimizer.tests.origin), and a way to know that a job is in
a worker: a URL whose host holds its answer until the test lets it go."""

import threading
import uuid

from optimizer.tests.origin import Origin

# The fetcher gives up on a host that sends nothing for 5 s (optimizer.fetch.READ_TIMEOUT): a
# test must let go of a held answer sooner for the job to succeed.
HOLD_SECONDS = 4


class HeldImage:
    """An image URL whose answer waits for `release()` (for `hold_seconds` at most): once
    `fetched()`, the job that asked for it is running in a worker, and stays there until released."""

    def __init__(self, origin: Origin, body: bytes, *, hold_seconds: float = HOLD_SECONDS) -> None:
        self._arrived = threading.Event()
        self._released = threading.Event()
        self._hold_seconds = hold_seconds
        self.url = origin.serve(f"/held-{uuid.uuid4().hex}.png", body, on_request=self._hold)

    def _hold(self) -> None:
        self._arrived.set()
        self._released.wait(self._hold_seconds)

    def fetched(self, timeout: float = 60) -> None:
        assert self._arrived.wait(timeout), f"no worker fetched {self.url} within {timeout} s"

    def release(self) -> None:
        self._released.set()
