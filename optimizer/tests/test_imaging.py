"""Preparation (optimizer.imaging): decoding, orientation, resizing and transparency, checked with
Pillow as an independent decoder. The helpers here serve the other image tests too."""

import functools
import struct
import subprocess

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageOps, ImageStat

from optimizer import imaging, isobmff, magick, probe
from optimizer.formats import SourceFormat
from optimizer.pixels import Pixels
from optimizer.probe import SourceInfo
from optimizer.tests import images

MAX_PIXELS = 10_000_000


def prepare(data: bytes, max_width: int = 4096) -> imaging.PreparedImage:
    return imaging.prepare(data, max_width=max_width, max_pixels=MAX_PIXELS)


def as_pillow(pixels: Pixels) -> Image.Image:
    return Image.frombytes(pixels.layout, (pixels.width, pixels.height), pixels.data)


def mean_difference(first: Image.Image, second: Image.Image) -> float:
    """Mean absolute difference per RGB sample, 0-255."""
    difference = ImageChops.difference(first.convert("RGB"), second.convert("RGB"))
    return sum(ImageStat.Stat(difference).mean) / 3


SOURCES = {
    SourceFormat.JPEG: lambda: images.encode(images.photo(), "JPEG", quality=90),
    SourceFormat.PNG: lambda: images.encode(images.photo(), "PNG"),
    SourceFormat.GIF: lambda: images.encode(images.photo(), "GIF"),
    SourceFormat.WEBP: lambda: images.encode(images.photo(), "WEBP", quality=90),
    SourceFormat.AVIF: lambda: images.encode(images.photo(), "AVIF", quality=90),
    SourceFormat.HEIC: lambda: images.heic(256, 192),
    SourceFormat.TIFF: lambda: images.encode(images.photo(), "TIFF"),
    SourceFormat.BMP: lambda: images.encode(images.photo(), "BMP"),
}


def test_a_gif_frame_is_shown_on_its_logical_screen():
    """A first frame smaller than the GIF's screen sits at its offset, the rest transparent, as
    browsers show it."""
    with magick.Image(width=8, height=6, background=magick.Color("red")) as frame:
        frame.page = (16, 12, 3, 2)
        frame.format = "GIF"
        data = frame.make_blob()

    prepared = prepare(data)

    assert (prepared.source.width, prepared.source.height) == (16, 12)
    shown = np.frombuffer(prepared.pixels.data, np.uint8).reshape(12, 16, 4)
    assert (shown[2:8, 3:11] == (255, 0, 0, 255)).all()
    assert shown[..., 3].sum() == 255 * 8 * 6


@pytest.mark.parametrize("source_format", SOURCES)
def test_every_accepted_format_decodes_to_the_same_picture(source_format):
    prepared = prepare(SOURCES[source_format]())

    assert prepared.source.format is source_format
    assert (prepared.pixels.width, prepared.pixels.height) == (256, 192)
    # Lossy sources (and GIF's 256 colours) differ a little from the original, never a lot.
    assert mean_difference(as_pillow(prepared.pixels), images.photo()) < 8


def orientation_exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


@pytest.mark.parametrize("format", ["JPEG", "PNG"])
def test_exif_orientation_6_is_applied(format):
    """Stored 80x40, red left and blue right; orientation 6 shows it turned clockwise: 40x80,
    red on top and blue below. (ImageMagick 6 does not read a PNG's eXIf chunk; Chromium does.)"""
    stored = Image.new("RGB", (80, 40), (255, 0, 0))
    stored.paste((0, 0, 255), (40, 0, 80, 40))

    prepared = prepare(images.encode(stored, format, exif=orientation_exif(6)))

    assert (prepared.source.width, prepared.source.height) == (40, 80)
    shown = as_pillow(prepared.pixels)
    assert shown.size == (40, 80)
    red, _, blue = shown.getpixel((20, 10))
    assert red > 200 > 50 > blue
    red, _, blue = shown.getpixel((20, 70))
    assert blue > 200 > 50 > red


