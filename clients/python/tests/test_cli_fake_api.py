"""The `smolpix` command, as installed, against the scripted API of fake_api: what it decides around
the optimizations (which files it may replace, what its manifest says, a base URL or --out it cannot
use, a reader that goes away, Ctrl-C while images wait for the rate limit, two runs at once
on one folder, a run killed outright)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_api import IMAGE, Answer

SMOLPIX = str(Path(sys.executable).parent / "smolpix")  # the console script, as pip installed it
KEY = "pk_live_" + "t" * 38


def environment(base_url: str) -> dict[str, str]:
    return {**os.environ, "SMOLPIX_API_KEY": KEY, "SMOLPIX_BASE_URL": base_url, "COLUMNS": "200"}


def smolpix(api, *arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SMOLPIX, *arguments], cwd=cwd, env=environment(api.base_url), capture_output=True, text=True, timeout=60
    )


def parsed(lines: list[str]) -> tuple[dict[str, dict], dict]:
    """The --json lines: each file's by its name, and the summary."""
    objects = [json.loads(line) for line in lines]
    assert "summary" in objects[-1], objects[-1]
    return {line["file"]: line for line in objects[:-1]}, objects[-1]["summary"]


def test_a_result_of_another_source_is_neither_replaced_nor_taken_for_this_one(fake, make_photo, tmp_path):
    api = fake()
    x = make_photo(tmp_path / "x" / "photo.jpg", width=64, height=48).resolve()
    y = make_photo(tmp_path / "y" / "photo.jpg", width=80, height=60).resolve()
    output = (tmp_path / "out" / "photo.webp").resolve()
    options = ["--out", "out", "--format", "webp", "--json"]
    assert smolpix(api, "optimize", "x/photo.jpg", *options, cwd=tmp_path).returncode == 0

    other = smolpix(api, "optimize", "y/photo.jpg", *options, cwd=tmp_path)
    files, _ = parsed(other.stdout.splitlines())

    assert other.returncode == 1
    assert files["y/photo.jpg"]["error"] == f"{output} holds the result of {x} (use --overwrite to replace it)"
    assert len(api.statuses()) == 1  # y was not sent

    assert smolpix(api, "optimize", "y/photo.jpg", *options, "--overwrite", cwd=tmp_path).returncode == 0
    again = smolpix(api, "optimize", "x/photo.jpg", *options, cwd=tmp_path)
    files, _ = parsed(again.stdout.splitlines())

    # Not "skipped": its recorded result was replaced by y's.
    assert files["x/photo.jpg"]["status"] == "failed"
    assert files["x/photo.jpg"]["error"] == f"{output} holds the result of {y} (use --overwrite to replace it)"


def test_beside_its_source_a_result_of_another_source_is_not_replaced(fake, make_photo, tmp_path):
    api = fake()
    jpeg = make_photo(tmp_path / "d" / "a.jpg", width=64, height=48).resolve()
    make_photo(tmp_path / "d" / "a.png", width=64, height=48)
    assert smolpix(api, "optimize", "d/a.jpg", "--format", "webp", cwd=tmp_path).returncode == 0

    run = smolpix(api, "optimize", "d/a.png", "--format", "webp", "--json", cwd=tmp_path)
    files, _ = parsed(run.stdout.splitlines())

    assert run.returncode == 1
    assert (
        files["d/a.png"]["error"]
        == f"{jpeg.with_suffix('.webp')} holds the result of {jpeg} (use --overwrite to replace it)"
    )


