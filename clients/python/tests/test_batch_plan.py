"""What `smolpix optimize` makes of the paths it is given, before anything is sent: files that are
not regular files (a named pipe, a link to nothing or in a loop) are refused with a reason, never
opened to wait forever; so are files larger than the API takes, and folders that cannot be read.
Manifests: lines that are not records are passed over, and one that cannot be read stops the run
before it starts."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from optimizer.tests import images
from smolpix_client import batch
from smolpix_client.protocol import MAX_UPLOAD_BYTES


def plan_for(arguments: list[str]) -> batch.Plan:
    return batch.plan(arguments, out=None, options=batch.Options(), overwrite=False)


def planned(arguments: list[str]) -> batch.Plan:
    """`plan_for`, in a thread given 10 s: opening a named pipe would block it for good."""
    result: list[batch.Plan] = []
    thread = threading.Thread(target=lambda: result.append(plan_for(arguments)), daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert result, "planning waited on a file that is not a regular one"
    return result[0]


def refusals(plan: batch.Plan) -> dict[str, str]:
    return {Path(outcome.label).name: outcome.reason for outcome in plan.refused}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("named pipes are POSIX")
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


def test_a_file_larger_than_the_api_takes_is_refused_without_being_sent(tmp_path):
    for name, size in (("huge.jpg", MAX_UPLOAD_BYTES + 1), ("largest.jpg", MAX_UPLOAD_BYTES)):
        with (tmp_path / name).open("wb") as file:
            file.write(b"\xff\xd8\xff\xe0")  # a JPEG's first bytes, then a hole: no disk space taken
            file.truncate(size)

    result = plan_for([str(tmp_path / "huge.jpg"), str(tmp_path)])  # named, and in a folder

    assert [job.name for job in result.jobs] == ["largest.jpg"]
    reason = "larger than the 33,554,432 bytes the API takes (not sent)"
    assert [(outcome.label, outcome.reason) for outcome in result.refused] == [
        (str(tmp_path / "huge.jpg"), reason),
        (str(tmp_path / "huge.jpg"), reason),
    ]


def test_a_folder_that_cannot_be_read_is_a_failed_source(tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    for path in (photos / "a.png", photos / "private" / "b.png"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(images.encode(images.photo(64, 48), "PNG"))
    listing = os.scandir

    def scandir(path):
        # As the kernel answers anyone but root (who reads every folder: the tests may run as root).
        if Path(path) == photos / "private":
            raise PermissionError(13, "Permission denied", path)
        return listing(path)

    monkeypatch.setattr(os, "scandir", scandir)

    result = plan_for([str(photos)])

    assert [job.name for job in result.jobs] == ["a.png"]
    assert [(outcome.label, outcome.reason) for outcome in result.refused] == [
        (str(photos / "private"), f"PermissionError: [Errno 13] Permission denied: '{photos / 'private'}'")
    ]


def test_manifest_lines_that_are_not_records_are_passed_over(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(images.encode(images.photo(64, 48), "PNG"))
    (photos / batch.MANIFEST_NAME).write_bytes(b'{}\n[1, 2]\n{"key": "deadbeef", "output": 5}\n\xff\n')

    result = plan_for([str(photos)])

    assert [job.name for job in result.jobs] == ["a.png"]


def test_a_manifest_that_cannot_be_read_stops_the_run_before_it_starts(tmp_path):
    photos = tmp_path / "photos"
    (photos / batch.MANIFEST_NAME).mkdir(parents=True)  # a folder where the manifest should be

    with pytest.raises(batch.CannotStart) as error:
        plan_for([str(photos)])

    assert str(error.value) == f"Cannot read {photos / batch.MANIFEST_NAME}: Is a directory"


def test_a_link_in_a_loop_in_a_folder_is_refused_as_a_link_to_nothing_is(folder):
    (folder / "loop.jpg").symlink_to("loop.jpg")

    plan = planned([str(folder)])

    assert [job.name for job in plan.jobs] == ["photo.png"]
    assert "Too many levels of symbolic links" in refusals(plan)["loop.jpg"]
    assert refusals(plan)["gone.jpg"].startswith("FileNotFoundError")