def test_16_bit_png_becomes_8_bit():
    pixels = prepare(images.png_16bit(64, 48)).pixels

    assert len(pixels.data) == 64 * 48 * 3
    assert as_pillow(pixels).getpixel((63, 0)) == (255, 0x12, 0xFE)
    assert as_pillow(pixels).getpixel((0, 0)) == (0, 0x12, 0xFE)


def test_only_the_first_gif_frame_is_used():
    pixels = prepare(images.gif_frames((255, 0, 0), (0, 255, 0), (0, 0, 255))).pixels

    assert as_pillow(pixels).getpixel((5, 5)) == (255, 0, 0)


def test_a_large_grey_source_becomes_srgb_after_its_resize():
    """Made sRGB before the resize, a 72 MP grey TIFF took a second cache of its full size: two
    did not fit ImageMagick's disk. After the resize, the same samples."""
    grey = Image.linear_gradient("L").resize((12_000, 6_000))
    data = images.encode(grey, "TIFF", compression="tiff_adobe_deflate")

    pixels = imaging.prepare(data, max_width=1920, max_pixels=100_000_000).pixels

    assert (pixels.width, pixels.height, pixels.layout) == (1920, 960, "RGB")
    shown = np.frombuffer(pixels.data, np.uint8).reshape(960, 1920, 3)
    assert (shown[..., 0] == shown[..., 1]).all() and (shown[..., 1] == shown[..., 2]).all()
    assert shown[0, 0, 0] < 5 and shown[-1, 0, 0] > 250  # the gradient, top to bottom


def test_a_gif_screen_too_large_for_the_caches_is_too_large_not_damaged():
    """A 1x1 frame on an 8000x8000 logical screen, decoded without the budget's check (the pipeline
    refuses it from its header): the screen is what runs out of pixel cache ("cache resources
    exhausted", which ImageMagick reports as a CacheError)."""
    data = (
        b"GIF89a" + struct.pack("<HH", 8000, 8000) + bytes([0xF0, 0, 0, 0, 0, 0, 255, 255, 255])
        + b"\x2c" + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00\x02\x02\x4c\x01\x00\x3b"
    )  # fmt: skip

    with pytest.raises(probe.ImageTooLarge):
        imaging.prepare(data, max_width=1920, max_pixels=100_000_000)


def test_only_the_first_frame_of_an_animated_webp_is_decoded():
    """ImageMagick 6 decodes every frame of an animated WebP: past the policy's 16 it refused a
    small sticker as too large. It is given the first frame alone."""
    frames = [Image.new("RGBA", (70, 50), (255 - index * 10, index * 10, 0, 200)) for index in range(20)]
    data = images.encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    assert data.count(b"ANMF") == 20

    pixels = prepare(data).pixels

    assert (pixels.width, pixels.height) == (70, 50)
    assert as_pillow(pixels).getpixel((5, 5)) == (255, 0, 0, 200)
    assert probe.webp_first_frame(data).count(b"ANMF") == 1


def test_an_animated_webp_s_first_frame_is_shown_on_its_canvas_transparent_around_it():
    """ImageMagick 6 filled the canvas around a first frame smaller than it with opaque black."""
    blue, red = Image.new("RGBA", (20, 20), (0, 0, 255, 255)), Image.new("RGBA", (60, 40), (255, 0, 0, 255))
    data = images.animated_webp([(blue, 10, 10), (red, 0, 0)], canvas=(60, 40))
    assert images.decode(data).getpixel((0, 0)) == (0, 0, 0, 0)  # Pillow's libwebp: as browsers show it

    shown = as_pillow(prepare(data).pixels)

    assert shown.size == (60, 40)
    assert shown.getpixel((0, 0)) == shown.getpixel((59, 39)) == shown.getpixel((30, 30)) == (0, 0, 0, 0)
    assert shown.getpixel((10, 10)) == shown.getpixel((29, 29)) == (0, 0, 255, 255)
    assert probe.probe(data, max_pixels=MAX_PIXELS).animated


