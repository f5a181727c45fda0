"""What `smolpix optimize` makes of the paths it is given, before anything is sent: files that are
not regular files (a named pipe, a link to nothing) are refused with a reason, never opened to wait
forever."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from optimizer.tests import images
from smolpix_client import batch

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")


def planned(arguments: list[str]) -> batch.Plan:
    """batch.plan, in a thread given 10 s: opening a named pipe would block it for good."""
    result: list[batch.Plan] = []
    thread = threading.Thread(
        target=lambda: result.append(batch.plan(arguments, out=None, options=batch.Options(), overwrite=False)),
        daemon=True,
    )
    thread.start()
    thread.join(timeout=10)
    assert result, "planning waited on a file that is not a regular one"
    return result[0]


def refusals(plan: batch.Plan) -> dict[str, str]:
    return {Path(outcome.label).name: outcome.reason for outcome in plan.refused}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "photo.png").write_bytes(images.encode(images.photo(64, 48), "PNG"))
    os.mkfifo(folder / "pipe.jpg")
    (folder / "gone.jpg").symlink_to(tmp_path / "nothing-here.jpg")
    return folder


def test_a_named_pipe_in_a_folder_is_refused_and_the_rest_planned(folder):
    plan = planned([str(folder)])

    assert [job.name for job in plan.jobs] == ["photo.png"]
    assert refusals(plan)["pipe.jpg"] == batch.NOT_A_FILE
    assert refusals(plan)["gone.jpg"].startswith("FileNotFoundError")


def test_a_named_pipe_named_on_the_command_line_is_refused(folder):
    plan = planned([str(folder / "pipe.jpg"), str(folder / "gone.jpg"), str(folder / "photo.png")])

    assert [job.name for job in plan.jobs] == ["photo.png"]
    assert refusals(plan) == {"pipe.jpg": batch.NOT_A_FILE, "gone.jpg": "no such file or folder"}
