"""What one image may cost a worker, judged from its header before any pixel is decoded."""

import re
import time
import zlib
from dataclasses import replace
from typing import NoReturn

import pytest
from PIL import Image

from optimizer import budget, magick, pipeline
from optimizer.formats import RequestedFormat, SourceFormat
from optimizer.pipeline import OptimizeOptions, optimize
from optimizer.probe import ImageTooLarge, SourceInfo, TiffLayout
from optimizer.tests import images

MAX_PIXELS = 100_000_000


def source(width: int, height: int, format: SourceFormat = SourceFormat.PNG, *, turned: bool = False) -> SourceInfo:
    """A header of an opaque image (a PNG's says RGB)."""
    stored = (height, width) if turned else (width, height)
    colour_type = 2 if format is SourceFormat.PNG else None
    return SourceInfo(
        format, width=width, height=height, stored_width=stored[0], stored_height=stored[1], png_colour_type=colour_type
    )


def affordable(
    source: SourceInfo, max_width: int, requested: RequestedFormat = RequestedFormat.WEBP
) -> RequestedFormat:
    return budget.affordable_format(source, requested, max_width=max_width)


def advised_width(refusal: pytest.ExceptionInfo[ImageTooLarge]) -> int:
    """The maxWidth a refusal advises ("Ask for a maxWidth of at most N.")."""
    found = re.search(r"[Aa]sk for a maxWidth of at most (\d+)\.$", str(refusal.value))
    assert found, str(refusal.value)
    return int(found[1])


def test_an_opaque_result_within_each_encoder_size_keeps_the_format_asked_for():
    for requested in RequestedFormat:
        assert affordable(source(4000, 3000), 4000, requested) is requested


def test_auto_drops_avif_where_libaom_would_not_fit_in_a_worker():
    assert affordable(source(8000, 6000), 8000, RequestedFormat.AUTO) is RequestedFormat.WEBP


def test_avif_larger_than_its_encoder_can_take_is_refused_with_the_width_that_would_do():
    with pytest.raises(ImageTooLarge, match=r"AVIF results can have at most 24 megapixels.*at most 5656\.$"):
        affordable(source(8000, 6000), 8000, RequestedFormat.AVIF)
    assert affordable(source(8000, 6000), 5656, RequestedFormat.AVIF) is RequestedFormat.AVIF


def test_transparency_lowers_webp_s_limit():
    large = source(6000, 4000)
    assert affordable(large, 6000) is RequestedFormat.WEBP
    with pytest.raises(ImageTooLarge, match="WebP results with transparency can have at most 16 megapixels"):
        budget.affordable_format(large, RequestedFormat.WEBP, max_width=6000, transparent=True)
    # AVIF carries alpha for less: `auto` still has a format for a large transparent image.
    assert budget.affordable_format(large, RequestedFormat.AUTO, max_width=6000, transparent=True) is (
        RequestedFormat.AVIF
    )


def test_a_preparation_that_fits_imagemagick_s_caches_passes():
    affordable(source(10_000, 10_000), 1920)  # 100 MP decoded, mostly to disk


def test_a_preparation_beyond_imagemagick_s_caches_is_refused_with_a_width_that_fits():
    # 100 MP decoded, a 70 MP intermediate and a 49 MP result: more than memory + disk together.
    with pytest.raises(ImageTooLarge, match=r"at a maxWidth of 7000 .* at most \d+\.") as refusal:
        affordable(source(10_000, 10_000), 7000)
    largest = advised_width(refusal)
    affordable(source(10_000, 10_000), largest)
    with pytest.raises(ImageTooLarge):
        affordable(source(10_000, 10_000), largest + 1)


@pytest.mark.parametrize(("format", "colour_type"), [(SourceFormat.PNG, 6), (SourceFormat.WEBP, None)])
def test_a_file_that_may_be_transparent_is_advised_a_width_taken_transparent_too(format, colour_type):
    """Its header is checked as if opaque; the advice must hold once the pixels show transparency."""
    header = replace(source(10_000, 8_000, format), png_colour_type=colour_type)
    with pytest.raises(ImageTooLarge, match=r"As it may be transparent, ask for a maxWidth") as refusal:
        affordable(header, 10_000)

    largest = advised_width(refusal)
    assert budget.affordable_format(header, RequestedFormat.WEBP, max_width=largest, transparent=True)
    with pytest.raises(ImageTooLarge):
        budget.affordable_format(header, RequestedFormat.WEBP, max_width=largest + 1, transparent=True)
    opaque = replace(header, format=SourceFormat.JPEG)
    with pytest.raises(ImageTooLarge, match=r"64 megapixels here\. Ask for a maxWidth of at most") as refusal:
        affordable(opaque, 10_000)
    assert advised_width(refusal) > largest


