"""The library against the real site: what it returns, and the exception for every kind of refusal."""

from __future__ import annotations

import asyncio
import html
import io
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from optimizer.smart import QualityTarget
from optimizer.tests import images
from smolpix_client import (
    AsyncClient,
    Client,
    FetchFailed,
    ImageTooLarge,
    InvalidRequest,
    MissingApiKey,
    PlanRequired,
    QuotaExceeded,
    RateLimited,
    Retries,
    SmolpixError,
    Unauthorized,
    UnsupportedImage,
)

pytestmark = pytest.mark.slow  # starts the site


@pytest.fixture(scope="module")
def pro_key(site) -> str:
    return site.api_key("library@example.com")


@pytest.fixture
def client(site, pro_key):
    with Client(api_key=pro_key, base_url=site.base_url) as client:
        yield client


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_a_file_given_by_its_path_comes_back_smaller_with_every_figure(client, tmp_path):
    source = tmp_path / "photo.jpg"
    source.write_bytes(images.encode(images.photo(180, 120), "JPEG", quality=95))

    result = client.optimize(file=source)

    assert result.format in ("webp", "avif")
    assert result.content_type == f"image/{result.format}"
    assert result.original_size == source.stat().st_size
    assert result.optimized_size == len(result.data) < result.original_size
    assert result.savings == result.original_size - result.optimized_size
    assert result.savings_percent == 100 * result.savings // result.original_size  # never overstated
    assert (result.width, result.height) == (180, 120)
    assert result.lossless is False
    assert result.notice is None
    assert result.quality.metric == "ssimulacra2"
    assert result.quality.score >= QualityTarget.for_quality(80).floor
    image = decoded(result.data)
    assert (image.format.lower(), image.size) == (result.format, (180, 120))


def test_bytes_with_options(client):
    source = images.encode(images.photo(200, 100), "PNG")

    result = client.optimize(file=source, format="webp", quality=60, max_width=50, smart=False)

    assert (result.format, result.width, result.height) == ("webp", 50, 25)
    assert result.quality is None  # nothing is measured without smart
    assert decoded(result.data).size == (50, 25)


def test_a_url_is_fetched_by_the_server(site, client):
    source = images.encode(images.graphic(), "PNG")
    url = site.origin.serve("/logo.png", source, headers={"Content-Type": "image/png"})

    result = client.optimize(url=url)

    assert result.original_size == len(source)
    assert result.lossless is True  # a flat graphic: smart makes it lossless WebP
    assert decoded(result.data).size == (200, 120)


def test_save_names_the_file_after_the_returned_format(client, tmp_path):
    result = client.optimize(file=images.encode(images.photo(96, 64), "JPEG", quality=95))

    written = result.save(tmp_path / "out" / "photo.jpg")

    assert written == tmp_path / "out" / f"photo.{result.format}"
    assert written.read_bytes() == result.data
    assert [path.name for path in written.parent.iterdir()] == [written.name]  # no temporary file left


def test_usage_counts_the_successful_optimizations(site):
    key = site.api_key("usage@example.com")
    with Client(api_key=key, base_url=site.base_url) as client:
        before = client.usage()
        client.optimize(file=images.encode(images.photo(64, 64), "PNG"))
        with pytest.raises(UnsupportedImage):
            client.optimize(file=b"not an image")  # failures are not counted
        after = client.usage()

    assert (before.plan, before.monthly_limit, before.rate_limit_per_minute) == ("pro", 10_000, 60)
    assert (before.used, after.used, after.remaining) == (0, 1, 9_999)
    assert after.resets_at.tzinfo is not None and after.resets_at.day == 1


def test_the_async_client_does_the_same_at_once(site, pro_key, tmp_path):
    source = tmp_path / "photo.png"
    source.write_bytes(images.encode(images.photo(120, 80), "PNG"))
    url = site.origin.serve("/async.png", source.read_bytes())

    async def main():
        async with AsyncClient(api_key=pro_key, base_url=site.base_url) as client:
            return await asyncio.gather(
                client.optimize(file=source), client.optimize(file=source.read_bytes()), client.optimize(url=url)
            )

    results = asyncio.run(main())

    assert [result.original_size for result in results] == [source.stat().st_size] * 3
    assert len({result.data for result in results}) == 1  # the same image, however it was sent
    assert decoded(results[0].data).size == (120, 80)


def test_the_key_and_base_url_come_from_the_environment(site, pro_key, monkeypatch):
    monkeypatch.setenv("SMOLPIX_API_KEY", pro_key)
    monkeypatch.setenv("SMOLPIX_BASE_URL", site.base_url)

    with Client() as client:
        assert client.base_url == site.base_url
        assert client.usage().plan == "pro"

    monkeypatch.delenv("SMOLPIX_API_KEY")
    with pytest.raises(MissingApiKey):
        Client()


# --- Every refusal has its exception --------------------------------------------------------------


def test_an_unknown_key_is_unauthorized(site):
    with Client(api_key="pk_live_" + "a" * 38, base_url=site.base_url) as client, pytest.raises(Unauthorized) as error:
        client.usage()

    assert (error.value.status, error.value.code) == (401, "UNAUTHORIZED")
    assert error.value.message == "Missing or invalid API key"


def test_a_free_plan_needs_an_upgrade(site):
    key = site.api_key("free@example.com", plan="free")
    with Client(api_key=key, base_url=site.base_url) as client, pytest.raises(PlanRequired) as error:
        client.optimize(file=images.encode(images.photo(64, 64), "PNG"))

    assert (error.value.status, error.value.code) == (403, "FORBIDDEN")


