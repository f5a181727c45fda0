"""What one image may cost a worker, judged from its header before any pixel is decoded."""

import time
from dataclasses import replace

import pytest
from PIL import Image

from optimizer import budget, magick
from optimizer.formats import RequestedFormat, SourceFormat
from optimizer.pipeline import OptimizeOptions, optimize
from optimizer.probe import ImageTooLarge, SourceInfo
from optimizer.tests import images

MAX_PIXELS = 100_000_000


def source(width: int, height: int, format: SourceFormat = SourceFormat.PNG, *, turned: bool = False) -> SourceInfo:
    stored = (height, width) if turned else (width, height)
    return SourceInfo(format, width=width, height=height, stored_width=stored[0], stored_height=stored[1])


def test_an_opaque_result_within_each_encoder_size_keeps_the_format_asked_for():
    for requested in RequestedFormat:
        assert budget.affordable_format(requested, width=4000, height=3000) is requested


def test_auto_drops_avif_where_libaom_would_not_fit_in_a_worker():
    assert budget.affordable_format(RequestedFormat.AUTO, width=8000, height=6000) is RequestedFormat.WEBP


def test_avif_larger_than_its_encoder_can_take_is_refused_with_the_width_that_would_do():
    with pytest.raises(ImageTooLarge, match=r"AVIF results can have at most 24 megapixels.*at most 5656\."):
        budget.affordable_format(RequestedFormat.AVIF, width=8000, height=6000)


def test_transparency_lowers_webp_s_limit():
    assert budget.affordable_format(RequestedFormat.WEBP, width=6000, height=4000) is RequestedFormat.WEBP
    with pytest.raises(ImageTooLarge, match="WEBP results with transparency can have at most 16 megapixels"):
        budget.affordable_format(RequestedFormat.WEBP, width=6000, height=4000, transparent=True)
    # AVIF carries alpha for less: `auto` still has a format for a large transparent image.
    assert budget.affordable_format(RequestedFormat.AUTO, width=6000, height=4000, transparent=True) is (
        RequestedFormat.AVIF
    )


def test_a_preparation_that_fits_imagemagick_s_caches_passes():
    budget.check_caches(source(10_000, 10_000), 1920, 1920)  # 100 MP decoded, mostly to disk


def test_a_preparation_beyond_imagemagick_s_caches_is_refused_with_a_width_that_fits():
    # 100 MP decoded, a 70 MP intermediate and a 49 MP result: more than memory + disk together.
    with pytest.raises(ImageTooLarge, match=r"at a maxWidth of 7000 .* at most \d+\.") as refusal:
        budget.check_caches(source(10_000, 10_000), 7000, 7000)
    largest = int(str(refusal.value).rsplit(" ", 1)[1].rstrip("."))
    budget.check_caches(source(10_000, 10_000), largest, largest)
    with pytest.raises(ImageTooLarge):
        budget.check_caches(source(10_000, 10_000), largest + 1, largest + 1)


def test_a_large_jpeg_counts_the_size_libjpeg_decodes_it_at():
    # 1/4 of each side (ImageMagick asks for 1/4, libjpeg-turbo takes 2/8), so it fits where a PNG does not.
    jpeg = source(16_000, 6_250, SourceFormat.JPEG)
    assert budget._decoded_pixels(jpeg, 3000, 1172) == 4000 * 1563
    budget.check_caches(jpeg, 8000, 3125)
    with pytest.raises(ImageTooLarge):
        budget.check_caches(source(16_000, 6_250), 8000, 3125)


def test_a_turned_image_counts_its_oriented_copy():
    available = magick.limits["memory"] + magick.limits["map"] + magick.limits["disk"]
    width = int((available / budget.CACHE_BYTES_PER_PIXEL / 2 / 2) ** 0.5) + 10  # 2:1, fits once, not twice
    budget.check_caches(source(width, width * 2), width, width * 2)
    with pytest.raises(ImageTooLarge, match="too large to decode here"):
        budget.check_caches(source(width, width * 2, turned=True), width, width * 2)


def test_an_avif_with_an_alpha_plane_counts_that_plane_and_its_turned_copy():
    available = magick.limits["memory"] + magick.limits["map"] + magick.limits["disk"]
    width = int((available / budget.CACHE_BYTES_PER_PIXEL / 3 / 2) ** 0.5) + 10  # 2:1, fits once, not three times
    opaque = source(width, width * 2, SourceFormat.AVIF)
    budget.check_caches(opaque, width, width * 2)
    with pytest.raises(ImageTooLarge, match="too large to decode here"):
        budget.check_caches(replace(opaque, separate_alpha=True), width, width * 2)


def test_a_grey_png_counts_both_its_decodings_each_whole_in_memory_or_on_disk():
    """ImageMagick 6 decodes a grey PNG in RGB (8 bytes a pixel), then makes a palette image of it
    (10) while holding the first. At 64 MP both together (1.15 GB) are under memory and disk
    together (1.34 GB), but neither fits the 256 MiB of memory: on disk (1 GiB) they do not fit."""
    grey = replace(source(8000, 8000), png_colour_type=0)
    assert magick.limits["memory"] + magick.limits["disk"] > 18 * 8000 * 8000

    with pytest.raises(ImageTooLarge, match="too large to decode here"):
        budget.check_caches(grey, 1920, 1920)
    budget.check_caches(replace(grey, png_colour_type=2), 1920, 1920)  # RGB: decoded once
    budget.check_caches(replace(source(7700, 7700), png_colour_type=0), 1920, 1920)  # 59 MP: 1.07 GB


def test_a_gif_counts_its_first_frame_and_the_screen_it_is_placed_on():
    budget.check_caches(source(7000, 7000, SourceFormat.GIF), 1920, 1920)  # 0.49 + 0.39 GB
    with pytest.raises(ImageTooLarge, match="too large to decode here"):
        budget.check_caches(source(8000, 8000, SourceFormat.GIF), 1920, 1920)  # 0.64 + 0.51 GB


def test_the_pipeline_refuses_a_grey_png_too_large_to_decode_from_its_header():
    data = images.encode(Image.new("L", (8000, 8000), 128), "PNG")

    with pytest.raises(ImageTooLarge, match="too large to decode here"):
        optimize(data, OptimizeOptions(), max_pixels=MAX_PIXELS)

    assert magick.caches_in_use() == 0


def test_the_pipeline_refuses_from_the_header_before_decoding():
    # A 10,000 x 10,000 PNG of one colour: a few kilobytes that would take 800 MB of cache.
    data = images.encode(Image.new("RGB", (10_000, 10_000), (20, 80, 160)), "PNG")
    started = time.perf_counter()

    with pytest.raises(ImageTooLarge, match="at most 24 megapixels"):
        optimize(data, OptimizeOptions(format=RequestedFormat.AVIF, max_width=16384), max_pixels=MAX_PIXELS)

    assert time.perf_counter() - started < 1  # decoding it would take seconds
    assert magick.caches_in_use() == 0


def test_the_pipeline_refuses_a_large_transparent_result_once_it_knows_the_alpha():
    # The header cannot tell a transparent PNG from an opaque RGBA one: the pixels do.
    transparent = Image.new("RGBA", (5000, 4000), (20, 80, 160, 128))
    data = images.encode(transparent, "PNG")

    with pytest.raises(ImageTooLarge, match="with transparency"):
        optimize(data, OptimizeOptions(format=RequestedFormat.WEBP, max_width=5000, smart=False), max_pixels=MAX_PIXELS)
    assert magick.caches_in_use() == 0
