"""Fixtures of the client's tests: the real site started as `make run` starts it (runserver, the
embedded defaults) with a SQLite database of its own, accounts and keys made by its management
commands, a loopback image host for URLs, small generated images, and the scripted API of fake_api."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_api import FakeApi

from optimizer.tests import images
from optimizer.tests.origin import Origin
from tests.processes import free_port, start, stop

REPO = Path(__file__).resolve().parents[3]
MANAGE = [sys.executable, str(REPO / "manage.py")]
STARTUP_SECONDS = 60


@dataclass
class Site:
    base_url: str
    environment: dict[str, str]
    origin: Origin
    unreachable_url: str  # an allowed port on loopback where nothing listens

    def manage(self, *arguments: str) -> str:
        finished = subprocess.run(
            [*MANAGE, *arguments], env=self.environment, capture_output=True, text=True, check=True, timeout=120
        )
        return finished.stdout

    def api_key(
        self, email: str, *, plan: str = "pro", monthly_limit: int | None = None, rate_limit: int | None = None
    ) -> str:
        """A new account on `plan` (with these overrides) and a key of it, made by the management
        commands customers' operators use, run in one process to save the start-ups."""
        script = [f"call_command('createaccount', {email!r}, plan={plan!r})"]
        if monthly_limit is not None:
            script.append(f"call_command('setquota', {email!r}, monthly_limit={monthly_limit})")
        if rate_limit is not None:
            script.append(f"call_command('setquota', {email!r}, rate_limit={rate_limit})")
        script.append(f"call_command('createapikey', {email!r})")
        code = "from django.core.management import call_command\n" + "\n".join(script)
        return self.manage("shell", "--no-imports", "-c", code).strip().splitlines()[-1]


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("site")
    origin = Origin(hosts=("127.0.0.1",))
    dead_port = free_port()
    port = free_port()
    environment = {
        **os.environ,
        # The embedded defaults, whatever this test run is configured with.
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        "CELERY_RESULT_BACKEND": "",
        "DEBUG": "true",
        # The image host is on loopback, on its own port.
        "OPTIMIZER_ALLOW_PRIVATE_NETWORKS": "true",
        "OPTIMIZER_ALLOWED_PORTS": f"{origin.port},{dead_port}",
    }
    site = Site(f"http://127.0.0.1:{port}", environment, origin, f"http://127.0.0.1:{dead_port}/photo.jpg")
    site.manage("migrate", "--noinput")
    log = folder / "server.log"
    server = start([*MANAGE, "runserver", f"127.0.0.1:{port}", "--noreload"], env=environment, log_path=log)
    try:
        _wait_until_up(site.base_url, server, log)
        yield site
    finally:
        stop(server)
        origin.close()


def _wait_until_up(base_url: str, server: subprocess.Popen, log: Path) -> None:
    import time

    import httpx

    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the site exited at start-up:\n{log.read_text()[-3000:]}")
        try:
            httpx.get(f"{base_url}/healthz", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"the site did not answer within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


def photo(path: Path, *, width: int, height: int) -> Path:
    """A small photograph-like image as JPEG (quality 95) or PNG, by the path's extension: the kind
    of file an optimizer makes much smaller."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(images.encode(images.photo(width, height), "PNG" if path.suffix == ".png" else "JPEG", quality=95))
    return path


@pytest.fixture
def make_photo():
    """`make_photo(path, width=..., height=...)`: see `photo`."""
    return photo


@pytest.fixture
def photos(tmp_path: Path):
    """`photos(n)`: n generated images (64-200 px, JPEG and PNG, some in sub-folders) in a folder."""

    def make(count: int, folder: Path | None = None) -> Path:
        folder = folder or tmp_path / "photos"
        for index in range(count):
            sub = ["", "holiday", "holiday/beach"][index % 3]
            extension = ".png" if index % 4 == 0 else ".jpg"
            size = 64 + (index * 37) % 137
            photo(folder / sub / f"photo-{index:02d}{extension}", width=size, height=64 + (index * 23) % 100)
        return folder

    return make


@pytest.fixture
def fake() -> Iterator[type[FakeApi]]:
    """`fake(script, limit_per_second=...)`: a FakeApi (see fake_api), closed after the test."""
    servers: list[FakeApi] = []

    def make(*args, **kwargs) -> FakeApi:
        servers.append(FakeApi(*args, **kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()