def test_a_size_only_the_full_width_fits_is_advised_besides_the_smaller_widths():
    # At its own width nothing is resized; a little narrower, the intermediate image and the result
    # no longer fit beside the decoded one.
    rgb = replace(source(8000, 6000), png_colour_type=2)
    assert affordable(rgb, 8000) is RequestedFormat.WEBP
    with pytest.raises(ImageTooLarge, match=r"Ask for a maxWidth of at most (\d+), or of 8000 or more") as refusal:
        affordable(rgb, 7999)
    smaller = int(re.search(r"at most (\d+),", str(refusal.value))[1])
    assert affordable(rgb, smaller) is RequestedFormat.WEBP
    with pytest.raises(ImageTooLarge):
        affordable(rgb, smaller + 1)


@pytest.mark.parametrize("max_width", [16384, 9000, 8000, 1920, 100])
def test_an_image_no_width_can_take_is_refused_without_advising_one(max_width):
    # A 9000 x 9000 grey PNG: its two decodings (0.65 + 0.81 GB) fit at no width. The result's
    # 81 megapixels are more than WebP's 64 too, but no smaller result would help.
    grey = replace(source(9000, 9000), png_colour_type=budget.PNG_GREY)

    with pytest.raises(ImageTooLarge) as refusal:
        affordable(grey, max_width)

    assert str(refusal.value) == "The image is 9000x9000 pixels: too large to decode here."


@pytest.mark.parametrize("requested", [RequestedFormat.WEBP, RequestedFormat.AUTO])
def test_a_result_too_large_for_its_encoder_is_advised_a_width_the_caches_take_too(requested):
    # A 9000 x 9000 RGB PNG: 8000 px wide would make a 64-megapixel WebP, but its 72-megapixel
    # intermediate image does not fit beside the decoded one.
    rgb = replace(source(9000, 9000), png_colour_type=2)

    too_many = r"^The result would be 9000x9000 pixels; WebP results can have at most 64 megapixels here\."
    with pytest.raises(ImageTooLarge, match=too_many) as refusal:
        affordable(rgb, 16384, requested)

    largest = advised_width(refusal)
    assert affordable(rgb, largest, requested) is RequestedFormat.WEBP
    with pytest.raises(ImageTooLarge, match=rf"at a maxWidth of {largest + 1} .* at most {largest}\.$"):
        affordable(rgb, largest + 1, requested)


def test_a_transparent_result_is_advised_the_width_of_any_format_asked_for():
    # `auto` at 8000 x 6000 is WebP (AVIF's 24 megapixels are too few); with transparency WebP
    # takes 16 and AVIF 24: the advice is AVIF's width.
    large = source(8000, 6000, SourceFormat.WEBP)
    assert affordable(large, 8000, RequestedFormat.AUTO) is RequestedFormat.WEBP

    with pytest.raises(ImageTooLarge, match="AVIF results with transparency can have at most 24 megapixels") as refusal:
        budget.affordable_format(large, RequestedFormat.AUTO, max_width=8000, transparent=True)

    largest = advised_width(refusal)
    assert budget.affordable_format(large, RequestedFormat.AUTO, max_width=largest, transparent=True) is (
        RequestedFormat.AVIF
    )


def test_a_large_jpeg_counts_the_size_libjpeg_decodes_it_at():
    # 1/4 of each side (ImageMagick asks for 1/4, libjpeg-turbo takes 2/8), so it fits where a PNG does not.
    jpeg = source(16_000, 6_250, SourceFormat.JPEG)
    assert budget._decoded_pixels(jpeg, 3000) == 4000 * 1563
    affordable(jpeg, 8000)
    with pytest.raises(ImageTooLarge):
        affordable(source(16_000, 6_250), 8000)


