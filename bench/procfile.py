"""The environment the Procfile starts the Celery worker with, for the benchmarks' worker-like
processes: they measure a worker's memory as it runs in production."""

import os
from pathlib import Path

PROCFILE = Path(__file__).resolve().parents[1] / "Procfile"


def worker_environment() -> dict[str, str]:
    """Ours, with the `env NAME=value` words of the Procfile's worker line over it."""
    line = next(line for line in PROCFILE.read_text().splitlines() if line.startswith("worker:"))
    words = line.split()[1:]
    assignments = words[1 : words.index("celery")] if words[0] == "env" else []
    return {**os.environ, **dict(word.split("=", 1) for word in assignments)}
