"""`smolpix optimize`'s runs around each result, against the scripted API of fake_api: a result is
recorded before it is put in place, so a record that cannot be appended leaves no result behind that
the next run would take for a new source (and send, and charge, with its source again)."""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

from fake_api import IMAGE, Answer

from smolpix_client import AsyncClient, batch

KEY = "pk_live_" + "t" * 38
OPTIONS = batch.Options(format="webp")


class Quiet:
    """A reporter that shows nothing."""

    def started(self, job: batch.Job) -> None:
        pass

    def finished(self, outcome: batch.Outcome) -> None:
        pass


def optimized(api, arguments: list[str]) -> tuple[batch.Plan, list[batch.Outcome]]:
    """Plan `arguments` and run the plan, as `smolpix optimize --format webp` does."""
    work = batch.plan(arguments, out=None, options=OPTIONS, overwrite=False)

    async def send() -> list[batch.Outcome]:
        async with AsyncClient(KEY, api.base_url) as client:
            return await batch.run(work, client, OPTIONS, concurrency=1, reporter=Quiet(), stopping=asyncio.Event())

    try:
        return work, asyncio.run(send())
    finally:
        work.close()


def test_a_result_whose_record_cannot_be_appended_is_not_left_in_place(fake, make_photo, tmp_path, monkeypatch):
    api = fake()
    photos = tmp_path / "photos"
    make_photo(photos / "a.png", width=64, height=48)
    manifest = (photos / batch.MANIFEST_NAME).resolve()
    opened = Path.open

    def full_disk(path, mode="r", *args, **kwargs):
        # As the kernel answers when the disk is full (the manifest is new: no file to check before).
        if path == manifest and "a" in mode:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return opened(path, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", full_disk)
    _, [outcome] = optimized(api, [str(photos)])
    monkeypatch.undo()

    assert (outcome.status, outcome.reason) == (
        "failed",
        f"OSError: [Errno {errno.ENOSPC}] No space left on device: '{manifest}'",
    )
    assert sorted(path.name for path in photos.iterdir()) == ["a.png"]  # no result, nor partial file

    # The next run sends a.png again, and only it: nothing is there to be taken for a new source.
    work, outcomes = optimized(api, [str(photos)])

    assert [(outcome.label, outcome.status) for outcome in outcomes] == [(str(photos / "a.png"), "done")]
    assert (work.refused, work.skipped) == ([], [])
    assert (photos / "a.webp").read_bytes() == IMAGE
    assert len(api.statuses()) == 2


def test_a_manifest_that_cannot_be_appended_to_fails_its_images_before_they_are_sent(
    fake, make_photo, tmp_path, monkeypatch
):
    api = fake()
    photos = tmp_path / "photos"
    make_photo(photos / "a.png", width=64, height=48)
    make_photo(photos / "locked" / "b.png", width=64, height=48)
    locked = (photos / "locked" / batch.MANIFEST_NAME).resolve()
    locked.write_text("")  # read-only, in a folder that can be written
    opened = Path.open

    def read_only(path, mode="r", *args, **kwargs):
        # As the kernel answers anyone but root (who writes every file: the tests may run as root).
        if path == locked and "a" in mode:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return opened(path, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", read_only)
    work, outcomes = optimized(api, [str(photos)])

    assert [(outcome.label, outcome.reason) for outcome in work.refused] == [
        (str(photos / "locked" / "b.png"), f"{locked} cannot be appended to (Permission denied) (not sent)")
    ]
    assert [(outcome.label, outcome.status) for outcome in outcomes] == [(str(photos / "a.png"), "done")]
    assert len(api.statuses()) == 1


def test_a_results_savings_percent_is_the_apis(fake, make_photo, tmp_path):
    """Not worked out again from the sizes, which may round otherwise (see test_display)."""
    api = fake([Answer(200, None, {"X-Smolpix-Savings-Percent": "97"})])
    make_photo(tmp_path / "photos" / "a.png", width=64, height=48)

    _, [outcome] = optimized(api, [str(tmp_path / "photos")])

    assert (outcome.status, outcome.savings_percent) == ("done", 97)
