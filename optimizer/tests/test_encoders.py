"""The encoders and decoders of our outputs (optimizer.encoders), checked with Pillow as an
independent decoder, on pixels prepared from real images."""

import numpy as np
import pytest
from PIL import Image

from optimizer import encoders, imaging
from optimizer.encoders import EncoderSettings
from optimizer.formats import OutputFormat
from optimizer.pixels import Pixels
from optimizer.probe import ImagingError
from optimizer.tests import images
from optimizer.tests.test_imaging import MAX_PIXELS, as_pillow, mean_difference, orientation_exif, prepare


@pytest.fixture(scope="module")
def photo_pixels() -> Pixels:
    return imaging.prepare(images.encode(images.photo(), "PNG"), max_width=4096, max_pixels=MAX_PIXELS).pixels


@pytest.mark.parametrize("output", OutputFormat)
def test_each_format_encodes_at_the_lowest_and_highest_quality(photo_pixels, output):
    lowest = encoders.encode(photo_pixels, EncoderSettings(output, 1))
    highest = encoders.encode(photo_pixels, EncoderSettings(output, 100))

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
    encoded = encoders.encode(photo_pixels, EncoderSettings(OutputFormat.WEBP, 75, lossless=True))

    assert encoded.lossless
    assert images.decode(encoded.data).convert("RGB").tobytes() == photo_pixels.data


def test_webp_at_quality_100_is_still_lossy_unless_lossless_is_asked_for(photo_pixels):
    lossy = encoders.encode(photo_pixels, EncoderSettings(OutputFormat.WEBP, 100))

    assert images.decode(lossy.data).convert("RGB").tobytes() != photo_pixels.data


def test_avif_has_no_lossless_mode_here(photo_pixels):
    with pytest.raises(ValueError, match="only available for WebP"):
        encoders.encode(photo_pixels, EncoderSettings(OutputFormat.AVIF, 80, lossless=True))


@pytest.mark.parametrize("quality", [0, 101])
def test_quality_must_be_1_to_100(photo_pixels, quality):
    with pytest.raises(ValueError, match="quality"):
        encoders.encode(photo_pixels, EncoderSettings(OutputFormat.WEBP, quality))


@pytest.mark.parametrize("lossless", [False, True])
def test_webp_carries_varied_alpha(lossless):
    source = images.transparent()
    pixels = prepare(images.encode(source, "PNG")).pixels

    encoded = encoders.encode(pixels, EncoderSettings(OutputFormat.WEBP, 50, lossless=lossless))

    decoded = images.decode(encoded.data)
    assert decoded.mode == "RGBA"
    assert decoded.getchannel("A").tobytes() == source.getchannel("A").tobytes()
    # The check's own decode is handed on, for scoring without decoding twice.
    assert encoded.decoded.alpha_samples().tobytes() == decoded.getchannel("A").tobytes()


@pytest.mark.parametrize("full_chroma", [False, True])
def test_avif_carries_varied_alpha(full_chroma):
    source = images.transparent()
    pixels = prepare(images.encode(source, "PNG")).pixels

    encoded = encoders.encode(pixels, EncoderSettings(OutputFormat.AVIF, 80, speed=9, full_chroma=full_chroma))

    decoded = images.decode(encoded.data)  # Pillow's own libavif binding
    assert decoded.format == "AVIF" and decoded.mode == "RGBA"
    alpha = np.asarray(decoded.getchannel("A"), np.int16)
    assert np.abs(alpha - np.asarray(source.getchannel("A"), np.int16)).mean() <= encoders.ALPHA_MEAN_TOLERANCE
    assert encoded.decoded.has_alpha


def test_avif_with_exact_alpha_keeps_every_alpha_value_even_at_the_lowest_quality():
    source = images.transparent()
    pixels = prepare(images.encode(source, "PNG")).pixels

    encoded = encoders.encode(pixels, EncoderSettings(OutputFormat.AVIF, 1, speed=9, exact_alpha=True))

    decoded = images.decode(encoded.data)  # Pillow's own libavif binding
    assert decoded.format == "AVIF" and decoded.mode == "RGBA"
    assert decoded.getchannel("A").tobytes() == source.getchannel("A").tobytes()
    assert str(encoded.settings) == "avif q1 s9 exact alpha"


def test_an_encoding_returned_opaque_is_caught_by_decoding_it(monkeypatch):
    pixels = prepare(images.encode(images.transparent(), "PNG")).pixels
    opaque = images.encode(images.transparent().convert("RGB"), "AVIF")
    monkeypatch.setattr(encoders, "_encode_avif", lambda pixels, settings: opaque)

    with pytest.raises(encoders.TransparencyLost, match="opaque"):
        encoders.encode(pixels, EncoderSettings(OutputFormat.AVIF, 80))


