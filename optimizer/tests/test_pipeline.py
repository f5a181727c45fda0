"""The whole pure pipeline: resize, encode, never grow."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from optimizer import pipeline
from optimizer.formats import OutputFormat, RequestedFormat
from optimizer.imaging import fit_width
from optimizer.pipeline import (
    KEPT_SOURCE_NOTICE,
    TOO_SMALL_TO_MEASURE,
    TOO_SMALL_TO_MEASURE_AVIF,
    Optimized,
    OptimizeOptions,
    optimize,
)
from optimizer.tests import images

MAX_PIXELS = 10_000_000


def test_a_photo_is_resized_and_shrunk():
    source = images.encode(images.photo(1024, 768), "JPEG", quality=95)

    result = optimize(source, OptimizeOptions(max_width=512), max_pixels=MAX_PIXELS)

    assert (result.width, result.height) == (512, 384)
    assert images.decode(result.data).size == (512, 384)
    assert result.original_size == len(source)
    assert 0 < result.optimized_size < len(source)
    assert result.savings == len(source) - result.optimized_size
    assert result.savings_percent == result.savings * 100 // len(source)


def test_never_grow_returns_a_smaller_source_already_in_the_returned_format():
    source = images.encode(images.photo(), "WEBP", quality=5)

    result = optimize(
        source, OptimizeOptions(format=RequestedFormat.WEBP, quality=100, smart=False), max_pixels=MAX_PIXELS
    )

    assert result.data == source
    assert (result.format, result.width, result.height) == (OutputFormat.WEBP, 256, 192)
    assert (result.savings, result.savings_percent) == (0, 0)
    assert result.notice == KEPT_SOURCE_NOTICE
    assert result.lossless  # the source itself


def test_never_grow_does_not_return_an_animation_whose_answer_is_its_first_frame():
    frames = [images.photo(), Image.new("RGB", (256, 192), (40, 40, 40))]
    source = images.encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], quality=5)

    result = optimize(
        source, OptimizeOptions(format=RequestedFormat.WEBP, quality=100, smart=False), max_pixels=MAX_PIXELS
    )

    assert result.data != source and b"ANMF" not in result.data
    assert result.notice != KEPT_SOURCE_NOTICE


def test_never_grow_applies_to_auto_too():
    source = images.encode(images.photo(), "AVIF", quality=5)

    result = optimize(source, OptimizeOptions(quality=100, smart=False), max_pixels=MAX_PIXELS)

    assert result.data == source
    assert result.format is OutputFormat.AVIF


def test_a_source_in_another_format_is_converted_even_when_that_is_larger():
    source = images.encode(images.photo(), "WEBP", quality=5)

    result = optimize(
        source, OptimizeOptions(format=RequestedFormat.AVIF, quality=100, smart=False), max_pixels=MAX_PIXELS
    )

    assert result.format is OutputFormat.AVIF
    assert result.optimized_size > result.original_size
    assert (result.savings, result.savings_percent) == (0, 0)


def test_a_source_wider_than_max_width_is_never_returned_as_it_is():
    source = images.encode(images.photo(), "WEBP", quality=5)

    result = optimize(
        source,
        OptimizeOptions(format=RequestedFormat.WEBP, quality=100, max_width=250, smart=False),
        max_pixels=MAX_PIXELS,
    )

    assert (result.width, result.height) == (250, 188)
    assert result.data != source


def test_savings_percent_is_a_whole_number_from_0_to_100():
    result = Optimized(data=b"x" * 333, format=OutputFormat.WEBP, width=1, height=1, original_size=1000, lossless=False)

    assert (result.savings, result.savings_percent) == (667, 66)


@pytest.mark.parametrize("smart", [True, False])
@pytest.mark.parametrize("size", [(2, 1), (7, 7), (1, 40)])
@pytest.mark.parametrize("format", [RequestedFormat.AUTO, RequestedFormat.WEBP])
def test_an_image_under_8x8_comes_back_exact_without_a_score(size, smart, format):
    """A 2x1 palette PNG used to come back lossy, 38 levels off per pixel, with a score of 100:
    SSIMULACRA2 is not defined below 8x8."""
    picture = images.photo(*size)
    source = images.encode(picture, "PNG")

    result = optimize(source, OptimizeOptions(format=format, smart=smart), max_pixels=MAX_PIXELS)

    assert (result.score, result.quality_score) == (None, None)
    assert (result.format, result.lossless) == (OutputFormat.WEBP, True)
    assert result.notice == TOO_SMALL_TO_MEASURE + _larger_than(source, result)
    assert images.decode(result.data).convert("RGB").tobytes() == picture.tobytes()


@pytest.mark.parametrize("smart", [True, False])
@pytest.mark.parametrize("picture", [images.photo(2, 1), images.photo(7, 7), images.transparent(5, 40)], ids=repr)
def test_an_image_under_8x8_asked_for_as_avif_comes_back_as_avif_within_a_few_levels(picture, smart):
    """`format: avif` is what the customer's pages can show: it used to come back as WebP. Opaque,
    exact (libavif's lossless identity matrix at quality 100)."""
    source = images.encode(picture, "PNG")

    result = optimize(source, OptimizeOptions(format=RequestedFormat.AVIF, smart=smart), max_pixels=MAX_PIXELS)

    assert (result.score, result.quality_score) == (None, None)
    assert (result.format, result.lossless) == (OutputFormat.AVIF, False)
    assert result.notice == TOO_SMALL_TO_MEASURE_AVIF + _larger_than(source, result)
    decoded = images.decode(result.data)
    assert (decoded.format, decoded.mode, decoded.size) == ("AVIF", picture.mode, picture.size)
    difference = np.abs(np.asarray(decoded, dtype=np.int16) - np.asarray(picture, dtype=np.int16))
    # What shows: a fully transparent pixel's colour is not kept (optimizer.encoders._hidden_colour_filled).
    shown = np.asarray(picture.convert("RGBA"))[..., 3] > 0
    assert difference[shown].max() <= (3 if picture.mode == "RGBA" else 0)
    assert picture.mode == "RGB" or difference[..., 3].max() <= 3


def _larger_than(source: bytes, result) -> str:
    """What a notice adds for a result larger than its source."""
    return f" It is larger than the original ({len(source):,} bytes)." if result.optimized_size > len(source) else ""


def test_an_image_under_8x8_whose_result_is_larger_than_its_source_says_so():
    """A 72-byte 2x1 PNG comes back as a 300-byte AVIF (its container): `savings` says 0, and the
    notice said only that it could not be scored."""
    source = images.encode(images.photo(2, 1), "PNG")

    result = optimize(source, OptimizeOptions(format=RequestedFormat.AVIF), max_pixels=MAX_PIXELS)

    assert result.optimized_size > len(source)
    assert result.notice == f"{TOO_SMALL_TO_MEASURE_AVIF} It is larger than the original ({len(source):,} bytes)."


def test_an_image_of_8x8_is_scored():
    result = optimize(images.encode(images.photo(8, 8), "PNG"), OptimizeOptions(), max_pixels=MAX_PIXELS)

    assert result.score is not None
    assert result.notice != TOO_SMALL_TO_MEASURE


def test_a_diagram_saved_as_jpeg_comes_back_smaller_than_its_source_and_than_smart_false():
    """Text and boxes as a quality-60 JPEG: lossless WebP (the pixels, JPEG noise and all) is
    larger than the source; smart must find a lossy or palette encoding at the target instead."""
    source = images.encode(images.diagram(), "JPEG", quality=60)

    smart = optimize(source, OptimizeOptions(smart=True), max_pixels=MAX_PIXELS)
    fixed = optimize(source, OptimizeOptions(smart=False), max_pixels=MAX_PIXELS)

    assert smart.optimized_size < len(source)
    assert smart.optimized_size < fixed.optimized_size
    assert smart.score >= 75


@pytest.mark.parametrize(
    ("format", "max_width", "bound"),
    [("PNG", 4096, True), ("JPEG", 4096, True), ("WEBP", 4096, False), ("WEBP", 100, True)],
)
def test_smart_stays_under_the_size_of_a_source_that_cannot_answer_for_itself(monkeypatch, format, max_width, bound):
    """A source that may be returned as it is (in a format asked for, within maxWidth) needs no
    bound: the pipeline returns it when it is smaller. Any other source's size bounds the search."""
    source = images.encode(images.photo(), format)
    bounds = []
    real = pipeline.choose_encoding
    monkeypatch.setattr(pipeline, "choose_encoding", lambda *a, **k: bounds.append(k["max_bytes"]) or real(*a, **k))

    optimize(source, OptimizeOptions(max_width=max_width), max_pixels=MAX_PIXELS)

    assert bounds == [len(source) if bound else None]


def _pixels(width: int, height: int, content: str, alpha: str, seed: int) -> Image.Image:
    """Pixels of a kind that is hard on an encoder or on the metric, with alpha that resizing keeps."""
    random = np.random.default_rng(seed)
    if content == "noise":
        samples = random.integers(0, 256, (height, width, 3), dtype=np.uint8)
    elif content == "flat":
        samples = np.broadcast_to(random.integers(0, 256, 3, dtype=np.uint8), (height, width, 3))
    elif content == "two colours":
        samples = random.integers(0, 256, (2, 3), dtype=np.uint8)[random.integers(0, 2, (height, width))]
    else:  # black and white in every channel at random: the most detail 8 bits hold
        samples = random.choice(np.array([0, 255], np.uint8), (height, width, 3))
    opacity = {
        "opaque": np.full((height, width), 255),
        "invisible": np.zeros((height, width)),
        "faint": np.full((height, width), 2),
        "holes": (random.random((height, width)) < 0.5) * 255,
    }[alpha].astype(np.uint8)
    # A hole, whatever the draw: a 254 beside a 255 resized into one pixel is rightly opaque.
    opacity[0, 0] = 0
    picture = Image.fromarray(np.dstack([samples, opacity]), "RGBA")
    return picture.convert("RGB") if alpha == "opaque" else picture


@settings(max_examples=40)
@given(
    st.integers(1, 80),
    st.integers(1, 80),
    st.sampled_from(["noise", "flat", "two colours", "extremes"]),
    st.sampled_from(["opaque", "invisible", "faint", "holes"]),
    st.integers(0, 2**32 - 1),
    st.builds(
        OptimizeOptions,
        format=st.sampled_from(RequestedFormat),
        quality=st.sampled_from([1, 30, 80, 99, 100]),
        max_width=st.integers(1, 100),
        smart=st.booleans(),
    ),
)
def test_any_pixels_with_any_options_come_back_as_promised(width, height, content, alpha, seed, options):
    """Whatever the pixels (noise, flat colour, the extremes of every channel; invisible, faint or
    holed alpha) and the options: the result is in a format asked for (AVIF too where its alpha
    at that quality would lose the transparency: holed alpha at quality 1), decodes to the size
    it states (maxWidth's), keeps the transparency it had, and is scored wherever it can be."""
    picture = _pixels(width, height, content, alpha, seed)

    result = optimize(images.encode(picture, "PNG"), options, max_pixels=MAX_PIXELS)

    decoded = images.decode(result.data)
    assert result.format in options.format.candidates
    assert decoded.size == (result.width, result.height) == fit_width(width, height, options.max_width)
    if alpha != "opaque":
        assert decoded.mode == "RGBA" and decoded.getextrema()[3][0] < 255
    assert (result.score is not None) == (options.smart and min(decoded.size) >= 8)
