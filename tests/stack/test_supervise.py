"""scripts/supervise.sh, the supervisor `make serve` runs each Procfile process under."""

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_a_process_that_ran_for_a_while_before_it_died_is_restarted_at_once(tmp_path):
    """The delay doubles while a process keeps dying, and starts again from 1 s once it has run for
    HEALTHY_RUN_SECONDS: it never went down, and after a few crashes hours apart each was 30 s of
    503s."""
    runs = tmp_path / "runs"
    # Dies at once twice, then after a healthy 2.5 s, then at once for ever. Bash's SECONDS counts
    # whole seconds, so a run that dies at once can count 1 when it spans a tick: healthy is 2.
    crashing = tmp_path / "crashing.sh"
    crashing.write_text(f'echo run >> {runs}\n[ "$(wc -l < {runs})" -eq 3 ] && sleep 2.5\nexit 3\n')
    supervisor = subprocess.Popen(
        ["bash", "-c", f"cd {REPO} && source scripts/supervise.sh && supervise crashing 'bash {crashing}'"],
        env={"PATH": "/usr/bin:/bin", "SERVE_HEALTHY_RUN_SECONDS": "2"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(runs.read_text().splitlines() if runs.exists() else []) < 4:
            time.sleep(0.1)
    finally:
        supervisor.send_signal(signal.SIGTERM)
        output, _ = supervisor.communicate(timeout=30)

    delays = [int(delay) for delay in re.findall(r"exited with status 3; restarting it in (\d+) s", output)]
    assert delays[:3] == [1, 2, 1], output


@pytest.mark.parametrize(("value", "seconds"), [(None, 60), (" ", 60), ("010", 10), (" 5 ", 5)])
def test_the_healthy_run_is_read_as_serve_sh_checked_it(value, seconds):
    """Blank is unset, as for every setting; 010 was octal to bash: 8 seconds."""
    read = subprocess.run(
        ["bash", "-c", "set -euo pipefail; source scripts/supervise.sh; echo $HEALTHY_RUN_SECONDS"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin"} | ({"SERVE_HEALTHY_RUN_SECONDS": value} if value is not None else {}),
        capture_output=True,
        text=True,
        check=True,
    )

    assert read.stdout == f"{seconds}\n"