def test_a_webp_frame_beyond_the_decoded_canvas_is_damage_not_an_error(monkeypatch):
    """Behind the probe's check of a frame's place (test_probe): should the canvas ImageMagick
    decodes ever disagree with the header, Wand's ValueError on the crop is the same refusal."""
    data = images.animated_webp([(images.photo(20, 20), 10, 10)], canvas=(60, 40))
    monkeypatch.setattr(imaging, "webp_first_frame_area", lambda data: (500, 500, 10, 10))

    with pytest.raises(probe.UnsupportedImage, match="could not be decoded"):
        prepare(data)


def shown_alpha(pixels: Pixels) -> np.ndarray:
    """The prepared pixels' alpha, rows x columns (255 everywhere without an alpha channel)."""
    return np.array(as_pillow(pixels).convert("RGBA"))[..., 3]


BMP_ALPHA = np.array([[0, 0, 255, 255], [0, 128, 255, 64], [255, 255, 255, 0]], np.uint8)  # top row first


# Chromium 156 (canvas getImageData) on these very files: alpha from a V4 or V5 header's alpha mask
# whatever the compression, from a V3 header's with BI_BITFIELDS alone, never from a 40- or 52-byte
# header's fourth byte.
@pytest.mark.parametrize(
    ("header_size", "compression", "alpha_used"),
    [
        (40, 0, False),  # ImageMagick took the fourth byte for alpha
        (40, 3, False),
        (52, 3, False),  # ImageMagick read an alpha mask from the pixels after the header
        (56, 0, False),  # V3's alpha mask, with BI_RGB
        (56, 3, True),
        (108, 0, True),  # ImageMagick ignored the alpha mask with BI_RGB
        (108, 3, True),
        (124, 0, True),  # ImageMagick ignored the alpha mask with BI_RGB
        (124, 3, True),
    ],
)
@pytest.mark.parametrize("top_down", [False, True])
def test_a_32bit_bmp_s_alpha_is_read_as_chromium_reads_it(header_size, compression, alpha_used, top_down):
    data = images.bmp_32bit(BMP_ALPHA, header_size=header_size, compression=compression, top_down=top_down)

    pixels = prepare(data).pixels

    assert shown_alpha(pixels).tolist() == (BMP_ALPHA if alpha_used else np.full_like(BMP_ALPHA, 255)).tolist()
    colours = np.array(as_pillow(pixels).convert("RGBA"))[..., :3]
    assert (colours[shown_alpha(pixels) > 0] == (200, 120, 50)).all()


def test_a_bmp_s_alpha_of_0_everywhere_is_transparent_as_chromium_shows_it():
    """Chromium 156 shows such a BMP transparent (its BMPImageReader once showed it opaque: "opaque
    until we see a non-zero alpha value")."""
    for compression in (0, 3):
        data = images.bmp_32bit(np.zeros((2, 6), np.uint8), compression=compression)

        assert (shown_alpha(prepare(data).pixels) == 0).all()


def test_a_bmp_s_alpha_under_bi_rgb_is_its_fourth_byte_whatever_bits_the_mask_names():
    """Chromium 156 takes the whole byte under an alpha mask of 0xF0000000 with BI_RGB."""
    alpha = np.array([[0x00, 0x10, 0x5A, 0xFF]], np.uint8)

    pixels = prepare(images.bmp_32bit(alpha, compression=0, alpha_mask=0xF0000000)).pixels

    assert (shown_alpha(pixels) == alpha).all()


