"""The benchmarks still run. Nobody runs them in CI at full length, so a change to what they call
(bench/overhead.py reaches into optimizer.services) would go unnoticed until someone measures."""

import subprocess
import sys

from tests.processes import REPO


def test_the_overhead_benchmark_runs_a_few_requests():
    done = subprocess.run(
        [sys.executable, "bench/overhead.py", "--requests", "3", "--warmup", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Target: at most 10 ms added at p50" in done.stdout