def test_an_encoding_that_changes_alpha_on_average_is_caught(monkeypatch):
    source = images.transparent()
    pixels = prepare(images.encode(source, "PNG")).pixels
    faded = source.copy()
    faded.putalpha(source.getchannel("A").point(lambda alpha: alpha * 3 // 4))
    monkeypatch.setattr(encoders, "_encode_avif", lambda pixels, settings: images.encode(faded, "AVIF", quality=100))

    with pytest.raises(encoders.TransparencyLost, match="on average"):
        encoders.encode(pixels, EncoderSettings(OutputFormat.AVIF, 80))


def test_the_encoders_see_only_pixels_imagemagick_produced(monkeypatch):
    """Customer bytes are read by ImageMagick alone, under its policy: libavif (imagecodecs' binding
    for opaque images, Pillow's for transparent ones) gets ImageMagick's pixels to encode, and the
    decoders (OpenCV's libwebp and imagecodecs' libavif) our own encodings to decode, never the
    source."""
    sources = [images.encode(images.photo(), "JPEG"), images.encode(images.transparent(), "PNG")]
    opened, encoded_from = [], []
    real_avif_decode, real_frombuffer = encoders.imagecodecs.avif_decode, encoders.PillowImage.frombuffer
    real_imdecode, real_avif_encode = encoders.cv2.imdecode, encoders.imagecodecs.avif_encode

    def spied_avif_decode(data, *args, **kwargs):
        opened.append(data)
        return real_avif_decode(data, *args, **kwargs)

    def spied_imdecode(buffer, flags):
        opened.append(buffer.tobytes())
        return real_imdecode(buffer, flags)

    def spied_frombuffer(mode, size, data, *args):
        encoded_from.append(bytes(data))
        return real_frombuffer(mode, size, data, *args)

    def spied_avif_encode(samples, *args, **kwargs):
        encoded_from.append(samples.copy())
        return real_avif_encode(samples, *args, **kwargs)

    monkeypatch.setattr(encoders.imagecodecs, "avif_decode", spied_avif_decode)
    monkeypatch.setattr(encoders.PillowImage, "frombuffer", spied_frombuffer)
    monkeypatch.setattr(encoders.cv2, "imdecode", spied_imdecode)
    monkeypatch.setattr(encoders.imagecodecs, "avif_encode", spied_avif_encode)
    opaque, transparent = (prepare(source).pixels for source in sources)

    outputs = [
        encoders.encode(pixels, EncoderSettings(output, 80))
        for pixels in (opaque, transparent)
        for output in OutputFormat
    ]
    for encoded in outputs:
        encoders.decode(encoded.data, encoded.format)

    assert not set(sources) & set(opened)
    assert set(opened) == {encoded.data for encoded in outputs}  # each decoded by one of the two
    handed_imagecodecs, handed_pillow = encoded_from  # AVIF: ImageMagick's pixels, to one binding each
    assert handed_imagecodecs.tobytes() == opaque.data
    # Those it shows: the colour under fully transparent pixels is filled in (below).
    handed, prepared = (np.frombuffer(data, np.uint8).reshape(-1, 4) for data in (handed_pillow, transparent.data))
    shown = prepared[:, 3] > 0
    assert (handed[:, 3] == prepared[:, 3]).all() and (handed[shown] == prepared[shown]).all()
    assert not shown.all()


def transparent_magenta_around(colour: tuple[int, int, int]) -> np.ndarray:
    """A square of `colour` on a transparent background whose hidden colour is magenta."""
    samples = np.zeros((96, 128, 4), np.uint8)
    samples[...] = (255, 0, 255, 0)
    samples[24:75, 32:95] = (*colour, 255)
    return samples


@pytest.mark.parametrize("exact_alpha", [False, True])  # through Pillow's binding, through imagecodecs'
def test_the_colour_under_transparent_pixels_does_not_bleed_into_the_visible_edge(exact_alpha):
    samples = transparent_magenta_around((255, 255, 255))
    pixels = Pixels(samples.tobytes(), 128, 96, has_alpha=True)

    encoded = encoders.encode(pixels, EncoderSettings(OutputFormat.AVIF, 80, speed=9, exact_alpha=exact_alpha))

    decoded = np.asarray(images.decode(encoded.data).convert("RGBA"), np.int16)
    shown = samples[..., 3] == 255
    # Left as it was, the magenta came through up to 66 levels at the square's edge.
    assert np.abs(decoded[shown][:, :3] - 255).max() <= 4


def test_hidden_pixels_take_the_colour_of_the_visible_pixels_near_them():
    samples = transparent_magenta_around((10, 200, 30))
    samples[0:4, 0:4] = (90, 90, 90, 51)  # faint, at the far corner: its block takes its colour

    filled = encoders._hidden_colour_filled(samples)

    assert (filled[..., 3] == samples[..., 3]).all()
    shown = samples[..., 3] > 0
    assert (filled[shown] == samples[shown]).all()
    assert (filled[24:75, 28:32, :3] == (10, 200, 30)).all()  # the blocks beside the square
    assert (filled[0:4, 0:4, :3] == (90, 90, 90)).all()
    assert not (filled[..., :3] == (255, 0, 255)).all(axis=2).any()  # no magenta left anywhere
    assert encoders._hidden_colour_filled(np.zeros((5, 7, 4), np.uint8)).shape == (5, 7, 4)  # nothing shown


@pytest.mark.parametrize("full_chroma", [False, True])
def test_opaque_avif_is_tagged_srgb(photo_pixels, full_chroma):
    """As Pillow's binding tags it, for browsers to show the samples as they are (imagecodecs'
    own default leaves the primaries and the transfer unspecified)."""
    data = encoders.encode(photo_pixels, EncoderSettings(OutputFormat.AVIF, 80, full_chroma=full_chroma)).data

    nclx = data[data.index(b"colrnclx") + 8 :][:7]
    assert nclx == bytes([0, 1, 0, 13, 0, 6, 0x80])  # BT.709 primaries, sRGB transfer, BT.601 matrix, full range


def test_avif_speed_reaches_libavif(photo_pixels):
    slow = encoders.encode(photo_pixels, EncoderSettings(OutputFormat.AVIF, 60, speed=6)).data
    fast = encoders.encode(photo_pixels, EncoderSettings(OutputFormat.AVIF, 60, speed=9)).data

    assert slow != fast


def test_metadata_is_stripped():
    exif = orientation_exif(1)
    exif[0x010F] = "Camera Maker"  # Make
    exif[0x8825] = {2: (52.0, 31.0, 0.0)}  # GPS latitude
    pixels = prepare(images.encode(images.photo(), "JPEG", exif=exif, comment=b"secret")).pixels

    for output in OutputFormat:
        data = encoders.encode(pixels, EncoderSettings(output, 80)).data
        assert b"Exif" not in data and b"Camera Maker" not in data and b"secret" not in data
        assert not images.decode(data).info.get("exif")


@pytest.mark.parametrize("output", OutputFormat)
def test_decode_reads_our_encodings_back(photo_pixels, output):
    decoded = encoders.decode(encoders.encode(photo_pixels, EncoderSettings(output, 90)).data, output)

    assert (decoded.width, decoded.height, decoded.layout) == (256, 192, "RGB")
    assert mean_difference(as_pillow(decoded), as_pillow(photo_pixels)) < 4


@pytest.mark.parametrize(
    "source, wanted",
    [
        (images.photo(), EncoderSettings(OutputFormat.WEBP, 30)),
        (images.transparent(), EncoderSettings(OutputFormat.WEBP, 80)),
        (images.transparent(), EncoderSettings(OutputFormat.WEBP, 75, lossless=True)),
        (images.photo(), EncoderSettings(OutputFormat.WEBP, 75, lossless=True, palette=16)),
        (images.photo(), EncoderSettings(OutputFormat.AVIF, 40)),
        (images.photo(), EncoderSettings(OutputFormat.AVIF, 60, full_chroma=True)),
        (images.transparent(), EncoderSettings(OutputFormat.AVIF, 60)),
        (images.transparent(), EncoderSettings(OutputFormat.AVIF, 60, full_chroma=True)),
        (images.transparent(), EncoderSettings(OutputFormat.AVIF, 20, exact_alpha=True)),
    ],
    ids=[
        "webp-lossy",
        "webp-transparent",
        "webp-lossless-transparent",
        "webp-palette",
        "avif",
        "avif-4:4:4",
        "avif-transparent",
        "avif-transparent-4:4:4",
        "avif-exact-alpha",
    ],
)
def test_our_encodings_decode_to_the_pixels_pillow_gives(source, wanted):
    """Scores and the transparency check read WebP through OpenCV's libwebp and AVIF through
    imagecodecs' libavif; Pillow's own bindings, the independent decoders here, give the very same
    samples."""
    data = encoders.encode(prepare(images.encode(source, "PNG")).pixels, wanted).data
    independent = images.decode(data)

    decoded = encoders.decode(data, wanted.format)

    assert decoded.layout == independent.mode
    assert decoded.data == independent.tobytes()


@pytest.mark.parametrize("output", OutputFormat)
def test_a_damaged_encoding_is_an_imaging_error(photo_pixels, output):
    data = encoders.encode(photo_pixels, EncoderSettings(output, 80)).data

    with pytest.raises(ImagingError):
        encoders.decode(data[: len(data) // 3], output)


def test_a_webp_that_says_it_has_alpha_but_is_opaque_decodes_as_opaque(monkeypatch):
    """The header's alpha bit (VP8L's alpha_is_used) is not transparency: an encoder that kept it
    while losing every transparent pixel returned the image opaque."""
    pixels = prepare(images.encode(images.transparent(), "PNG")).pixels
    opaque = images.transparent().convert("RGB")
    data = bytearray(images.encode(opaque, "WEBP", lossless=True))
    assert data[12:16] == b"VP8L"
    header = int.from_bytes(data[21:25], "little") | 1 << 28  # after the 0x2f signature: sizes, alpha bit
    data[21:25] = header.to_bytes(4, "little")
    monkeypatch.setattr(encoders, "_encode_webp", lambda pixels, settings: bytes(data))

    decoded = encoders.decode(bytes(data), OutputFormat.WEBP)

    assert decoded.layout == "RGB" and decoded.data == opaque.tobytes()
    with pytest.raises(encoders.TransparencyLost, match="opaque"):
        encoders.encode(pixels, EncoderSettings(OutputFormat.WEBP, 80))


def test_undecodable_webp_output_counts_as_transparency_lost(monkeypatch):
    pixels = prepare(images.encode(images.transparent(), "PNG")).pixels
    monkeypatch.setattr(encoders, "_encode_webp", lambda pixels, settings: b"RIFF\x10\x00\x00\x00WEBPVP8 junk")

    with pytest.raises(encoders.TransparencyLost, match="could not be decoded"):
        encoders.encode(pixels, EncoderSettings(OutputFormat.WEBP, 80))


def test_sharp_yuv_and_the_method_reach_libwebp(photo_pixels):
    """ImageMagick 6 reads webp:use-sharp-yuv as an integer: "true" would be silently ignored."""
    plain = encoders.encode(photo_pixels, EncoderSettings(OutputFormat.WEBP, 80)).data

    sharp = encoders.encode(photo_pixels, EncoderSettings(OutputFormat.WEBP, 80, sharp_yuv=True)).data
    fast = encoders.encode(photo_pixels, EncoderSettings(OutputFormat.WEBP, 80, method=0)).data

    assert sharp != plain
    assert fast != plain
    assert len(fast) > len(plain)  # less effort, more bytes


def test_a_palette_encoding_keeps_at_most_that_many_colours_and_the_alpha(photo_pixels):
    encoded = encoders.encode(photo_pixels, EncoderSettings(OutputFormat.WEBP, 75, lossless=True, palette=16))

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
    encoded = encoders.encode(red_blue_checkerboard(), EncoderSettings(OutputFormat.AVIF, 90))

    red, _, blue = (sum(images.decode(encoded.data).getchannel(c).tobytes()) / 64**2 for c in "RGB")
    assert abs(red - blue) < 25, (red, blue)


def test_full_chroma_avif_keeps_each_pixels_colour():
    encoded = encoders.encode(red_blue_checkerboard(), EncoderSettings(OutputFormat.AVIF, 90, full_chroma=True))

    decoded = images.decode(encoded.data).convert("RGB")
    top_left, beside = decoded.getpixel((0, 0)), decoded.getpixel((1, 0))
    assert top_left[0] > 200 > top_left[2]  # red
    assert beside[2] > 200 > beside[0]  # blue


def test_avif_encodes_the_same_bytes_on_one_thread_as_on_several(monkeypatch):
    """libaom's threads (AVIF_THREADS) only make AVIF faster: what the search measures and returns
    is what a single-threaded encoder gives."""
    pixels = imaging.prepare(images.encode(images.photo(840, 600), "PNG"), max_width=4096, max_pixels=MAX_PIXELS).pixels
    settings = EncoderSettings(OutputFormat.AVIF, 60, speed=9)
    threaded = encoders.encode(pixels, settings).data
    monkeypatch.setattr(encoders, "AVIF_THREADS", 1)

    assert encoders.encode(pixels, settings).data == threaded