def test_a_bmp_whose_pixel_array_imagemagick_read_is_not_in_the_file_is_refused(monkeypatch):
    """ImageMagick refuses a pixel array cut short itself; should it ever read one, the alpha read
    from the file is the same refusal, not numpy's ValueError (a 500)."""
    data = images.bmp_32bit(BMP_ALPHA, compression=0)
    monkeypatch.setattr(
        imaging, "bmp_32bit_pixels", lambda data: probe.BmpPixels(len(data), False, probe.BmpAlpha.FOURTH_BYTE)
    )

    with pytest.raises(probe.UnsupportedImage, match="could not be decoded"):
        prepare(data)


def test_an_rgba_bmp_from_pillow_is_opaque_as_chromium_shows_it():
    """Pillow writes RGBA as a 40-byte header with BI_RGB, its alpha in the fourth byte, which
    Chromium takes for padding: a corner of alpha 0 is not a hole."""
    written = np.full((64, 64, 4), (30, 140, 220, 255), np.uint8)
    written[:20, :20, 3] = 0

    pixels = prepare(images.encode(Image.fromarray(written, "RGBA"), "BMP")).pixels

    assert not pixels.has_alpha
    assert (np.array(as_pillow(pixels)) == written[..., :3]).all()


def test_a_large_bmp_s_alpha_is_read_in_bands_each_in_its_place():
    """More pixels than CHUNK_PIXELS (two bands), bottom-up, with an alpha that differs row by row
    and column by column."""
    rows, columns = np.mgrid[0:500, 0:600]
    alpha = ((rows + 3 * columns) % 256).astype(np.uint8)
    assert alpha.size > imaging.CHUNK_PIXELS

    pixels = prepare(images.bmp_32bit(alpha, compression=0)).pixels

    assert (shown_alpha(pixels) == alpha).all()


@pytest.mark.parametrize(
    "still",
    [
        lambda image: images.encode(image, "WEBP", lossless=True),  # a VP8L chunk alone
        lambda image: images.encode(image, "WEBP", lossless=True, xmp=b"<x/>"),  # VP8X, its alpha flag set
        lambda image: images.animated_webp([(image, 0, 0), (image, 0, 0)], canvas=image.size),  # a frame's VP8L
    ],
    ids=["simple", "extended", "animated"],
)
def test_a_lossless_webp_s_alpha_is_shown_whatever_its_header_says(still):
    """A VP8L bitstream whose header's alpha_is_used bit is 0 over pixels with alpha: Chromium 156
    shows the alpha, whatever the VP8X chunk says; ImageMagick 6 dropped it."""
    written = np.full((8, 16, 4), (200, 120, 50, 255), np.uint8)
    written[:4, :4, 3], written[4:, 8:, 3] = 0, 128
    opaque = np.full((8, 16, 3), (200, 120, 50), np.uint8)

    transparent = prepare(images.vp8l_alpha_unused(still(Image.fromarray(written, "RGBA")))).pixels
    solid = prepare(still(Image.fromarray(opaque, "RGB"))).pixels

    assert (shown_alpha(transparent) == written[..., 3]).all()
    assert not solid.has_alpha


def test_a_lossless_webp_keeps_its_colour_profile_when_its_alpha_is_declared_for_imagemagick():
    """An opaque lossless WebP with a Display P3 profile (VP8X: alpha flag off, bitstream's bit 0):
    declaring its alpha in the bitstream alone made libwebp's demuxer refuse the file, and
    ImageMagick lost the profile. Its colours must be the same PNG's with the same profile."""
    photo = images.photo(64, 48)
    display_p3 = images.icc_profile((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))

    webp = prepare(images.encode(photo, "WEBP", lossless=True, icc_profile=display_p3)).pixels
    png = prepare(images.encode(photo, "PNG", icc_profile=display_p3)).pixels

    assert not webp.has_alpha
    assert webp.data == png.data


def test_resizing_keeps_the_aspect_ratio_and_never_enlarges():
    data = images.encode(images.photo(256, 192), "PNG")

    assert (prepare(data, max_width=100).pixels.width, prepare(data, max_width=100).pixels.height) == (100, 75)
    assert (prepare(data, max_width=5000).pixels.width, prepare(data, max_width=5000).pixels.height) == (256, 192)


