"""Colour management (optimizer.colour, and how prepare applies it): ICC profiles, PNG colour
chunks as Chromium reads them, and the numpy conversion checked against LittleCMS and Pillow."""

import io
import struct
import tracemalloc
import zlib
from pathlib import Path
from unittest.mock import Mock

import imagecodecs
import numpy as np
import pytest
from PIL import Image, ImageCms

from optimizer import colour, imaging, magick, probe
from optimizer.perceptual import flattened
from optimizer.pixels import Pixels
from optimizer.tests import images
from optimizer.tests.test_imaging import as_pillow, mean_difference, prepare


def test_cmyk_jpeg_is_converted_to_srgb():
    cmyk_red = Image.new("CMYK", (32, 32), (0, 255, 255, 0))

    pixels = prepare(images.encode(cmyk_red, "JPEG", quality=95)).pixels

    assert pixels.layout == "RGB"
    red, green, blue = as_pillow(pixels).getpixel((16, 16))
    assert red > 230 and green < 30 and blue < 30


def test_an_embedded_icc_profile_is_honoured():
    """Under a profile whose first channel is sRGB's green, (255, 0, 0) is green."""
    stored = Image.new("RGB", (32, 32), (255, 0, 0))

    pixels = prepare(images.encode(stored, "JPEG", quality=95, icc_profile=images.SWAPPED_PRIMARIES_PROFILE)).pixels

    red, green, blue = as_pillow(pixels).getpixel((16, 16))
    assert green > 230 and red < 30 and blue < 30


def test_srgb_profiles_are_recognised():
    gamma_22 = images.icc_profile(*images.SRGB_PRIMARIES)

    assert colour.matrix_shaper_profile(magick.SRGB_PROFILE).is_srgb  # LittleCMS's, a parametric curve
    assert colour.matrix_shaper_profile(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()).is_srgb
    assert not colour.matrix_shaper_profile(gamma_22).is_srgb  # close, but not the sRGB tone curve
    assert not colour.matrix_shaper_profile(images.SWAPPED_PRIMARIES_PROFILE).is_srgb


def test_only_matrix_shaper_rgb_profiles_are_parsed():
    lut_based = images.icc_profile(*images.SRGB_PRIMARIES, lut_primaries=images.SRGB_PRIMARIES)
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()

    assert colour.matrix_shaper_profile(images.ADOBE_RGB_PROFILE)
    assert colour.matrix_shaper_profile(lut_based) is None
    assert colour.matrix_shaper_profile(lab) is None
    assert colour.matrix_shaper_profile(b"not a profile" * 10) is None


def test_a_profile_listing_thousands_of_huge_tags_is_read_in_little_memory():
    """A crafted tag table (4,000 entries, each as large as the 512 kB profile) had each copied: 2 GB
    of a worker's memory for an image of 64x64 pixels."""
    size, count = 512 * 1024, 4000
    profile = bytearray(size)
    struct.pack_into(">I", profile, 0, size)
    profile[16:24], profile[36:40] = b"RGB XYZ ", b"acsp"
    struct.pack_into(">I", profile, 128, count)
    for index in range(count):
        struct.pack_into(">4sII", profile, 132 + 12 * index, struct.pack(">I", 0x41000000 + index), 1, 0xFFFFFFFF)
    with_curves = bytes(profile)
    for index, signature in enumerate([b"rTRC", b"gTRC", b"bTRC"]):  # tone curves of a billion entries
        struct.pack_into(">4sII", profile, 132 + 12 * index, signature, 1024, 0xFFFFFFFF)
    struct.pack_into(">4sII", profile, 1024, b"curv", 0, 0x7FFFFFFF)

    tracemalloc.start()
    try:
        for crafted in (with_curves, bytes(profile)):
            assert colour.matrix_shaper_profile(crafted) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 4 * size


def test_an_srgb_profile_changes_nothing():
    stored = images.photo(64, 48)

    with_profile = prepare(images.encode(stored, "PNG", icc_profile=magick.SRGB_PROFILE)).pixels

    assert with_profile.data == prepare(images.encode(stored, "PNG")).pixels.data


def test_a_broken_icc_profile_is_ignored():
    stored = Image.new("RGB", (32, 32), (255, 0, 0))

    pixels = prepare(images.encode(stored, "JPEG", quality=95, icc_profile=b"not a profile" * 10)).pixels

    red, green, blue = as_pillow(pixels).getpixel((16, 16))
    assert red > 230 and green < 30 and blue < 30


# --- PNG colour chunks, as Chromium reads them ------------------------------------------------

GREY_RAMP = [value * 17 for value in range(16)]
# What Chromium 156 shows of GREY_RAMP under each gAMA (a 16x1 greyscale PNG drawn on a canvas).
CHROMIUM_GREY = {
    1.0: [0, 73, 102, 124, 141, 156, 170, 182, 193, 203, 213, 222, 231, 239, 247, 255],
    1 / 1.8: [0, 21, 45, 66, 86, 104, 121, 138, 154, 169, 184, 199, 214, 228, 241, 255],
    1 / 2.2: GREY_RAMP,  # near 1/2.2, without cHRM: plain sRGB
}


def red_samples(pixels: Pixels) -> list[int]:
    return list(pixels.data[:: len(pixels.layout)])


@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("alpha", [False, True], ids=["grey", "grey-alpha"])
@pytest.mark.parametrize("gamma", CHROMIUM_GREY, ids=["1.0", "1-1.8", "1-2.2"])
def test_a_greyscale_png_with_a_gamma_is_shown_as_chromium_shows_it(gamma, alpha, depth):
    """A gAMA of 1.0 (linear) used to be a 500 at every bit depth: ImageMagick marks such images
    linear grey, a colourspace Wand's table does not list. Other gammas were ignored."""
    scale = 257 if depth == 16 else 1
    row = [sample * scale for value in GREY_RAMP for sample in ((value, 255) if alpha else (value,))]

    pixels = prepare(images.png([row], 16, 1, greyscale=True, alpha=alpha, bitdepth=depth, gamma=gamma)).pixels

    assert np.abs(np.array(red_samples(pixels)) - CHROMIUM_GREY[gamma]).max() <= 1