def test_a_turned_image_counts_its_oriented_copy():
    available = magick.limits["memory"] + magick.limits["map"] + magick.limits["disk"]
    width = int((available / budget.CACHE_BYTES_PER_PIXEL / 2 / 2) ** 0.5) + 10  # 2:1, fits once, not twice
    assert budget._fits(source(width, width * 2), width, width * 2)  # (its 67 MP are too many for WebP)
    with pytest.raises(ImageTooLarge, match="too large to decode here"):
        affordable(source(width, width * 2, turned=True), width)


@pytest.mark.parametrize("format", [SourceFormat.TIFF, SourceFormat.JPEG])
@pytest.mark.parametrize(("width", "height"), [(7400, 7399), (7400, 7400)])
def test_an_oriented_copy_the_size_does_not_show_is_counted(format, width, height):
    """Flipped, mirrored or turned by 180 degrees (orientations 2-4), or turned while square
    (5-8), the image keeps its size: decoded whole, such a TIFF or JPEG and its oriented copy
    (0.55 GB each) do not fit the disk together. Not oriented, it fits."""
    header = source(width, height, format)

    affordable(header, width)  # at full size: a JPEG is decoded whole too
    with pytest.raises(ImageTooLarge, match=rf"^The image is {width}x{height} pixels: (too large|at a maxWidth)"):
        affordable(replace(header, reoriented=True), width)


@pytest.mark.parametrize(
    "header",
    [
        source(9000, 9000, SourceFormat.AVIF),  # decoded as YCbCr
        replace(source(8000, 8000), png_colour_type=3),  # a palette, made sRGB through its profile
        source(8000, 8000, SourceFormat.BMP),
    ],
    ids=["avif", "palette-png", "bmp"],
)
def test_a_source_not_decoded_in_srgb_counts_its_srgb_copy(header):
    """Made sRGB before it is resized, an image decoded as CMYK, YCbCr, grey or a palette is copied
    whole into a cache of 8 bytes a pixel while the decoded one is held (0.65 + 0.52 GB for a
    64-megapixel palette)."""
    with pytest.raises(ImageTooLarge, match="too large to decode here"):
        affordable(header, 1920)
    affordable(replace(header, format=SourceFormat.WEBP, png_colour_type=None), 1920)  # decoded in sRGB: fits


def test_an_avif_with_an_alpha_plane_counts_that_plane_and_its_turned_copy():
    available = magick.limits["memory"] + magick.limits["map"] + magick.limits["disk"]
    width = int((available / budget.CACHE_BYTES_PER_PIXEL / 3 / 2) ** 0.5) + 10  # 2:1, fits once, not three times
    opaque = source(width, width * 2, SourceFormat.AVIF)
    affordable(opaque, width)
    with pytest.raises(ImageTooLarge, match="too large to decode here"):
        affordable(replace(opaque, separate_alpha=True), width)


def test_an_avif_is_refused_where_its_decoder_s_planes_would_not_fit_a_worker():
    """A 12-bit 4:4:4 AVIF of 8192x4352 (35.7 MP) took a worker to 1000 MB, within 3% of the ceiling,
    where one of 8 bits in 4:2:0 took it to 375 MB: libheif and dav1d hold its planes several times
    over, at 2 bytes a sample and without subsampled chroma. Decoded at full size, whatever the
    maxWidth: no smaller width is advised."""
    eight_bit = source(8192, 4352, SourceFormat.AVIF)
    twelve_bit = replace(eight_bit, bit_depth=12, chroma="4:4:4")

    for max_width in (1920, 8192):
        affordable(eight_bit, max_width)
        with pytest.raises(ImageTooLarge, match=r"^The image is 8192x4352 pixels: too large to decode here\.$"):
            affordable(twelve_bit, max_width)
    affordable(replace(twelve_bit, width=6000, height=4000, stored_width=6000, stored_height=4000), 1920)  # 723 MB


def test_a_heic_s_decoding_counts_its_bits_and_its_alpha_but_not_its_chroma():
    """libde265's path took a worker to 309 MB for an 8-bit 4:2:0 HEIC of 35.7 MP, 644 MB at 10 or
    12 bits in 4:2:0 and in 4:4:4 alike, 854 MB with an alpha plane."""
    twelve_bit = replace(source(8192, 4352, SourceFormat.HEIC), bit_depth=12, chroma="4:4:4")

    affordable(twelve_bit, 1920)
    with pytest.raises(ImageTooLarge, match="too large to decode here"):
        affordable(replace(twelve_bit, separate_alpha=True), 1920)
    with pytest.raises(ImageTooLarge, match="too large to decode here"):
        affordable(replace(twelve_bit, width=9000, height=6000, stored_width=9000, stored_height=6000), 1920)