@pytest.mark.parametrize(
    ("source", "target", "hint"),
    [
        (SourceInfo(SourceFormat.JPEG, 2400, 1600, 2400, 1600), (300, 200), "300x200"),
        (SourceInfo(SourceFormat.JPEG, 800, 1600, 1600, 800), (100, 200), "200x100"),  # turned by EXIF
        (SourceInfo(SourceFormat.JPEG, 5000, 3000, 5000, 3000), (1920, 1152), "1920x1152"),
        (SourceInfo(SourceFormat.JPEG, 300, 240, 300, 240), (300, 240), None),  # not larger
        (SourceInfo(SourceFormat.PNG, 2400, 1600, 2400, 1600), (300, 200), None),
    ],
)
def test_jpeg_size_hint(source, target, hint):
    assert imaging.jpeg_size_hint(source, *target) == hint


@pytest.mark.parametrize(
    ("hint", "decoded"), [("600x400", (600, 400)), ("1920x1280", (2400, 1600)), ("900x600", (1200, 800))]
)
def test_imagemagick_decodes_a_jpeg_down_by_the_whole_factor_the_hint_allows(hint, decoded):
    with magick.new_image_reader("JPEG") as image:
        image.options["jpeg:size"] = hint
        image.read(blob=images.encode(images.photo(2400, 1600), "JPEG"))
        assert image.size == decoded


def test_a_large_jpeg_is_resized_correctly_through_the_size_hint():
    big = images.photo(2400, 1600)

    pixels = prepare(images.encode(big, "JPEG", quality=90), max_width=300).pixels

    assert (pixels.width, pixels.height) == (300, 200)
    assert mean_difference(as_pillow(pixels), big.resize((300, 200), Image.Resampling.LANCZOS)) < 6


def test_a_rotated_large_jpeg_is_hinted_in_its_stored_orientation():
    big = images.photo(1600, 800)

    pixels = prepare(images.encode(big, "JPEG", quality=90, exif=orientation_exif(6)), max_width=100).pixels

    assert (pixels.width, pixels.height) == (100, 200)
    expected = big.transpose(Image.Transpose.ROTATE_270).resize((100, 200), Image.Resampling.LANCZOS)
    assert mean_difference(as_pillow(pixels), expected) < 8


def test_transparency_is_kept_exactly():
    source = images.transparent()

    pixels = prepare(images.encode(source, "PNG")).pixels

    assert pixels.layout == "RGBA"
    assert pixels.alpha_samples().tobytes() == source.getchannel("A").tobytes()


def test_a_transparent_avif_keeps_its_alpha_plane():
    """ImageMagick 6 reads an AVIF's colour planes only; its alpha plane is read on its own."""
    source = images.transparent()
    data = images.encode(source, "AVIF", quality=90)

    pixels = prepare(data).pixels

    assert pixels.layout == "RGBA"
    assert pixels.alpha_samples().tobytes() == images.decode(data).getchannel("A").tobytes()  # libavif's decode
    assert mean_difference(as_pillow(pixels).convert("RGB"), source.convert("RGB")) < 3


@pytest.mark.parametrize(
    ("command", "output"),
    [
        (["avifenc", "in.png", "out.avif"], "out.avif"),
        (["heif-enc", "-q", "90", "-o", "out.heic", "in.png"], "out.heic"),
    ],
    ids=["avif", "heic"],
)
def test_the_greys_of_an_avif_or_heic_stay_grey(command, output, tmp_path):
    """libheif hands ImageMagick 6 its chroma neutral at 128 of 255, a hair above the middle that
    ImageMagick converts from: greys came out magenta, green 1-2 levels under red and blue.
    (ImageMagick's own HEIC writer is no judge: libheif decodes its greys 2 levels off too.)"""
    greys = Image.new("RGB", (64, 64))
    for index, level in enumerate((32, 64, 128, 200)):
        greys.paste((level, level, level), (16 * index, 0, 16 * index + 16, 64))
    (tmp_path / "in.png").write_bytes(images.encode(greys, "PNG"))
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True)

    samples = np.asarray(as_pillow(prepare((tmp_path / output).read_bytes()).pixels), dtype=np.int16)

    assert np.abs(samples[..., [0, 2]] - samples[..., [1]]).max() <= 1


