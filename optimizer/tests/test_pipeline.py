"""The whole pure pipeline: resize, encode, never grow."""

import numpy as np
import pytest

from optimizer import pipeline
from optimizer.formats import OutputFormat, RequestedFormat
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

    result = optimize(images.encode(picture, "PNG"), OptimizeOptions(format=format, smart=smart), max_pixels=MAX_PIXELS)

    assert (result.score, result.quality_score) == (None, None)
    assert (result.format, result.lossless, result.notice) == (OutputFormat.WEBP, True, TOO_SMALL_TO_MEASURE)
    assert images.decode(result.data).convert("RGB").tobytes() == picture.tobytes()


@pytest.mark.parametrize("smart", [True, False])
@pytest.mark.parametrize("picture", [images.photo(2, 1), images.photo(7, 7), images.transparent(5, 40)], ids=repr)
def test_an_image_under_8x8_asked_for_as_avif_comes_back_as_avif_within_a_few_levels(picture, smart):
    """`format: avif` is what the customer's pages can show: it used to come back as WebP."""
    result = optimize(
        images.encode(picture, "PNG"), OptimizeOptions(format=RequestedFormat.AVIF, smart=smart), max_pixels=MAX_PIXELS
    )

    assert (result.score, result.quality_score) == (None, None)
    assert (result.format, result.lossless, result.notice) == (OutputFormat.AVIF, False, TOO_SMALL_TO_MEASURE_AVIF)
    decoded = images.decode(result.data)
    assert (decoded.format, decoded.mode, decoded.size) == ("AVIF", picture.mode, picture.size)
    difference = np.abs(np.asarray(decoded, dtype=np.int16) - np.asarray(picture, dtype=np.int16))
    assert difference.max() <= 3


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
