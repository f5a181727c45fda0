"""What `smolpix optimize` makes of the paths it is given, before anything is sent: files that are
not regular files (a named pipe, a link to nothing or in a loop) are refused with a reason, never
opened to wait forever; so are files larger than the API takes, and folders that cannot be read.
Manifests: lines that are not records are passed over; one of a folder results go to that cannot be
read stops the run before it starts, one above them is passed over with a warning. A URL with bytes
that are not UTF-8 is refused, and the rest planned."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

import pytest

from optimizer.services import DEFAULT_OPTIONS
from optimizer.tests import images
from smolpix_client import batch
from smolpix_client.protocol import MAX_UPLOAD_BYTES


def plan_for(arguments: list[str]) -> batch.Plan:
    """The plan, closed: its folders unlocked for the next plan of the test."""
    result = batch.plan(arguments, out=None, options=batch.Options(), overwrite=False)
    result.close()
    return result


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


def test_a_file_named_directly_is_judged_by_its_first_bytes_one_in_a_folder_by_its_name_too(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "scan").write_bytes(images.encode(images.photo(64, 48), "JPEG"))  # no extension
    (photos / "notes.jpg").write_text("named like an image, and not one")

    named = plan_for([str(photos / "scan"), str(photos / "notes.jpg")])
    scanned = plan_for([str(photos)])

    assert [job.name for job in named.jobs] == ["scan"]
    assert refusals(named) == {"notes.jpg": batch.NOT_AN_IMAGE}
    assert (scanned.jobs, scanned.ignored, refusals(scanned)) == ([], 1, {"notes.jpg": batch.NOT_AN_IMAGE})


@pytest.mark.parametrize("folder_first", [True, False], ids=["folder first", "file first"])
def test_a_file_named_directly_is_not_also_counted_as_ignored_in_its_folder(folder_first, tmp_path):
    """`smolpix optimize ig ig/scan` summed up "files": 1, "done": 1 and "ignored": 1."""
    folder = tmp_path / "ig"
    folder.mkdir()
    (folder / "scan").write_bytes(images.encode(images.photo(64, 48), "JPEG"))  # no extension
    (folder / "notes").write_text("no image")
    (folder / "readme.txt").write_text("no image")
    named = [str(folder / "scan"), str(folder / "notes")]

    result = plan_for([str(folder), *named] if folder_first else [*named, str(folder)])

    assert [job.name for job in result.jobs] == ["scan"]
    assert refusals(result) == {"notes": batch.NOT_AN_IMAGE}
    assert result.ignored == 1  # readme.txt alone


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


def test_without_out_a_folder_that_cannot_be_written_is_found_before_its_images_are_sent(tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    for path in (photos / "a.png", photos / "locked" / "b.png"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(images.encode(images.photo(64, 48), "PNG"))
    temporary_file = tempfile.TemporaryFile

    def temporary_file_in(*, dir):
        # As the kernel answers anyone but root (who writes every folder: the tests may run as root).
        if Path(dir) == (photos / "locked").resolve():
            raise PermissionError(13, "Permission denied", dir)
        return temporary_file(dir=dir)

    monkeypatch.setattr(tempfile, "TemporaryFile", temporary_file_in)

    result = plan_for([str(photos)])

    assert [job.name for job in result.jobs] == ["a.png"]
    locked = (photos / "locked").resolve()
    assert refusals(result) == {"b.png": f"{locked} cannot be written (Permission denied) (not sent)"}


def test_a_link_to_a_folder_in_a_folder_is_reported_not_followed(tmp_path):
    photos, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    for path in (photos / "a.png", elsewhere / "b.png"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(images.encode(images.photo(64, 48), "PNG"))
    (photos / "linked").symlink_to(elsewhere)

    scanned = plan_for([str(photos)])
    named = plan_for([str(photos / "linked")])

    assert [job.name for job in scanned.jobs] == ["a.png"]
    assert refusals(scanned) == {"linked": batch.LINK_NOT_FOLLOWED}
    assert [job.name for job in named.jobs] == ["b.png"]


def test_manifest_lines_that_are_not_records_are_passed_over(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(images.encode(images.photo(64, 48), "PNG"))
    (photos / batch.MANIFEST_NAME).write_bytes(b'{}\n[1, 2]\n{"key": "deadbeef", "output": 5}\n\xff\n')

    result = plan_for([str(photos)])

    assert [job.name for job in result.jobs] == ["a.png"]


def test_results_recorded_above_their_folder_by_earlier_versions_are_found(tmp_path):
    photos = tmp_path / "photos"
    source = photos / "2024" / "b.png"
    source.parent.mkdir(parents=True)
    source.write_bytes(images.encode(images.photo(64, 48), "PNG"))
    [job] = plan_for([str(photos)]).jobs
    result_bytes = b"RIFF\x0c\x00\x00\x00WEBPVP8 "
    (photos / "2024" / "b.webp").write_bytes(result_bytes)
    # As versions before wrote it: one manifest in the folder named, for the results below it.
    record = {"key": job.key(batch.Options()), "source": job.source, "output": "2024/b.webp", "format": "webp"}
    sizes = {"originalSize": 9, "optimizedSize": len(result_bytes)}
    (photos / batch.MANIFEST_NAME).write_text(json.dumps({**record, **sizes}) + "\n")

    for named in (photos, photos / "2024"):
        result = plan_for([str(named)])

        assert [outcome.label for outcome in result.skipped] == [str(source)]
        assert (result.jobs, result.refused) == ([], [])


def test_a_file_where_a_folder_of_results_goes_fails_its_images_not_the_run(tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "small"
    (photos / "2024").mkdir(parents=True)
    (photos / "2024" / "a.png").write_bytes(images.encode(images.photo(64, 48), "PNG"))
    out.mkdir()
    (out / "2024").write_text("a file where the results of photos/2024 go")

    result = batch.plan([str(photos)], out=out, options=batch.Options(), overwrite=False)

    assert [job.name for job in result.jobs] == ["a.png"]  # to fail when its result is written


def test_a_manifest_that_cannot_be_read_stops_the_run_before_it_starts(tmp_path):
    photos = tmp_path / "photos"
    (photos / batch.MANIFEST_NAME).mkdir(parents=True)  # a folder where the manifest should be
    (photos / "a.png").write_bytes(images.encode(images.photo(64, 48), "PNG"))

    with pytest.raises(batch.CannotStart) as error:
        plan_for([str(photos)])

    assert str(error.value) == f"Cannot read {photos / batch.MANIFEST_NAME}: Is a directory"


def test_a_manifest_above_the_folders_results_go_to_that_cannot_be_read_is_passed_over(tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(images.encode(images.photo(64, 48), "PNG"))
    above = tmp_path.resolve() / batch.MANIFEST_NAME  # as another user's /tmp/.smolpix-manifest.jsonl
    above.write_text("")
    read_text = Path.read_text

    def unreadable_above(path, *args, **kwargs):
        # As the kernel answers anyone but root (who reads every file: the tests may run as root).
        if path == above:
            raise PermissionError(13, "Permission denied", str(path))
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", unreadable_above)

    result = plan_for([str(photos)])

    assert [job.name for job in result.jobs] == ["a.png"]
    assert result.warnings == [
        f"Passed over {above}, which cannot be read (Permission denied): "
        "results recorded there by earlier versions are not seen"
    ]


def test_a_link_in_a_loop_in_a_folder_is_refused_as_a_link_to_nothing_is(folder):
    (folder / "loop.jpg").symlink_to("loop.jpg")

    plan = planned([str(folder)])

    assert [job.name for job in plan.jobs] == ["photo.png"]
    assert "Too many levels of symbolic links" in refusals(plan)["loop.jpg"]
    assert refusals(plan)["gone.jpg"].startswith("FileNotFoundError")


def test_a_url_with_bytes_that_are_not_utf8_is_refused_and_the_rest_planned(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = os.fsdecode(b"https://images.example/\xff.jpg")  # as Python gets it from the command line

    result = plan_for([url, "https://images.example/b.jpg"])

    assert [job.source for job in result.jobs] == ["https://images.example/b.jpg"]
    assert [(outcome.label, outcome.reason) for outcome in result.refused] == [
        ("https://images.example/\\xff.jpg", batch.NOT_TEXT_URL)
    ]


def manifest_line(job: batch.Job, options: batch.Options, output: str, result: bytes) -> str:
    record = {"key": job.key(options), "source": job.source, "output": output, "format": "webp"}
    return json.dumps({**record, "originalSize": 1000, "optimizedSize": len(result)}) + "\n"


@pytest.mark.parametrize("given", [{"quality": 80}, {"max_width": 1920}, {"quality": 80, "max_width": 1920}])
def test_a_result_0_1_0_recorded_for_options_given_as_the_apis_defaults_is_done(tmp_path, given):
    """0.1.0 keyed `--quality 80` as given, 0.1.1 as unset: a run with it after the upgrade sent, and
    charged, every image again (the review, 2026-12-07)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(images.encode(images.photo(64, 48), "PNG"))
    [job] = plan_for([str(photos)]).jobs
    options = batch.Options(**given)
    as_given = [job.source, job.size, job.mtime_ns, options.as_arguments()]
    legacy = hashlib.sha256(json.dumps(as_given, sort_keys=True).encode()).hexdigest()
    (photos / "a.webp").write_bytes(b"its result")
    record = {"key": legacy, "source": job.source, "output": "a.webp", "format": "webp"}
    (photos / batch.MANIFEST_NAME).write_text(json.dumps({**record, "originalSize": 1000, "optimizedSize": 10}) + "\n")

    again = batch.plan([str(photos)], out=None, options=options, overwrite=False)

    assert (again.jobs, [outcome.status for outcome in again.skipped]) == ([], ["skipped"])