def test_a_bad_option_names_its_field(client):
    with pytest.raises(InvalidRequest) as error:
        client.optimize(file=images.encode(images.photo(64, 64), "PNG"), quality=0)

    assert type(error.value) is InvalidRequest
    assert (error.value.status, error.value.code, error.value.field) == (400, "BAD_REQUEST", "quality")


def test_a_url_that_cannot_be_fetched_is_refused(client):
    with pytest.raises(InvalidRequest) as error:
        client.optimize(url="ftp://example.com/photo.jpg")

    assert (error.value.code, error.value.field) == ("INVALID_URL", "url")


def test_an_unreachable_url_fails_to_fetch(site, client):
    with pytest.raises(FetchFailed) as error:
        client.optimize(url=site.unreachable_url)

    assert (error.value.status, error.value.code, error.value.field) == (400, "FETCH_FAILED", "url")


def test_a_file_that_is_not_an_image_is_unsupported(client):
    with pytest.raises(UnsupportedImage) as error:
        client.optimize(file=b"<svg xmlns='http://www.w3.org/2000/svg'/>")

    assert (error.value.code, error.value.field) == ("UNSUPPORTED_IMAGE", "file")


def test_an_image_wider_than_the_limit_is_too_large(client):
    with pytest.raises(ImageTooLarge) as error:
        client.optimize(file=images.encode(Image.new("L", (16_001, 1)), "PNG"))

    assert error.value.code == "IMAGE_TOO_LARGE"


def test_the_monthly_quota_is_exceeded(site):
    key = site.api_key("quota@example.com", monthly_limit=0)
    with Client(api_key=key, base_url=site.base_url) as client, pytest.raises(QuotaExceeded) as error:
        client.optimize(file=images.encode(images.photo(64, 64), "PNG"))

    assert (error.value.status, error.value.code) == (429, "LIMIT_REACHED")
    assert (error.value.used, error.value.limit) == (0, 0)
    assert error.value.retry_after > 0  # until the 1st of next month: never waited for


def test_the_months_last_image_held_by_a_request_in_flight_is_waited_for(site):
    """The month's one image is held by a request whose image host stalls; a second request is told
    to retry in seconds, waits, and gets the image once the first one fails and gives it back."""
    key = site.api_key("in-flight@example.com", monthly_limit=1)
    arrived = threading.Event()
    stalled = site.origin.serve("/stalled.jpg", b"\xff\xd8" * 1000, stall=True, on_request=arrived.set)

    def holder() -> SmolpixError | None:
        with Client(api_key=key, base_url=site.base_url) as client:
            try:
                client.optimize(url=stalled)
            except SmolpixError as error:
                return error
        return None

    with ThreadPoolExecutor(max_workers=1) as pool:
        holding = pool.submit(holder)
        assert arrived.wait(timeout=30)
        release = threading.Timer(2, site.origin.release.set)  # the image host gives up, mid-image
        release.start()
        started = time.monotonic()
        try:
            # Any max_retries above 0 waits for images in flight (0 retries nothing; test_client_retries).
            with Client(api_key=key, base_url=site.base_url, retries=Retries(max_retries=1)) as client:
                result = client.optimize(file=images.encode(images.photo(64, 64), "PNG"))
                used = client.usage().used
        finally:
            release.cancel()
            site.origin.release.set()
        waited = time.monotonic() - started
        failed = holding.result(timeout=60)
    site.origin.release.clear()

    assert isinstance(failed, FetchFailed)
    assert waited >= 4  # the site's Retry-After, 5 s: the images in flight settle within 110 s
    assert result.format in ("webp", "avif")
    assert used == 1


def test_the_rate_limit_is_exceeded(site):
    key = site.api_key("rate@example.com", rate_limit=1)
    client = Client(api_key=key, base_url=site.base_url, pace=False, retries=Retries(max_retries=0))
    with client, pytest.raises(RateLimited) as error:
        client.usage()  # the minute's one request
        client.usage()

    assert (error.value.status, error.value.code, error.value.message) == (429, "LIMIT_REACHED", "Rate limit exceeded")
    assert (error.value.used, error.value.limit) == (2, 1)
    assert 1 <= error.value.retry_after <= 61
    assert isinstance(error.value, SmolpixError)


def test_either_a_url_or_a_file(client, tmp_path: Path):
    with pytest.raises(ValueError, match="either"):
        client.optimize()
    with pytest.raises(ValueError, match="either"):
        client.optimize(url="https://example.com/a.jpg", file=b"...")


def test_the_python_example_of_the_docs_page_runs(site, pro_key, tmp_path):
    page = httpx.get(f"{site.base_url}/docs/").text
    example = html.unescape(re.search(r'id="panel-python".*?<pre><code>(.*?)</code></pre>', page, re.DOTALL)[1])
    source = images.encode(images.photo(96, 64), "JPEG", quality=95)
    # The example optimizes the site's own sample photograph; this site may only fetch the image host.
    sample = f"{site.base_url}/static/img/examples/landscape.jpg"
    assert sample in example
    example = example.replace(sample, site.origin.serve("/docs-example.jpg", source))
    environment = {**os.environ, "SMOLPIX_API_KEY": pro_key}
    environment.pop("SMOLPIX_BASE_URL", None)  # the site's address is in the example itself

    run = subprocess.run(
        [sys.executable, "-c", example],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode == 0, run.stderr
    [saved] = tmp_path.glob("optimized.*")
    assert run.stdout.endswith(f" - {len(source)} → {saved.stat().st_size}: {saved.name}\n")