RGB_RAMP = [sample for x in range(0, 16, 3) for sample in (x * 17, 255 - x * 17, 128)]
WIDE_CHRM = images.png_chunk(b"cHRM", struct.pack(">8I", 31270, 32900, 73470, 26530, 21000, 71000, 14000, 8000))
SRGB_CHRM = images.png_chunk(b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000))
SRGB_CHUNK = images.png_chunk(b"sRGB", b"\0")


def cicp_chunk(primaries: int, transfer: int, matrix: int = 0, full_range: int = 1) -> bytes:
    return images.png_chunk(b"cICP", bytes([primaries, transfer, matrix, full_range]))


CHROMIUM_CICP_P3 = [(0, 255, 111), (0, 208, 120), (85, 155, 126), (162, 99, 129), (222, 24, 130), (255, 0, 128)]
# What Chromium 156 shows of RGB_RAMP's six pixels under these chunks.
CHROMIUM_RGB = {
    "wide cHRM + gAMA 1/2.2": (
        1 / 2.2,
        WIDE_CHRM,
        [(0, 255, 119), (0, 216, 124), (58, 160, 128), (173, 92, 130), (243, 0, 130), (255, 0, 130)],
    ),
    "sRGB cHRM + gAMA 1/2.2, a pure power curve": (
        1 / 2.2,
        SRGB_CHRM,
        [(0, 255, 129), (47, 205, 129), (102, 154, 129), (154, 102, 129), (205, 48, 129), (255, 0, 129)],
    ),
    "gAMA 1.0": (
        1.0,
        b"",
        [(0, 255, 188), (124, 231, 188), (170, 203, 188), (203, 170, 188), (231, 124, 188), (255, 0, 188)],
    ),
    "cHRM alone, ignored": (None, WIDE_CHRM, [tuple(RGB_RAMP[index : index + 3]) for index in range(0, 18, 3)]),
    "sRGB over gAMA 1.0": (1.0, SRGB_CHUNK, [tuple(RGB_RAMP[index : index + 3]) for index in range(0, 18, 3)]),
    "cICP Display P3": (None, cicp_chunk(12, 13), CHROMIUM_CICP_P3),
    "cICP Display P3 over gAMA 1.0": (1.0, cicp_chunk(12, 13), CHROMIUM_CICP_P3),
    "cICP sRGB over an iCCP": (
        None,
        cicp_chunk(1, 13) + images.iccp_chunk(images.SWAPPED_PRIMARIES_PROFILE),
        [tuple(RGB_RAMP[index : index + 3]) for index in range(0, 18, 3)],
    ),
    "cICP BT.2020, BT.709's transfer: a 2.4 gamma": (
        None,
        cicp_chunk(9, 1),
        [(0, 255, 95), (0, 212, 110), (0, 153, 118), (171, 83, 123), (249, 0, 124), (255, 0, 122)],
    ),
    "cICP linear light": (
        None,
        cicp_chunk(1, 8),
        [(0, 255, 188), (124, 231, 188), (170, 203, 188), (203, 170, 188), (231, 124, 188), (255, 0, 188)],
    ),
    "cICP SMPTE 240M's transfer": (
        None,
        cicp_chunk(1, 7),
        [(0, 255, 141), (69, 210, 141), (117, 164, 141), (164, 117, 141), (210, 69, 141), (255, 0, 141)],
    ),
    "cICP DCI-P3, its own white": (
        None,
        cicp_chunk(11, 13),
        [(0, 255, 111), (0, 208, 120), (91, 155, 126), (159, 99, 129), (217, 23, 130), (255, 0, 129)],
    ),
    "cICP narrow range, ignored": (
        None,
        cicp_chunk(12, 13, full_range=0),
        [tuple(RGB_RAMP[index : index + 3]) for index in range(0, 18, 3)],
    ),
}


@pytest.mark.parametrize(("gamma", "chunks", "shown"), CHROMIUM_RGB.values(), ids=CHROMIUM_RGB)
def test_png_colour_chunks_are_read_as_chromium_reads_them(gamma, chunks, shown):
    pixels = prepare(images.png([RGB_RAMP], 6, 1, greyscale=False, gamma=gamma, chunks=chunks)).pixels

    assert np.abs(np.frombuffer(pixels.data, np.uint8).reshape(6, 3).astype(int) - shown).max() <= 1


@pytest.mark.parametrize(
    ("chunk", "shown"),
    [
        (cicp_chunk(1, 1), [0, 5, 22, 40, 58, 76, 94, 112, 129, 147, 165, 183, 201, 219, 237, 255]),
        (cicp_chunk(12, 8), CHROMIUM_GREY[1.0]),
    ],
    ids=["bt709-transfer", "linear"],
)
def test_a_greyscale_png_with_a_cicp_chunk_is_shown_as_chromium_shows_it(chunk, shown):
    pixels = prepare(images.png([GREY_RAMP], 16, 1, greyscale=True, chunks=chunk)).pixels

    assert np.abs(np.array(red_samples(pixels)) - shown).max() <= 1


@pytest.mark.parametrize(
    ("primaries", "transfer", "matrix", "full_range"),
    [(12, 13, 1, 1), (12, 13, 0, 0), (2, 13, 0, 1), (12, 2, 0, 1), (1, 17, 0, 1)],
    ids=["a-matrix", "narrow-range", "unspecified-primaries", "unspecified-transfer", "smpte-428"],
)
def test_a_cicp_chunk_that_chromium_ignores_or_is_not_honoured_stands_for_no_profile(
    primaries, transfer, matrix, full_range
):
    data = images.png([RGB_RAMP], 6, 1, greyscale=False, chunks=cicp_chunk(primaries, transfer, matrix, full_range))

    assert colour.png_colour_profile(data) is None