def test_a_record_whose_result_never_replaced_an_earlier_one_is_not_taken_as_done(tmp_path):
    """A run killed between appending a record and putting its result in place, where an earlier
    run (other options) had put its own: what is there is not the recorded result."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(images.encode(images.photo(64, 48), "PNG"))
    [job] = plan_for([str(photos)]).jobs
    earlier, killed = batch.Options(quality=80), batch.Options(quality=50)
    (photos / "a.webp").write_bytes(b"the result at quality 80")
    lines = manifest_line(job, earlier, "a.webp", b"the result at quality 80")
    (photos / batch.MANIFEST_NAME).write_text(lines + manifest_line(job, killed, "a.webp", b"its result at 50"))

    again = batch.plan([str(photos)], out=None, options=killed, overwrite=False)

    assert ([job.name for job in again.jobs], again.skipped) == (["a.png"], [])


HAND_MADE_WEBP = b"RIFF\x0c\x00\x00\x00WEBPVP8 "  # a file the user made, named as smolpix names results


def test_another_users_manifest_above_the_run_is_not_trusted(tmp_path, monkeypatch):
    """In /tmp, say: its records would have a source passed over as a result, and a file of the
    user's replaced as if smolpix had written it."""
    shared, photos = tmp_path, tmp_path / "home" / "photos"
    photos.mkdir(parents=True)
    for name in ("cat.png", "dog.png"):
        (photos / name).write_bytes(images.encode(images.photo(64, 48), "PNG"))
    cat = plan_for([str(photos)]).jobs[0]
    (photos / "cat.webp").write_bytes(HAND_MADE_WEBP)
    planted = manifest_line(cat, batch.Options(), "home/photos/cat.webp", HAND_MADE_WEBP)
    planted += manifest_line(cat, batch.Options(), "home/photos/dog.png", b"x")
    (shared / batch.MANIFEST_NAME).write_text(planted)
    monkeypatch.setattr(batch, "_is_another_users", lambda path: path.parent == shared)

    result = plan_for([str(photos)])

    assert {"cat.png", "dog.png"} <= {job.name for job in result.jobs}  # sources, not done nor results
    assert photos / "cat.webp" not in {job.target("webp") for job in result.jobs}  # the user's file stays
    assert result.warnings == [
        f"Passed over {shared / batch.MANIFEST_NAME}, which cannot be read (it is another user's, not trusted): "
        "results recorded there by earlier versions are not seen"
    ]