def test_an_avif_s_alpha_plane_counts_in_its_decoder_s_memory():
    """A 10-bit 4:2:0 AVIF of 35.7 MP took a worker to 634 MB, 853 with an alpha plane."""
    opaque = replace(source(8192, 4352, SourceFormat.AVIF), bit_depth=10)

    affordable(opaque, 1920)
    with pytest.raises(ImageTooLarge, match="too large to decode here"):
        affordable(replace(opaque, separate_alpha=True), 1920)


def test_a_grey_png_counts_both_its_decodings_each_whole_in_memory_or_on_disk():
    """ImageMagick 6 decodes a grey PNG in RGB (8 bytes a pixel), then makes a palette image of it
    (10) while holding the first. At 64 MP both together (1.15 GB) are under memory and disk
    together (1.34 GB), but neither fits the 256 MiB of memory: on disk (1 GiB) they do not fit."""
    grey = replace(source(8000, 8000), png_colour_type=0)
    assert magick.limits["memory"] + magick.limits["disk"] > 18 * 8000 * 8000

    with pytest.raises(ImageTooLarge, match="too large to decode here"):
        affordable(grey, 1920)
    affordable(replace(grey, png_colour_type=2), 1920)  # RGB: decoded once
    affordable(replace(source(7700, 7700), png_colour_type=0), 1920)  # 59 MP: 1.07 GB


def test_a_gif_counts_its_first_frame_and_the_screen_it_is_placed_on():
    affordable(source(7000, 7000, SourceFormat.GIF), 1920)  # 0.49 + 0.39 GB
    with pytest.raises(ImageTooLarge, match="too large to decode here"):
        affordable(source(8000, 8000, SourceFormat.GIF), 1920)  # 0.64 + 0.51 GB


def test_an_animated_webp_counts_its_first_frame_cut_out_and_placed_on_a_new_canvas():
    """imaging._on_webp_canvas: a 9998x9998 frame at (2, 2) of a 264 kB file was decoded (2.5 s,
    950 MB) before the copies ran out of caches."""
    canvas = source(10000, 10000, SourceFormat.WEBP)
    affordable(canvas, 1920)  # 0.8 GB decoded: fits the disk
    with pytest.raises(ImageTooLarge, match="too large to decode here"):
        affordable(replace(canvas, animated=True, placed_frame_pixels=9998 * 9998), 1920)  # 0.8 + 0.8 GB
    affordable(replace(source(6000, 6000, SourceFormat.WEBP), animated=True, placed_frame_pixels=5998 * 5998), 1920)


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


@pytest.mark.parametrize(
    ("mode", "side", "colour", "orientation"),
    [("CMYK", 8000, (10, 60, 120, 30), 1), ("L", 8500, 128, 3)],
    ids=["cmyk", "grey-turned-180"],
)
def test_the_pipeline_refuses_a_tiff_that_would_run_out_of_caches_half_way(mode, side, colour, orientation):
    """TIFFs ImageMagick decodes whole, on disk, then copies whole: a 64-megapixel CMYK one in sRGB
    (0.64 + 0.51 GB), a 72-megapixel grey one turned by 180 degrees (0.58 + 0.58 GB); neither copy
    fits memory or what is left of the disk. Accepted, they ran out of caches after seconds."""
    image = Image.new(mode, (side, side), colour)
    data = images.encode(image, "TIFF", compression="tiff_deflate", tiffinfo={274: orientation})
    started = time.perf_counter()

    with pytest.raises(ImageTooLarge, match="too large to decode here"):
        optimize(data, OptimizeOptions(smart=False), max_pixels=MAX_PIXELS)

    assert time.perf_counter() - started < 1
    assert magick.caches_in_use() == 0


@pytest.fixture(scope="module")
def grey_9000() -> bytes:
    return images.encode(Image.new("L", (9000, 9000), 128), "PNG")  # ~100 KB