def test_16_bit_samples_go_through_their_profile_before_losing_bits():
    """Under a linear profile, 100/65535 of full light is sRGB level 5; rounded to 8 bits first it
    would be black."""
    linear = images.icc_profile(*images.SRGB_PRIMARIES, gamma=1.0)
    data = images.png([[100] * 12], 4, 1, greyscale=False, bitdepth=16, chunks=images.iccp_chunk(linear))

    assert set(prepare(data).pixels.data) == {5}


def test_a_cmyk_profile_is_applied_relative_colorimetric_as_browsers_apply_it():
    """ImageMagick's default, perceptual, reads other tables of a LUT-based profile: ~3 levels off
    what Chromium shows of this CMYK JPEG."""
    profile = Path("/usr/share/color/icc/ghostscript/default_cmyk.icc").read_bytes()  # make test installs it
    data = images.encode(images.photo(64, 48).convert("CMYK"), "JPEG", quality=95, icc_profile=profile)
    stored, source, srgb = (
        images.decode(data),
        ImageCms.ImageCmsProfile(io.BytesIO(profile)),
        ImageCms.createProfile("sRGB"),
    )

    shown = as_pillow(prepare(data).pixels)

    relative, perceptual = (
        ImageCms.profileToProfile(stored, source, srgb, renderingIntent=intent, outputMode="RGB")
        for intent in (ImageCms.Intent.RELATIVE_COLORIMETRIC, ImageCms.Intent.PERCEPTUAL)
    )
    assert mean_difference(shown, relative) < 0.5 < 2 < mean_difference(shown, perceptual)


def converted_by_littlecms(data: bytes) -> bytes:
    """The samples ImageMagick's own conversion through the embedded profile gives."""
    with magick.Image(blob=data) as image:
        magick.convert_to_srgb_profile(image)
        image.depth = 8
        return image.make_blob("RGBA" if image.alpha_channel else "RGB")


def largest_difference(first: bytes, second: bytes) -> int:
    return int(np.abs(np.frombuffer(first, np.uint8).astype(np.int16) - np.frombuffer(second, np.uint8)).max())


@pytest.mark.parametrize(
    "profile",
    [images.ADOBE_RGB_PROFILE, images.icc_profile(*images.ADOBE_RGB_PRIMARIES, gamma=1.8, table_size=1024)],
    ids=["gamma", "table"],
)
@pytest.mark.parametrize("stored", [images.photo(), images.transparent()], ids=["RGB", "RGBA"])
def test_a_matrix_shaper_profile_is_converted_as_littlecms_does(stored, profile, monkeypatch):
    """Converted in numpy on the final 8-bit pixels, it agrees with LittleCMS within rounding."""
    data = images.encode(stored, "PNG", icc_profile=profile)
    monkeypatch.setattr(imaging, "convert_to_srgb_profile", None)  # not called on this path

    pixels = prepare(data).pixels

    assert pixels.layout == stored.mode
    assert largest_difference(pixels.data, converted_by_littlecms(data)) <= 1
    assert largest_difference(pixels.data, stored.tobytes()) > 30  # the conversion did something
    if stored.mode == "RGBA":
        assert pixels.alpha_samples().tobytes() == stored.getchannel("A").tobytes()


def converted_by_littlecms_then_resized(data: bytes, width: int, height: int) -> Pixels:
    with magick.Image(blob=data) as image:
        magick.convert_to_srgb_profile(image)
        image.resize(width, height, filter=imaging.RESIZE_FILTER)
        image.depth = 8
        layout = "RGBA" if image.alpha_channel else "RGB"
        return Pixels(image.make_blob(layout), width, height, has_alpha=layout == "RGBA")


