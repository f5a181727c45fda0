"""Files an attacker would send as images, made in the test (no corpus in the repository).

Each HostileFile names what a customer must get back: a 400 with one of `codes`, or a 200 where
the file is a legitimate image whose danger must simply stay bounded (e.g. the first frame of a
1,000-frame GIF). `callback` is a loopback URL an SVG or MVG payload asks ImageMagick to fetch:
the tests count connections there.
"""

import io
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from optimizer.tests import images
from optimizer.tests.test_probe import png_claiming

UNSUPPORTED = frozenset({"UNSUPPORTED_IMAGE"})
TOO_LARGE = frozenset({"IMAGE_TOO_LARGE"})
# Text behind an image header reads as absurd dimensions: refused as damaged or as too large.
DAMAGED = UNSUPPORTED | TOO_LARGE
ACCEPTED = frozenset()  # a 200: the file is an image, its hostile part costs nothing


@dataclass(frozen=True)
class HostileFile:
    name: str
    make: Callable[[str], bytes]  # given the callback URL
    codes: frozenset[str]

    def __repr__(self) -> str:
        return self.name


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_of_rows(width: int, height: int, row: Callable[[int], bytes], *, extra_chunks: bytes = b"") -> bytes:
    """A greyscale PNG streamed row by row, so a huge image never exists in memory here."""
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(b"\0" + row(y)) for y in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + extra_chunks + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def real_png(width: int, height: int) -> bytes:
    """A complete, decodable greyscale gradient: every row is there."""
    return png_of_rows(width, height, lambda y: bytes((x + y) % 256 for x in range(width)) if y < 2 else bytes(width))


def text_chunk_bomb(uncompressed_mib: int = 256) -> bytes:
    """An 8x8 PNG carrying a zTXt comment that inflates to `uncompressed_mib` MiB."""
    compressor = zlib.compressobj(9)
    zeros = bytes(2**20)
    text = b"".join(compressor.compress(zeros) for _ in range(uncompressed_mib)) + compressor.flush()
    return png_of_rows(8, 8, lambda y: bytes(8), extra_chunks=_chunk(b"zTXt", b"Comment\0\0" + text))


def png_with_bad_crc() -> bytes:
    data = bytearray(images.encode(images.photo(64, 48), "PNG"))
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    data[idat + 4 + length] ^= 0xFF  # the first byte of the IDAT chunk's CRC
    return bytes(data)


