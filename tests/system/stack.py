"""Smolpix as a user starts it: `make run` or `make serve` in a fresh copy of the repository, each
run in a session of its own so that every process it starts can be found (and stopped) again."""

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.holds import HOOKS
from tests.system import procs
from tests.system.http import Answer, Client, NoAnswer, request
from tests.system.services import Postgres, Redis

REPO = Path(__file__).resolve().parents[2]
# The first start of a copy creates its .venv and installs the runtime requirements into it.
START_SECONDS = 300
STOP_SECONDS = 20
SECRET_KEY = "system-test-secret-key-not-for-production"
PASSWORD = "a-long-unusual-password"

# Every system test: slow, marked `system`, and skipped with SYSTEM_TESTS=skip, as in the second
# pass of .ci/run (the tier brings its own PostgreSQL and Redis: once per CI run is enough).
MARKS = [
    pytest.mark.slow,
    pytest.mark.system,
    pytest.mark.skipif(os.environ.get("SYSTEM_TESTS") == "skip", reason="SYSTEM_TESTS=skip"),
]


def fresh_copy(destination: Path) -> Path:
    """The working tree as a clone would have it, uncommitted changes included: the tracked and the
    untracked-but-not-ignored files (so no .venv, .env, db.sqlite3 or collected static files)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout
    for name in {name for name in listing.decode().split("\0") if name}:
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet committed
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return destination


def base_environment() -> dict[str, str]:
    """What a user's shell has: a PATH without this test run's virtualenv, a home, a locale, and
    pip's own settings (an offline mirror, say); nothing of this process's Django configuration."""
    virtualenv = os.environ.get("VIRTUAL_ENV")
    path = [entry for entry in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if "/.venv/" not in entry]
    if virtualenv:
        path = [entry for entry in path if not entry.startswith(virtualenv)]
    environment = {"PATH": os.pathsep.join(path), "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    environment |= {name: value for name, value in os.environ.items() if name.startswith("PIP_")}
    return environment


class Stack:
    """One `make <target>` in a copy of the repository, in the foreground as a user runs it."""

    target = ""

    def __init__(self, copy: Path, folder: Path, environment: dict[str, str]) -> None:
        self.copy = copy
        self.folder = folder
        self.port = procs.free_port()
        self.environment = base_environment() | environment
        self.log = folder / f"make-{self.target}.log"
        self.process: subprocess.Popen | None = None
        self.start_failure: str | None = None  # why it did not start, if it did not

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                ["make", "--no-print-directory", self.target],
                cwd=self.copy,
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self, since: int = 0) -> str:
        """What it printed (stdout and stderr), from the offset a `mark()` returned."""
        if not self.log.exists():
            return ""
        with self.log.open("rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")

    def mark(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def wait_until(self, condition: Callable[[], object], what: str, seconds: float) -> object:
        deadline = time.monotonic() + seconds
        while not (outcome := condition()):
            if self.process.poll() is not None:
                raise AssertionError(f"`make {self.target}` exited with {self.process.returncode} {self._tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not happen within {seconds} s {self._tail()}")
            time.sleep(0.5)
        return outcome

    def _tail(self) -> str:
        return f"(see {self.log}); its output ends:\n{self.output()[-4000:]}"

    def health(self, timeout: float = 10) -> Answer | None:
        try:
            return request(self.port, "GET", "/healthz", timeout=timeout)
        except NoAnswer:
            return None

    def healthy(self) -> bool:
        answer = self.health()
        return answer is not None and answer.status == 200

    def wait_until_healthy(self, seconds: float = START_SECONDS) -> None:
        self.wait_until(self.healthy, "/healthz answering 200", seconds)

    def ensure_up(self) -> None:
        """Running and healthy: started if it is not, restarted if it does not recover in a minute.
        A stack that could not start once is not tried again: the tests after it fail at once."""
        if self.start_failure:
            raise AssertionError(f"`make {self.target}` did not start earlier in this run: {self.start_failure}")
        if self.running():
            try:
                self.wait_until_healthy(60)
                return
            except AssertionError:
                self.stop()
        self.start()
        try:
            self.wait_until_healthy()
        except AssertionError as failure:
            self.start_failure = str(failure)
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM to every process of the stack, SIGKILL to what is left after a while."""
        if self.process is None:
            return
        members = [proc.pid for proc in procs.in_session(self.process.pid)]
        procs.signal_all(members, signal.SIGCONT)  # a process stopped by a test could not end
        procs.signal_all(members, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_SECONDS)
        deadline = time.monotonic() + STOP_SECONDS
        while (left := procs.in_session(self.process.pid)) and time.monotonic() < deadline:
            procs.signal_all([proc.pid for proc in left], signal.SIGKILL)
            time.sleep(0.2)
        self.process.wait(timeout=STOP_SECONDS)

    def processes(self) -> list[procs.Proc]:
        return procs.in_session(self.process.pid) if self.running() else []

    # --- operators' commands, in the copy with the stack's configuration ----------------------

    def command(self, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.copy / ".venv" / "bin" / arguments[0]), *arguments[1:]],
            cwd=self.copy,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def manage(self, *arguments: str) -> str:
        done = self.command("python", "manage.py", *arguments)
        assert done.returncode == 0, f"manage.py {' '.join(arguments)}: {done.stderr}{done.stdout}"
        return done.stdout

    def account(self) -> str:
        """A new Pro account, without keys, whose password is PASSWORD; returns its e-mail."""
        email = f"customer-{uuid.uuid4().hex[:10]}@example.com"
        self.manage("createaccount", email, "--plan", "pro", "--password", PASSWORD)
        return email

    def customer(self) -> tuple[str, Client]:
        """A new Pro account and an API client holding one of its keys; returns (e-mail, client)."""
        email = self.account()
        return email, Client(self.port, api_key=self.manage("createapikey", email).strip())

    def browser(self) -> Client:
        return Client(self.port)