@pytest.mark.parametrize("output", ["../a.webp", "/etc/a.webp", "2024/../../a.webp"])
def test_a_record_of_an_output_outside_its_manifests_folder_is_passed_over(output):
    line = {"key": "k", "source": "/s.png", "output": output, "format": "webp", "originalSize": 9, "optimizedSize": 4}

    assert batch._record(json.dumps(line)) is None
    assert batch._record(json.dumps({**line, "output": "2024/a.webp"})) is not None


def test_under_out_a_folder_and_its_subfolder_named_together_send_each_image_once(tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "small"
    (photos / "2024").mkdir(parents=True)
    (photos / "2024" / "a.png").write_bytes(images.encode(images.photo(64, 48), "PNG"))

    result = batch.plan([str(photos), str(photos / "2024")], out=out, options=batch.Options(), overwrite=False)

    assert [(job.name, job.out_dir) for job in result.jobs] == [("a.png", out.resolve() / "2024")]


def test_the_clients_copy_of_the_apis_defaults_is_the_apis():
    """The client cannot ask the API for them; a change of the API's would key runs wrongly."""
    options = batch.Options()

    assert {"quality": DEFAULT_OPTIONS.quality, "max_width": DEFAULT_OPTIONS.max_width} == batch.API_DEFAULTS
    assert (options.format, options.smart) == (DEFAULT_OPTIONS.format.value, DEFAULT_OPTIONS.smart)


def test_options_given_as_the_apis_defaults_are_keyed_as_manifests_have_always_keyed_none(tmp_path):
    source = Path("/p/a.png")
    job = batch.Job(label="a.png", source=str(source), path=source, out_dir=tmp_path, name="a.png", size=9, mtime_ns=5)
    # The key 0.1.0 wrote for a run without options: its manifests still count after an upgrade.
    unset = {"format": "auto", "quality": None, "max_width": None, "smart": True}
    written = hashlib.sha256(json.dumps(["/p/a.png", 9, 5, unset], sort_keys=True).encode()).hexdigest()

    assert job.key(batch.Options(format="auto", quality=80, max_width=1920, smart=True)) == written
    assert job.key(batch.Options()) == written
    assert job.key(batch.Options(quality=79)) != written
    assert job.key(batch.Options(max_width=1919)) != written
