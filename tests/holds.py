"""Jobs held in a Celery worker until the test lets them go: a way to know that a job is running in
a worker, and to keep it there. The processes tests start get `HOOKS` on their PYTHONPATH, whose
sitecustomize holds a job whose image is marked so (the web process fetches a URL's image, so a
slow origin no longer keeps a job in a worker)."""

import os
import time
import uuid
from pathlib import Path

from optimizer.tests.origin import Origin
from tests.hooks.sitecustomize import held

HOOKS = Path(__file__).resolve().parent / "hooks"


def python_path() -> str:
    """The PYTHONPATH of a process a test starts from this one's environment: HOOKS first."""
    return os.pathsep.join(filter(None, [str(HOOKS), os.environ.get("PYTHONPATH")]))


# Long enough for a test's steps while the job runs; a test that fails to let go waits no longer.
HOLD_SECONDS = 4


class HeldImage:
    """An image URL whose job, once `running()` in a worker, stays there until `release()` (for
    `hold_seconds` at most), then succeeds. Its marks are files in `folder`."""

    def __init__(self, origin: Origin, body: bytes, *, folder: Path, hold_seconds: float = HOLD_SECONDS) -> None:
        self._path = folder / f"held-{uuid.uuid4().hex}"
        self.url = origin.serve(f"/{self._path.name}.png", held(body, path=self._path, seconds=hold_seconds))

    def started(self) -> bool:
        """Whether a worker started its job (and so holds it, or held it)."""
        return self._path.with_suffix(".running").exists()

    def running(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.started():
            assert time.monotonic() < deadline, f"no worker started {self.url} within {timeout} s"
            time.sleep(0.05)

    def release(self) -> None:
        self._path.with_suffix(".released").touch()
