"""Two runs at once on one folder: a run holds each folder it writes results to (an flock on the folder
itself) from before it reads the folder's manifest until it ends, so no image is sent, charged and
written twice. A folder another run holds is not waited for: its images fail, not sent, and the next
run does them. A lock goes with its run, whether the run is closed or its process killed."""

from __future__ import annotations

import asyncio
import errno
import subprocess
import sys
from pathlib import Path

import pytest

from smolpix_client import AsyncClient, batch

fcntl = pytest.importorskip("fcntl", reason="folders are locked where fcntl is (not on Windows)")

KEY = "pk_live_" + "t" * 38
OPTIONS = batch.Options(format="webp")
# A process holding the folder named by its argument as a run does, until it is killed.
HOLDER = """
import sys, time
from smolpix_client import batch
work = batch.plan([sys.argv[1]], out=None, options=batch.Options(format="webp"), overwrite=False)
print(len(work.locks), flush=True)
time.sleep(60)
"""


class Quiet:
    def started(self, job: batch.Job) -> None:
        pass

    def finished(self, outcome: batch.Outcome) -> None:
        pass


def planned(arguments: list[Path], *, out: Path | None = None) -> batch.Plan:
    return batch.plan([str(argument) for argument in arguments], out=out, options=OPTIONS, overwrite=False)


def sent(api, work: batch.Plan) -> list[batch.Outcome]:
    """Run `work` against `api`, as `smolpix optimize --format webp` does, leaving it open."""

    async def send() -> list[batch.Outcome]:
        async with AsyncClient(KEY, api.base_url) as client:
            return await batch.run(work, client, OPTIONS, concurrency=2, reporter=Quiet(), stopping=asyncio.Event())

    return asyncio.run(send())


def closed(work: batch.Plan) -> batch.Plan:
    work.close()
    return work


def busy(folder: Path) -> str:
    return f"another smolpix run is writing results to {folder.resolve()} (not sent)"


def refusals(work: batch.Plan) -> list[tuple[str, str | None]]:
    return [(Path(outcome.label).name, outcome.reason) for outcome in work.refused]


def test_a_folder_is_held_for_the_whole_run_and_free_once_it_ends(fake, make_photo, tmp_path):
    api = fake()
    photos = tmp_path / "photos"
    make_photo(photos / "a.png", width=64, height=48)

    first = planned([photos])
    [done] = sent(api, first)
    make_photo(photos / "b.png", width=64, height=48)
    during = closed(planned([photos]))  # the first run has not ended
    first.close()
    after = planned([photos])
    sent(api, after)
    after.close()

    assert done.status == "done"
    # What the first run did is done; the rest is left for a run that can write there.
    assert [outcome.label for outcome in during.skipped] == [str(photos / "a.png")]
    assert (during.jobs, refusals(during)) == ([], [("b.png", busy(photos))])
    assert [job.name for job in after.jobs] == ["b.png"]
    assert [outcome.label for outcome in after.skipped] == [str(photos / "a.png")]
    assert len(api.statuses()) == 2


def test_a_run_starting_as_another_ends_reads_the_manifest_that_one_finished(fake, make_photo, tmp_path, monkeypatch):
    api = fake()
    photos = tmp_path / "photos"
    for name in ("a.png", "b.png"):
        make_photo(photos / name, width=64, height=48)
    first = planned([photos])
    lock = batch._lock

    def first_ends_meanwhile(folder: Path) -> int | None:
        # The second run has walked the folder, reading its manifest as it was, and now locks it.
        sent(api, first)
        first.close()
        return lock(folder)

    monkeypatch.setattr(batch, "_lock", first_ends_meanwhile)
    second = closed(planned([photos]))

    assert (second.jobs, second.refused) == ([], [])
    assert sorted(outcome.label for outcome in second.skipped) == [str(photos / "a.png"), str(photos / "b.png")]
    assert len(api.statuses()) == 2


def test_under_out_a_results_folder_not_there_yet_is_made_and_held(make_photo, tmp_path):
    """Locking the folder above it instead would not keep out a run writing into it once made."""
    photos, out = tmp_path / "photos", tmp_path / "small"
    make_photo(photos / "2024" / "a.png", width=64, height=48)

    first = planned([photos], out=out)
    try:
        inside = closed(planned([photos / "2024"], out=out / "2024"))
    finally:
        first.close()

    assert [job.out_dir for job in first.jobs] == [out.resolve() / "2024"]
    assert refusals(inside) == [("a.png", busy(out / "2024"))]


def test_a_killed_runs_lock_goes_with_its_process(make_photo, tmp_path):
    photos = tmp_path / "photos"
    make_photo(photos / "a.png", width=64, height=48)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(photos)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "1\n"
        while_held = closed(planned([photos]))
        holder.kill()  # SIGKILL: no code of the run's runs to unlock anything
        holder.wait(timeout=10)
    finally:
        holder.kill()
        holder.stdout.close()
    after = closed(planned([photos]))

    assert refusals(while_held) == [("a.png", busy(photos))]
    assert ([job.name for job in after.jobs], after.refused) == (["a.png"], [])


def test_a_folder_that_cannot_be_locked_is_written_to_with_a_warning(make_photo, tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    make_photo(photos / "a.png", width=64, height=48)

    def as_nfs_answers(descriptor: int, operation: int) -> None:
        # An exclusive lock on NFS needs the file open for writing, which a folder cannot be.
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(fcntl, "flock", as_nfs_answers)
    work = closed(planned([photos]))

    assert ([job.name for job in work.jobs], work.refused, work.locks) == (["a.png"], [], [])
    assert work.warnings == [
        f"Cannot lock {photos.resolve()} (Bad file descriptor): "
        "another smolpix run writing there at the same time would send the same images"
    ]
