"""Hostile files (SPEC §7) through POST /api/v1/optimize: uploaded and fetched, in this process
and in a real Celery worker. Each is answered within seconds with its 400 (or, for a legitimate
image with a hostile part, a 200), memory stays bounded, nothing the file asks for is fetched or
written, and the worker is alive afterwards.

The building blocks have their own tests in optimizer/tests (sniffing, the ImageMagick policy,
pixel limits); this suite throws whole attacks at the service.
"""

import functools
import struct
import time
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from hypothesis import example, given
from hypothesis import strategies as st

from api.tests.checks import assert_reference_response
from optimizer import colour, probe
from optimizer.formats import RequestedFormat
from optimizer.pipeline import OptimizeOptions, optimize
from optimizer.tests import images
from tests.adversarial import memory
from tests.adversarial.hostile_files import HOSTILE_FILES, HostileFile
from tests.processes import pool_children
from usage.models import MonthlyUsage

pytestmark = pytest.mark.django_db

# Far above what refusing a file costs, far below what decoding a flood or a bomb would take.
MEMORY_BOUND = 96 * memory.MIB
# Generous on two shared cores: what matters is seconds, not the minutes a bomb would take.
SECONDS_BOUND = 30
MSL_TARGET = Path("/tmp/smolpix-msl-pwned.png")


def _check_answer(response, hostile: HostileFile, field: str, data: bytes) -> None:
    if not hostile.codes:
        assert response.status_code == 200, response.content
        assert_reference_response(response.json())
        return
    assert response.status_code == 400, response.content
    body = response.json()
    expected = {"BAD_REQUEST"} if field == "file" and not data else hostile.codes  # an empty upload
    assert body["code"] in expected, body
    assert body["field"] == field


def _charged(account) -> int:
    return sum(MonthlyUsage.objects.filter(account=account).values_list("used", flat=True))


@pytest.mark.usefixtures("eager_tasks")
@pytest.mark.parametrize("source", ["file", "url"])
@pytest.mark.parametrize("hostile", HOSTILE_FILES, ids=repr)
def test_a_hostile_file_is_answered_quickly_with_bounded_memory(post, pro_account, reachable_origin, hostile, source):
    data = hostile.make(reachable_origin.url("/callback"))
    body = {"url": reachable_origin.serve("/hostile", data)} if source == "url" else None
    upload = data if source == "file" else None
    memory.reset_peak()
    before = memory.resident()
    started = time.monotonic()

    response = post(body, upload=upload)

    elapsed, growth = time.monotonic() - started, memory.peak() - before
    _check_answer(response, hostile, source, data)
    assert _charged(pro_account) == (0 if hostile.codes else 1)  # a refused file is not charged
    assert elapsed < SECONDS_BOUND, f"{elapsed:.1f} s"
    assert growth < MEMORY_BOUND, f"memory grew by {growth // memory.MIB} MiB"
    assert [path for path, _ in reachable_origin.requests] == (["/hostile"] if source == "url" else [])
    assert not MSL_TARGET.exists()


@pytest.mark.slow
@pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="no Celery broker configured")
def test_hostile_files_in_a_real_worker_leave_it_alive_with_bounded_memory(post_to_worker, worker, worker_origin):
    """Every hostile file through one worker (one pool child, as in production each child takes
    one job at a time): the child's peak memory is measured per file, and after the whole lot the
    same worker still optimizes an image."""
    failures = []
    for hostile in HOSTILE_FILES:
        data = hostile.make(worker_origin.url("/callback"))
        if not data:
            continue  # an empty upload never reaches the worker
        (child,) = pool_children(worker)
        memory.reset_peak(child)
        before = memory.resident(child)
        started = time.monotonic()

        response = post_to_worker(upload=data)

        elapsed = time.monotonic() - started
        try:
            _check_answer(response, hostile, "file", data)
            growth = memory.peak(child) - before
            assert growth < MEMORY_BOUND, f"memory grew by {growth // memory.MIB} MiB"
            assert elapsed < SECONDS_BOUND, f"{elapsed:.1f} s"
            assert pool_children(worker) == [child], "the pool child was replaced"
        except AssertionError as error:
            failures.append(f"{hostile.name}: {error}")

    assert not failures, "\n".join(failures)
    assert worker.poll() is None
    assert not [path for path, _ in worker_origin.requests if path == "/callback"]
    assert not MSL_TARGET.exists()
    response = post_to_worker({"maxWidth": 64}, upload=images.encode(images.photo(), "PNG"))
    assert response.status_code == 200