@pytest.mark.parametrize("first, second", [("photos", "photos/2024"), ("photos/2024", "photos")])
def test_a_folder_and_its_subfolder_find_each_others_results(first, second, fake, make_photo, tmp_path):
    api = fake()
    make_photo(tmp_path / "photos" / "a.jpg", width=64, height=48)
    make_photo(tmp_path / "photos" / "2024" / "b.jpg", width=64, height=48)
    options = ["--format", "webp", "--json"]
    assert smolpix(api, "optimize", first, *options, cwd=tmp_path).returncode == 0

    run = smolpix(api, "optimize", second, *options, cwd=tmp_path)
    files, _ = parsed(run.stdout.splitlines())

    assert run.returncode == 0, run.stdout
    # b is not sent again, and its result is not taken for a new source.
    assert files["photos/2024/b.jpg"]["status"] == "skipped"
    assert "photos/2024/b.webp" not in files
    assert len(api.statuses()) == 2  # a and b, once each


def test_under_out_a_subfolder_named_has_its_results_in_another_place(fake, make_photo, tmp_path):
    api = fake()
    make_photo(tmp_path / "photos" / "2024" / "b.jpg", width=64, height=48)
    options = ["--out", "small", "--format", "webp", "--json"]
    assert smolpix(api, "optimize", "photos", *options, cwd=tmp_path).returncode == 0

    run = smolpix(api, "optimize", "photos/2024", *options, cwd=tmp_path)
    files, _ = parsed(run.stdout.splitlines())

    # small/2024/b.webp is not small/b.webp, where this run was asked to put b's result.
    assert run.returncode == 0, run.stdout
    assert (files["photos/2024/b.jpg"]["status"], files["photos/2024/b.jpg"]["output"]) == ("done", "small/b.webp")
    assert (tmp_path / "small" / "2024" / "b.webp").read_bytes() == IMAGE


def test_options_given_as_the_apis_defaults_are_the_same_options_as_none(fake, make_photo, tmp_path):
    """`--quality 80 --max-width 1920` sent (and charged) every image again, and a run without them
    after it, a third time."""
    api = fake()
    for name in ("a.jpg", "b.jpg", "c.png"):
        make_photo(tmp_path / "nest" / name, width=64, height=48)
    assert smolpix(api, "optimize", "nest", "--out", "nest/small", cwd=tmp_path).returncode == 0

    for options in (["--quality", "80", "--max-width", "1920"], ["--format", "auto"], []):
        run = smolpix(api, "optimize", "nest", "--out", "nest/small", *options, "--json", cwd=tmp_path)
        _, summary = parsed(run.stdout.splitlines())

        assert run.returncode == 0, run.stdout
        assert (summary["done"], summary["skipped"]) == (0, 3), options
    assert len(api.statuses()) == 3  # each image once


def test_a_torn_last_line_of_the_manifest_is_ended_not_written_onto(fake, make_photo, tmp_path):
    api = fake()
    make_photo(tmp_path / "t" / "a.jpg", width=64, height=48)
    make_photo(tmp_path / "t" / "b.jpg", width=64, height=48)
    assert smolpix(api, "optimize", "t/a.jpg", "--out", "t-out", cwd=tmp_path).returncode == 0
    with (tmp_path / "t-out" / ".smolpix-manifest.jsonl").open("a") as manifest:
        manifest.write('{"key": "deadbeef", "sour')  # a run killed while writing its line
    command = ["optimize", "t", "--out", "t-out", "--concurrency", "1", "--json"]

    second = smolpix(api, *command, cwd=tmp_path)
    third = smolpix(api, *command, cwd=tmp_path)

    assert second.returncode == 0, second.stdout
    files, _ = parsed(third.stdout.splitlines())
    assert third.returncode == 0, third.stdout
    assert {name: line["status"] for name, line in files.items()} == {"t/a.jpg": "skipped", "t/b.jpg": "skipped"}


