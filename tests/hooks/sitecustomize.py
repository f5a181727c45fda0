"""Loaded at start-up by the Python processes that tests start with this folder on PYTHONPATH (a
test Celery worker, the system tests' `make serve`): a job whose source is marked as held waits in
the worker until the test lets it go. It stands in for a long optimization that the test controls,
now that a URL's image is fetched by the web process (a slow origin no longer holds a worker).

The mark, before the image's bytes: `HELD_MARK path seconds\n`. The worker touches `path.running`,
waits up to `seconds` for `path.released` to exist, then optimizes the image after the mark.
Nothing else changes: the hook wraps optimizer.worker's `optimize` once that module is imported.
"""

import importlib.abc
import importlib.util
import sys
import time
from pathlib import Path

HELD_MARK = b"SMOLPIX-TEST-HELD "


def _holding(optimize):
    def optimize_or_hold(data: bytes, *args, **kwargs):
        if data.startswith(HELD_MARK):
            line, data = data[len(HELD_MARK) :].split(b"\n", 1)
            path, seconds = line.decode().rsplit(" ", 1)
            Path(f"{path}.running").touch()
            deadline = time.monotonic() + float(seconds)
            while not Path(f"{path}.released").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        return optimize(data, *args, **kwargs)

    return optimize_or_hold


class _WrapWorkerModule(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds optimizer.worker as usual, and wraps its `optimize` once it has run."""

    def find_spec(self, name, path, target=None):
        if name != "optimizer.worker":
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        self._loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        module.optimize = _holding(module.optimize)


def held(body: bytes, *, path: Path, seconds: float) -> bytes:
    """`body` marked to be held in the worker (for the tests, which import this module by its path)."""
    return HELD_MARK + f"{path} {seconds}\n".encode() + body


if __name__ == "sitecustomize":  # loaded at start-up, not imported by a test
    sys.meta_path.insert(0, _WrapWorkerModule())