def test_a_premultiplied_avif_has_its_colour_divided_by_its_alpha(tmp_path):
    """avifenc --premultiply stores colour times alpha, and says so (a `prem` reference); encoded
    losslessly, the colour comes back as it was, but for the rounding of colour times alpha."""
    source = images.transparent()
    (tmp_path / "in.png").write_bytes(images.encode(source, "PNG"))
    subprocess.run(["avifenc", "--lossless", "--premultiply", "in.png", "out.avif"], cwd=tmp_path, check=True)
    data = (tmp_path / "out.avif").read_bytes()

    pixels = prepare(data).pixels

    assert probe.heif_alpha(data).premultiplied
    assert pixels.alpha_samples().tobytes() == source.getchannel("A").tobytes()
    colour = np.asarray(as_pillow(pixels), dtype=np.int16)[..., :3]
    expected = np.asarray(source, dtype=np.int16)
    shown = expected[..., 3] >= 128  # where a level of colour times alpha is at most 2 of the colour
    assert np.abs(colour - expected[..., :3])[shown].mean() < 2


def turned_transparent_avif(*, turn: str = "both") -> bytes:
    """A transparent AVIF turned by irot (Pillow gives the colour and the alpha item that property),
    or with irot on the colour item alone, or on the alpha item alone."""
    data = bytearray(images.encode(images.transparent(), "AVIF", quality=90, exif=orientation_exif(6)))
    if turn != "both":
        ipma = data.index(b"ipma") + 4
        assert data[ipma] == 0 and data[ipma + 3] & 1 == 0  # 16-bit items, 8-bit property numbers
        at, irot = ipma + 8, 1 + [kind for kind, *_ in isobmff.boxes(data, *_ipco(data))].index(b"irot")
        for _ in range(int.from_bytes(data[ipma + 4 : ipma + 8], "big")):
            item, count = int.from_bytes(data[at : at + 2], "big"), data[at + 2]
            for index in range(at + 3, at + 3 + count):
                if data[index] & 0x7F == irot and (item == 1) == (turn == "alpha"):
                    data[index] = 0  # no property
            at += 3 + count
    return bytes(data)


def _ipco(data: bytes) -> tuple[int, int]:
    start = data.index(b"ipco") + 4
    return start, start - 8 + int.from_bytes(data[start - 8 : start - 4], "big")


@pytest.mark.parametrize("turn", ["both", "colour"])
def test_a_transparent_avif_that_is_turned_has_its_alpha_plane_turned_too(turn):
    data = turned_transparent_avif(turn=turn)

    pixels = prepare(data).pixels

    shown = ImageOps.exif_transpose(images.decode(turned_transparent_avif()))  # Pillow reads irot as EXIF
    assert (pixels.width, pixels.height) == shown.size == (64, 96)
    assert pixels.alpha_samples().tobytes() == shown.getchannel("A").tobytes()


def test_a_transparent_avif_whose_alpha_plane_alone_is_turned_is_refused():
    with pytest.raises(probe.UnsupportedImage, match="alpha plane is cropped, turned or mirrored unlike"):
        prepare(turned_transparent_avif(turn="alpha"))


def test_an_alpha_channel_that_is_opaque_everywhere_is_dropped():
    opaque = images.photo(64, 48).convert("RGBA")

    assert prepare(images.encode(opaque, "PNG")).pixels.layout == "RGB"