@pytest.fixture(scope="module")
def rgb_9000() -> bytes:
    return images.encode(Image.new("RGB", (9000, 9000), (20, 80, 160)), "PNG")  # ~260 KB


class ReachedPreparation(Exception):
    pass


def reached_preparation(source: bytes, *, max_width: int, max_pixels: int) -> NoReturn:
    raise ReachedPreparation(max_width)


@pytest.mark.parametrize("max_width", [16384, 8000, 1920, 100])
def test_the_pipeline_refuses_an_image_no_width_can_take_without_advising_one(grey_9000, max_width):
    options = OptimizeOptions(format=RequestedFormat.WEBP, max_width=max_width, smart=False)

    with pytest.raises(ImageTooLarge) as refusal:
        optimize(grey_9000, options, max_pixels=MAX_PIXELS)

    assert str(refusal.value) == "The image is 9000x9000 pixels: too large to decode here."
    assert magick.caches_in_use() == 0


def test_the_pipeline_s_first_refusal_advises_a_width_it_then_takes(rgb_9000, monkeypatch):
    options = OptimizeOptions(format=RequestedFormat.WEBP, max_width=16384, smart=False)
    with pytest.raises(ImageTooLarge, match="WebP results can have at most 64 megapixels here") as refusal:
        optimize(rgb_9000, options, max_pixels=MAX_PIXELS)
    largest = advised_width(refusal)

    # Past the budget comes preparation, which takes ~45 s to decode and resize this image:
    # reaching it is the budget's yes.
    monkeypatch.setattr(pipeline, "prepare", reached_preparation)
    with pytest.raises(ReachedPreparation):
        optimize(rgb_9000, replace(options, max_width=largest), max_pixels=MAX_PIXELS)
    with pytest.raises(ImageTooLarge, match=rf"at most {largest}\.$"):
        optimize(rgb_9000, replace(options, max_width=largest + 1), max_pixels=MAX_PIXELS)
    assert magick.caches_in_use() == 0


def tiff_source(width: int, height: int, **layout) -> SourceInfo:
    """A TIFF's header: its size and the layout of its first directory."""
    size = {"width": width, "height": height, "stored_width": width, "stored_height": height}
    return SourceInfo(SourceFormat.TIFF, **size, tiff=TiffLayout(**layout))


RGB, CMYK, YCBCR = 2, 5, 6  # photometric interpretations
LZW, JPEG, DEFLATE = 5, 7, 8  # compressions


@pytest.mark.parametrize(
    ("size", "layout"),
    [
        ((8000, 6000), {"samples_per_pixel": 3, "bits_per_sample": 8, "compression": LZW, "rows_per_strip": 8}),
        ((8000, 6000), {"samples_per_pixel": 3, "bits_per_sample": 16, "compression": DEFLATE, "rows_per_strip": 4}),
        ((7000, 7000), {"samples_per_pixel": 4, "bits_per_sample": 8, "compression": DEFLATE, "rows_per_strip": 2}),
        ((8000, 6000), {"samples_per_pixel": 3, "bits_per_sample": 8, "tile_width": 256, "tile_length": 256}),
        ((7000, 7000), {"samples_per_pixel": 4, "bits_per_sample": 16, "tile_width": 256, "tile_length": 256}),
        ((6000, 4000), {"samples_per_pixel": 4, "bits_per_sample": 8, "compression": LZW, "rows_per_strip": 2}),
        ((7000, 7000), {"samples_per_pixel": 3, "bits_per_sample": 8, "compression": JPEG, "rows_per_strip": 8}),
        ((7680, 7680), {"samples_per_pixel": 3, "bits_per_sample": 8, "compression": DEFLATE, "rows_per_strip": 7680}),
        ((7000, 7000), {"samples_per_pixel": 4, "bits_per_sample": 8, "compression": DEFLATE, "rows_per_strip": 7000}),
        ((4000, 4000), {"samples_per_pixel": 32, "bits_per_sample": 16, "compression": DEFLATE, "rows_per_strip": 16}),
    ],
    ids=[
        "rgb8-lzw-strips-318mb",
        "rgb16-deflate-strips-227mb",
        "rgba8-deflate-strips-248mb",
        "rgb8-tiles-303mb",
        "rgba16-tiles-314mb",
        "cmyk8-lzw-strips-345mb",
        "rgb8-jpeg-strips-303mb",
        "rgb8-59mp-one-strip-620mb",
        "rgba8-49mp-one-strip-721mb",
        "32-samples-of-16-bits-strips-326mb",
    ],
)
def test_a_tiff_whose_decoding_fits_a_worker_is_accepted(size, layout):
    """Ordinary TIFFs of 24-59 megapixels, and one of 32 samples in strips of 16 rows: the peak of a
    fresh worker-like process preparing each (maxWidth 1920) is in the id, all under 1 GiB."""
    photometric = CMYK if size == (6000, 4000) else RGB
    source = tiff_source(*size, photometric=photometric, **layout)
    assert affordable(source, 1920) is RequestedFormat.WEBP


