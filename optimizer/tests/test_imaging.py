"""The ImageMagick building blocks, checked with Pillow as an independent decoder."""

import numpy as np
import pytest
from PIL import Image, ImageChops, ImageStat

from optimizer import imaging, magick, probe
from optimizer.formats import OutputFormat, SourceFormat
from optimizer.imaging import EncoderSettings
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


# --- prepare ------------------------------------------------------------------------------


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


def test_a_transparent_avif_is_refused_rather_than_made_opaque():
    """ImageMagick 6 reads AVIF/HEIC colour planes only; an opaque AVIF is fine (see above)."""
    with pytest.raises(probe.UnsupportedImage, match="Transparent AVIF"):
        prepare(images.encode(images.transparent(), "AVIF"))


def test_an_alpha_channel_that_is_opaque_everywhere_is_dropped():
    opaque = images.photo(64, 48).convert("RGBA")

    assert prepare(images.encode(opaque, "PNG")).pixels.layout == "RGB"


# --- encode and decode --------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_pixels() -> Pixels:
    return imaging.prepare(images.encode(images.photo(), "PNG"), max_width=4096, max_pixels=MAX_PIXELS).pixels


@pytest.mark.parametrize("output", OutputFormat)
def test_each_format_encodes_at_the_lowest_and_highest_quality(photo_pixels, output):
    lowest = imaging.encode(photo_pixels, EncoderSettings(output, 1))
    highest = imaging.encode(photo_pixels, EncoderSettings(output, 100))

    for encoded in (lowest, highest):
        decoded = images.decode(encoded.data)
        assert decoded.format == output.name
        assert decoded.size == (256, 192)
        assert not encoded.lossless
    assert len(lowest.data) < len(highest.data)
    assert mean_difference(images.decode(highest.data), images.photo()) < 3
    assert mean_difference(images.decode(highest.data), images.photo()) < mean_difference(
        images.decode(lowest.data), images.photo()
    )


def test_lossless_webp_is_pixel_exact(photo_pixels):
    encoded = imaging.encode(photo_pixels, EncoderSettings(OutputFormat.WEBP, 75, lossless=True))

    assert encoded.lossless
    assert images.decode(encoded.data).convert("RGB").tobytes() == photo_pixels.data


def test_webp_at_quality_100_is_still_lossy_unless_lossless_is_asked_for(photo_pixels):
    lossy = imaging.encode(photo_pixels, EncoderSettings(OutputFormat.WEBP, 100))

    assert images.decode(lossy.data).convert("RGB").tobytes() != photo_pixels.data


def test_avif_has_no_lossless_mode_here(photo_pixels):
    with pytest.raises(ValueError, match="only available for WebP"):
        imaging.encode(photo_pixels, EncoderSettings(OutputFormat.AVIF, 80, lossless=True))


@pytest.mark.parametrize("quality", [0, 101])
def test_quality_must_be_1_to_100(photo_pixels, quality):
    with pytest.raises(ValueError, match="quality"):
        imaging.encode(photo_pixels, EncoderSettings(OutputFormat.WEBP, quality))


@pytest.mark.parametrize("lossless", [False, True])
def test_webp_carries_varied_alpha(lossless):
    source = images.transparent()
    pixels = prepare(images.encode(source, "PNG")).pixels

    encoded = imaging.encode(pixels, EncoderSettings(OutputFormat.WEBP, 50, lossless=lossless))

    decoded = images.decode(encoded.data)
    assert decoded.mode == "RGBA"
    assert decoded.getchannel("A").tobytes() == source.getchannel("A").tobytes()
    # The check's own decode is handed on, for scoring without decoding twice.
    assert encoded.decoded.alpha_samples().tobytes() == decoded.getchannel("A").tobytes()


@pytest.mark.parametrize("full_chroma", [False, True])
def test_avif_carries_varied_alpha(full_chroma):
    source = images.transparent()
    pixels = prepare(images.encode(source, "PNG")).pixels

    encoded = imaging.encode(pixels, EncoderSettings(OutputFormat.AVIF, 80, speed=9, full_chroma=full_chroma))

    decoded = images.decode(encoded.data)  # Pillow's own libavif binding
    assert decoded.format == "AVIF" and decoded.mode == "RGBA"
    alpha = np.asarray(decoded.getchannel("A"), np.int16)
    assert np.abs(alpha - np.asarray(source.getchannel("A"), np.int16)).mean() <= imaging.ALPHA_MEAN_TOLERANCE
    assert encoded.decoded.has_alpha


def test_an_encoding_returned_opaque_is_caught_by_decoding_it(monkeypatch):
    pixels = prepare(images.encode(images.transparent(), "PNG")).pixels
    opaque = images.encode(images.transparent().convert("RGB"), "AVIF")
    monkeypatch.setattr(imaging, "_encode_avif", lambda pixels, settings: opaque)

    with pytest.raises(imaging.TransparencyLost, match="opaque"):
        imaging.encode(pixels, EncoderSettings(OutputFormat.AVIF, 80))


