"""A process's memory as Linux reports it: resident now, and the peak since it was last reset."""

from pathlib import Path

MIB = 2**20


def _status_bytes(pid: int | str, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"{field} not in /proc/{pid}/status")


def resident(pid: int | str = "self") -> int:
    return _status_bytes(pid, "VmRSS")


def peak(pid: int | str = "self") -> int:
    return _status_bytes(pid, "VmHWM")


def reset_peak(pid: int | str = "self") -> None:
    """Start the peak (VmHWM) afresh from what the process holds now (Linux 4.0+)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
