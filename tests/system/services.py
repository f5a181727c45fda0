"""A PostgreSQL cluster and a Redis server of the test's own: started on free loopback ports with
their own data directories, stopped, hung (SIGSTOP), resumed and restarted by the tests, and never
the machine's shared services (127.0.0.1:5432 and :6379 belong to other engineers and to CI)."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import redis

from tests.system import procs

# Debian's PostgreSQL server programs (15 on this machine), the newest version installed.
POSTGRES_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda path: float(path.parent.name), default=None)
START_SECONDS = 60


def _wait(ready, what: str, seconds: float = START_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {seconds} s")
        time.sleep(0.1)


# Deletes every key of the database whose time to live is under ARGV[1] ms; returns how many.
_EXPIRE_KEYS_DUE_WITHIN = """
local expired, cursor = 0, "0"
repeat
  local page = redis.call("SCAN", cursor, "COUNT", 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    local ttl = redis.call("PTTL", key)
    if ttl >= 0 and ttl < tonumber(ARGV[1]) then
      redis.call("DEL", key)
      expired = expired + 1
    end
  end
until cursor == "0"
return expired
"""


class Service:
    """What the tests do to a backing service: start it, stop it, hang it and let it go on."""

    name = ""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def pause(self) -> None:
        raise NotImplementedError

    def resume(self) -> None:
        raise NotImplementedError

    def running(self) -> bool:
        raise NotImplementedError

    def answers(self) -> bool:
        raise NotImplementedError

    def ensure_running(self) -> None:
        """Back to running and answering, whatever a test left it in (stopped, or hung)."""
        self.resume()
        if not self.running():
            self.start()
        _wait(self.answers, f"{self.name} did not answer")

    def close(self) -> None:
        self.resume()
        if self.running():
            self.stop()


class Postgres(Service):
    """A PostgreSQL 15 cluster: trust authentication, listening on 127.0.0.1 and a free port.

    As root the server runs as the `postgres` user, which owns the (world-traversable) folder the
    cluster lives in: a pytest temporary folder is root's alone."""

    name = "PostgreSQL"

    def __init__(self) -> None:
        assert POSTGRES_BIN, "no PostgreSQL server programs in /usr/lib/postgresql (apt-get install postgresql)"
        self.folder = Path(tempfile.mkdtemp(prefix="smolpix-system-postgres-"))
        self.data, self.sockets, self.log = self.folder / "data", self.folder / "sockets", self.folder / "server.log"
        self.sockets.mkdir()
        self.port = procs.free_port()
        self._as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_owner:
            shutil.chown(self.folder, "postgres")
            shutil.chown(self.sockets, "postgres")
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")

    def _run(self, program: str, *arguments) -> None:
        command = [*self._as_owner, POSTGRES_BIN / program, *map(str, arguments)]
        subprocess.run(command, check=True, capture_output=True, timeout=START_SECONDS)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stopped at once: the sessions are cut, as when the server crashes or is shut down."""
        self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def answers(self) -> bool:
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2) as connection:
                connection.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _pids(self) -> list[int]:
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        return [postmaster, *procs.descendants(postmaster)]

    def pause(self) -> None:
        """Hung, not down: every process stopped (SIGSTOP), connections open and unanswered."""
        procs.signal_all(self._pids(), signal.SIGSTOP)

    def resume(self) -> None:
        if self.running():
            procs.signal_all(self._pids(), signal.SIGCONT)

    def close(self) -> None:
        super().close()
        shutil.rmtree(self.folder, ignore_errors=True)


class Redis(Service):
    """A redis-server on 127.0.0.1 and a free port, with no persistence."""

    name = "Redis"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = procs.free_port()
        self.process: subprocess.Popen | None = None

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        command += ["--save", "", "--appendonly", "no"]
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait(self.answers, "Redis did not answer")

    def answers(self) -> bool:
        try:
            with procs.connect(self.port, timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Down: the server exits (SIGKILL, so that hung or not it is gone at once)."""
        self.process.kill()
        self.process.wait(timeout=30)

    def pause(self) -> None:
        """Hung, not down: the port accepts connections (the kernel does) but nothing answers."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.running():
            self.process.send_signal(signal.SIGCONT)

    def jump_clock(self, seconds: int) -> int:
        """What the server's wall clock jumping `seconds` forward does (its host paused and resumed,
        which Redis, expiring keys by that clock, cannot tell from time passing): every key due to
        expire within `seconds` expires now. The number of keys it expired."""
        with redis.Redis(port=self.port, socket_timeout=5) as client:
            return client.eval(_EXPIRE_KEYS_DUE_WITHIN, 0, seconds * 1000)

    def clear(self) -> None:
        """Every key of every database gone: queued tasks, results, cached values."""
        with procs.connect(self.port, timeout=5) as connection:
            connection.sendall(b"FLUSHALL\r\n")
            assert connection.recv(16).startswith(b"+OK")