@pytest.mark.parametrize(
    ("answer", "options", "error"),
    [
        (
            {"X-Smolpix-Format": "png"},
            [],
            "200: The answer from 127.0.0.1 is not the Smolpix API's: is the base URL right?",
        ),
        (
            {"X-Smolpix-Format": "avif", "Content-Type": "image/avif"},
            ["--format", "webp"],
            "the API returned AVIF, not the WEBP asked for (not written)",
        ),
    ],
    ids=["a format the API does not return", "a format not asked for"],
)
def test_a_result_in_a_format_not_asked_for_is_not_written(answer, options, error, fake, make_photo, tmp_path):
    """Its output's name was not checked: a.png's PNG result replaced its source without --overwrite."""
    api = fake([Answer(200, None, answer)])
    source = make_photo(tmp_path / "d" / "a.png", width=64, height=48)
    before = source.read_bytes()

    run = smolpix(api, "optimize", "d", *options, "--json", cwd=tmp_path)
    files, _ = parsed(run.stdout.splitlines())

    assert run.returncode == 1, run.stderr
    assert files["d/a.png"]["error"] == error
    assert source.read_bytes() == before
    assert sorted(path.name for path in (tmp_path / "d").iterdir()) == ["a.png"]


def test_an_answer_that_cannot_be_read_fails_its_image_and_the_run_goes_on(fake, photos, tmp_path):
    """httpx's DecodingError (a body that is not the gzip its Content-Encoding says) crashed the run."""
    api = fake([Answer(200, None, {"Content-Encoding": "gzip"})])
    photos(3)

    run = smolpix(api, "optimize", "photos", "--out", "small", "--concurrency", "1", "--json", cwd=tmp_path)
    files, summary = parsed(run.stdout.splitlines())

    assert (run.returncode, run.stderr) == (1, "")
    assert (summary["done"], summary["failed"]) == (2, 1)
    [failure] = [line["error"] for line in files.values() if line["status"] == "failed"]
    assert failure.startswith("Could not read the answer from 127.0.0.1: DecodingError")


