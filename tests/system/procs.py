"""Processes as Linux shows them in /proc, ports, and signals to processes the tests started."""

import contextlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

MIB = 2**20


@dataclass(frozen=True)
class Proc:
    pid: int
    parent: int
    session: int
    command: tuple[str, ...]

    def runs(self, *words: str) -> bool:
        """Whether every one of `words` is an argument of its command line (a path's last part counts)."""
        arguments = {part for argument in self.command for part in (argument, Path(argument).name)}
        return set(words) <= arguments


def _read(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None  # gone meanwhile
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None  # a zombie is dead, whatever its parent has not collected yet
    arguments = tuple(part.decode(errors="replace") for part in command.split(b"\0") if part)
    return Proc(pid=pid, parent=int(fields[1]), session=int(fields[3]), command=arguments)


def every() -> list[Proc]:
    found = (_read(int(entry.name)) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [proc for proc in found if proc is not None]


def in_session(session: int) -> list[Proc]:
    """The live processes of a session (a process started with start_new_session=True leads one)."""
    return [proc for proc in every() if proc.session == session]


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for proc in every():
        children.setdefault(proc.parent, []).append(proc.pid)
    found, pending = [], list(children.get(pid, []))
    while pending:
        child = pending.pop()
        found.append(child)
        pending.extend(children.get(child, []))
    return found


def alive(pid: int) -> bool:
    return _read(pid) is not None


def signal_all(pids: list[int], signal_number: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal_number)


def _status(pid: int, field: str) -> int | None:
    """A `kB` field of /proc/PID/status, in bytes; None once the process is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return None


def peak_memory(pid: int) -> int | None:
    """The process's peak resident memory so far (VmHWM)."""
    return _status(pid, "VmHWM")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def connect(port: int, *, timeout: float) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)