@pytest.mark.parametrize("kind", ["opaque", "transparent"])
def test_only_an_alpha_channel_that_counts_is_exported(monkeypatch, kind):
    """An opaque RGBA image that needs no resize is exported as RGB at once, not as RGBA first."""
    picture = (images.photo(64, 48) if kind == "opaque" else images.transparent(64, 48)).convert("RGBA")
    exported = []
    make_blob = magick.Image.make_blob

    def spying(image, format=None, *args, **kwargs):
        exported.append(format)
        return make_blob(image, format, *args, **kwargs)

    monkeypatch.setattr(magick.Image, "make_blob", spying)
    prepared = prepare(images.encode(picture, "PNG")).pixels

    assert exported == (["RGBA"] if kind == "transparent" else ["RGB"])
    assert prepared.data == (picture if kind == "transparent" else picture.convert("RGB")).tobytes()


@pytest.mark.parametrize("kind", ["opaque", "transparent"])
def test_only_an_alpha_channel_that_counts_is_resized(monkeypatch, kind):
    """An alpha channel opaque everywhere is dropped before the resize (three channels to average,
    not four), which gives the same pixels as resizing it would have."""
    picture = images.photo(300, 200) if kind == "opaque" else images.transparent(300, 200)
    resized_with_alpha = []
    resize = magick.Image.resize

    def spying(image, *args, **kwargs):
        resized_with_alpha.append(image.alpha_channel)
        return resize(image, *args, **kwargs)

    monkeypatch.setattr(magick.Image, "resize", spying)
    prepared = prepare(images.encode(picture.convert("RGBA"), "PNG"), max_width=120).pixels

    assert resized_with_alpha == [kind == "transparent"]
    assert prepared.layout == ("RGBA" if kind == "transparent" else "RGB")
    if kind == "opaque":
        assert prepared == prepare(images.encode(picture, "PNG"), max_width=120).pixels


@functools.cache
def _small_sources() -> dict[str, bytes]:
    """A small file of each kind a customer may send, to damage."""
    photo, graphic = images.photo(48, 32), images.graphic(48, 32)
    return {
        "png": images.encode(images.transparent(48, 32), "PNG"),
        "jpeg": images.encode(photo, "JPEG", quality=90),
        "gif": images.gif_frames((200, 30, 30), (30, 200, 30)),
        "lossy.webp": images.encode(photo, "WEBP", quality=80),
        "lossless.webp": images.encode(graphic, "WEBP", lossless=True),
        "animated.webp": images.encode(photo, "WEBP", save_all=True, append_images=[graphic], lossless=True),
        "tiff": images.encode(photo, "TIFF", compression="tiff_lzw"),
        "bmp": images.encode(photo, "BMP"),
        "heic": images.heic(48, 32),
        "avif": images.encode(images.transparent(48, 32), "AVIF", quality=80),
    }


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(
        ["png", "jpeg", "gif", "lossy.webp", "lossless.webp", "animated.webp", "tiff", "bmp", "heic", "avif"]
    ),
    st.sampled_from(["xor", "insert", "cut"]),
    st.integers(min_value=0, max_value=1 << 16),
    st.binary(min_size=1, max_size=40),
)
# The first frame's VP8L header garbled (after VP8X, ANIM and ANMF's own fields): ImageMagick 6
# gave an image with a size, no error and no pixels.
@example("animated.webp", "xor", 76, b"\xff" * 8)
def test_a_damaged_source_is_refused_or_prepared_whole(kind, damage, offset, payload):
    data = _small_sources()[kind]
    at = offset % len(data)
    if damage == "xor":
        damaged = data[:at] + bytes(a ^ b for a, b in zip(data[at:], payload, strict=False)) + data[at + len(payload) :]
    elif damage == "insert":
        damaged = data[:at] + payload + data[at:]
    else:
        damaged = data[:at]

    try:
        pixels = prepare(damaged).pixels
    except (probe.UnsupportedImage, probe.ImageTooLarge):
        return
    assert isinstance(pixels.data, bytes)
    assert len(pixels.data) == pixels.width * pixels.height * len(pixels.layout)