@pytest.mark.parametrize("base_url", ["http://localhost:80000", "http://[::1", "127.0.0.1:8792"])
@pytest.mark.parametrize("command", [["optimize", "photo.jpg", "--out", "out"], ["usage"]])
def test_a_base_url_that_is_not_one_is_a_usage_error_said_at_once(base_url, command, make_photo, tmp_path):
    make_photo(tmp_path / "photo.jpg", width=64, height=48)

    run = subprocess.run(
        [SMOLPIX, *command, "--base-url", base_url],
        cwd=tmp_path,
        env=environment("https://smolpix.co"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode == 2
    assert run.stderr == (
        f"Not a base URL: {base_url!r} (an http:// or https:// address such as https://smolpix.co, "
        "with a port up to 65535)\n"
    )
    assert not (tmp_path / "out").exists()


def test_out_naming_a_file_is_a_usage_error_before_anything_is_sent(fake, make_photo, tmp_path):
    api = fake()
    make_photo(tmp_path / "photos" / "a.jpg", width=64, height=48)
    (tmp_path / "small").write_text("a file, not a folder")

    run = smolpix(api, "optimize", "photos", "--out", "small", cwd=tmp_path)

    assert (run.returncode, run.stdout, run.stderr) == (2, "", "--out small: exists and is not a folder\n")
    assert api.statuses() == []


@pytest.mark.parametrize("display", [["--json"], []], ids=["json", "rich"])
def test_when_the_reader_goes_away_the_command_stops_quietly(display, fake, photos, tmp_path):
    """rich's way, SystemExit(1) in the run's tasks, printed their tracebacks and did not write the
    results in flight."""
    api = fake()
    photos(6)
    command = [SMOLPIX, "optimize", "photos", "--out", "small", "--concurrency", "1", *display]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=environment(api.base_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )

    process.stdout.close()  # as `| head -0` does: no reader for the first line
    errors = process.stderr.read()
    process.wait(timeout=60)

    assert (process.returncode, errors) == (130, b"")  # stopped as by Ctrl-C, without a traceback
    # The image in flight was finished and recorded; no other was started.
    records = (tmp_path / "small" / ".smolpix-manifest.jsonl").read_text().splitlines()
    assert len(records) == len(api.statuses()) == 1


def test_ctrl_c_stops_the_images_waiting_for_the_rate_limit_without_sending_them(fake, photos, tmp_path):
    # The first answer spends the minute's requests: the other images wait for the next minute.
    spent = {"X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 60)}
    api = fake([Answer(200, None, spent)])
    photos(4)
    command = [SMOLPIX, "optimize", "photos", "--out", "small", "--concurrency", "2", "--json"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=environment(api.base_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        first = process.stdout.readline()
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=10)  # not the minute the others were waiting for
    finally:
        process.kill()
    _, summary = parsed([first, *rest.splitlines()])

    assert process.returncode == 130, errors
    assert (summary["done"], summary["failed"], summary["notStarted"]) == (1, 0, 3)
    assert api.statuses() == [200]


def test_after_an_account_error_the_images_waiting_to_be_sent_are_not(fake, photos, tmp_path):
    # Until the first answer tells the rate limit, one request goes at a time: the others wait.
    api = fake([Answer(401, {"error": "Missing or invalid API key", "code": "UNAUTHORIZED"})] * 10)
    photos(10)

    run = smolpix(api, "optimize", "photos", "--out", "small", "--concurrency", "4", "--json", cwd=tmp_path)
    files, summary = parsed(run.stdout.splitlines())

    assert run.returncode == 1, run.stderr
    assert api.statuses() == [401]
    error = "401 UNAUTHORIZED: Missing or invalid API key"
    assert sorted(line["error"] for line in files.values()) == [error] + [f"not sent: {error}"] * 9
    assert (summary["failed"], summary["notStarted"]) == (10, 0)


@pytest.mark.parametrize("out", ["small/sub", "/proc/smolpix-test"])
def test_an_out_that_cannot_be_made_is_a_usage_error_before_anything_is_sent(out, fake, make_photo, tmp_path):
    if out.startswith("/proc") and not Path("/proc/self").is_dir():
        pytest.skip("a Linux file system where no folder can be made")
    api = fake()
    make_photo(tmp_path / "photos" / "a.jpg", width=64, height=48)
    (tmp_path / "small").write_text("a file, not a folder")

    run = smolpix(api, "optimize", "photos", "--out", out, "--json", cwd=tmp_path)

    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr.startswith(f"--out {out}: cannot be written ("), run.stderr
    assert api.statuses() == []


def test_a_source_whose_name_is_near_the_longest_gets_its_result(fake, make_photo, tmp_path):
    api = fake()
    stem = "a" * 246  # a.jpg in 250 bytes, its result in 251: the file systems' limit is 255
    make_photo(tmp_path / "photos" / f"{stem}.jpg", width=64, height=48)

    run = smolpix(api, "optimize", "photos", "--format", "webp", "--json", cwd=tmp_path)

    assert run.returncode == 0, run.stdout
    assert (tmp_path / "photos" / f"{stem}.webp").read_bytes() == IMAGE
    assert not list((tmp_path / "photos").glob(".smolpix-partial-*"))


def test_urls_whose_last_segment_cannot_name_a_file_are_optimized_all_the_same(fake, tmp_path):
    api = fake()
    long = "http://images.example/" + "b" * 300 + ".jpg"
    nul = "http://images.example/a%00b%2Fc.jpg"

    run = smolpix(api, "optimize", long, nul, "--format", "webp", "--json", cwd=tmp_path)
    files, summary = parsed(run.stdout.splitlines())

    assert run.returncode == 0, run.stdout
    assert summary["done"] == 2
    assert (tmp_path / files[nul]["output"]).read_bytes() == IMAGE
    assert files[nul]["output"] == "a_b_c.webp"  # shown from the current folder
    output = tmp_path / files[long]["output"]
    assert output.read_bytes() == IMAGE
    assert output.name.startswith("b" * 100) and len(output.name) <= 255


def test_a_link_named_on_the_command_line_gets_its_result_beside_the_link(fake, make_photo, tmp_path):
    api = fake()
    make_photo(tmp_path / "single.jpg", width=64, height=48)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "link.jpg").symlink_to("../single.jpg")
    command = ["optimize", "photos/link.jpg", "--format", "webp", "--json"]

    first = smolpix(api, *command, cwd=tmp_path)
    second = smolpix(api, *command, cwd=tmp_path)

    assert first.returncode == 0, first.stdout
    assert (tmp_path / "photos" / "link.webp").read_bytes() == IMAGE
    assert not (tmp_path / "link.webp").exists()
    assert (tmp_path / "photos" / ".smolpix-manifest.jsonl").exists()
    assert not (tmp_path / ".smolpix-manifest.jsonl").exists()
    files, _ = parsed(second.stdout.splitlines())
    assert files["photos/link.jpg"]["status"] == "skipped"


def test_an_output_that_could_not_be_put_in_place_is_not_taken_as_done(fake, make_photo, tmp_path):
    api = fake()
    make_photo(tmp_path / "dirt" / "a.jpg", width=64, height=48)
    (tmp_path / "dirt" / "a.webp").mkdir()  # a folder where the result goes
    command = ["optimize", "dirt/a.jpg", "--format", "webp", "--json"]

    first = smolpix(api, *command, "--overwrite", cwd=tmp_path)
    second = smolpix(api, *command, "--overwrite", cwd=tmp_path)
    third = smolpix(api, *command, cwd=tmp_path)

    for run in (first, second):
        files, _ = parsed(run.stdout.splitlines())
        assert run.returncode == 1, run.stdout
        assert files["dirt/a.jpg"]["status"] == "failed"  # not "skipped": its record has no result
        assert files["dirt/a.jpg"]["error"].startswith("IsADirectoryError")
    assert not list((tmp_path / "dirt").glob(".smolpix-partial-*"))
    # Without --overwrite, the folder in the way is refused before anything is sent.
    files, _ = parsed(third.stdout.splitlines())
    output = (tmp_path / "dirt" / "a.webp").resolve()
    assert (
        files["dirt/a.jpg"]["error"]
        == f"{output} exists and was not written by smolpix (use --overwrite to replace it)"
    )
    assert len(api.statuses()) == 2


def test_a_source_whose_result_name_would_be_too_long_is_refused_without_being_sent(fake, make_photo, tmp_path):
    api = fake()
    name = "a" * 251 + ".jpg"  # 255 bytes, the longest: its result, a.webp, would be 256
    make_photo(tmp_path / "photos" / name, width=64, height=48)

    for overwrite in ([], ["--overwrite"]):
        run = smolpix(api, "optimize", f"photos/{name}", "--format", "webp", "--json", *overwrite, cwd=tmp_path)
        files, _ = parsed(run.stdout.splitlines())

        assert (run.returncode, run.stderr) == (1, "")
        assert files[f"photos/{name}"]["error"] == "the WEBP result's name would be longer than 255 bytes (not sent)"
    assert api.statuses() == []


def test_a_manifest_above_the_run_that_cannot_be_read_is_said_on_stderr_not_in_the_json(fake, make_photo, tmp_path):
    api = fake()
    make_photo(tmp_path / "photos" / "a.jpg", width=64, height=48)
    (tmp_path / ".smolpix-manifest.jsonl").mkdir()  # read by no one: a folder in its place

    run = smolpix(api, "optimize", "photos", "--format", "webp", "--json", cwd=tmp_path)
    files, _ = parsed(run.stdout.splitlines())

    assert run.returncode == 0, run.stderr
    assert files["photos/a.jpg"]["status"] == "done"
    assert run.stderr == (
        f"Passed over {tmp_path.resolve() / '.smolpix-manifest.jsonl'}, which cannot be read (Is a directory): "
        "results recorded there by earlier versions are not seen\n"
    )


def test_a_link_and_its_target_named_together_each_get_their_result(fake, make_photo, tmp_path):
    api = fake()
    make_photo(tmp_path / "photos" / "a.png", width=64, height=48)
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "hero.png").symlink_to("../photos/a.png")
    command = ["optimize", "photos/a.png", "web/hero.png", "photos", "--format", "webp", "--json"]

    first = smolpix(api, *command, cwd=tmp_path)
    second = smolpix(api, *command, cwd=tmp_path)

    files, summary = parsed(first.stdout.splitlines())
    assert first.returncode == 0, first.stdout
    assert {name: line["output"] for name, line in files.items()} == {
        "photos/a.png": "photos/a.webp",  # once, though named twice
        "web/hero.png": "web/hero.webp",
    }
    assert summary["files"] == 2
    assert (tmp_path / "web" / "hero.webp").read_bytes() == IMAGE
    files, _ = parsed(second.stdout.splitlines())
    assert {name: line["status"] for name, line in files.items()} == {
        "photos/a.png": "skipped",
        "web/hero.png": "skipped",
    }
    assert len(api.statuses()) == 2


def manifest_lines(folder: Path) -> int:
    return sum(len(manifest.read_text().splitlines()) for manifest in folder.rglob(".smolpix-manifest.jsonl"))


def test_two_runs_at_once_on_one_folder_send_each_image_once(fake, photos, tmp_path):
    # The first answer spends the requests for 10 s: the first run waits that long to send the rest, long
    # enough for the second to start, however slow the machine.
    spent = {"X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 10)}
    api = fake([Answer(200, None, spent)])
    photos(4)  # in photos, photos/holiday and photos/holiday/beach
    small = (tmp_path / "small").resolve()
    command = [SMOLPIX, "optimize", "photos", "--out", "small", "--format", "webp", "--concurrency", "1", "--json"]
    first = subprocess.Popen(
        command, cwd=tmp_path, env=environment(api.base_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        done_first = json.loads(first.stdout.readline())
        second = subprocess.run(command, cwd=tmp_path, env=environment(api.base_url), capture_output=True, text=True)
        rest, errors = first.communicate(timeout=30)
    finally:
        first.kill()
    files, summary = parsed(second.stdout.splitlines())
    _, first_summary = parsed([json.dumps(done_first), *rest.splitlines()])

    assert (first.returncode, first_summary["done"]) == (0, 4), errors
    assert second.returncode == 1, second.stderr
    assert files.pop(done_first["file"])["status"] == "skipped"
    # Not waited for: the second run ends while the first waits to send the rest.
    assert {name: line["error"] for name, line in files.items()} == {
        "photos/photo-03.jpg": f"another smolpix run is writing results to {small} (not sent)",
        "photos/holiday/photo-01.jpg": f"another smolpix run is writing results to {small / 'holiday'} (not sent)",
        "photos/holiday/beach/photo-02.jpg": (
            f"another smolpix run is writing results to {small / 'holiday' / 'beach'} (not sent)"
        ),
    }
    assert (summary["skipped"], summary["failed"]) == (1, 3)
    assert len(api.statuses()) == manifest_lines(small) == 4


def test_a_killed_runs_folders_are_free_for_the_next_run(fake, photos, tmp_path):
    # The first answer spends the minute's requests: the other images wait for the next minute.
    spent = {"X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 60)}
    api = fake([Answer(200, None, spent)])
    photos(4)
    command = ["optimize", "photos", "--out", "small", "--format", "webp", "--concurrency", "1", "--json"]
    first = subprocess.Popen(
        [SMOLPIX, *command], cwd=tmp_path, env=environment(api.base_url), stdout=subprocess.PIPE, text=True
    )
    try:
        first.stdout.readline()
        while_it_waits = smolpix(api, *command, cwd=tmp_path)
        first.kill()  # SIGKILL: nothing of the run's own unlocks its folders
        first.wait(timeout=10)
    finally:
        first.kill()
        first.stdout.close()
    after = smolpix(api, *command, cwd=tmp_path)
    _, held = parsed(while_it_waits.stdout.splitlines())
    _, summary = parsed(after.stdout.splitlines())

    assert (while_it_waits.returncode, held["skipped"], held["failed"]) == (1, 1, 3)
    assert (after.returncode, summary["skipped"], summary["done"]) == (0, 1, 3), after.stderr
    assert len(api.statuses()) == 4


def test_a_run_into_more_folders_than_macos_lets_a_process_open_files_by_default(fake, make_photo, tmp_path):
    """Each folder results go to holds two open files for the whole run (its lock and its manifest):
    the limit of 256 a process starts with on macOS is raised as far as the hard limit allows."""
    resource = pytest.importorskip("resource")
    folders = 150
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 2 * folders + 256:
        pytest.skip("a hard limit on open files too low to raise the soft one past 256")
    api = fake()
    image = make_photo(tmp_path / "photo.png", width=64, height=48).read_bytes()
    for index in range(folders):
        (tmp_path / "photos" / f"{index:03d}").mkdir(parents=True)
        (tmp_path / "photos" / f"{index:03d}" / "a.png").write_bytes(image)

    def as_on_macos() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    run = subprocess.run(
        [SMOLPIX, "optimize", "photos", "--format", "webp", "--json"],
        cwd=tmp_path,
        env=environment(api.base_url),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=as_on_macos,
    )
    _, summary = parsed(run.stdout.splitlines())

    assert (run.returncode, summary["done"]) == (0, folders), run.stderr
    assert len(api.statuses()) == folders


def test_control_characters_in_file_names_are_shown_escaped(fake, make_photo, tmp_path):
    """An ESC sequence in a file name coloured the terminal; a newline split the name's line."""
    api = fake()
    make_photo(tmp_path / "photos" / "red\x1b[31m.jpg", width=64, height=48)
    (tmp_path / "photos" / "two\nlines.jpg").write_text("named like an image, but not one")

    run = smolpix(api, "optimize", "photos", "--format", "webp", cwd=tmp_path)
    lines = run.stdout.splitlines()

    assert run.returncode == 1, run.stderr
    assert "\x1b" not in run.stdout
    assert any(line.startswith(r"✓ photos/red\x1b[31m.jpg → photos/red\x1b[31m.webp  ") for line in lines)
    assert r"✗ photos/two\nlines.jpg: not an image" in lines[0]
    [row] = [line for line in lines if "photos/two" in line and "│" in line]  # in the failures table
    assert r"photos/two\nlines.jpg" in row


def test_after_a_double_dash_arguments_are_paths_even_those_that_start_with_a_dash(fake, make_photo, tmp_path):
    api = fake()
    make_photo(tmp_path / "-dash.jpg", width=64, height=48)
    make_photo(tmp_path / "plain.jpg", width=64, height=48)

    alone = smolpix(api, "optimize", "--format", "webp", "--json", "--", "-dash.jpg", cwd=tmp_path)
    after_others = smolpix(
        api, "optimize", "plain.jpg", "--format", "webp", "--json", "--", "-dash.jpg", "--overwrite", cwd=tmp_path
    )
    none = smolpix(api, "optimize", "--json", "--", cwd=tmp_path)

    files, _ = parsed(alone.stdout.splitlines())
    assert (alone.returncode, files["-dash.jpg"]["output"]) == (0, "-dash.webp"), alone.stderr
    files, _ = parsed(after_others.stdout.splitlines())
    assert after_others.returncode == 1  # "--overwrite", a path after "--", is no file
    assert (files["plain.jpg"]["status"], files["-dash.jpg"]["status"]) == ("done", "skipped")
    assert files["--overwrite"]["error"] == "no such file or folder"
    assert none.returncode == 2
    assert none.stderr.endswith("smolpix optimize: error: the following arguments are required: PATH\n")