@pytest.mark.parametrize(
    ("size", "layout"),
    [
        ((64, 64), {"samples_per_pixel": 32, "bits_per_sample": 16, "tile_width": 4096, "tile_length": 4096}),
        ((4000, 4000), {"samples_per_pixel": 32, "bits_per_sample": 16, "rows_per_strip": 4000}),
        ((7000, 7000), {"samples_per_pixel": 4, "bits_per_sample": 16, "rows_per_strip": 7000}),
    ],
    ids=["1gb-tile-1354mb", "one-strip-of-32-samples-3.3gb", "rgba16-49mp-one-strip-1225mb"],
)
def test_a_tiff_whose_strip_or_tile_would_not_fit_is_refused_at_every_width(size, layout):
    """libtiff and ImageMagick decode a whole strip or tile, at full size whatever the maxWidth: a
    64x64 TIFF of 1 MB holding one 4096x4096 tile of 32 16-bit samples took a worker from 328 to
    1354 MB, one strip of them over 4000x4000 to 3.3 GB, a 49 MP 16-bit RGBA one in one strip to
    1225 MB (measured on the API). The refusal names the cause, which nothing in the image shows,
    and the way out: in strips of a row, each would be accepted."""
    source = tiff_source(*size, photometric=RGB, compression=layout.pop("compression", DEFLATE), **layout)
    stored = (
        f"tiles of {layout['tile_width']}x{layout['tile_length']} pixels"
        if "tile_width" in layout
        else f"strips of {layout['rows_per_strip']} rows"
    )
    refusal = (
        f"^The image is {size[0]}x{size[1]} pixels, stored in {stored} of {layout['samples_per_pixel']} samples "
        f"of 16 bits a pixel: its decoder would hold a whole (tile|strip) at once, more memory than an image may "
        r"use here\. Saved in strips of a few rows \(most programs' default\), it would be accepted\.$"
    )
    for max_width in (size[0], 100):
        with pytest.raises(ImageTooLarge, match=refusal):
            affordable(source, max_width)


def test_a_tiff_too_large_in_any_layout_is_not_advised_to_change_it():
    """81 MP in one strip: its strip is too large, and so would be its pixels in strips of a row."""
    source = tiff_source(9000, 9000, photometric=RGB, samples_per_pixel=3, bits_per_sample=8, rows_per_strip=9000)
    refusal = (
        "The image is 9000x9000 pixels, stored in strips of 9000 rows of 3 samples of 8 bits a pixel: its "
        "decoder would hold a whole strip at once, more memory than an image may use here."
    )
    with pytest.raises(ImageTooLarge) as refused:
        affordable(source, 1920)

    assert str(refused.value) == refusal


def test_the_pipeline_refuses_a_tiff_whose_tile_would_not_fit_from_its_header():
    """The file declares one 4096x4096 tile of 32 16-bit samples (1 GiB decoded) and holds a few
    bytes of it: refused from the header, before libtiff allocates the tile."""
    data = images.tiff_of_layout(64, 64, samples=32, bits=16, tile=(4096, 4096), pixels=zlib.compress(bytes(1 << 16)))
    data += bytes(1 << 14)  # as long as ImageMagick wants a file of this width to be before it decodes
    started = time.perf_counter()

    with pytest.raises(ImageTooLarge, match=r"^The image is 64x64 pixels, stored in tiles of 4096x4096 pixels"):
        optimize(data, OptimizeOptions(smart=False), max_pixels=MAX_PIXELS)

    assert time.perf_counter() - started < 1
    assert magick.caches_in_use() == 0