def gif_of_frames(count: int, size: tuple[int, int] = (64, 64)) -> bytes:
    """An animated GIF whose frames all differ (so no encoder merges them)."""
    width, height = size
    frames = []
    for index in range(count):
        frame = Image.new("P", size, 0)
        frame.putpixel((index % width, (index // width) % height), 1 + index % 250)
        frames.append(frame)
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=20, loop=0)
    return buffer.getvalue()


def _jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, bytes) of every segment, a scan's entropy-coded data included in its SOS segment."""
    segments, index = [], 2
    while data[index + 1] != 0xD9:  # EOI
        marker = data[index + 1]
        end = index + 2 + struct.unpack(">H", data[index + 2 : index + 4])[0]
        if marker == 0xDA:  # SOS: the scan runs to the next marker that is not a stuffed byte or a restart
            while data[end] != 0xFF or data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
                end += 1
        segments.append((marker, data[index:end]))
        index = end
    return segments


def jpeg_with_scans(extra_scans: int, size: tuple[int, int] = (2000, 1500)) -> bytes:
    """A progressive JPEG followed by `extra_scans` copies of its smallest refinement scan: each one
    small, each one a pass over every block of the image for the decoder."""
    source = images.encode(Image.new("RGB", size, (120, 30, 200)), "JPEG", progressive=True, quality=90)
    segments = _jpeg_segments(source)
    scans = [segment for marker, segment in segments if marker == 0xDA]
    others = b"".join(segment for marker, segment in segments if marker != 0xDA)
    return source[:2] + others + b"".join(scans) + min(scans[1:], key=len) * extra_scans + b"\xff\xd9"


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF) is rewritten to claim `width` x `height`."""
    data = bytearray(images.encode(images.photo(64, 48), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def exif_loop_jpeg() -> bytes:
    """A JPEG whose EXIF IFD points back at itself (and whose entries claim huge counts)."""
    ifd_offset = 8
    entry_exif_pointer = struct.pack("<HHII", 0x8769, 4, 1, ifd_offset)  # ExifIFD -> the same IFD
    entry_huge = struct.pack("<HHII", 0x010E, 2, 0xFFFFFFF0, ifd_offset)  # ImageDescription, 4 GB long
    tiff = b"II*\x00" + struct.pack("<I", ifd_offset) + struct.pack("<H", 2) + entry_exif_pointer + entry_huge
    tiff += struct.pack("<I", ifd_offset)  # the next IFD is this one again
    exif = b"Exif\x00\x00" + tiff
    source = images.encode(images.photo(64, 48), "JPEG")
    return source[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + source[2:]


def gif_on_a_screen_of(width: int, height: int) -> bytes:
    """A small GIF whose logical screen, on which its frame is shown, is `width` x `height`."""
    data = bytearray(images.encode(images.photo(64, 48), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def png_with_absurd_colour_chunks() -> bytes:
    """A PNG whose gAMA, cHRM and eXIf chunks (read by our own code) make no sense: a gamma of
    1/100,000, all primaries on one point, an EXIF directory far beyond its chunk."""
    chunks = _chunk(b"gAMA", struct.pack(">I", 1)) + _chunk(b"cHRM", struct.pack(">8I", *[31270, 32900] * 4))
    chunks += _chunk(b"eXIf", b"MM\x00*" + struct.pack(">I", 0xFFFFFFF0))
    return images.png([[0, 128, 255] * 8] * 8, 8, 8, greyscale=False, chunks=chunks)


SVG_NAMESPACES = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'


def _svg(body: str) -> bytes:
    return f'<svg {SVG_NAMESPACES} width="64" height="64">{body}</svg>'.encode()


HOSTILE_FILES = [
    # Vector, script and indirection formats: refused by their magic bytes, and no coder for them.
    HostileFile(
        "svg with script", lambda url: _svg('<script>alert(1)</script><rect width="9" height="9"/>'), UNSUPPORTED
    ),
    HostileFile(
        "svg fetching a url", lambda url: _svg(f'<image xlink:href="{url}" width="9" height="9"/>'), UNSUPPORTED
    ),
    HostileFile(
        "svg with an external entity",
        lambda url: (
            b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
            + f'<!ENTITY remote SYSTEM "{url}">]>'.encode()
            + _svg("<text>&xxe;&remote;</text>")
        ),
        UNSUPPORTED,
    ),
    HostileFile(
        "mvg fetching a url",
        lambda url: (
            f"push graphic-context\nviewbox 0 0 640 480\nimage over 0,0 0,0 '{url}'\npop graphic-context".encode()
        ),
        UNSUPPORTED,
    ),
    HostileFile(
        "mvg reading a file", lambda url: b"viewbox 0 0 64 64\nimage over 0,0 0,0 'text:/etc/passwd'", UNSUPPORTED
    ),
    HostileFile(
        "msl",
        lambda url: (
            b'<?xml version="1.0" encoding="UTF-8"?><image><read filename="/etc/passwd"/>'
            b'<write filename="/tmp/smolpix-msl-pwned.png"/></image>'
        ),
        UNSUPPORTED,
    ),
    HostileFile("text: payload", lambda url: b"text:/etc/passwd", UNSUPPORTED),
    HostileFile("label:@ payload", lambda url: b"label:@/etc/passwd", UNSUPPORTED),
    HostileFile("ephemeral: payload", lambda url: b"ephemeral:/etc/passwd", UNSUPPORTED),
    HostileFile("url: payload", lambda url: url.encode(), UNSUPPORTED),
    HostileFile(
        "postscript",
        lambda url: b"%!PS\n/Helvetica findfont 12 scalefont setfont (x) show\n(%pipe%id) (w) file\nshowpage",
        UNSUPPORTED,
    ),
    HostileFile("eps", lambda url: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nshowpage\n", UNSUPPORTED),
    HostileFile("eps with a binary header", lambda url: b"\xc5\xd0\xd3\xc6" + bytes(26) + b"%!PS\n", UNSUPPORTED),
    HostileFile(
        "pdf", lambda url: b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF", UNSUPPORTED
    ),
    HostileFile("html", lambda url: f'<html><img src="{url}"></html>'.encode(), UNSUPPORTED),
    # Polyglots: an accepted magic, something else behind it. The sniffed coder alone decodes them.
    HostileFile(
        "png header then svg", lambda url: b"\x89PNG\r\n\x1a\n" + _svg(f'<image xlink:href="{url}"/>'), UNSUPPORTED
    ),
    HostileFile("jpeg header then postscript", lambda url: b"\xff\xd8\xff\xe0%!PS\n(x) show showpage", UNSUPPORTED),
    HostileFile(
        "gif header then mvg", lambda url: b"GIF89a" + f"\nviewbox 0 0 9 9 image over 0,0 0,0 '{url}'".encode(), DAMAGED
    ),
    HostileFile(
        "tiff header then garbage",
        lambda url: b"II*\x00\x08\x00\x00\x00" + random.Random(1).randbytes(500),
        UNSUPPORTED,
    ),
    HostileFile(
        "avif brand then garbage",
        lambda url: b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + random.Random(2).randbytes(500),
        UNSUPPORTED,
    ),
    # Damaged images.
    HostileFile("truncated png", lambda url: images.encode(images.photo(), "PNG")[:400], UNSUPPORTED),
    HostileFile("truncated jpeg", lambda url: images.encode(images.photo(), "JPEG")[:300], UNSUPPORTED),
    HostileFile("truncated gif", lambda url: images.encode(images.photo(), "GIF")[:300], UNSUPPORTED),
    HostileFile("truncated webp", lambda url: images.encode(images.photo(), "WEBP")[:200], UNSUPPORTED),
    # libjpeg only warns, and fills the rest with grey: once returned, and charged.
    HostileFile(
        "jpeg cut mid-scan", lambda url: images.encode(images.photo(640, 480), "JPEG", quality=95)[:30_000], UNSUPPORTED
    ),
    HostileFile("png cut inside its header", lambda url: images.encode(images.photo(), "PNG")[:20], UNSUPPORTED),
    HostileFile("png with a bad crc", lambda url: png_with_bad_crc(), UNSUPPORTED),
    HostileFile("zero bytes", lambda url: b"", UNSUPPORTED),
    HostileFile("random bytes", lambda url: random.Random(3).randbytes(4096), UNSUPPORTED),
    HostileFile("a single byte", lambda url: b"\xff", UNSUPPORTED),
    # Pixel floods: refused from their headers, before a pixel is decoded.
    HostileFile("png claiming 60000x60000", lambda url: png_claiming(60_000, 60_000), TOO_LARGE),
    HostileFile("png strip 100000x1", lambda url: png_claiming(100_000, 1), TOO_LARGE),
    HostileFile("png strip 1x100000", lambda url: png_claiming(1, 100_000), TOO_LARGE),
    HostileFile("real png 15000x15000", lambda url: real_png(15_000, 15_000), TOO_LARGE),
    HostileFile("jpeg claiming 65000x65000", lambda url: jpeg_claiming(65_000, 65_000), TOO_LARGE),
    HostileFile("jpeg claiming 12000x12000", lambda url: jpeg_claiming(12_000, 12_000), TOO_LARGE),
    HostileFile("gif frame on a 60000x60000 screen", lambda url: gif_on_a_screen_of(60_000, 60_000), TOO_LARGE),
    # Legitimate images with a hostile part that must stay cheap.
    HostileFile("gif of 1000 frames", lambda url: gif_of_frames(1000), ACCEPTED),
    HostileFile("png with a 256 MiB text bomb", lambda url: text_chunk_bomb(256), ACCEPTED),
    HostileFile("jpeg with an exif loop", lambda url: exif_loop_jpeg(), ACCEPTED),
    HostileFile("png with absurd colour chunks", lambda url: png_with_absurd_colour_chunks(), ACCEPTED),
    HostileFile(
        "greyscale png with a gamma of 1.0",  # a colourspace Wand does not list: once a 500
        lambda url: images.png([list(range(0, 256, 16))] * 4, 16, 4, greyscale=True, gamma=1.0),
        ACCEPTED,
    ),
    # A progressive JPEG with thousands of scans: refused, not decoded until the decoder gives up.
    HostileFile("jpeg with 5000 progressive scans", lambda url: jpeg_with_scans(5000), UNSUPPORTED),
    # 500 scans, each a few bytes and a pass over 100 MP: 10 s to decode (20 s arithmetic-coded).
    HostileFile(
        "jpeg with 500 scans over 16000x6250",
        lambda url: images.progressive_grey_jpeg(16000, 6250, 500),
        UNSUPPORTED,
    ),
    # A still WebP (VP8X without the animation flag) with an ANMF chunk: damage, not a frame to crop to.
    HostileFile("still webp with a frame beyond it", lambda url: images.webp_with_a_stray_frame(500, 500), UNSUPPORTED),
    HostileFile("still webp with a 10x10 frame", lambda url: images.webp_with_a_stray_frame(0, 0), UNSUPPORTED),
]
