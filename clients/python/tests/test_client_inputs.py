"""What the client and the command make of their inputs before (or instead of) asking the API: a
key pasted with a newline or with characters no key has, options put before the subcommand, a base
URL with a query or a wrong path, and the names `save` writes."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import httpx
import pytest
from fake_api import Answer

from smolpix_client import (
    AsyncClient,
    Client,
    InvalidApiKey,
    InvalidBaseUrl,
    OptimizeResult,
    Retries,
    SmolpixError,
)
from smolpix_client.cli import main
from smolpix_client.protocol import Conversation, Requests


@pytest.mark.parametrize("key", ["pk_live_test\r", "pk_live_test\n", "  pk_live_test \r\n"])
def test_a_key_with_a_newline_or_spaces_around_it_is_sent_without_them(fake, key, monkeypatch):
    api = fake()

    with Client(api_key=key, base_url=api.base_url, retries=Retries(backoff=0.05)) as client:
        client.optimize(file=b"image")
    monkeypatch.setenv("SMOLPIX_API_KEY", key)
    with Client(base_url=api.base_url, retries=Retries(backoff=0.05)) as client:
        client.optimize(file=b"image")

    assert api.statuses() == [200, 200]  # sent at once, not retried as a network failure


@pytest.mark.parametrize("make", [Client, AsyncClient])
@pytest.mark.parametrize("key", ["pk_live_ü", "pk_live_\x00test", "pk_live\rtest"])
def test_a_key_with_characters_no_key_has_is_refused_when_the_client_is_made(make, key):
    with pytest.raises(InvalidApiKey, match="not printable ASCII"):
        make(api_key=key, base_url="http://127.0.0.1:1")
    assert issubclass(InvalidApiKey, ValueError)


@pytest.mark.parametrize("command", [["usage"], ["optimize", "photo.jpg"]])
def test_the_command_refuses_a_key_with_characters_no_key_has(command, capsys):
    assert main([*command, "--api-key", "pk_live_ü", "--base-url", "http://127.0.0.1:1"]) == 2

    assert "not printable ASCII" in capsys.readouterr().err


def test_a_request_httpx_cannot_send_is_not_retried_as_a_network_failure():
    request = Requests("pk_live_test", "http://127.0.0.1:1").usage()
    conversation = Conversation(request, retries=Retries(), pacer=None)
    assert conversation.next_step(None) is request

    with pytest.raises(SmolpixError, match="Could not send the request: LocalProtocolError") as error:
        conversation.next_step(httpx.LocalProtocolError("Illegal header value"))

    assert error.value.status is None


@pytest.mark.parametrize(
    "arguments",
    [
        ["--json", "--bogus", "optimize", "photo.jpg"],
        ["--no-smart", "optimize", "photo.jpg"],
        ["--json", "usage"],
        ["--api-key", "pk_live_test", "usage"],
    ],
)
def test_options_before_the_subcommand_are_refused_not_dropped(arguments, capsys):
    with pytest.raises(SystemExit) as exited:
        main(arguments)

    assert exited.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8781?x=1", "http://127.0.0.1:8781/?x=1", "http://127.0.0.1:8781/#top", "http://h?"]
)
def test_a_base_url_with_a_query_or_a_fragment_is_refused_when_the_client_is_made(base_url):
    with pytest.raises(InvalidBaseUrl, match="Not a base URL"):
        Client(api_key="pk_live_test", base_url=base_url)


@pytest.mark.parametrize(
    ("base_url", "what"),
    [
        ("http://127.0.0.1:8781/?x", "a query"),
        ("http://127.0.0.1:8781/#top", "a fragment"),
        ("http://127.0.0.1:8781/?x#top", "a query and a fragment"),
    ],
)
def test_a_base_url_with_a_query_or_a_fragment_is_refused_for_it(base_url, what):
    with pytest.raises(InvalidBaseUrl) as error:
        Client(api_key="pk_live_test", base_url=base_url)

    assert str(error.value) == (
        f"Not a base URL: {base_url!r} (it has {what}: the API's paths are appended to a base URL, "
        "so it may have neither)"
    )


@pytest.mark.parametrize(
    ("base_url", "shown"),
    [
        ("http://u:secret@127.0.0.1:80000", "'http://127.0.0.1:80000' (an http://"),
        ("http://u:se@cret@127.0.0.1:8781/?x", "'http://127.0.0.1:8781/?x' (it has a query"),
        ("u:secret@127.0.0.1:8781", "'127.0.0.1:8781' (an http://"),
    ],
)
def test_a_refused_base_url_is_shown_without_its_password(base_url, shown):
    with pytest.raises(InvalidBaseUrl) as error:
        Client(api_key="pk_live_test", base_url=base_url)

    assert str(error.value).startswith(f"Not a base URL: {shown}")
    assert "secret" not in str(error.value)


def test_a_404_shows_the_url_without_the_base_urls_password(fake):
    api = fake([Answer(404, {"error": "Not found", "code": "NOT_FOUND"})])
    base_url = api.base_url.replace("http://", "http://u:secret@") + "/nope"

    with Client(api_key="pk_live_test", base_url=base_url) as client, pytest.raises(SmolpixError) as error:
        client.usage()

    assert str(error.value) == (
        f"404 NOT_FOUND: Not found: {api.base_url}/nope/api/v1/usage is not the Smolpix API's; is the base URL right?"
    )


def test_a_404_from_a_wrong_base_url_says_to_check_it(fake):
    api = fake([Answer(404, {"error": "Not found", "code": "NOT_FOUND"})])

    with (
        Client(api_key="pk_live_test", base_url=api.base_url + "/api/v1/") as client,
        pytest.raises(SmolpixError) as error,
    ):
        client.optimize(file=b"image")

    assert error.value.status == 404
    assert str(error.value) == (
        f"404 NOT_FOUND: Not found: {api.base_url}/api/v1/api/v1/optimize is not the Smolpix API's; "
        "is the base URL right?"
    )


def result_as(format: str) -> OptimizeResult:
    return OptimizeResult(
        original_size=10, optimized_size=4, savings=6, savings_percent=60, format=format, width=1, height=1,
        content_type=f"image/{format}", lossless=False, notice=None, quality=None, data=format.encode(),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("photo", "photo.webp"),
        ("photo.jpg", "photo.webp"),
        ("photo.JPEG", "photo.webp"),
        ("photo.avif", "photo.webp"),
        ("photo.Tiff", "photo.webp"),
        ("photo.jfif", "photo.webp"),  # as the command names its results: one list of extensions
        ("photo.JPE", "photo.webp"),
        ("img.1", "img.1.webp"),
        ("holiday.2024", "holiday.2024.webp"),
        ("v1.2.png", "v1.2.webp"),
        ("archive.tar", "archive.tar.webp"),
    ],
)
def test_save_replaces_an_image_extension_and_keeps_any_other_ending(tmp_path, name, written):
    assert result_as("webp").save(tmp_path / "shots" / name) == tmp_path / "shots" / written
    assert (tmp_path / "shots" / written).read_bytes() == b"webp"


def test_saves_under_names_that_differ_after_a_dot_do_not_replace_each_other(tmp_path):
    first = dataclasses.replace(result_as("webp"), data=b"first").save(tmp_path / "img.1")
    second = dataclasses.replace(result_as("webp"), data=b"second").save(tmp_path / "img.2")

    assert first != second
    assert (first.read_bytes(), second.read_bytes()) == (b"first", b"second")


def test_the_client_imports_from_a_checkout_that_was_not_installed():
    """Without the package's metadata (src on sys.path), importing it raised PackageNotFoundError."""
    without_metadata = (
        "import importlib.metadata as metadata\n"
        "def missing(name):\n"
        "    raise metadata.PackageNotFoundError(name)\n"
        "metadata.version = missing\n"
        "import smolpix_client.protocol\n"
        "print(smolpix_client.protocol.USER_AGENT)\n"
    )
    imported = subprocess.run([sys.executable, "-c", without_metadata], capture_output=True, text=True, timeout=60)

    assert (imported.returncode, imported.stdout) == (0, "smolpix-python/unknown\n"), imported.stderr


@pytest.mark.parametrize("location", ["https://smolpix.example/api/v1/usage", "/login"])
def test_a_redirect_is_an_error_that_names_where_it_leads(location, fake):
    """An http:// base URL that the server sends to https://: "301: Moved Permanently" said nothing more."""
    api = fake([Answer(301, b"", {"Location": location})])

    with Client(api_key="pk_live_test", base_url=api.base_url) as client, pytest.raises(SmolpixError) as error:
        client.usage()

    target = location if location.startswith("https:") else api.base_url + location
    assert str(error.value) == f"301: Moved Permanently: redirected to {target}; is the base URL right?"
