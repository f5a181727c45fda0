"""The Python client as customers get it: `pip install` of the URL the docs give, which the site
answers with a source distribution of its own clients/python."""

import email
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from packaging.metadata import Metadata

from smolpix.views import CLIENT_SDIST_NAME, client_sdist_archive, client_sdist_metadata

pytestmark = pytest.mark.django_db

CLIENT = Path(settings.BASE_DIR) / "clients" / "python"


def _install_urls(client) -> list[str]:
    body = client.get("/docs/", secure=True).content.decode()
    return re.findall(r"pip install (\S+?)(?:<|\s)", body)


def _download(client):
    [url, same_url] = _install_urls(client)
    assert url == same_url  # the client's section and the Python tab
    return client.get(urlsplit(url).path)


def _clone_files() -> set[str]:
    """The client's package files as a clone has them, relative to clients/python."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "src"],
        cwd=CLIENT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return set(listing.split())


def test_the_docs_install_the_client_from_this_site(client):
    [url, _] = _install_urls(client)

    assert re.fullmatch(r"https://testserver/downloads/smolpix_client-[0-9.]+\.tar\.gz", url)


@pytest.mark.parametrize("earlier", ["0.1.0", "0.0.9", "1.0.0rc1"])
def test_an_earlier_versions_url_leads_to_this_ones_archive(client, earlier):
    """A requirements file or CI pinned to the URL the docs gave before: a 404 after each release."""
    response = client.get(f"/downloads/smolpix_client-{earlier}.tar.gz")

    assert (response.status_code, response.url) == (302, f"/downloads/{CLIENT_SDIST_NAME}")
    assert client.get("/downloads/smolpix_client-.tar.gz").status_code == 404


def test_the_download_is_a_public_gzipped_archive_of_the_clients_files(client):
    response = _download(client)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/gzip"
    name = response.request["PATH_INFO"].rsplit("/", 1)[1]
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    top = name.removesuffix(".tar.gz")
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
        members = archive.getmembers()
        assert all(member.isfile() and member.name.startswith(f"{top}/") for member in members)
        files = {member.name.removeprefix(f"{top}/"): archive.extractfile(member).read() for member in members}
    expected = {"pyproject.toml", "README.md"} | _clone_files()
    assert set(files) == {"PKG-INFO"} | expected
    assert all(files[name] == (CLIENT / name).read_bytes() for name in expected)
    assert files["PKG-INFO"] == client_sdist_metadata(CLIENT)


def test_the_archives_pkg_info_is_valid_core_metadata_with_the_fields_hatchling_writes(tmp_path):
    """A source distribution holds a PKG-INFO (core metadata 2.1 or later): the one hatchling's own
    sdist of the client holds, field for field but its Metadata-Version, the README its description."""
    built = subprocess.run(
        [sys.executable, "-c", f"from hatchling.build import build_sdist; build_sdist({str(tmp_path)!r})"],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    [sdist] = tmp_path.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        hatchlings = archive.extractfile(f"{sdist.name.removesuffix('.tar.gz')}/PKG-INFO").read()
    ours = client_sdist_metadata(CLIENT)

    metadata = Metadata.from_email(ours, validate=True)  # raises on a field missing or malformed
    assert (metadata.metadata_version, metadata.name, str(metadata.version)) == ("2.1", "smolpix-client", "0.1.1")
    assert metadata.description == (CLIENT / "README.md").read_text()
    assert metadata.description_content_type == "text/markdown"
    expected = Metadata.from_email(hatchlings, validate=False)
    for field in ("name", "version", "summary", "classifiers", "requires_python", "requires_dist", "description"):
        assert getattr(metadata, field) == getattr(expected, field), field
    assert sorted(set(email.message_from_bytes(hatchlings)) - {"Metadata-Version"}) == sorted(
        set(email.message_from_bytes(ours)) - {"Metadata-Version"}
    )


def test_the_archive_is_all_a_customer_needs(client):
    """Nothing in it leads out of it (ruff's settings, with the repository's paths, are in ruff.toml),
    and its README installs it as the site says, not from a checkout customers do not have."""
    with tarfile.open(fileobj=io.BytesIO(_download(client).content), mode="r:gz") as archive:
        top = CLIENT_SDIST_NAME.removesuffix(".tar.gz")
        pyproject = archive.extractfile(f"{top}/pyproject.toml").read().decode()
        readme = archive.extractfile(f"{top}/README.md").read().decode()

    assert "ruff" not in tomllib.loads(pyproject).get("tool", {})
    assert "../" not in pyproject
    assert f"pip install https://smolpix.co/downloads/{CLIENT_SDIST_NAME}\n" in readme
    assert "https://smolpix.co/docs/" in readme
    assert "checkout" not in readme and "repository" not in readme


def test_the_download_is_revalidated_by_its_etag(client):
    response = _download(client)
    again = client.get(response.request["PATH_INFO"], headers={"If-None-Match": response["ETag"]})

    assert response["Cache-Control"] == "public, no-cache"
    assert again.status_code == 304


def test_the_archive_leaves_out_tests_and_bytecode_and_does_not_depend_on_file_times(tmp_path):
    copies = [tmp_path / "first", tmp_path / "second"]
    for copy in copies:
        shutil.copytree(CLIENT, copy, ignore=shutil.ignore_patterns("__pycache__"))
        (copy / "src" / "smolpix_client" / "__pycache__").mkdir()
        (copy / "src" / "smolpix_client" / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"\0")
    for path in copies[1].rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))

    first, second = (client_sdist_archive(copy, top="smolpix_client-0.1.0") for copy in copies)

    assert first == second
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as archive:
        names = archive.getnames()
    assert "smolpix_client-0.1.0/src/smolpix_client/cli.py" in names
    assert not [name for name in names if "__pycache__" in name or "/tests/" in name]


def test_pip_builds_the_download_into_the_package_and_its_smolpix_command(client, tmp_path):
    """As `pip install <the URL>` does, offline: hatchling comes from requirements-dev.txt, where a
    customer's pip would fetch it from PyPI."""
    response = _download(client)
    name = response.request["PATH_INFO"].rsplit("/", 1)[1]
    (tmp_path / name).write_bytes(response.content)

    offline = ["--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir", "--disable-pip-version-check"]
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", *offline, "--quiet", "--wheel-dir", "wheels", name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "wheels").glob("*.whl")
    assert wheel.name.startswith(name.removesuffix(".tar.gz") + "-")  # the version the URL names
    with zipfile.ZipFile(wheel) as contents:
        cli = contents.read("smolpix_client/cli.py")
        [entry_points] = [entry for entry in contents.namelist() if entry.endswith(".dist-info/entry_points.txt")]
        scripts = contents.read(entry_points).decode()
    assert cli == (CLIENT / "src" / "smolpix_client" / "cli.py").read_bytes()
    assert "smolpix = smolpix_client.cli:main" in scripts
