"""The `smolpix` command, as installed, against the real site: folders at concurrency 4, an
interrupted run resumed, failures reported, sources never replaced, and `smolpix usage`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image
from rich.filesize import decimal

from optimizer.tests import images
from smolpix_client import Client

pytestmark = pytest.mark.slow  # starts the site

SMOLPIX = str(Path(sys.executable).parent / "smolpix")  # the console script, as pip installed it


def environment(site, key: str) -> dict[str, str]:
    # A wide terminal, so that the summary table is not wrapped.
    return {**os.environ, "SMOLPIX_API_KEY": key, "SMOLPIX_BASE_URL": site.base_url, "COLUMNS": "200"}


def smolpix(site, key: str, *arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SMOLPIX, *arguments], cwd=cwd, env=environment(site, key), capture_output=True, text=True, timeout=180
    )


def parsed(lines: list[str]) -> tuple[dict[str, dict], dict]:
    """The --json lines: each file's by its name, and the summary."""
    objects = [json.loads(line) for line in lines]
    assert "summary" in objects[-1], objects[-1]
    return {line["file"]: line for line in objects[:-1]}, objects[-1]["summary"]


def used_this_month(site, key: str) -> int:
    with Client(api_key=key, base_url=site.base_url) as client:
        return client.usage().used


def test_a_folder_of_20_images_at_concurrency_4(site, photos, tmp_path):
    key = site.api_key("cli-folder@example.com")
    folder = photos(20)

    run = smolpix(site, key, "optimize", "photos", "--out", "small", "--concurrency", "4", cwd=tmp_path)

    assert run.returncode == 0, run.stdout + run.stderr
    sources = sorted(path for path in folder.rglob("*") if path.is_file())
    before = after = 0
    for source in sources:
        relative = source.relative_to(folder)
        [output] = (tmp_path / "small" / relative.parent).glob(f"{source.stem}.*")
        with Image.open(output) as image, Image.open(source) as original:
            image.load()
            assert output.suffix == f".{image.format.lower()}" and output.suffix in (".webp", ".avif")
            assert image.size == original.size
        assert output.stat().st_size < source.stat().st_size
        assert f"✓ photos/{relative} → small/{relative.parent / output.name}".replace("/./", "/") in run.stdout
        before += source.stat().st_size
        after += output.stat().st_size
    assert len(sources) == 20
    # The summary: 20 files, 20 done, none skipped or failed, the bytes before and after.
    row = rf"│\s+20 │\s+20 │\s+0 │\s+0 │\s+{re.escape(decimal(before))} → {re.escape(decimal(after))} │"
    assert re.search(row, run.stdout), run.stdout
    assert used_this_month(site, key) == 20
    assert not list((tmp_path / "small").rglob(".smolpix-partial-*"))


def optimized_images(folder):
    """The outputs in `folder`: WebP or AVIF, whichever `auto` found smaller for each image."""
    return [path for path in folder.rglob("*") if path.suffix in (".webp", ".avif")]


