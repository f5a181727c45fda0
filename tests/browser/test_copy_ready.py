"""The commands a customer copies from the site run as pasted: the new-key panel's, with the key in
them, and every code example of the docs, with the key exported as the panel says, against this
site (the live server) with a fresh key."""

import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from accounts.tests.factories import AccountFactory
from tests.browser.steps import create_key, sign_in

# The live server reads committed data: these tests use a transactional database. Its Celery tasks
# run in this process (eager_tasks).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_tasks")]

PHOTO = Path(settings.BASE_DIR) / "static" / "img" / "examples" / "landscape.jpg"
# Each language's tab, and how its examples are run (as the tab tells the reader to).
RUNNERS = {
    "curl": ("cURL", "run.sh", ["bash", "run.sh"]),
    "python": ("Python", "run.py", [sys.executable, "run.py"]),
    "js": ("Node.js", "optimize.mjs", ["node", "optimize.mjs"]),
    "php": ("PHP", "optimize.php", ["php", "optimize.php"]),
}


@pytest.fixture
def site_fetches_itself(settings, live_server):
    """The URL examples optimize the site's own sample photograph: let this (loopback) site fetch it."""
    settings.OPTIMIZER_ALLOW_PRIVATE_NETWORKS = True
    settings.OPTIMIZER_ALLOWED_PORTS = [urlsplit(live_server.url).port]


def copy(page, button) -> str:
    """What a click on a Copy button puts on the clipboard."""
    button.click()
    return page.evaluate("navigator.clipboard.readText()")


def run(command: list[str], folder: Path, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=folder, env={"PATH": "/usr/bin:/bin", **environment}, capture_output=True, text=True, timeout=120
    )


def assert_one_optimized_image(folder: Path) -> None:
    """The folder holds one result, named after the format it is in."""
    [result] = folder.glob("optimized.*")
    data = result.read_bytes()
    kind = "webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else "avif" if data[4:12] == b"ftypavif" else None
    assert result.suffix == f".{kind}", (result, data[:16])
    assert len(data) < PHOTO.stat().st_size


def folder_with_a_photo(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(PHOTO, folder / "photo.jpg")
    return folder


@pytest.fixture
def clipboard_page(page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    return page


def test_the_new_key_panel_commands_run_as_pasted(clipboard_page, tmp_path):
    page = clipboard_page
    sign_in(page, AccountFactory(pro=True))
    key = create_key(page, "Laptop")
    panel = page.get_by_role("region", name="Your new key “Laptop”")
    export_button, curl_button = panel.locator(".code-block").get_by_role("button", name="Copy").all()

    assert copy(page, page.get_by_role("button", name="Copy the key")) == key
    export = copy(page, export_button)
    curl = copy(page, curl_button)

    folder = folder_with_a_photo(tmp_path, "panel")
    exported = run(["bash", "-c", f'{export}\nprintf %s "$SMOLPIX_API_KEY"'], folder)
    assert exported.stdout == key
    ran = run(["bash", "-c", curl], folder)
    assert ran.returncode == 0, ran.stderr
    assert_one_optimized_image(folder)


@pytest.mark.usefixtures("site_fetches_itself")
def test_every_docs_example_copied_runs_against_the_site_with_a_fresh_key(clipboard_page, tmp_path):
    missing = [runner for runner in ("curl", "node", "php") if shutil.which(runner) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (make test installs them)")
    page = clipboard_page
    sign_in(page, AccountFactory(pro=True))
    key = create_key(page, "Docs")
    page.goto("/docs/")

    for language, (tab, script, command) in RUNNERS.items():
        page.get_by_role("tab", name=tab).click()
        buttons = page.locator(f"#panel-{language}").get_by_role("button", name="Copy")
        assert buttons.count() == 2
        for index, button in enumerate(buttons.all()):  # from a URL, then an upload
            folder = folder_with_a_photo(tmp_path, f"{language}-{index}")
            (folder / script).write_text(copy(page, button))

            ran = run(command, folder, SMOLPIX_API_KEY=key, HOME=str(folder))

            assert ran.returncode == 0, (language, index, ran.stdout, ran.stderr)
            assert_one_optimized_image(folder)
