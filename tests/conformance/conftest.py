"""The conformance suite's fixtures: the corpus, and the site as a user starts it.

The site is `make run`'s: migrate, then `manage.py runserver`, on the embedded defaults (SQLite in
a temporary folder, tasks run in the web process, no Redis), with an account and an API key made
by the management commands an operator uses. The tests speak HTTP to it and to nothing else.
The corpus is built afresh by scripts/conformance-corpus.py (see its manifest's fields there).
"""

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from tests import processes

REPO = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 90
REQUEST_SECONDS = 120  # generous: the machine is shared and small
EMAIL = "conformance@example.com"


@dataclass(frozen=True)
class Expected:
    """One manifest entry: a corpus file and the answer the API must give for it."""

    name: str
    status: int
    note: str
    code: str | None
    width: int
    height: int
    alpha: bool
    tolerance: float
    browser: bool
    visible_from: int  # the alpha from which a pixel's colour is compared


@dataclass(frozen=True)
class Corpus:
    folder: Path
    entries: list[Expected]

    def source(self, entry: Expected) -> bytes:
        return (self.folder / "files" / entry.name).read_bytes()

    def reference(self, entry: Expected) -> Path:
        return self.folder / "reference" / f"{entry.name}.png"

    @property
    def valid(self) -> list[Expected]:
        return [entry for entry in self.entries if entry.status == 200]

    @property
    def refused(self) -> list[Expected]:
        return [entry for entry in self.entries if entry.status != 200]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Message
    body: bytes
    seconds: float

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass(frozen=True)
class Site:
    port: int
    key: str
    process: subprocess.Popen
    log: Path

    def request(self, method: str, path: str, *, body: bytes = b"", headers: dict | None = None) -> Answer:
        client = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_SECONDS)
        started = time.monotonic()
        try:
            client.request(method, path, body=body, headers={"Authorization": f"Bearer {self.key}", **(headers or {})})
            response = client.getresponse()
            return Answer(response.status, response.headers, response.read(), time.monotonic() - started)
        finally:
            client.close()

    def optimize(self, data: bytes, name: str, *, accept: str = "application/json", **fields: str) -> Answer:
        """POST /api/v1/optimize with `data` uploaded as `name`, and `fields` as form fields."""
        body = encode_multipart(BOUNDARY, {"file": SimpleUploadedFile(name, data), **fields})
        return self.request(
            "POST", "/api/v1/optimize", body=body, headers={"Content-Type": MULTIPART_CONTENT, "Accept": accept}
        )

    def used(self) -> int:
        """Images counted this month, from GET /api/v1/usage."""
        return self.request("GET", "/api/v1/usage").json()["used"]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Corpus:
    folder = tmp_path_factory.mktemp("conformance-corpus")
    script = REPO / "scripts" / "conformance-corpus.py"
    built = subprocess.run([sys.executable, str(script), str(folder)], capture_output=True, text=True)
    if built.returncode:
        pytest.fail(f"{script.name} failed:\n{built.stderr[-3000:]}")
    manifest = json.loads((folder / "manifest.json").read_text())
    return Corpus(folder, [Expected(**entry) for entry in manifest])


def _manage(*arguments: str, env: dict[str, str]) -> str:
    command = [sys.executable, "manage.py", *arguments]
    return subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("conformance-site")
    # The embedded defaults, whatever this run is configured with: empty values also win over a
    # developer's .env, which only fills variables that are not set at all.
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        "CELERY_RESULT_BACKEND": "",
        "EMAIL_URL": "consolemail://",
    }
    _manage("migrate", "--noinput", env=env)
    _manage("createaccount", EMAIL, "--plan", "agency", env=env)
    _manage("setquota", EMAIL, "--rate-limit", "100000", env=env)  # the corpus is sent in one go
    key = _manage("createapikey", EMAIL, env=env)
    port = processes.free_port()
    log = folder / "runserver.log"
    process = processes.start(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], env=env, log_path=log
    )
    running = Site(port=port, key=key, process=process, log=log)
    try:
        _wait_until_it_answers(running)
        yield running
    finally:
        processes.stop(process)


def _wait_until_it_answers(site: Site) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if site.process.poll() is not None:
            pytest.fail(f"runserver exited at start-up:\n{site.log.read_text()[-3000:]}")
        try:
            site.request("GET", "/healthz")
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"runserver did not answer within {STARTUP_SECONDS} s:\n{site.log.read_text()[-3000:]}")