class RunStack(Stack):
    """`make run`: the embedded defaults (SQLite, local-memory cache, eager tasks) on PORT."""

    target = "run"

    def __init__(self, copy: Path, folder: Path) -> None:
        super().__init__(copy, folder, {})
        self.environment["PORT"] = str(self.port)


class ServeStack(Stack):
    """`make serve`: gunicorn, a Celery worker and Celery beat on the test's PostgreSQL and Redis,
    configured for production as the README says, with loopback URL jobs allowed from `origin_port`."""

    target = "serve"

    def __init__(
        self, copy: Path, folder: Path, *, postgres: Postgres, redis: Redis, origin_port: int, **overrides: str | None
    ) -> None:
        self.temporary = folder / "tmp"  # the processes' temporary files (ImageMagick's included)
        self.mail = folder / "mail"
        for made in (self.temporary, self.mail):
            made.mkdir(parents=True, exist_ok=True)
        database = postgres.create_database(f"smolpix_{uuid.uuid4().hex[:12]}")
        environment = {
            "DATABASE_URL": database,
            "REDIS_URL": redis.url(),
            "DEBUG": "false",
            "SECRET_KEY": SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",  # no TLS proxy in front of the test stack
            "WEB_CONCURRENCY": "1",
            "GUNICORN_THREADS": "8",
            "CELERY_WORKER_CONCURRENCY": "1",
            "EMAIL_URL": f"filemail:///{self.mail}",
            "STATIC_ROOT": str(folder / "static"),
            "CELERY_BEAT_SCHEDULE_FILENAME": str(folder / "beat-schedule"),
            "TMPDIR": str(self.temporary),
            "MAGICK_TEMPORARY_PATH": str(self.temporary),
            "OPTIMIZER_ALLOW_PRIVATE_NETWORKS": "true",
            "OPTIMIZER_ALLOWED_PORTS": str(origin_port),
            "PYTHONPATH": str(HOOKS),  # the worker holds a job whose image is marked so (tests.holds)
        }
        super().__init__(copy, folder, environment | overrides)
        self.redis = redis
        self.environment["PORT"] = str(self.port)
        self.environment["GUNICORN_BIND"] = f"127.0.0.1:{self.port}"
        for name, value in overrides.items():
            if value is None:
                del self.environment[name]  # unset, as if never configured

    def start(self) -> None:
        # Nothing of an earlier run (a failed test's, say) is met by this one: no job queued, no file.
        self.redis.clear()
        shutil.rmtree(self.temporary)
        self.temporary.mkdir()
        super().start()

    def web(self) -> procs.Proc:
        return self._main("gunicorn")

    def worker(self) -> procs.Proc:
        return self._main("celery", "worker")

    def beat(self) -> procs.Proc:
        return self._main("celery", "beat")

    def _main(self, *words: str) -> procs.Proc:
        """The process running `words` whose parent does not: the one the Procfile started."""
        matching = {proc.pid: proc for proc in self.processes() if proc.runs(*words)}
        mains = [proc for proc in matching.values() if proc.parent not in matching]
        assert len(mains) == 1, f"expected one {' '.join(words)} process, found {mains}"
        return mains[0]

    def pool(self) -> list[procs.Proc]:
        """The Celery worker's pool processes (its children), which run the tasks."""
        worker = self.worker()
        return [proc for proc in self.processes() if proc.parent == worker.pid]

    def worker_processes(self) -> list[procs.Proc]:
        """Every Celery worker process of the stack, pool children included (not beat)."""
        return [proc for proc in self.processes() if proc.runs("celery", "worker")]

    def leftover_magick_files(self) -> list[Path]:
        return sorted(self.temporary.glob("magick-*"))

    def celery(self, *arguments: str) -> subprocess.CompletedProcess:
        return self.command("celery", "-A", "smolpix", *arguments)

    def mails(self) -> list[str]:
        return [path.read_text(errors="replace") for path in sorted(self.mail.iterdir())]


class PeakMemory:
    """Samples the peak resident memory (VmHWM) of every Celery worker process of a stack while it
    runs, children that come and go included; `highest()` is the largest seen, with its pid."""

    def __init__(self, stack: ServeStack, interval: float = 0.1) -> None:
        self.stack = stack
        self.interval = interval
        self.peaks: dict[int, int] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stopped.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stopped.wait(self.interval):
            if not self.stack.running():
                continue
            for proc in self.stack.worker_processes():
                peak = procs.peak_memory(proc.pid)
                if peak is not None:
                    self.peaks[proc.pid] = max(peak, self.peaks.get(proc.pid, 0))

    def highest(self) -> tuple[int, int]:
        """(bytes, pid) of the highest peak seen."""
        return max(((peak, pid) for pid, peak in self.peaks.items()), default=(0, 0))