def test_an_encoding_that_changes_alpha_on_average_is_caught(monkeypatch):
    source = images.transparent()
    pixels = prepare(images.encode(source, "PNG")).pixels
    faded = source.copy()
    faded.putalpha(source.getchannel("A").point(lambda alpha: alpha * 3 // 4))
    monkeypatch.setattr(imaging, "_encode_avif", lambda pixels, settings: images.encode(faded, "AVIF", quality=100))

    with pytest.raises(imaging.TransparencyLost, match="on average"):
        imaging.encode(pixels, EncoderSettings(OutputFormat.AVIF, 80))


def test_the_encoders_see_only_pixels_imagemagick_produced(monkeypatch):
    """Customer bytes are read by ImageMagick alone, under its policy: libavif and libwebp's
    Pillow bindings get ImageMagick's pixels to encode and our own encodings to decode, never
    the source."""
    source = images.encode(images.photo(), "JPEG")
    opened, encoded_from = [], []
    real_open, real_frombuffer = imaging.PillowImage.open, imaging.PillowImage.frombuffer

    def spied_open(file, *args, **kwargs):
        opened.append(file.getvalue())
        return real_open(file, *args, **kwargs)

    def spied_frombuffer(mode, size, data, *args):
        encoded_from.append(bytes(data))
        return real_frombuffer(mode, size, data, *args)

    monkeypatch.setattr(imaging.PillowImage, "open", spied_open)
    monkeypatch.setattr(imaging.PillowImage, "frombuffer", spied_frombuffer)
    pixels = prepare(source).pixels

    outputs = [imaging.encode(pixels, EncoderSettings(output, 80)).data for output in OutputFormat]
    for output, data in zip(OutputFormat, outputs, strict=True):
        imaging.decode(data, output)

    assert source not in opened
    assert set(opened) <= set(outputs)
    assert encoded_from == [pixels.data]  # AVIF: Pillow is handed ImageMagick's pixels


def test_avif_speed_reaches_libavif(photo_pixels):
    slow = imaging.encode(photo_pixels, EncoderSettings(OutputFormat.AVIF, 60, speed=6)).data
    fast = imaging.encode(photo_pixels, EncoderSettings(OutputFormat.AVIF, 60, speed=9)).data

    assert slow != fast


def test_metadata_is_stripped():
    exif = orientation_exif(1)
    exif[0x010F] = "Camera Maker"  # Make
    exif[0x8825] = {2: (52.0, 31.0, 0.0)}  # GPS latitude
    pixels = prepare(images.encode(images.photo(), "JPEG", exif=exif, comment=b"secret")).pixels

    for output in OutputFormat:
        data = imaging.encode(pixels, EncoderSettings(output, 80)).data
        assert b"Exif" not in data and b"Camera Maker" not in data and b"secret" not in data
        assert not images.decode(data).info.get("exif")


@pytest.mark.parametrize("output", OutputFormat)
def test_decode_reads_our_encodings_back(photo_pixels, output):
    decoded = imaging.decode(imaging.encode(photo_pixels, EncoderSettings(output, 90)).data, output)

    assert (decoded.width, decoded.height, decoded.layout) == (256, 192, "RGB")
    assert mean_difference(as_pillow(decoded), as_pillow(photo_pixels)) < 4


def test_sharp_yuv_and_the_method_reach_libwebp(photo_pixels):
    """ImageMagick 6 reads webp:use-sharp-yuv as an integer: "true" would be silently ignored."""
    plain = imaging.encode(photo_pixels, EncoderSettings(OutputFormat.WEBP, 80)).data

    sharp = imaging.encode(photo_pixels, EncoderSettings(OutputFormat.WEBP, 80, sharp_yuv=True)).data
    fast = imaging.encode(photo_pixels, EncoderSettings(OutputFormat.WEBP, 80, method=0)).data

    assert sharp != plain
    assert fast != plain
    assert len(fast) > len(plain)  # less effort, more bytes


def test_a_palette_encoding_keeps_at_most_that_many_colours_and_the_alpha(photo_pixels):
    encoded = imaging.encode(photo_pixels, EncoderSettings(OutputFormat.WEBP, 75, lossless=True, palette=16))

    decoded = images.decode(encoded.data).convert("RGB")
    assert len(decoded.getcolors(maxcolors=1000)) <= 16
    assert mean_difference(decoded, as_pillow(photo_pixels)) < 12


def red_blue_checkerboard() -> Pixels:
    """Red at every 2x2 block's top left, blue beside it."""
    checkerboard = Image.new("RGB", (64, 64))
    checkerboard.putdata([(255, 0, 0) if (x + y) % 2 == 0 else (0, 0, 255) for y in range(64) for x in range(64)])
    return prepare(images.encode(checkerboard, "PNG")).pixels


def test_avif_chroma_is_averaged_over_each_2x2_block_not_point_sampled():
    """ImageMagick's HEIC writer kept the top-left chroma sample of each 2x2 block; libavif
    averages it: a red/blue checkerboard must come back purple, not red."""
    encoded = imaging.encode(red_blue_checkerboard(), EncoderSettings(OutputFormat.AVIF, 90))

    red, _, blue = (sum(images.decode(encoded.data).getchannel(c).tobytes()) / 64**2 for c in "RGB")
    assert abs(red - blue) < 25, (red, blue)


def test_full_chroma_avif_keeps_each_pixels_colour():
    encoded = imaging.encode(red_blue_checkerboard(), EncoderSettings(OutputFormat.AVIF, 90, full_chroma=True))

    decoded = images.decode(encoded.data).convert("RGB")
    top_left, beside = decoded.getpixel((0, 0)), decoded.getpixel((1, 0))
    assert top_left[0] > 200 > top_left[2]  # red
    assert beside[2] > 200 > beside[0]  # blue
