"""Sniffing, header parsing and the refusals before decoding (optimizer.probe), checked with
Pillow as an independent decoder and through prepare, which reads every source this way."""

import random
import struct
import subprocess
import time
import zlib

import imagecodecs
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from optimizer import imaging, isobmff, magick, probe
from optimizer.formats import SourceFormat
from optimizer.tests import images
from optimizer.tests.test_imaging import (
    MAX_PIXELS,
    SOURCES,
    as_pillow,
    mean_difference,
    orientation_exif,
    prepare,
    turned_transparent_avif,
)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` but which holds almost no data: a bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


# --- sniff --------------------------------------------------------------------------------


@pytest.mark.parametrize("source_format", SOURCES)
def test_sniff_names_every_accepted_format(source_format):
    assert probe.sniff(SOURCES[source_format]()) is source_format


@pytest.mark.parametrize(
    "data",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg"><image href="file:///etc/passwd"/></svg>',
        b'<?xml version="1.0"?><svg/>',
        b"%PDF-1.7\n",
        b"%!PS-Adobe-3.0\n",
        b"push graphic-context\nviewbox 0 0 640 480\nimage over 0,0 0,0 'https://example.com/x'\npop graphic-context",
        b"<!DOCTYPE html><html></html>",
        b"just some text",
        b"",
        b"PK\x03\x04zip",
        b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2",  # an MP4 video
        b"BMnot really a bitmap",
        b"\x00\x00\x01\x00\x01\x00",  # ICO
    ],
)
def test_sniff_refuses_everything_else(data):
    with pytest.raises(probe.UnsupportedImage):
        probe.sniff(data)


def test_bytes_are_decoded_as_the_sniffed_format_only():
    """An SVG behind a PNG signature is not rendered as SVG: the PNG coder fails on it."""
    disguised = b"\x89PNG\r\n\x1a\n" + b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'

    with pytest.raises(probe.UnsupportedImage):
        prepare(disguised)


@pytest.mark.parametrize("source_format", [SourceFormat.JPEG, SourceFormat.PNG, SourceFormat.GIF])
def test_a_truncated_file_is_unsupported_or_partial_never_a_crash(source_format):
    data = SOURCES[source_format]()[:60]

    with pytest.raises(probe.ImagingError):
        prepare(data)


def test_a_png_that_ends_inside_its_header_is_unsupported():
    """It used to be a 500: the size check read the header's width and height from too few bytes."""
    with pytest.raises(probe.UnsupportedImage):
        prepare(images.encode(images.photo(8, 8), "PNG")[:20])


@pytest.mark.parametrize("cut", [0.5, 0.99], ids=["half", "last-bytes"])
def test_a_jpeg_cut_short_is_refused_though_libjpeg_only_warns(cut):
    """libjpeg fills what is missing with grey and warns "Premature end of JPEG file" on the image,
    where Wand never looks: the grey-filled picture used to be returned, and charged."""
    whole = images.encode(images.photo(512, 384), "JPEG", quality=90)

    with pytest.raises(probe.UnsupportedImage):
        prepare(whole[: int(len(whole) * cut)])
    assert prepare(whole).pixels.width == 512


def png_with_a_damaged_phys_chunk() -> bytes:
    phys = bytearray(images.png_chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1)))
    phys[-1] ^= 0xFF
    return images.png([[0, 128, 255] * 8] * 8, 8, 8, greyscale=False, chunks=bytes(phys))


@pytest.mark.parametrize(
    ("make", "width"),
    [(png_with_a_damaged_phys_chunk, 8), (lambda: images.encode(images.photo(), "TIFF", tiffinfo={65000: "x"}), 256)],
    ids=["png-bad-crc-in-phys", "tiff-unknown-tag"],
)
def test_a_file_that_only_draws_a_harmless_warning_is_accepted(make, width):
    """libpng drops an ancillary chunk with a bad CRC and libtiff skips a tag it does not know; the
    pixels are whole, so these warnings are not damage."""
    data = make()
    with magick.new_image_reader(probe.sniff(data).value) as image:
        magick.library.MagickReadImageBlob(image.wand, data, len(data))
        assert isinstance(magick.read_problem(image), magick.exceptions.CoderWarning)

    assert prepare(data).pixels.width == width


def test_png_text_chunks_are_dropped_before_decoding():
    """Compressed text can inflate a thousandfold inside libpng; it is metadata we strip anyway."""
    text = PngInfo()
    text.add_text("Comment", "x" * 100_000, zip=True)
    text.add_itxt("Title", "y" * 1000, zip=True)
    text.add_text("Author", "z")
    data = images.encode(images.photo(64, 48), "PNG", pnginfo=text)

    defused = probe.without_png_text(data)

    assert all(kind not in defused for kind in (b"tEXt", b"zTXt", b"iTXt"))
    assert images.decode(defused).tobytes() == images.decode(data).tobytes()
    assert prepare(data).pixels.width == 64


def test_a_jpeg_s_scans_are_counted_as_libjpeg_finds_them_not_in_its_metadata(monkeypatch):
    """Any bytes may sit in an APPn segment: 0xFF 0xDA there starts no scan."""
    monkeypatch.setattr(probe, "MAX_JPEG_SCANS", 3)
    baseline = images.encode(images.photo(), "JPEG")
    app15 = b"\xff\xef" + (2 + 2 * 1000).to_bytes(2, "big") + b"\xff\xda" * 1000
    with_metadata = baseline[:2] + app15 + baseline[2:]
    progressive = images.encode(images.photo(), "JPEG", progressive=True)

    assert probe.jpeg_scans(with_metadata).count == 1
    assert prepare(with_metadata).pixels.width == 256
    assert probe.jpeg_scans(progressive).count == progressive.count(b"\xff\xda") > 3


def test_png_chunks_end_at_iend_whatever_follows():
    """What follows IEND is no PNG: 32 MB of zeros read as empty chunks took seconds."""
    data = images.encode(images.photo(64, 48), "PNG") + bytes(100_000)

    kinds = [kind for kind, _, _ in probe.png_chunks(data)]

    assert kinds[-1] == b"IEND"
    assert probe.without_png_text(data) == data


@pytest.mark.parametrize(
    ("frame", "precision", "said"), [(0xC1, 12, "12-bit"), (0xC3, 8, "lossless"), (0xCB, 8, "lossless")]
)
def test_a_jpeg_libjpeg_cannot_read_is_refused_as_what_it_is_not_as_damaged(frame, precision, said):
    baseline = images.encode(images.photo(16, 16), "JPEG")
    header = baseline.index(b"\xff\xc0")
    data = baseline[:header] + bytes([0xFF, frame]) + baseline[header + 2 : header + 4] + bytes([precision])
    data += baseline[header + 5 :]

    with pytest.raises(probe.UnsupportedImage, match=f"The JPEG is {said}; only 8-bit lossy JPEGs are supported"):
        probe.probe(data, max_pixels=MAX_PIXELS)


def test_a_jpeg_with_more_scans_than_the_limit_is_refused(monkeypatch):
    progressive = images.encode(images.photo(), "JPEG", progressive=True)
    assert progressive.count(b"\xff\xda") > 3
    monkeypatch.setattr(probe, "MAX_JPEG_SCANS", 3)

    with pytest.raises(probe.UnsupportedImage, match="scans"):
        prepare(progressive)
    assert prepare(images.encode(images.photo(), "JPEG")).pixels.width == 256  # one scan


def test_a_png_of_more_chunks_than_the_limit_is_refused_at_once():
    """2.5 million empty chunks before a 10x10 image took 12 s to walk; libpng's own PNGs have a
    few thousand at most."""
    png = images.encode(images.photo(10, 10), "PNG")
    empty_chunk = struct.pack(">I4s", 0, b"abCd") + zlib.crc32(b"abCd").to_bytes(4, "big")
    at_the_limit = png[:33] + empty_chunk * (probe.MAX_PNG_CHUNKS - 3) + png[33:]  # IHDR, IDAT and IEND too
    started = time.perf_counter()

    with pytest.raises(probe.UnsupportedImage, match="more than 100,000 chunks"):
        probe.probe(png[:33] + empty_chunk * 2_500_000 + png[33:], max_pixels=MAX_PIXELS)

    assert time.perf_counter() - started < 2
    assert prepare(at_the_limit).pixels.width == 10


def test_a_webp_of_more_chunks_than_the_limit_is_refused():
    """3.9 million empty chunks in 30 MB took 5.6 s of the probe; libwebp writes a few (one per
    frame of an animation)."""
    webp = images.encode(images.photo(10, 10), "WEBP", lossless=True)

    def with_empty_chunks(count: int) -> bytes:
        body = webp[12:] + b"abCd\0\0\0\0" * count
        return b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WEBP" + body

    at_the_limit = with_empty_chunks(probe.MAX_WEBP_CHUNKS - 1)  # its bitstream's chunk too

    with pytest.raises(probe.UnsupportedImage, match="more than 100,000 chunks"):
        probe.probe(with_empty_chunks(3_900_000), max_pixels=MAX_PIXELS)

    assert prepare(at_the_limit).pixels.width == 10


def test_an_animated_webp_whose_first_frame_holds_more_chunks_than_the_limit_is_refused():
    """The first frame's own chunks are walked for its bitstream: 4.2 million empty ones in 32 MiB
    took 10.6 s before they counted."""
    animation = images.animated_webp([(images.photo(10, 10), 0, 0)], canvas=(10, 10))
    frame = animation.index(b"ANMF")

    def with_empty_chunks_in_its_frame(count: int) -> bytes:
        padding = b"abCd\0\0\0\0" * count
        size = int.from_bytes(animation[frame + 4 : frame + 8], "little") + len(padding)
        body = animation[12:frame] + b"ANMF" + size.to_bytes(4, "little") + animation[frame + 8 : frame + 24]
        body += padding + animation[frame + 24 :]
        return b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WEBP" + body

    at_the_limit = with_empty_chunks_in_its_frame(probe.MAX_WEBP_CHUNKS - 4)  # VP8X, ANIM, ANMF, VP8L

    with pytest.raises(probe.UnsupportedImage, match="more than 100,000 chunks"):
        probe.probe(with_empty_chunks_in_its_frame(probe.MAX_WEBP_CHUNKS - 3), max_pixels=MAX_PIXELS)

    assert probe.probe(at_the_limit, max_pixels=MAX_PIXELS).width == 10


def test_a_jpeg_of_more_segments_than_the_limit_is_refused_at_once():
    """8.4 million empty comments in 32 MB took 34 s to answer (each walk of the markers 9 s);
    encoders write a dozen, a progressive JPEG at most a few thousand."""
    jpeg = images.encode(images.photo(10, 10), "JPEG")  # 10 markers after SOI: APP0, 2 DQT, SOF0, 4 DHT, SOS, EOI

    def with_comments(count: int) -> bytes:
        return jpeg[:2] + b"\xff\xfe\x00\x02" * count + jpeg[2:]

    started = time.perf_counter()

    with pytest.raises(probe.UnsupportedImage, match="more than 10,000 segments"):
        probe.probe(with_comments(2_500_000), max_pixels=MAX_PIXELS)
    with pytest.raises(probe.UnsupportedImage, match="more than 10,000 segments"):
        probe.probe(with_comments(probe.MAX_JPEG_MARKERS - 9), max_pixels=MAX_PIXELS)

    assert time.perf_counter() - started < 1
    assert prepare(with_comments(probe.MAX_JPEG_MARKERS - 10)).pixels.width == 10


def test_a_jpeg_is_walked_once_for_its_scans_and_once_for_its_orientation(monkeypatch):
    """Each walk costs a step in Python a marker: preparing a JPEG walks them twice, not six times."""
    walks = []
    for name in ("jpeg_scans", "jpeg_orientation"):
        walk = getattr(probe, name)
        monkeypatch.setattr(probe, name, lambda data, name=name, walk=walk: walks.append(name) or walk(data))

    assert prepare(images.encode(images.photo(10, 10), "JPEG")).pixels.width == 10
    assert sorted(walks) == ["jpeg_orientation", "jpeg_scans"]


# 100 MP at most, as in production: the scans' budget must hold up to the largest image accepted.
ACCEPTED_PIXELS = 100_000_000


def test_a_progressive_jpeg_whose_scans_cost_too_much_for_its_size_is_refused():
    """Each scan is a pass over every block: 500 scans over 9 MP took 1.5 s to decode, over 100 MP
    20 s. What is refused is scans times pixels; fewer scans at that size are accepted."""
    costly = images.progressive_grey_jpeg(3000, 3000, 500)  # 4.5 billion pixels to pass over
    assert probe.jpeg_scans(costly) == probe.JpegScans(500, 3000, 3000, arithmetic=False)

    with pytest.raises(probe.UnsupportedImage, match=r"500 scans at 3000x3000 pixels.*at most 444 are accepted"):
        imaging.prepare(costly, max_width=1920, max_pixels=ACCEPTED_PIXELS)
    assert probe.probe(images.progressive_grey_jpeg(3000, 3000, 444), max_pixels=ACCEPTED_PIXELS).width == 3000


def test_progressive_jpegs_as_encoders_write_them_are_accepted_at_the_largest_size():
    """libjpeg writes 10 scans (18 for CMYK), mozjpeg 9-12, cameras at most ~15: twice as many are
    accepted at 100 MP, and half of that arithmetic-coded (each of its passes costs twice as much)."""
    for scans, arithmetic in [(40, False), (20, True)]:
        data = images.progressive_grey_jpeg(16000, 6250, scans, arithmetic_marker=arithmetic)
        assert probe.probe(data, max_pixels=ACCEPTED_PIXELS).width == 16000

    refused = images.progressive_grey_jpeg(16000, 6250, 21, arithmetic_marker=True)
    with pytest.raises(probe.UnsupportedImage, match=r"arithmetic-coded JPEG has 21 scans.*at most 20 are accepted"):
        probe.probe(refused, max_pixels=ACCEPTED_PIXELS)


def test_a_jpeg_too_large_is_refused_as_too_large_before_its_scans_are_counted():
    data = images.progressive_grey_jpeg(16000, 6250, 41)  # also too many scans at that size

    with pytest.raises(probe.ImageTooLarge, match="16000x6250"):
        probe.probe(data, max_pixels=ACCEPTED_PIXELS - 1)


# --- probe and size limits ----------------------------------------------------------------


def test_a_pixel_bomb_is_refused_from_its_header_before_decoding():
    with pytest.raises(probe.ImageTooLarge, match="30000x30000"):
        prepare(png_claiming(30_000, 30_000))


def test_the_pixel_limit_is_the_configured_one():
    data = images.encode(images.photo(100, 100), "PNG")

    with pytest.raises(probe.ImageTooLarge):
        imaging.prepare(data, max_width=1920, max_pixels=9_999)
    assert imaging.prepare(data, max_width=1920, max_pixels=10_000).pixels.width == 100


@pytest.mark.parametrize("format", ["PNG", "JPEG", "GIF", "BMP", "TIFF"])
def test_an_image_wider_than_imagemagick_allows_is_too_large(format):
    with pytest.raises(probe.ImageTooLarge):
        prepare(images.encode(Image.new("RGB", (17_000, 4)), format))


def test_probe_reports_the_displayed_size_of_a_rotated_jpeg():
    stored = images.encode(images.photo(80, 40), "JPEG", exif=orientation_exif(6))

    info = probe.probe(stored, max_pixels=MAX_PIXELS)

    assert (info.width, info.height, info.stored_width, info.stored_height) == (40, 80, 80, 40)


@pytest.mark.parametrize(
    ("damage", "shown"),
    [(lambda chunk: chunk, (40, 80)), (images.with_wrong_crc, (80, 40))],
    ids=["intact", "wrong-crc"],
)
def test_a_png_is_oriented_by_an_exif_chunk_only_when_its_crc_is_right(damage, shown):
    """As Chromium, which discards a chunk whose CRC is wrong."""
    exif = images.png_chunk(b"eXIf", orientation_exif(6).tobytes()[6:])  # without JPEG's "Exif\0\0"
    data = images.encode(images.photo(80, 40), "PNG")
    data = data[:33] + damage(exif) + data[33:]

    info = probe.probe(data, max_pixels=MAX_PIXELS)
    pixels = prepare(data).pixels

    assert (info.width, info.height) == (pixels.width, pixels.height) == shown


@pytest.mark.parametrize(
    ("format", "orientation", "reoriented"),
    [("JPEG", 1, False), ("JPEG", 3, True), ("JPEG", 2, True), ("TIFF", 1, False), ("TIFF", 4, True), ("PNG", 3, True)],
)
def test_probe_says_whether_imagemagick_will_orient_the_image(format, orientation, reoriented):
    """A flip or a turn by 180 degrees keeps the size, and still costs a whole copy (the budget)."""
    if format == "TIFF":
        stored = images.encode(images.photo(80, 40), format, tiffinfo={274: orientation})
    else:
        stored = images.encode(images.photo(80, 40), format, exif=orientation_exif(orientation))

    info = probe.probe(stored, max_pixels=MAX_PIXELS)

    assert (info.width, info.height, info.reoriented) == (80, 40, reoriented)


def quadrants(width: int = 64, height: int = 32) -> Image.Image:
    """Red, green, blue and yellow quarters: each of the eight orientations shows it differently."""
    image = Image.new("RGB", (width, height), (255, 0, 0))
    image.paste((0, 255, 0), (width // 2, 0, width, height // 2))
    image.paste((0, 0, 255), (0, height // 2, width // 2, height))
    image.paste((255, 255, 0), (width // 2, height // 2, width, height))
    return image


# What each EXIF orientation does to the stored image, as Pillow's exif_transpose does it.
_ORIENTED = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

SHORT, LONG = images.EXIF_SHORT, images.EXIF_LONG
NOT_ORIENTATION = (0x010F, images.EXIF_BYTE, [0])  # any other entry (Make)


def orientation(kind: int, *values: int, order: str = "<") -> bytes:
    return images.jpeg_exif(images.exif_tiff((0x0112, kind, list(values)), order=order))


def exif_between_scans() -> bytes:
    """A progressive JPEG whose EXIF segment comes after its first scan (ImageMagick's ping stops
    before it, its decoding reads it)."""
    data = images.jpeg_with(quadrants(), progressive=True)
    second_scan = data.index(b"\xff\xda", data.index(b"\xff\xda") + 2)
    return data[:second_scan] + orientation(SHORT, 6) + data[second_scan:]


def in_second_directory() -> bytes:
    """A JPEG whose orientation (SHORT 6) is in EXIF's second directory (IFD1, the thumbnail's) alone."""
    first = images.exif_tiff(NOT_ORIENTATION)
    second = images.exif_tiff((0x0112, SHORT, [6]))[8:]  # without the TIFF header
    return images.jpeg_with(quadrants(), images.jpeg_exif(first[:-4] + struct.pack("<I", len(first)) + second))


def cut_after_orientation() -> bytes:
    """A JPEG whose EXIF directory declares two entries and ends after its first, SHORT 6."""
    tiff = images.exif_tiff((0x0112, SHORT, [6]), NOT_ORIENTATION)
    return images.jpeg_with(quadrants(), images.jpeg_exif(tiff[: 8 + 2 + 12]))


def with_directory(first: list, pointed: list, *, tag: int = 0x8769, kind: int = LONG, last: bool = True) -> bytes:
    """A JPEG whose EXIF's first directory holds `first` and an entry `tag` (the Exif directory's,
    by default) pointing at a second directory of `pointed` entries (after `first`, or before)."""
    entries = len(first) + 1
    pointer = (tag, kind, [8 + 2 + 12 * entries + 4])  # the second directory follows the first
    tiff = images.exif_tiff(*([*first, pointer] if last else [pointer, *first]))
    return images.jpeg_with(quadrants(), images.jpeg_exif(tiff + images.exif_tiff(*pointed)[8:]))


def in_exif_directory_two_levels_down() -> bytes:
    """A JPEG whose orientation (SHORT 6) is in a directory the Exif directory points to."""
    first, exif, deepest = 8, 8 + 2 + 12 + 4, 8 + 2 * (2 + 12 + 4)
    tiff = images.exif_tiff((0x8769, LONG, [exif]))
    tiff += images.exif_tiff((0x8769, LONG, [deepest]))[first:] + images.exif_tiff((0x0112, SHORT, [6]))[first:]
    return images.jpeg_with(quadrants(), images.jpeg_exif(tiff))


# JPEGs and the orientation Chromium 156 shows them in (measured: naturalWidth/naturalHeight and a
# canvas's pixels, 2026-12-07). It applies the first 0x0112 entry of the first EXIF segment that
# is one SHORT from 1 to 8, and nothing else. ImageMagick 6 applied LONG, BYTE, SSHORT, a count of
# 2 and an orientation between scans, and passed over some that Chromium applies.
JPEG_ORIENTATIONS = {
    "SHORT 6": (lambda: images.jpeg_with(quadrants(), orientation(SHORT, 6)), 6),
    "SHORT 3": (lambda: images.jpeg_with(quadrants(), orientation(SHORT, 3)), 3),
    "SHORT 6 big-endian": (lambda: images.jpeg_with(quadrants(), orientation(SHORT, 6, order=">")), 6),
    "SHORT 6 after the frame header": (
        lambda: images.jpeg_with(quadrants(), orientation(SHORT, 6), before=b"\xff\xc4"),
        6,
    ),
    "SHORT 6 after an XMP segment": (
        lambda: images.jpeg_with(
            quadrants(), images.jpeg_app1(b"http://ns.adobe.com/xap/1.0/\0"), orientation(SHORT, 6)
        ),
        6,
    ),
    "LONG 6": (lambda: images.jpeg_with(quadrants(), orientation(LONG, 6)), 1),
    "LONG 3": (lambda: images.jpeg_with(quadrants(), orientation(LONG, 3)), 1),
    "LONG 6 big-endian": (lambda: images.jpeg_with(quadrants(), orientation(LONG, 6, order=">")), 1),
    "BYTE 6": (lambda: images.jpeg_with(quadrants(), orientation(images.EXIF_BYTE, 6)), 1),
    "SSHORT 6": (lambda: images.jpeg_with(quadrants(), orientation(images.EXIF_SSHORT, 6)), 1),
    "two SHORTs 6, 6": (lambda: images.jpeg_with(quadrants(), orientation(SHORT, 6, 6)), 1),
    "SHORT 9": (lambda: images.jpeg_with(quadrants(), orientation(SHORT, 9)), 1),
    "LONG 6 then SHORT 3": (
        lambda: images.jpeg_with(
            quadrants(), images.jpeg_exif(images.exif_tiff((0x0112, LONG, [6]), (0x0112, SHORT, [3])))
        ),
        3,
    ),
    "SHORT 9 then SHORT 6": (
        lambda: images.jpeg_with(
            quadrants(), images.jpeg_exif(images.exif_tiff((0x0112, SHORT, [9]), (0x0112, SHORT, [6])))
        ),
        6,
    ),
    "SHORT 6 then SHORT 3": (
        lambda: images.jpeg_with(
            quadrants(), images.jpeg_exif(images.exif_tiff((0x0112, SHORT, [6]), (0x0112, SHORT, [3])))
        ),
        6,
    ),
    "TIFF magic 43": (
        lambda: images.jpeg_with(quadrants(), images.jpeg_exif(images.exif_tiff((0x0112, SHORT, [6]), magic=43))),
        1,
    ),
    "a second EXIF segment's SHORT 6, the first's LONG 3": (
        lambda: images.jpeg_with(quadrants(), orientation(LONG, 3), orientation(SHORT, 6)),
        1,
    ),
    "a second EXIF segment's SHORT 6, the first without orientation": (
        lambda: images.jpeg_with(
            quadrants(), images.jpeg_exif(images.exif_tiff(NOT_ORIENTATION)), orientation(SHORT, 6)
        ),
        1,
    ),
    "a second EXIF segment's SHORT 6, the first holding only its signature": (
        lambda: images.jpeg_with(quadrants(), images.jpeg_app1(b"Exif\0\0"), orientation(SHORT, 6)),
        6,
    ),
    'SHORT 6 after "Exif\\0\\xff"': (
        lambda: images.jpeg_with(
            quadrants(), images.jpeg_exif(images.exif_tiff((0x0112, SHORT, [6])), signature=b"Exif\0\xff")
        ),
        6,
    ),
    "SHORT 6 between a progressive JPEG's scans": (exif_between_scans, 1),
    "SHORT 6 in the second directory alone": (in_second_directory, 1),
    "SHORT 6, the directory cut after it": (cut_after_orientation, 6),
    # The Exif directory (0x8769), read where its entry stands (measured 2026-12-07).
    "SHORT 6 in the Exif directory alone": (lambda: with_directory([], [(0x0112, SHORT, [6])]), 6),
    "SHORT 3, then the Exif directory's SHORT 6": (
        lambda: with_directory([(0x0112, SHORT, [3])], [(0x0112, SHORT, [6])]),
        3,
    ),
    "the Exif directory's SHORT 6, then SHORT 3": (
        lambda: with_directory([(0x0112, SHORT, [3])], [(0x0112, SHORT, [6])], last=False),
        6,
    ),
    "LONG 3, then the Exif directory's SHORT 6": (
        lambda: with_directory([(0x0112, LONG, [3])], [(0x0112, SHORT, [6])]),
        6,
    ),
    "the Exif directory's LONG 6": (lambda: with_directory([], [(0x0112, LONG, [6])]), 1),
    "the Exif directory's offset as a SHORT": (lambda: with_directory([], [(0x0112, SHORT, [6])], kind=SHORT), 1),
    "SHORT 6 in the GPS directory": (lambda: with_directory([], [(0x0112, SHORT, [6])], tag=0x8825), 1),
    "SHORT 6 two directories down": (in_exif_directory_two_levels_down, 1),
    "an Exif directory that is the first again": (
        lambda: images.jpeg_with(quadrants(), images.jpeg_exif(images.exif_tiff((0x8769, LONG, [8])))),
        1,
    ),
}


@pytest.mark.parametrize("case", JPEG_ORIENTATIONS)
def test_a_jpeg_is_oriented_as_chromium_shows_it(case):
    """Its size as the probe reads it, the budget's copy and the pixels all follow the one reading."""
    make, shown = JPEG_ORIENTATIONS[case]
    data = make()

    info = probe.probe(data, max_pixels=MAX_PIXELS)
    pixels = prepare(data).pixels

    expected = quadrants().transpose(_ORIENTED[shown]) if shown in _ORIENTED else quadrants()
    assert (info.width, info.height) == (pixels.width, pixels.height) == expected.size
    assert info.reoriented == (shown != 1)
    assert mean_difference(as_pillow(pixels), expected) < 4


@given(st.binary(max_size=48), st.binary(max_size=48))
@example(b"II*\0\x08\0\0\0\xff\xff", b"")  # a directory of 65,535 entries, none there
@example(b"", b"\xff\xe1\xff\xff")  # a segment longer than the file
def test_reading_a_jpegs_orientation_never_raises(exif, segments):
    data = b"\xff\xd8" + images.jpeg_exif(exif) + segments

    assert probe.jpeg_orientation(data) in (None, *probe.EXIF_ORIENTATIONS)
    assert probe.jpeg_orientation(b"\xff\xd8" + segments) in (None, *probe.EXIF_ORIENTATIONS)


def test_an_orientation_is_read_within_the_most_entries_cameras_write():
    """Entries that each pointed to a directory of thousands made the reading grow with the square of
    their count: an orientation after MAX_EXIF_ENTRIES entries read is not read."""
    dummies = probe.MAX_EXIF_ENTRIES + 1
    pointed = 8 + 2 + 12 + 4  # after the header and a first directory of one entry
    first = struct.pack("<HHHII", 1, 0x8769, LONG, 1, pointed) + struct.pack("<I", 0)
    exif_directory = struct.pack("<H", dummies + 1) + struct.pack("<HHIHxx", 0x010F, SHORT, 1, 0) * dummies
    tiff = b"II" + struct.pack("<HI", 42, 8) + first + exif_directory + struct.pack("<HHIHxx", 0x0112, SHORT, 1, 6)
    near = b"II" + struct.pack("<HI", 42, 8) + first + struct.pack("<H", 2) + exif_directory[2:14] + tiff[-12:]

    assert probe.jpeg_orientation(b"\xff\xd8" + images.jpeg_exif(near)) == probe.EXIF_ORIENTATIONS[5]
    assert probe.jpeg_orientation(b"\xff\xd8" + images.jpeg_exif(tiff)) is None


@pytest.mark.parametrize(
    "tiff",
    [
        images.exif_tiff((0x0112, SHORT, [6, 6])),
        images.exif_tiff((0x0112, SHORT, [6]), magic=43),
    ],
    ids=["two SHORTs", "TIFF magic 43"],
)
def test_a_png_is_not_oriented_by_an_exif_chunk_chromium_passes_over(tiff):
    """Chromium 156 reads a PNG's eXIf as a JPEG's EXIF (measured): neither of these turns it."""
    data = images.encode(quadrants(), "PNG")
    data = data[:33] + images.png_chunk(b"eXIf", tiff) + data[33:]

    info = probe.probe(data, max_pixels=MAX_PIXELS)
    pixels = prepare(data).pixels

    assert (info.width, info.height, info.reoriented) == (pixels.width, pixels.height, False) == (64, 32, False)
    assert mean_difference(as_pillow(pixels), quadrants()) < 4


WEBP_KINDS = {
    "lossy (VP8)": lambda: images.encode(images.photo(301, 167), "WEBP", quality=80),
    "lossless (VP8L)": lambda: images.encode(images.photo(301, 167), "WEBP", lossless=True),
    "extended (VP8X)": lambda: images.encode(images.photo(301, 167).convert("RGBA"), "WEBP", exif=orientation_exif(6)),
}


@pytest.mark.parametrize("kind", WEBP_KINDS)
def test_probe_reads_a_webps_size_from_its_header_as_imagemagick_decodes_it(kind):
    data = WEBP_KINDS[kind]()

    info = probe.probe(data, max_pixels=MAX_PIXELS)

    # ImageMagick 6 ignores EXIF orientation in WebP, so the stored size is the displayed one.
    assert (info.width, info.height, info.stored_width, info.stored_height) == (301, 167, 301, 167)
    assert (prepare(data).pixels.width, prepare(data).pixels.height) == (301, 167)


def test_a_webp_declaring_too_many_pixels_is_refused_before_decoding():
    header = images.encode(Image.new("RGB", (16, 16)), "WEBP", lossless=True)[:25]
    declared = (16383 | 16383 << 14).to_bytes(4, "little")  # 16384 x 16384, the format's largest

    with pytest.raises(probe.ImageTooLarge):
        probe.probe(header[:21] + declared, max_pixels=MAX_PIXELS)


def test_a_webp_whose_header_understates_its_frame_is_refused():
    """The size check trusts the header; libwebp refuses a frame larger than the declared canvas."""
    data = bytearray(images.encode(Image.new("RGB", (4000, 4000)), "WEBP", exif=orientation_exif(1)))
    assert data[12:16] == b"VP8X"
    data[24:30] = (15).to_bytes(3, "little") * 2  # a 16 x 16 canvas

    with pytest.raises(probe.UnsupportedImage):
        imaging.prepare(bytes(data), max_width=1920, max_pixels=1_000_000)


# --- AVIF and HEIC alpha planes --------------------------------------------------------------


def test_an_opaque_avif_has_no_alpha_plane():
    assert probe.heif_alpha(images.encode(images.photo(64, 48), "AVIF")) is None


def test_the_alpha_copy_differs_only_in_the_primary_item_number():
    data = images.encode(images.transparent(), "AVIF")

    copy = probe.heif_alpha(data).copy

    assert len(copy) == len(data)
    changed = [index for index in range(len(data)) if copy[index] != data[index]]
    pitm = data.index(b"pitm")
    assert changed and all(pitm < index < pitm + 12 for index in changed)


def test_an_alpha_plane_the_metadata_names_but_that_cannot_be_found_is_refused():
    data = bytearray(images.encode(images.transparent(), "AVIF"))
    ipma = data.index(b"ipma")
    data[ipma + 8 : ipma + 12] = (10**6).to_bytes(4, "big")  # more entries than the box holds

    with pytest.raises(probe.UnsupportedImage, match="alpha plane could not be read"):
        prepare(bytes(data))


def without_irot_contents(data: bytes) -> bytes:
    """`data` with its irot property's one byte removed, the boxes around it shrunk to match."""
    irot = data.index(b"irot") - 4
    copy = bytearray(data[: irot + 8] + data[irot + 9 :])
    for kind in (b"irot", b"ipco", b"iprp", b"meta"):
        at = copy.index(kind) - 4
        copy[at : at + 4] = (int.from_bytes(copy[at : at + 4], "big") - 1).to_bytes(4, "big")
    return bytes(copy)


def test_damaged_avif_metadata_is_refused_or_read_never_an_error_of_another_kind():
    data = turned_transparent_avif(turn="colour")  # the colour item turned, the alpha item not
    meta = data.index(b"meta") - 4
    meta_end = meta + int.from_bytes(data[meta : meta + 4], "big")
    rng = random.Random(7)
    damaged = [without_irot_contents(data)] + [data[:cut] for cut in range(meta, meta_end)]
    for _ in range(2000):
        copy = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            copy[rng.randrange(meta, meta_end)] = rng.randrange(256)
        damaged.append(bytes(copy))

    for sample in damaged:
        try:
            alpha = probe.heif_alpha(sample)
        except probe.UnsupportedImage:
            continue
        assert alpha is None or len(alpha.copy) == len(sample)


# --- AVIF and HEIC coded frames --------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(lambda: images.encode(images.photo(256, 192), "AVIF"), id="AVIF"),
        pytest.param(lambda: images.encode(images.transparent(256, 192), "AVIF"), id="transparent AVIF"),
        pytest.param(lambda: images.heic(400, 300), id="HEIC, a grid of one tile"),
    ],
)
def test_an_image_coded_larger_than_its_ispe_declares_is_refused_before_it_is_decoded(source, monkeypatch):
    """libheif decodes the whole coded frame, then crops it to `ispe`: a 64x64 `ispe` in front of a
    12-megapixel AVIF took a worker to 306 MB (136 for a genuine 64x64), past the budget's count."""
    data = images.with_ispe(source(), 64, 48)
    monkeypatch.setattr(probe, "read_source", lambda *args, **kwargs: pytest.fail("decoded"))

    with pytest.raises(probe.UnsupportedImage, match="coded frame is larger than the size its header declares"):
        probe.probe(data, max_pixels=MAX_PIXELS)


def test_the_coded_frame_is_checked_whichever_ipma_box_gives_its_properties(monkeypatch):
    """libheif reads every ipma box: with the last alone, a second, empty one hid the primary
    item's av1C, and the frame behind a small `ispe` went unchecked (review, 2026-12-07)."""
    data = images.heif_with_empty_ipma(images.with_ispe(images.encode(images.photo(256, 192), "AVIF"), 64, 48))
    monkeypatch.setattr(probe, "read_source", lambda *args, **kwargs: pytest.fail("decoded"))

    with pytest.raises(probe.UnsupportedImage, match="coded frame is larger than the size its header declares"):
        probe.probe(data, max_pixels=MAX_PIXELS)


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (images.encode(images.photo(256, 192), "AVIF"), (256, 192)),
        (images.encode(images.transparent(95, 63), "AVIF"), (95, 63)),  # odd: AV1 codes it exactly
        (images.heic(333, 211), (333, 211)),  # its tile coded at 336x216, cropped by the grid
        (images.heic(16, 16), (16, 16)),  # its tile coded at 64x64
    ],
    ids=["AVIF", "transparent AVIF", "HEIC", "small HEIC"],
)
def test_genuine_avif_and_heic_images_pass_the_coded_frame_check(data, size):
    info = probe.probe(data, max_pixels=MAX_PIXELS)

    assert (info.width, info.height) == size
    assert (prepare(data).pixels.width, prepare(data).pixels.height) == size


def test_the_coded_size_is_read_from_the_av1_sequence_header_and_the_hevc_sps():
    avif, heic = images.encode(images.photo(200, 120), "AVIF"), images.heic(200, 120)
    meta = probe._heif_meta(avif)
    (header,) = probe._obus(probe._items_data(avif, {meta.primary})[meta.primary], [0])
    (sps,) = probe._hvcc_nal_units(heic[heic.index(b"hvcC") + 4 :])

    assert probe.av1_frame(header) == probe.CodedFrame(200, 120, 8, "4:2:0")
    assert probe._hevc_frame(sps) == probe.CodedFrame(200, 120, 8, "4:2:0")
    assert probe.av1_frame(header[:3]) is None  # cut short: unread, not refused


@pytest.mark.parametrize("bit_depth", [8, 10, 12])
@pytest.mark.parametrize("chroma", ["4:0:0", "4:2:0", "4:2:2", "4:4:4"])
def test_the_probe_reads_an_avif_s_bit_depth_and_chroma_from_its_sequence_header(bit_depth, chroma):
    samples = np.zeros((48, 64) if chroma == "4:0:0" else (48, 64, 3), np.uint16 if bit_depth > 8 else np.uint8)
    data = imagecodecs.avif_encode(samples, 90, bitspersample=bit_depth, pixelformat=chroma.replace(":", "")[:3])

    info = probe.probe(data, max_pixels=MAX_PIXELS)

    assert (info.bit_depth, info.chroma) == (bit_depth, chroma)


def test_a_transparent_avif_counts_the_deepest_of_its_colour_and_alpha_planes():
    rgba = np.zeros((48, 64, 4), np.uint16)
    data = imagecodecs.avif_encode(rgba, 90, bitspersample=10, pixelformat="420")

    assert probe.check_heif_frames(data) == (10, "4:2:0")
    assert probe.check_heif_frames(images.encode(images.transparent(64, 48), "AVIF")) == (8, "4:2:0")


@pytest.mark.parametrize(("bit_depth", "chroma"), [(8, "4:2:0"), (10, "4:4:4"), (12, "4:2:0")])
def test_the_probe_reads_a_heic_s_bit_depth_and_chroma_from_its_sps(bit_depth, chroma, tmp_path):
    """Made by libheif's heif-enc (x265): ImageMagick writes 8-bit 4:2:0 HEICs only."""
    samples = np.random.default_rng(0).integers(0, 1 << 16, (48, 64, 3)).astype(np.uint16)
    if bit_depth == 8:  # heif-enc 1.15 crashes asked for 8 bits of 16-bit samples
        samples = (samples >> 8).astype(np.uint8)
    (tmp_path / "in.png").write_bytes(imagecodecs.png_encode(samples))
    made = tmp_path / "out.heic"
    options = ["-b", str(bit_depth), "-p", f"chroma={chroma.replace(':', '')[:3]}"]
    subprocess.run(["heif-enc", *options, str(tmp_path / "in.png"), "-o", str(made)], check=True, capture_output=True)

    info = probe.probe(made.read_bytes(), max_pixels=MAX_PIXELS)

    assert (info.bit_depth, info.chroma) == (bit_depth, chroma)


def test_an_avif_whose_codec_header_cannot_be_read_is_counted_at_the_most_it_could_code():
    data = bytearray(images.encode(images.photo(64, 48), "AVIF"))  # its av1C holds no copy of the header
    mdat = data.index(b"mdat") + 4
    data[mdat : mdat + 2] = b"\x00\x00"  # the sequence header's OBU header and size: now a 0-byte OBU of type 0

    assert probe.check_heif_frames(bytes(data)) == probe.WORST_CODING


def test_an_image_whose_codec_header_cannot_be_read_is_left_to_the_decoder():
    data = bytearray(images.encode(images.photo(64, 48), "AVIF"))
    mdat = data.index(b"mdat") + 4
    data[mdat : mdat + 2] = b"\x00\x00"  # the sequence header's OBU header and size: now a 0-byte OBU of type 0

    probe.check_heif_frames(bytes(data))  # nothing refused here; the decoder refuses what it cannot decode
    with pytest.raises(probe.UnsupportedImage, match="could not be decoded"):
        prepare(bytes(data))


def test_an_avif_in_more_coded_units_than_encoders_write_is_refused():
    data = images.encode(images.photo(64, 48), "AVIF")
    mdat = data.index(b"mdat") + 4
    padding = b"\x7a\x00" * (probe.MAX_CODED_UNITS + 1)  # padding OBUs (type 15), each of 0 bytes
    iloc = data.index(b"iloc") - 4
    # Lengthen the item's one extent (the last 4 bytes of iloc: version 0, 4-byte lengths) and mdat.
    end = iloc + int.from_bytes(data[iloc : iloc + 4], "big")
    length = int.from_bytes(data[end - 4 : end], "big") + len(padding)
    grown = data[: end - 4] + length.to_bytes(4, "big") + data[end : mdat - 8]
    grown += (int.from_bytes(data[mdat - 8 : mdat - 4], "big") + len(padding)).to_bytes(4, "big") + b"mdat"
    grown += data[mdat:] + padding

    with pytest.raises(probe.UnsupportedImage, match="more parts than encoders write"):
        probe.check_heif_frames(grown)
    probe.check_heif_frames(data)


def test_an_iloc_of_more_extents_than_encoders_write_is_not_read_extent_by_extent():
    """A review's file: 100 entries of 65,535 extents of 0 bytes each, in 870 bytes, took 4.3 s and
    450 MB to read into a list before anything was refused."""
    entry = struct.pack(">HHHH", 1, 0, 0, 0xFFFF)  # item 1, in the file, this file, 65,535 extents
    iloc = b"\x01\x00\x00\x00" + b"\x00\x00" + struct.pack(">H", 100) + entry * 100  # every size 0

    with pytest.raises(IndexError, match="extents"):
        isobmff.item_locations(iloc, 0, len(iloc))
    one = b"\x01\x00\x00\x00" + b"\x00\x00" + struct.pack(">HHHHH", 1, 1, 0, 0, 2)  # one item of 2 extents
    assert isobmff.item_locations(one, 0, len(one)) == [isobmff.ItemLocation(1, 0, 0, ((0, 0), (0, 0)))]


def test_a_codec_header_of_zeros_is_not_read_bit_by_bit():
    with pytest.raises(IndexError, match="longer than 32 bits"):
        probe._Bits(bytes(256)).golomb()
    assert probe._hevc_frame(bytes(256)) is None


def test_the_items_decoded_are_followed_through_every_level_of_derived_images():
    overlay_of_a_grid = probe._HeifMeta(
        pitm_item=(0, 2),
        primary=1,
        references=[(b"dimg", 1, [2]), (b"dimg", 2, [3, 4]), (b"thmb", 5, [1]), (b"dimg", 6, [7])],
        properties=[],
        associations={},
    )

    assert probe._decoded_items(overlay_of_a_grid) == {1, 2, 3, 4}


@pytest.mark.parametrize("output", ["AVIF", "WEBP"])
def test_an_animation_is_told_from_a_still_image(output):
    frames = [Image.new("RGB", (16, 16), (1, 2, 3)), Image.new("RGB", (16, 16), (200, 2, 3))]
    animation = images.encode(frames[0], output, save_all=True, append_images=frames[1:])
    still = images.encode(frames[0], output)

    assert probe.probe(animation, max_pixels=MAX_PIXELS).animated
    assert not probe.probe(still, max_pixels=MAX_PIXELS).animated


@pytest.mark.parametrize(
    "data",
    [
        images.webp_with_a_stray_frame(500, 500),  # a still image's frame beyond it: Wand's ValueError, a 500
        images.webp_with_a_stray_frame(0, 0),  # a still image's 10x10 frame: it was cropped to that
        images.animated_webp([(images.photo(20, 20), 50, 30)], canvas=(60, 40)),  # beyond its canvas
    ],
    ids=["still, beyond", "still, inside", "animated, beyond"],
)
def test_a_webp_frame_in_a_still_image_or_beyond_its_canvas_is_damage(data):
    """The container's specification: ANMF chunks belong to a VP8X chunk flagged animated, their
    frames within its canvas."""
    with pytest.raises(probe.UnsupportedImage, match="could not be decoded"):
        probe.probe(data, max_pixels=MAX_PIXELS)
    animation = images.animated_webp([(images.photo(16, 16), 44, 24)], canvas=(60, 40))  # to the corner
    assert probe.webp_first_frame_area(animation) == (44, 24, 16, 16)


def test_an_animated_webp_s_first_frame_is_as_large_as_its_bitstream_whatever_its_anmf_declares():
    """As libwebp's demuxer takes it, and so browsers: ImageMagick 6 decodes the whole bitstream,
    which the 10x10 an ANMF chunk declared cropped."""
    animation = bytearray(images.animated_webp([(images.photo(40, 30), 0, 0)], canvas=(60, 40)))
    fields = animation.index(b"ANMF") + 8
    animation[fields + 6 : fields + 12] = (9).to_bytes(3, "little") * 2  # declares 10x10

    assert probe.webp_first_frame_area(bytes(animation)) == (0, 0, 40, 30)
    assert probe.probe(bytes(animation), max_pixels=MAX_PIXELS).placed_frame_pixels == 40 * 30
    whole = images.animated_webp([(images.photo(60, 40), 0, 0)], canvas=(60, 40))
    assert probe.probe(whole, max_pixels=MAX_PIXELS).placed_frame_pixels == 0  # covers its canvas: not copied


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("big", [False, True], ids=["tiff", "bigtiff"])
def test_a_tiff_s_layout_is_read_from_its_first_directory(order, big):
    tiled = images.tiff_of_layout(64, 48, samples=32, bits=16, tile=(4096, 1024), order=order, big=big)
    strips = images.tiff_of_layout(64, 48, samples=4, bits=8, rows_per_strip=5, planar=2, order=order, big=big)

    assert probe.tiff_layout(tiled) == probe.TiffLayout(
        samples_per_pixel=32, bits_per_sample=16, compression=8, photometric=2, tile_width=4096, tile_length=1024
    )
    assert probe.tiff_layout(strips) == probe.TiffLayout(
        samples_per_pixel=4, bits_per_sample=8, compression=8, photometric=2, planar=2, rows_per_strip=5
    )


def test_probe_gives_a_tiff_s_layout_as_pillow_writes_it():
    data = images.encode(images.photo(300, 200), "TIFF", compression="tiff_lzw")

    layout = probe.probe(data, max_pixels=MAX_PIXELS).tiff

    assert layout is not None
    assert (layout.samples_per_pixel, layout.bits_per_sample, layout.compression) == (3, 8, 5)
    assert (layout.photometric, layout.planar, layout.tile_width) == (2, 1, 0)
    assert 1 <= layout.rows_per_strip <= 200


def test_a_tiff_whose_first_directory_lies_beyond_the_file_is_damaged():
    data = images.tiff_of_layout(64, 48)
    with pytest.raises(probe.UnsupportedImage):
        probe.tiff_layout(data[:4] + struct.pack("<I", len(data) + 100) + data[8:])


def test_a_tiff_s_bits_per_sample_are_read_only_as_far_as_a_pixel_can_hold_them(monkeypatch):
    """16 million values (2 bytes each, within the upload limit) are not read whole."""
    count = 16_000_000
    entry = struct.pack("<HHII", 258, 3, count, 26)  # BitsPerSample: SHORTs, at offset 26
    data = b"II*\0" + struct.pack("<IH", 8, 1) + entry + b"\0\0\0\0" + struct.pack("<H", 12) * count
    read = []
    unpack_from = struct.unpack_from
    monkeypatch.setattr(
        probe.struct, "unpack_from", lambda layout, *rest: read.append(layout) or unpack_from(layout, *rest)
    )

    assert probe.tiff_layout(data).bits_per_sample == 12
    assert "<64H" in read


def test_a_bigtiff_whose_directory_offset_is_past_what_python_indexes_is_damaged():
    data = images.tiff_of_layout(64, 48, big=True)
    with pytest.raises(probe.UnsupportedImage):
        probe.tiff_layout(data[:8] + struct.pack("<Q", 2**63) + data[16:])