@given(
    st.binary(min_size=4, max_size=4) | st.binary(max_size=8),
    st.sampled_from([b"cHRM", b"cICP", b"eXIf", b"sRGB", b"iCCP", b"PLTE"]),
    st.binary(min_size=32, max_size=32) | st.binary(max_size=64),
    st.sampled_from([0, 2, 3, 4, 6]),
)
@example(  # primaries so far apart that their XYZ overflowed the profile's fixed-point numbers
    struct.pack(">I", 45455), b"cHRM", struct.pack(">8I", 31270, 1, 31270, 32900, 1713078217, 32900, 1366758933, 1), 2
)
def test_our_readers_of_png_colour_and_orientation_chunks_never_raise(gamma, kind, body, colour_type):
    """gAMA, cHRM and eXIf are read by our own code (ImageMagick ignores them): whatever they
    hold, a profile ImageMagick can use, or nothing."""
    header = struct.pack(">IIBBBBB", 8, 8, 8, colour_type, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + images.png_chunk(b"IHDR", header) + images.png_chunk(b"gAMA", gamma)
    data += images.png_chunk(kind, body) + images.png_chunk(b"IDAT", b"")

    profile = colour.png_colour_profile(data)

    assert profile is None or profile[16:20] in (b"RGB ", b"GRAY")
    assert probe.png_orientation(data) in (None, *probe.EXIF_ORIENTATIONS)


@functools.cache
def _undamaged() -> dict[str, bytes]:
    """Small valid images of every accepted format: what the property below damages."""
    photo, transparent = images.photo(64, 48), images.transparent()
    return {
        "jpeg": images.encode(photo, "JPEG", quality=90),
        "jpeg-cmyk": images.encode(photo.convert("CMYK"), "JPEG", quality=90),
        "png": images.encode(photo, "PNG"),
        "png-alpha": images.encode(transparent, "PNG"),
        "gif": images.encode(photo.convert("P"), "GIF"),
        "webp": images.encode(photo, "WEBP", quality=80),
        "webp-alpha": images.encode(transparent, "WEBP", quality=80),
        "avif": images.encode(photo, "AVIF", quality=60),
        "heic": images.heic(),
        "tiff": images.encode(photo, "TIFF", compression="tiff_lzw"),
        "bmp": images.encode(photo, "BMP"),
    }


def _with_png_crcs_recomputed(data: bytes) -> bytes:
    """A PNG's chunks with their CRCs made right again (a wrong one is refused before anything
    else is read), so that the damage reaches the decoder; anything else as it is."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    fixed, at = bytearray(data[:8]), 8
    while at + 12 <= len(data) and at + 12 + (length := struct.unpack(">I", data[at : at + 4])[0]) <= len(data):
        kind_and_body = data[at + 4 : at + 8 + length]
        fixed += data[at : at + 4] + kind_and_body + struct.pack(">I", zlib.crc32(kind_and_body))
        at += 12 + length
    return bytes(fixed + data[at:])


@given(
    st.sampled_from(sorted(_undamaged())),
    st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8),
    st.floats(0.05, 1),
    st.booleans(),
    st.sampled_from([1, 30, 80, 100]),
)
def test_a_damaged_image_is_optimized_or_refused_never_an_error(kind, damage, kept, smart, quality):
    """Bytes overwritten anywhere (headers, tables, entropy-coded data) and the end cut off, in
    every accepted format: the pipeline returns a result or refuses the source (a 400), never
    fails otherwise (a 500). A longer run of such damage on the conformance corpus found one: a
    CMYK JPEG whose quantization table was overwritten with 0, 0, 127 and 255 decodes to noise that
    scores -64 at every level, which overflowed the smart search's extrapolation (test_smart)."""
    data = bytearray(_undamaged()[kind])
    for where, byte in damage:
        data[int(where * len(data))] = byte
    data = _with_png_crcs_recomputed(bytes(data[: max(1, int(kept * len(data)))]))
    options = OptimizeOptions(format=RequestedFormat.AUTO, quality=quality, max_width=1920, smart=smart)

    try:
        result = optimize(data, options, max_pixels=settings.OPTIMIZER_MAX_PIXELS)
    except probe.SourceRefused:
        return

    assert result.data and result.width >= 1 and result.height >= 1