@pytest.mark.parametrize(
    "stored", [images.photo(), images.transparent(), images.photo(1024, 600)], ids=["RGB", "RGBA", "bands"]
)
def test_an_image_to_be_resized_is_converted_in_numpy_before_the_resize(stored, monkeypatch):
    """What LittleCMS and then the resize give, as shown (the colour of a fully transparent pixel
    is not), within the 8-bit rounding that comes before the resize here; converted a band of
    rows at a time (CHUNK_PIXELS: 1024x600 is two bands and part of a third)."""
    data = images.encode(stored, "PNG", icc_profile=images.ADOBE_RGB_PROFILE)
    monkeypatch.setattr(imaging, "convert_to_srgb_profile", None)  # not called on this path

    pixels = prepare(data, max_width=stored.width // 2).pixels

    assert (pixels.width, pixels.layout) == (stored.width // 2, stored.mode)
    littlecms = converted_by_littlecms_then_resized(data, pixels.width, pixels.height)
    assert largest_difference(flattened(pixels).tobytes(), flattened(littlecms).tobytes()) <= 1
    assert pixels.alpha_samples().tobytes() == littlecms.alpha_samples().tobytes()


def test_a_resize_averages_in_srgb_not_in_the_source_s_tone_curve():
    """Black and white pixels under a linear profile are sRGB's 0 and 255: averaged in sRGB, a
    grey of ~128; averaged as stored (linear light) and then converted, sRGB's 188."""
    checkerboard = Image.fromarray((np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)).convert("RGB")
    linear = images.icc_profile(*images.SRGB_PRIMARIES, gamma=1.0)

    pixels = prepare(images.encode(checkerboard, "PNG", icc_profile=linear), max_width=32).pixels

    assert abs(np.frombuffer(pixels.data, np.uint8).mean() - 128) < 4


def test_out_of_gamut_colours_are_clipped():
    """Adobe RGB's pure green is outside sRGB: it becomes sRGB's most saturated green."""
    stored = Image.new("RGB", (16, 16), (0, 255, 0))

    pixels = prepare(images.encode(stored, "PNG", icc_profile=images.ADOBE_RGB_PROFILE)).pixels

    assert as_pillow(pixels).getpixel((8, 8)) == (0, 255, 0)


def test_a_lut_based_profile_is_left_to_imagemagick(monkeypatch):
    """LittleCMS prefers a profile's lookup table to its matrix: here sRGB's primaries, where the
    matrix says the first channel is green."""
    profile = images.icc_profile(
        images.SRGB_GREEN, images.SRGB_RED, images.SRGB_BLUE, lut_primaries=images.SRGB_PRIMARIES
    )
    littlecms = Mock(wraps=magick.convert_to_srgb_profile)
    monkeypatch.setattr(imaging, "convert_to_srgb_profile", littlecms)

    pixels = prepare(images.encode(Image.new("RGB", (32, 32), (255, 0, 0)), "PNG", icc_profile=profile)).pixels

    littlecms.assert_called_once()
    red, green, blue = as_pillow(pixels).getpixel((16, 16))
    assert red > 230 and green < 30 and blue < 30


# --- Profiles that do not describe the samples --------------------------------------------------

BLOCKS = ((200, 30, 40), (30, 180, 60), (40, 60, 220))  # red, green and blue


def blocks(mode: str = "RGB") -> Image.Image:
    """Three solid 32x32 blocks side by side, in BLOCKS' colours (half transparent in RGBA)."""
    image = Image.new("RGB", (96, 32))
    for index, block in enumerate(BLOCKS):
        image.paste(block, (32 * index, 0, 32 * index + 32, 32))
    if mode == "RGBA":
        image.putalpha(128)
    return image.convert(mode)


def block_colours(image: Image.Image) -> np.ndarray:
    """The RGB of each block's centre."""
    return np.array([image.convert("RGB").getpixel((32 * index + 16, 16)) for index in range(3)])


def ghostscript_profile(name: str) -> bytes:
    return Path(f"/usr/share/color/icc/ghostscript/{name}.icc").read_bytes()  # make test installs them


def of_class(profile: bytes, profile_class: bytes) -> bytes:
    """`profile` relabelled as a profile of another class (header bytes 12-16)."""
    return profile[:12] + profile_class + profile[16:]


def rgb_jpeg(profile: bytes) -> bytes:
    return images.encode(blocks(), "JPEG", quality=95, icc_profile=profile)


RGB_SOURCES_WITH_ANOTHER_PROFILE = {
    "jpeg-grey": lambda: rgb_jpeg(ghostscript_profile("sgray")),
    "jpeg-cmyk": lambda: rgb_jpeg(ghostscript_profile("default_cmyk")),
    "jpeg-lab": lambda: rgb_jpeg(ghostscript_profile("lab")),
    "webp-grey": lambda: images.encode(blocks(), "WEBP", lossless=True, icc_profile=ghostscript_profile("sgray")),
    "webp-rgba-grey": lambda: images.encode(
        blocks("RGBA"), "WEBP", lossless=True, icc_profile=ghostscript_profile("sgray")
    ),
    "tiff-grey": lambda: images.encode(blocks(), "TIFF", icc_profile=ghostscript_profile("sgray")),
    "tiff-16-bit-grey": lambda: images.tiff_16bit(blocks(), icc_profile=ghostscript_profile("sgray")),
    "avif-grey": lambda: images.encode(blocks(), "AVIF", quality=95, icc_profile=ghostscript_profile("sgray")),
    "jpeg-device-link": lambda: rgb_jpeg(of_class(images.ADOBE_RGB_PROFILE, b"link")),
    "jpeg-abstract": lambda: rgb_jpeg(of_class(images.ADOBE_RGB_PROFILE, b"abst")),
    "jpeg-named-colour": lambda: rgb_jpeg(of_class(images.ADOBE_RGB_PROFILE, b"nmcl")),
}


@pytest.mark.parametrize("make", RGB_SOURCES_WITH_ANOTHER_PROFILE.values(), ids=RGB_SOURCES_WITH_ANOTHER_PROFILE)
def test_a_profile_of_another_colour_space_or_class_is_ignored_as_browsers_ignore_it(make):
    """Chromium shows an RGB image's samples as they are (as sRGB) under a grey, CMYK or Lab
    profile; Firefox also under a device link, abstract or named colour one. ImageMagick applied
    them: the blocks came out grey, or in other colours."""
    data = make()
    stored = images.decode(data)

    pixels = prepare(data).pixels

    assert np.abs(block_colours(as_pillow(pixels)) - BLOCKS).max() <= 3
    assert pixels.layout == stored.mode
    assert pixels.alpha_samples().tobytes() == stored.convert("RGBA").getchannel("A").tobytes()


def test_a_cmyk_jpeg_s_rgb_profile_is_ignored_as_browsers_ignore_it():
    """Shown as the same CMYK JPEG without a profile is (ImageMagick's CMYK to sRGB)."""
    stored = blocks("CMYK")

    with_profile = prepare(images.encode(stored, "JPEG", quality=95, icc_profile=images.ADOBE_RGB_PROFILE)).pixels

    without = prepare(images.encode(stored, "JPEG", quality=95)).pixels
    assert np.abs(block_colours(as_pillow(with_profile)) - block_colours(as_pillow(without))).max() <= 2


LINEAR_RGB_PROFILE = images.icc_profile(*images.SRGB_PRIMARIES, gamma=1.0)
SOURCES_WITH_A_MATCHING_PROFILE = {
    "rgb-adobe-rgb": (blocks(), lambda: images.ADOBE_RGB_PROFILE),
    "rgb-input-device-class": (blocks(), lambda: of_class(images.ADOBE_RGB_PROFILE, b"scnr")),
    "rgb-colour-space-class": (blocks(), lambda: of_class(images.ADOBE_RGB_PROFILE, b"spac")),
    "cmyk-cmyk": (blocks("CMYK"), lambda: ghostscript_profile("default_cmyk")),
    "grey-grey": (blocks("L"), lambda: ghostscript_profile("sgray")),
    "grey-rgb": (blocks("L"), lambda: LINEAR_RGB_PROFILE),
}


@pytest.mark.parametrize(
    "stored, profile", SOURCES_WITH_A_MATCHING_PROFILE.values(), ids=SOURCES_WITH_A_MATCHING_PROFILE
)
def test_a_profile_that_describes_the_samples_is_applied(stored, profile):
    """As LittleCMS converts them, relative colorimetric: a grey image through an RGB profile as
    the RGB image of its greys."""
    profile = profile()
    data = images.encode(stored, "JPEG", quality=95, icc_profile=profile)
    decoded = images.decode(data)
    if decoded.mode == "L" and profile[16:20] == b"RGB ":
        decoded = decoded.convert("RGB")  # Chromium reads the grey as R = G = B
    source, srgb = ImageCms.ImageCmsProfile(io.BytesIO(profile)), ImageCms.createProfile("sRGB")
    littlecms = ImageCms.profileToProfile(
        decoded, source, srgb, renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC, outputMode="RGB"
    )

    shown = block_colours(as_pillow(prepare(data).pixels))

    assert np.abs(shown - block_colours(littlecms)).max() <= 3
    assert np.abs(shown - block_colours(decoded)).max() > 10  # the profile changed the colours


def test_a_linear_grey_png_s_grey_profile_is_applied():
    """ImageMagick reads a grey PNG with a gAMA of 1.0 as linear grey (magick.LINEAR_GREY_COLORSPACE),
    a grey image still; its iCCP takes precedence over the gAMA, as in Chromium, which shows these
    100s as 119."""
    profile = images.iccp_chunk(ghostscript_profile("sgray"))

    pixels = prepare(images.png([[100] * 4], 4, 1, greyscale=True, gamma=1.0, chunks=profile)).pixels

    assert set(pixels.data) == {119}


# --- PNG colour chunks weighed as Chromium weighs them -----------------------------------------


def png_with(stored: Image.Image, chunks: bytes = b"", *, after_palette: bytes = b"") -> bytes:
    """`stored` as a PNG (Pillow writes no colour chunks), with `chunks` right after IHDR and
    `after_palette` right after PLTE."""
    data = images.encode(stored, "PNG")
    data = data[:33] + chunks + data[33:]
    if after_palette:
        end = next(end for kind, _, end in probe.png_chunks(data) if kind == b"PLTE")
        data = data[:end] + after_palette + data[end:]
    return data


def littlecms_block_colours(stored: Image.Image, profile: bytes | None) -> np.ndarray:
    """The block colours of `stored` converted from `profile` to sRGB by LittleCMS, relative
    colorimetric (grey read as R = G = B, as Chromium reads it under an RGB profile); without a
    profile, as they are stored."""
    if profile is None:
        return block_colours(stored)
    source, srgb = ImageCms.ImageCmsProfile(io.BytesIO(profile)), ImageCms.createProfile("sRGB")
    return block_colours(
        ImageCms.profileToProfile(
            stored.convert("RGB"), source, srgb, renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC, outputMode="RGB"
        )
    )


SWAPPED_ICCP = images.iccp_chunk(images.SWAPPED_PRIMARIES_PROFILE)
LINEAR_GAMA = images.png_chunk(b"gAMA", struct.pack(">I", 100_000))
# Each: the stored image's mode, chunks after IHDR, chunks after PLTE, and the profile Chromium 156
# shows the samples through (None: as they are, sRGB). Checked in Chromium (a canvas's getImageData).
PNG_CHUNKS_AS_CHROMIUM_WEIGHS_THEM = {
    "grey, an RGB iCCP (libpng refuses it)": ("L", images.iccp_chunk(LINEAR_RGB_PROFILE), b"", LINEAR_RGB_PROFILE),
    "grey and alpha, an RGB iCCP": ("LA", images.iccp_chunk(LINEAR_RGB_PROFILE), b"", LINEAR_RGB_PROFILE),
    "the first of two iCCPs": (
        "RGB",
        SWAPPED_ICCP + images.iccp_chunk(images.ADOBE_RGB_PROFILE),
        b"",
        images.SWAPPED_PRIMARIES_PROFILE,
    ),
    "an iCCP after sRGB": ("RGB", SRGB_CHUNK + SWAPPED_ICCP, b"", images.SWAPPED_PRIMARIES_PROFILE),
    "a palette, an iCCP after PLTE": ("P", b"", SWAPPED_ICCP, images.SWAPPED_PRIMARIES_PROFILE),
    "a palette, a gAMA after PLTE": ("P", b"", LINEAR_GAMA, LINEAR_RGB_PROFILE),
    "an iCCP whose CRC is wrong": ("RGB", images.with_wrong_crc(SWAPPED_ICCP), b"", None),
    "an iCCP whose CRC is wrong, then an intact one": (
        "RGB",
        images.with_wrong_crc(SWAPPED_ICCP) + images.iccp_chunk(images.ADOBE_RGB_PROFILE),
        b"",
        images.ADOBE_RGB_PROFILE,
    ),
    "a gAMA whose CRC is wrong": ("RGB", images.with_wrong_crc(LINEAR_GAMA), b"", None),
    "a gAMA, a cHRM whose CRC is wrong": (
        "RGB",
        LINEAR_GAMA + images.with_wrong_crc(WIDE_CHRM),
        b"",
        LINEAR_RGB_PROFILE,
    ),
}


@pytest.mark.parametrize(
    ("mode", "chunks", "after_palette", "profile"),
    PNG_CHUNKS_AS_CHROMIUM_WEIGHS_THEM.values(),
    ids=PNG_CHUNKS_AS_CHROMIUM_WEIGHS_THEM,
)
def test_png_colour_chunks_are_weighed_as_chromium_weighs_them(mode, chunks, after_palette, profile):
    """Our reader of the chunks decides, where ImageMagick's libpng refused an RGB profile on a
    grey PNG, an iCCP after sRGB or PLTE (and a gAMA after PLTE), and used the second of two
    iCCPs and one whose CRC is wrong; and our own reader used a gAMA or cHRM whose CRC is wrong."""
    stored = blocks().quantize(3) if mode == "P" else blocks(mode)
    expected = littlecms_block_colours(stored, profile)

    shown = block_colours(as_pillow(prepare(png_with(stored, chunks, after_palette=after_palette)).pixels))

    assert np.abs(shown - expected).max() <= 3
    if profile:
        assert np.abs(expected - block_colours(stored)).max() > 10  # the profile changes the colours


def test_an_iccp_that_inflates_beyond_the_bound_is_not_inflated_and_counts_for_nothing():
    """A few kilobytes of iCCP may inflate to gigabytes: it is inflated up to libpng's bound (what
    ImageMagick read), then counts for nothing, as an iCCP that cannot be read: the chunks after it
    in precedence count (here a gAMA of 1.0)."""
    bomb = images.png_chunk(b"iCCP", b"bomb\0\0" + zlib.compress(bytes(64 * 2**20), 9))
    data = png_with(blocks(), bomb + LINEAR_GAMA)

    tracemalloc.start()
    try:
        profile = colour.png_colour_profile(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 3 * colour.MAX_ICC_PROFILE_BYTES  # inflated whole: over 64 MiB
    assert colour.matrix_shaper_profile(profile).to_linear[0, 128] == pytest.approx(128 / 255, abs=0.002)


# --- AVIF and HEIC colour properties ------------------------------------------------------------


def test_an_avif_s_icc_profile_is_honoured():
    """ImageMagick 6's HEIC coder reads no colour property: ours is read from the file."""
    stored = Image.new("RGB", (32, 32), (255, 0, 0))

    pixels = prepare(images.encode(stored, "AVIF", quality=95, icc_profile=images.SWAPPED_PRIMARIES_PROFILE)).pixels

    red, green, blue = as_pillow(pixels).getpixel((16, 16))
    assert green > 230 and red < 30 and blue < 30


@pytest.mark.parametrize(
    "primaries, transfer", [(12, 13), (9, 1), (6, 6), (12, 4), (11, 13), (22, 13), (4, 13), (8, 13), (1, 8), (1, 7)]
)
def test_nclx_colour_stands_for_a_matrix_shaper_profile(primaries, transfer):
    profile = colour.matrix_shaper_profile(colour.heif_colour_profile(primaries, transfer))

    codes = np.arange(256) / 255
    curves = {
        4: codes**2.2,
        8: codes,
        7: np.where(codes < 0.0912, codes / 4, ((codes + 0.1115) / 1.1115) ** (1 / 0.45)),  # SMPTE 240M
    }
    srgb_curve = np.where(codes <= 0.04045, codes / 12.92, ((codes + 0.055) / 1.055) ** 2.4)
    assert np.abs(profile.to_linear - curves.get(transfer, srgb_curve)).max() < 1e-3
    white = profile.colorants.sum(axis=1)  # R = G = B = 1
    assert np.abs(white - [0.9642, 1.0, 0.8249]).max() < 1e-3  # D50, as ICC profiles have it
    assert not profile.is_srgb


@pytest.mark.parametrize(
    "primaries, transfer",
    [(1, 13), (2, 2), (1, 1), (1, 17), (10, 13), (3, 13)],
    ids=["srgb", "unspecified", "bt709", "smpte-428", "xyz", "reserved"],
)
def test_nclx_colour_that_is_srgb_or_not_honoured_stands_for_no_profile(primaries, transfer):
    assert colour.heif_colour_profile(primaries, transfer) is None


# --- HDR sources (PQ, HLG) ----------------------------------------------------------------------

# 10-bit signal levels: greys from deep shadow to past the 1,000 cd/m2 peak (PQ 592 is about the
# reference white, 203 cd/m2; 768 about 1,000), and colours: highlights, BT.2020's saturated
# primaries (outside sRGB's gamut), a yellow past the peak.
HDR_LEVELS = [(128,) * 3, (256,) * 3, (400,) * 3, (512,) * 3, (592,) * 3, (640,) * 3, (700,) * 3, (768,) * 3,
              (900,) * 3, (700, 300, 100), (600, 0, 0), (0, 650, 0), (300, 500, 800), (900, 900, 200),
              (512, 512, 700)]  # fmt: skip
PQ_GREYS = [(5,) * 3, (30,) * 3, (76,) * 3, (131,) * 3, (186,) * 3, (213,) * 3, (235,) * 3, (255,) * 3, (255,) * 3]
HLG_GREYS = [(14,) * 3, (43,) * 3, (74,) * 3, (99,) * 3, (120,) * 3, (135,) * 3, (157,) * 3, (188,) * 3, (229,) * 3]
# What Chromium 156 shows of HDR_LEVELS as a 16-bit PNG under a cICP chunk of these primaries and
# transfer (headless, an 8-bit canvas).
CHROMIUM_HDR = {
    "pq-bt2020": (
        (9, 16),
        [*PQ_GREYS, (255, 0, 0), (240, 0, 0), (0, 229, 0), (0, 70, 255), (255, 255, 0), (86, 104, 244)],
    ),
    "pq-bt709": (
        (1, 16),
        [*PQ_GREYS, (255, 37, 2), (192, 0, 0), (0, 221, 0), (21, 74, 255), (255, 255, 2), (109, 109, 241)],
    ),
    "pq-display-p3": (
        (12, 16),
        [*PQ_GREYS, (255, 0, 0), (211, 0, 0), (0, 224, 0), (0, 72, 255), (255, 255, 0), (106, 106, 244)],
    ),
    "hlg-bt2020": (
        (9, 18),
        [*HLG_GREYS, (176, 29, 0), (136, 0, 0), (0, 141, 0), (0, 99, 189), (235, 229, 0), (95, 99, 151)],
    ),
    "hlg-bt709": (
        (1, 18),
        [*HLG_GREYS, (142, 57, 14), (105, 0, 0), (0, 134, 0), (59, 97, 183), (229, 229, 38), (100, 100, 147)],
    ),
}


def hdr_png(code_points: tuple[int, int], *, alpha: int | None = None, chunks: bytes = b"") -> bytes:
    """HDR_LEVELS as one row of a 16-bit PNG (with `alpha`, 16-bit too) under a cICP chunk."""
    extra = [] if alpha is None else [alpha]
    row = [sample for level in HDR_LEVELS for sample in [*(round(v * 65535 / 1023) for v in level), *extra]]
    return images.png(
        [row],
        len(HDR_LEVELS),
        1,
        greyscale=False,
        alpha=alpha is not None,
        bitdepth=16,
        chunks=cicp_chunk(*code_points) + chunks,
    )


def rgb_samples(pixels: Pixels) -> np.ndarray:
    return np.frombuffer(pixels.data, np.uint8).reshape(-1, len(pixels.layout))[:, :3].astype(int)


@pytest.mark.parametrize(("code_points", "shown"), CHROMIUM_HDR.values(), ids=CHROMIUM_HDR)
def test_an_hdr_png_is_tone_mapped_as_chromium_shows_it(code_points, shown):
    """Read as sRGB (before), PQ's reference white (level 592) came back at sRGB 148 instead of
    186, its peak no brighter than 191: up to 90 levels off (HLG 45)."""
    assert np.abs(rgb_samples(prepare(hdr_png(code_points)).pixels) - shown).max() <= 1


def test_an_hdr_png_keeps_its_alpha_and_ignores_its_icc_profile():
    """A cICP chunk takes precedence over an iCCP chunk (under this one red would be green)."""
    code_points, shown = CHROMIUM_HDR["pq-bt2020"]
    data = hdr_png(code_points, alpha=40_000, chunks=images.iccp_chunk(images.SWAPPED_PRIMARIES_PROFILE))

    pixels = prepare(data).pixels

    assert pixels.layout == "RGBA"
    assert set(pixels.data[3::4]) == {156}  # 40,000 / 65,535 of 255
    assert np.abs(rgb_samples(pixels) - shown).max() <= 1


def light_level_chunk(max_cll: float, max_fall: float = 0) -> bytes:
    """A PNG cLLI chunk: the content's brightest and brightest frame-average light, in cd/m2."""
    return images.png_chunk(b"cLLI", struct.pack(">II", round(max_cll * 10_000), round(max_fall * 10_000)))


def mastering_display_chunk(peak: float) -> bytes:
    """A PNG mDCV chunk: a BT.2020 mastering display peaking at `peak` cd/m2."""
    chromaticities = [round(v / 0.00002) for v in (0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290)]
    return images.png_chunk(b"mDCV", struct.pack(">8HII", *chromaticities, round(peak * 10_000), 1))


# What Chromium 156 shows of HDR_LEVELS under a cICP chunk and a content peak (headless, an 8-bit
# canvas): the lower the peak, the brighter all of the image (a peak of 400 cd/m2 puts the
# reference white at 228, not 186), as its cLLI chunk says, else its mDCV chunk.
CHROMIUM_HDR_PEAKS = {
    "pq-bt2020 cLLI 400": (
        (9, 16),
        light_level_chunk(400, 100),
        [(8,) * 3, (39,) * 3, (95,) * 3, (162,) * 3, (228,) * 3, (249,) * 3, *[(255,) * 3] * 3,
         (255, 0, 0), (255, 0, 0), (0, 255, 0), (0, 70, 255), (255, 255, 0), (94, 113, 255)],
    ),
    "pq-bt2020 mDCV 600": (
        (9, 16),
        mastering_display_chunk(600),
        [(6,) * 3, (35,) * 3, (87,) * 3, (149,) * 3, (210,) * 3, (235,) * 3, (252,) * 3, *[(255,) * 3] * 2,
         (255, 0, 0), (255, 0, 0), (0, 252, 0), (0, 70, 255), (255, 255, 0), (93, 112, 255)],
    ),
    "pq-bt2020 cLLI 0 (unknown), mDCV 300": (
        (9, 16),
        light_level_chunk(0) + mastering_display_chunk(300),
        [(8,) * 3, (41,) * 3, (100,) * 3, (170,) * 3, (239,) * 3, *[(255,) * 3] * 4,
         (255, 0, 0), (255, 0, 0), (0, 255, 0), (0, 70, 255), (255, 255, 0), (94, 113, 255)],
    ),
    "pq-bt709 cLLI 700": (
        (1, 16),
        light_level_chunk(700),
        [(6,) * 3, (33,) * 3, (84,) * 3, (144,) * 3, (203,) * 3, (229,) * 3, (248,) * 3, *[(255,) * 3] * 2,
         (255, 41, 2), (210, 0, 0), (0, 238, 0), (21, 74, 255), (255, 255, 2), (115, 115, 255)],
    ),
    "hlg-bt2020 cLLI 400": (
        (9, 18),
        light_level_chunk(400),
        [(20,) * 3, (54,) * 3, (93,) * 3, (123,) * 3, (147,) * 3, (166,) * 3, (193,) * 3, (230,) * 3, (255,) * 3,
         (215, 38, 0), (167, 0, 0), (0, 173, 0), (0, 123, 231), (255, 255, 0), (118, 123, 185)],
    ),
    # Peaks above 1,000 cd/m2: the reference white stays at 186, the highlights darken. At 10,000
    # the roll-off's spline dips: level 640 is shown brighter than level 700.
    "pq-bt2020 cLLI 2000": (
        (9, 16),
        light_level_chunk(2000),
        [*PQ_GREYS[:5], (206,) * 3, (222,) * 3, (238,) * 3, (255,) * 3,
         (255, 0, 0), (240, 0, 0), (0, 221, 0), (0, 67, 255), (255, 255, 0), (81, 98, 231)],
    ),
    "pq-bt2020 mDCV 4000": (
        (9, 16),
        mastering_display_chunk(4000),
        [*PQ_GREYS[:5], (202,) * 3, (213,) * 3, (225,) * 3, (250,) * 3,
         (255, 0, 0), (240, 0, 0), (0, 215, 0), (0, 62, 242), (255, 251, 0), (77, 93, 222)],
    ),
    "pq-bt2020 cLLI 10000": (
        (9, 16),
        light_level_chunk(10_000),
        [*PQ_GREYS[:5], (206,) * 3, (204,) * 3, (213,) * 3, (233,) * 3,
         (255, 0, 0), (241, 0, 0), (0, 217, 0), (0, 58, 228), (240, 234, 0), (74, 89, 213)],
    ),
    "hlg-bt2020 cLLI 4000": (
        (9, 18),
        light_level_chunk(4000),
        [*HLG_GREYS[:8], (210,) * 3,
         (176, 29, 0), (136, 0, 0), (0, 141, 0), (0, 99, 189), (216, 210, 0), (95, 99, 151)],
    ),
}  # fmt: skip


@pytest.mark.parametrize(("code_points", "chunks", "shown"), CHROMIUM_HDR_PEAKS.values(), ids=CHROMIUM_HDR_PEAKS)
def test_an_hdr_png_is_tone_mapped_to_its_content_peak_as_chromium_shows_it(code_points, chunks, shown):
    """Taken to peak at 1,000 cd/m2 (before), the first five came back 18 to 53 levels darker; with
    peaks above 1,000 taken as 1,000 (before), the last four up to 17, 30, 42 and 20 brighter."""
    assert np.abs(rgb_samples(prepare(hdr_png(code_points, chunks=chunks)).pixels) - shown).max() <= 1


def test_an_hdr_png_peaking_at_the_reference_white_is_not_tone_mapped():
    """cLLI 150 cd/m2: light is shown as SDR light, the reference white (level 592) at full
    light (before: up to 69 levels darker). Chromium's 8-bit canvas shows level 592 at 255, its
    float16 canvas at 0.985 (253)."""
    shown = [(10,) * 3, (44,) * 3, (107,) * 3, (181,) * 3, (255,) * 3, *[(255,) * 3] * 4]

    pixels = prepare(hdr_png((9, 16), chunks=light_level_chunk(150))).pixels

    assert np.abs(rgb_samples(pixels)[: len(shown)] - shown).max() <= 2


def hdr_avif(primaries: int, transfer: int) -> bytes:
    """HDR_LEVELS as 8x8 patches of a 10-bit 4:4:4 AVIF under nclx colour."""
    patches = np.repeat(np.array(HDR_LEVELS, np.uint16)[None, :, None, :], 8, axis=0).repeat(8, axis=2)
    return imagecodecs.avif_encode(
        patches.reshape(8, -1, 3), 100, bitspersample=10, pixelformat="444", primaries=primaries, transfer=transfer,
        matrix=9 if primaries == 9 else 1,
    )  # fmt: skip


def patch_centres(pixels: Pixels) -> np.ndarray:
    return rgb_samples(pixels).reshape(8, len(HDR_LEVELS), 8, 3)[4, :, 4]


@pytest.mark.parametrize("name", ["pq-bt2020", "hlg-bt709"])
def test_an_hdr_avif_is_tone_mapped_from_its_nclx_colour(name):
    """ImageMagick 6 decodes a 10-bit AVIF to 8-bit precision (256 levels), which the steep top of
    the PQ curve shows: within a few levels of what Chromium shows of the 10-bit samples."""
    (primaries, transfer), shown = CHROMIUM_HDR[name]

    pixels = prepare(hdr_avif(primaries, transfer)).pixels

    assert np.abs(patch_centres(pixels) - shown).max() <= 4


def test_an_hdr_avif_is_tone_mapped_to_its_clli_peak():
    """Chromium tone-maps an AVIF to its clli box's peak as a PNG to its cLLI chunk's (measured on a
    grey ramp; it ignores an mdcv box): within a few levels, as above (before: up to 41 darker)."""
    code_points, _, shown = CHROMIUM_HDR_PEAKS["pq-bt2020 cLLI 400"]
    data = images.heif_with_property(hdr_avif(*code_points), images.content_light_level_box(400, 100))

    pixels = prepare(data).pixels

    assert np.abs(patch_centres(pixels) - shown).max() <= 4


def test_only_hdr_transfers_of_known_primaries_stand_for_an_hdr_colour():
    assert colour.hdr_colour(9, 16).transfer == colour.PQ_TRANSFER
    assert colour.hdr_colour(9, 18).transfer == colour.HLG_TRANSFER
    assert np.allclose(colour.hdr_colour(2, 16).to_bt2020, colour.hdr_colour(1, 16).to_bt2020)  # unspecified: BT.709
    assert np.allclose(colour.hdr_colour(9, 16).to_bt2020, np.eye(3))
    assert colour.hdr_colour(9, 13) is None and colour.hdr_colour(10, 16) is None and colour.hdr_colour(3, 16) is None
    assert colour.heif_colour_profile(9, 16) is None and colour.heif_colour_profile(1, 18) is None