def test_an_interrupted_run_resumes_without_doing_any_image_twice(site, photos, tmp_path):
    key = site.api_key("cli-resume@example.com")
    photos(20)
    command = [SMOLPIX, "optimize", "photos", "--out", "small", "--concurrency", "2", "--json"]

    first = subprocess.Popen(
        command, cwd=tmp_path, env=environment(site, key), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines = []
    for line in first.stdout:
        lines.append(line)
        if len(lines) == 3:
            first.send_signal(signal.SIGINT)  # Ctrl-C
            break
    rest, errors = first.communicate(timeout=60)
    files, summary = parsed(lines + rest.splitlines())

    assert first.returncode == 130, errors
    assert summary["interrupted"] is True
    done = {name for name, line in files.items() if line["status"] == "done"}
    assert 3 <= len(done) < 20 and summary["failed"] == 0
    assert summary["notStarted"] == 20 - len(done)

    second = smolpix(site, key, *command[1:], cwd=tmp_path)
    files, summary = parsed(second.stdout.splitlines())

    assert second.returncode == 0, second.stderr
    assert {name for name, line in files.items() if line["status"] == "skipped"} == done
    assert summary["done"] == 20 - len(done) and summary["skipped"] == len(done)
    assert used_this_month(site, key) == 20  # the server optimized each image once
    assert len(optimized_images(tmp_path / "small")) == 20
    # Each result recorded once, in the folder it is in.
    manifests = (tmp_path / "small").rglob(".smolpix-manifest.jsonl")
    assert sum(len(manifest.read_text().splitlines()) for manifest in manifests) == 20


def test_a_run_killed_outright_leaves_no_half_file_and_redoes_at_most_those_in_flight(site, photos, tmp_path):
    key = site.api_key("cli-killed@example.com")
    photos(20)
    command = [SMOLPIX, "optimize", "photos", "--out", "small", "--concurrency", "2", "--json"]

    first = subprocess.Popen(command, cwd=tmp_path, env=environment(site, key), stdout=subprocess.PIPE, text=True)
    for count, _ in enumerate(first.stdout, start=1):
        if count == 3:
            first.kill()  # SIGKILL: nothing is finished nor recorded
            break
    first.wait(timeout=60)
    first.stdout.close()
    second = smolpix(site, key, *command[1:], cwd=tmp_path)
    _, summary = parsed(second.stdout.splitlines())

    assert second.returncode == 0, second.stderr
    assert summary["skipped"] >= 3 and summary["skipped"] + summary["done"] == 20
    outputs = optimized_images(tmp_path / "small")
    assert len(outputs) == 20
    for output in outputs:
        with Image.open(output) as image:
            image.load()  # whole, never half-written
    assert not list((tmp_path / "small").rglob(".smolpix-partial-*"))
    # Only the images in flight when it was killed (at most the concurrency) were optimized again.
    assert 20 <= used_this_month(site, key) <= 22


def test_failures_are_reported_and_the_rest_is_done(site, photos, tmp_path):
    key = site.api_key("cli-failures@example.com")
    folder = photos(4)
    (folder / "notes.txt").write_text("not an image, and not named like one: passed over")
    (folder / "broken.jpg").write_text("named like an image, but not one")
    logo = site.origin.serve("/cli/logo.png", images.encode(images.graphic(), "PNG"))

    malformed = "http://[::1/logo.png"  # an unclosed IPv6 bracket: urllib.parse raises on it
    arguments = ["photos", site.unreachable_url, malformed, logo]
    run = smolpix(site, key, "optimize", *arguments, "--out", "small", "--json", cwd=tmp_path)
    files, summary = parsed(run.stdout.splitlines())

    assert run.returncode == 1
    assert files["photos/broken.jpg"]["status"] == "failed"
    assert files["photos/broken.jpg"]["error"].startswith("not an image")
    assert files[site.unreachable_url]["status"] == "failed"
    assert files[site.unreachable_url]["error"].startswith("400 FETCH_FAILED: url:")
    assert files[malformed]["status"] == "failed"
    assert files[malformed]["error"].startswith("400 INVALID_URL: url:")
    assert files[logo]["status"] == "done" and files[logo]["output"] == "small/logo.webp"
    assert "photos/notes.txt" not in files
    assert [name for name, line in files.items() if line["status"] == "done"] != []
    assert (summary["files"], summary["done"], summary["failed"], summary["ignored"]) == (8, 5, 3, 1)
    assert summary["originalSize"] == sum(line["originalSize"] for line in files.values())
    assert summary["optimizedSize"] == sum(line["optimizedSize"] for line in files.values())
    assert used_this_month(site, key) == 5


def test_once_the_monthly_quota_is_reached_nothing_more_is_sent(site, photos, tmp_path):
    key = site.api_key("cli-quota@example.com", monthly_limit=2)
    photos(4)

    run = smolpix(site, key, "optimize", "photos", "--out", "small", "--concurrency", "1", "--json", cwd=tmp_path)
    files, summary = parsed(run.stdout.splitlines())

    assert run.returncode == 1
    reasons = [line["error"] for line in files.values() if line["status"] == "failed"]
    assert reasons == [
        "429 LIMIT_REACHED: Monthly image limit reached",
        "not sent: 429 LIMIT_REACHED: Monthly image limit reached",
    ]
    assert summary["done"] == 2


def test_without_out_results_go_beside_their_sources_which_are_never_replaced(site, make_photo, tmp_path):
    key = site.api_key("cli-beside@example.com")
    shop = tmp_path / "shop"
    for name in ("shoe.jpg", "shoe.png", "hat.jpg"):
        make_photo(shop / name, width=120, height=90)
    Image.open(shop / "hat.jpg").save(shop / "bag.webp", quality=90)
    originals = {path: path.read_bytes() for path in shop.iterdir()}

    run = smolpix(site, key, "optimize", "shop", "--format", "webp", "--json", cwd=tmp_path)
    files, _ = parsed(run.stdout.splitlines())

    assert run.returncode == 1
    # Two sources named "shoe": each result keeps its source's extension in its name.
    assert {name: line["output"] for name, line in files.items() if line["status"] == "done"} == {
        "shop/hat.jpg": "shop/hat.webp",
        "shop/shoe.jpg": "shop/shoe.jpg.webp",
        "shop/shoe.png": "shop/shoe.png.webp",
    }
    assert "would replace the source" in files["shop/bag.webp"]["error"]
    assert all(path.read_bytes() == data for path, data in originals.items())

    again = smolpix(site, key, "optimize", "shop", "--format", "webp", "--json", cwd=tmp_path)
    files, summary = parsed(again.stdout.splitlines())

    # Its own results are not taken for new sources.
    assert sorted(files) == ["shop/bag.webp", "shop/hat.jpg", "shop/shoe.jpg", "shop/shoe.png"]
    assert (summary["skipped"], summary["failed"]) == (3, 1)

    replaced = smolpix(site, key, "optimize", "shop", "--format", "webp", "--overwrite", "--json", cwd=tmp_path)
    files, summary = parsed(replaced.stdout.splitlines())

    assert replaced.returncode == 0
    assert files["shop/bag.webp"]["status"] == "done" and files["shop/bag.webp"]["output"] == "shop/bag.webp"
    with Image.open(shop / "bag.webp") as image:
        assert image.format == "WEBP"
    assert used_this_month(site, key) == 4


def test_usage_shows_the_months_use_and_limits(site, tmp_path):
    key = site.api_key("cli-usage@example.com", monthly_limit=500)

    shown = smolpix(site, key, "usage", cwd=tmp_path)
    as_json = smolpix(site, key, "usage", "--json", cwd=tmp_path)

    assert shown.returncode == 0
    assert "0 of 500 images" in shown.stdout and "500 left" in shown.stdout
    assert "60 requests a minute" in shown.stdout
    answer = httpx.get(f"{site.base_url}/api/v1/usage", headers={"Authorization": f"Bearer {key}"}).json()
    assert json.loads(as_json.stdout) == answer  # the API's own names and values


def test_a_wrong_key_is_said_once_on_stderr(site, tmp_path):
    run = smolpix(site, "pk_live_" + "b" * 38, "usage", cwd=tmp_path)

    assert run.returncode == 1
    assert (run.stdout, run.stderr.strip()) == ("", "401 UNAUTHORIZED: Missing or invalid API key")


def test_without_a_key_it_says_where_to_put_one(tmp_path):
    environment = {name: value for name, value in os.environ.items() if name != "SMOLPIX_API_KEY"}

    run = subprocess.run(
        [SMOLPIX, "optimize", "photos"], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60
    )

    assert run.returncode == 2
    assert "No API key: give one (api_key=..., or smolpix --api-key) or set SMOLPIX_API_KEY." in run.stderr
