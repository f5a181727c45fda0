"""Test images, made in the tests.

Pillow makes and checks them: an encoder and decoder independent of the ImageMagick pipeline under
test, so a test cannot pass by the pipeline agreeing with itself. Wand (through optimizer.magick,
under the project policy) makes the two kinds Pillow cannot write: 16-bit RGB PNG and HEIC; pypng
writes PNGs of every colour type and bit depth, with whatever colour chunks a test needs.
"""

import io
import itertools
import random
import struct
import zlib

import numpy as np
import png as pypng
from PIL import Image, ImageDraw

from optimizer import magick


def photo(width: int = 256, height: int = 192) -> Image.Image:
    """Smooth colour under fine detail and a little grain: compresses like a photograph."""
    size = (width, height)
    colour = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90).resize(size),
            Image.radial_gradient("L").resize(size),
        ),
    )
    detail = Image.effect_mandelbrot(size, (-2.0, -1.2, 0.8, 1.2), 60)
    grain = Image.frombytes("L", size, random.Random(width * height).randbytes(width * height))
    texture = Image.blend(detail, grain, 0.15).convert("RGB")
    return Image.blend(colour, texture, 0.4)


def graphic(width: int = 200, height: int = 120) -> Image.Image:
    """A flat, few-colour drawing: a logo or a chart."""
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, width // 2, height // 2), fill=(220, 40, 60))
    draw.ellipse((width // 2, height // 3, width - 10, height - 10), fill=(30, 90, 200))
    draw.line((0, height - 1, width, 0), fill=(20, 20, 20), width=3)
    return image


def cells(colours: int) -> Image.Image:
    """A graphic of `colours` flat 20 x 5 cells, one of each colour: every cell is sampled."""
    image = Image.new("RGB", (400, 300), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for index in range(colours):
        left, top = index % 20 * 20, index // 20 * 5
        draw.rectangle((left, top, left + 19, top + 4), fill=(index % 256, index // 256 * 40, 128))
    return image


def diagram(width: int = 480, height: int = 360) -> Image.Image:
    """Boxes, lines and text on white: a class diagram, as people save them (then as JPEG)."""
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for row in range(3):
        for column in range(3):
            left, top = 15 + column * width // 3, 15 + row * height // 3
            right, bottom = left + width // 3 - 40, top + height // 3 - 40
            draw.rectangle((left, top, right, bottom), fill=(255, 250, 220), outline=(60, 60, 60), width=2)
            draw.line((left, top + 22, right, top + 22), fill=(60, 60, 60), width=1)
            draw.text((left + 6, top + 6), f"Class{row}{column}", fill=(0, 0, 0))
            for line in range(3):
                draw.text((left + 6, top + 28 + 12 * line), f"+ field_{line}: int", fill=(40, 40, 160))
            if column:
                draw.line((left - 25, (top + bottom) // 2, left, (top + bottom) // 2), fill=(0, 0, 0), width=2)
    return image


def transparent(width: int = 96, height: int = 64) -> Image.Image:
    """Alpha of every kind: a left-to-right gradient, a fully transparent band and an opaque one."""
    image = photo(width, height).convert("RGBA")
    alpha = Image.linear_gradient("L").rotate(90).resize((width, height))
    draw = ImageDraw.Draw(alpha)
    draw.rectangle((0, 0, width, height // 6), fill=0)
    draw.rectangle((0, height - height // 6, width, height), fill=255)
    image.putalpha(alpha)
    return image


def encode(image: Image.Image, format: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **params)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def gif_frames(*colours: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    frames = [Image.new("RGB", size, colour) for colour in colours]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def animated_webp(frames: list[tuple[Image.Image, int, int]], canvas: tuple[int, int]) -> bytes:
    """An animated WebP of lossless `frames`, each placed at its (left, top) on the canvas, as
    webpmux writes them (Pillow's writer covers the whole canvas with every frame)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return kind + len(payload).to_bytes(4, "little") + payload + b"\0" * (len(payload) % 2)

    def uint24(value: int) -> bytes:
        return value.to_bytes(3, "little")

    body = chunk(b"VP8X", bytes([0x12, 0, 0, 0]) + uint24(canvas[0] - 1) + uint24(canvas[1] - 1))
    body += chunk(b"ANIM", bytes(4) + bytes(2))  # background transparent black, loop for ever
    for frame, left, top in frames:
        still = encode(frame, "WEBP", lossless=True)
        place = uint24(left // 2) + uint24(top // 2) + uint24(frame.width - 1) + uint24(frame.height - 1)
        body += chunk(b"ANMF", place + uint24(100) + bytes([0]) + still[12:])
    return b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WEBP" + body


def webp_with_a_stray_frame(left: int, top: int, size: int = 10, *, flags: int = 0) -> bytes:
    """A lossless 64x64 WebP rebuilt with a VP8X chunk (these `flags`: 0 is a still image, 64x64),
    then an ANMF chunk placing a `size` x `size` frame at (left, top), then the image's own VP8L
    chunk. ImageMagick 6 decoded the VP8L image and the frame's place cropped it: to 10x10, or
    beyond it (Wand's ValueError, a 500)."""
    still = encode(photo(64, 64), "WEBP", lossless=True)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return kind + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) % 2)

    def uint24(value: int) -> bytes:
        return value.to_bytes(3, "little")

    vp8x = chunk(b"VP8X", bytes([flags, 0, 0, 0]) + uint24(63) + uint24(63))
    place = uint24(left // 2) + uint24(top // 2) + uint24(size - 1) + uint24(size - 1) + uint24(100) + b"\0"
    body = b"WEBP" + vp8x + chunk(b"ANMF", place) + still[12:]
    return b"RIFF" + struct.pack("<I", len(body)) + body


def bmp_32bit(
    alpha: np.ndarray,
    *,
    header_size: int = 124,
    compression: int = 3,
    alpha_mask: int = 0xFF000000,
    top_down: bool = False,
    colour: tuple[int, int, int] = (200, 120, 50),
) -> bytes:
    """A 32-bit BMP of `colour` with `alpha` (rows x columns, top row first) in each pixel's fourth
    byte: a header of `header_size` bytes (40, 52, 56 (V3), 108 (V4) or 124 (V5)), BI_RGB (0) or
    BI_BITFIELDS (3), masks for 0x00RRGGBB and `alpha_mask` wherever the header has room for them
    (a 40-byte header's three after it, with BI_BITFIELDS), rows bottom-up unless `top_down`."""
    pixels = np.empty((*alpha.shape, 4), np.uint8)
    pixels[..., :3], pixels[..., 3] = colour[::-1], alpha
    rows = (pixels if top_down else pixels[::-1]).tobytes()
    height, width = alpha.shape
    size = (width, -height if top_down else height)
    header = struct.pack("<IiiHHIIiiII", header_size, *size, 1, 32, compression, len(rows), 2835, 2835, 0, 0)
    masks = struct.pack("<IIII", 0x00FF0000, 0x0000FF00, 0x000000FF, alpha_mask)
    if header_size > 40 or compression == 3:
        header += masks[: 16 if header_size >= 56 else 12]
    if header_size >= 108:
        header += b"BGRs" + bytes(48)  # sRGB: no end points, no gamma
    if header_size == 124:
        header += struct.pack("<IIII", 4, 0, 0, 0)  # perceptual intent, no profile
    offset = 14 + len(header)
    return b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset) + header + rows


def vp8l_alpha_unused(data: bytes) -> bytes:
    """A lossless WebP with its first VP8L bitstream's alpha_is_used bit (bit 28 of the 32 after
    the 0x2F signature) cleared, whatever its pixels' alpha."""
    flags = data.index(b"VP8L") + 12
    assert data[flags - 4] == 0x2F
    return data[:flags] + bytes([data[flags] & ~0x10]) + data[flags + 1 :]


def png_16bit(width: int = 64, height: int = 48) -> bytes:
    """A 16-bit-per-sample RGB PNG without colour chunks: red rising left to right with values
    that need 16 bits. (ImageMagick's writer would add gAMA and cHRM chunks, which browsers, and
    so the pipeline, read as a pure 2.2 power curve rather than sRGB.)"""
    samples = bytearray()
    for _ in range(height):
        for x in range(width):
            samples += struct.pack("<HHH", x * 65535 // (width - 1), 0x1234, 0xFEDC)
    with magick.Image(blob=bytes(samples), format="RGB", width=width, height=height, depth=16) as image:
        image.format = "PNG"
        image.options["png:exclude-chunk"] = "gAMA,cHRM"
        return image.make_blob()


def tiff_16bit(image: Image.Image, *, icc_profile: bytes) -> bytes:
    """A 16-bit-per-sample TIFF of the RGB `image` (each sample times 257) carrying `icc_profile`,
    whatever its colour space."""
    with magick.Image(blob=encode(image, "PNG"), format="PNG") as converted:
        converted.depth = 16
        converted.profiles["icc"] = icc_profile
        converted.format = "TIFF"
        return converted.make_blob()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def iccp_chunk(profile: bytes) -> bytes:
    return png_chunk(b"iCCP", b"profile\0\0" + zlib.compress(profile))


def with_wrong_crc(chunk: bytes) -> bytes:
    """A PNG chunk (as png_chunk makes it) with its CRC's first byte flipped."""
    return chunk[:-4] + bytes([chunk[-4] ^ 0xFF]) + chunk[-3:]


def png(rows: list[list[int]], width: int, height: int, *, chunks: bytes = b"", **writer) -> bytes:
    """A PNG of `rows` of samples, written by pypng with `writer`'s options (greyscale, alpha,
    bitdepth, gamma, ...), with `chunks` inserted right after IHDR (where colour chunks go)."""
    buffer = io.BytesIO()
    pypng.Writer(width, height, **writer).write(buffer, rows)
    data = buffer.getvalue()
    return data[:33] + chunks + data[33:]


def heic(width: int = 64, height: int = 48) -> bytes:
    with magick.Image(blob=encode(photo(width, height), "PNG"), format="PNG") as image:
        image.format = "HEIC"
        return image.make_blob()


def icc_profile(red_xyz, green_xyz, blue_xyz, *, gamma=2.2, table_size=0, lut_primaries=None) -> bytes:
    """A minimal ICC v2 RGB matrix/TRC display profile with the given (D50) primaries and gamma,
    stored as one exponent or, with `table_size`, as a table of that many samples.

    With `lut_primaries` (red, green, blue XYZ) it also has an A2B0 lookup table, which LittleCMS
    uses instead of the matrix and curves: device values straight to those primaries, no curve.
    """

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(values) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(s15(value) for value in values)

    description = b"Smolpix test profile\0"
    description_tag = b"desc\0\0\0\0" + struct.pack(">I", len(description)) + description + bytes(4 + 4 + 2 + 1 + 67)
    if table_size:
        samples = [round((index / (table_size - 1)) ** gamma * 65535) for index in range(table_size)]
        curve = b"curv\0\0\0\0" + struct.pack(f">I{table_size}H", table_size, *samples)
    else:
        curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256))
    tags = [
        (b"desc", description_tag),
        (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz(red_xyz)),
        (b"gXYZ", xyz(green_xyz)),
        (b"bXYZ", xyz(blue_xyz)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0No copyright\0"),
    ]
    if lut_primaries:
        tags.append((b"A2B0", _lut(lut_primaries)))
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        body += bytes(-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    header = bytearray(128)
    header[0:4] = struct.pack(">I", offset + len(data))
    header[8:12] = bytes((2, 0x10, 0, 0))
    header[12:24] = b"mntrRGB XYZ "
    header[36:40] = b"acsp"
    header[68:80] = s15(0.9642) + s15(1.0) + s15(0.8249)
    return bytes(header) + struct.pack(">I", len(tags)) + table + data


def _lut(primaries) -> bytes:
    """An 'mft2' tag: identity input and output curves, and a 2x2x2 grid of XYZ (1.0 = 0x8000)."""
    identity = struct.pack(">2H", 0, 65535) * 3
    grid = b""
    for switched_on in itertools.product((0, 1), repeat=3):  # red varies slowest, as the grid is stored
        xyz = [sum(on * primary[axis] for on, primary in zip(switched_on, primaries, strict=True)) for axis in range(3)]
        grid += struct.pack(">3H", *(round(value * 0x8000) for value in xyz))
    matrix = b"".join(struct.pack(">i", 65536 if row == column else 0) for row in range(3) for column in range(3))
    return b"mft2\0\0\0\0" + bytes((3, 3, 2, 0)) + matrix + struct.pack(">2H", 2, 2) + identity + grid + identity


SRGB_RED, SRGB_GREEN, SRGB_BLUE = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)
SRGB_PRIMARIES = (SRGB_RED, SRGB_GREEN, SRGB_BLUE)
# A profile in which the first channel is sRGB's green and the second sRGB's red.
SWAPPED_PRIMARIES_PROFILE = icc_profile(SRGB_GREEN, SRGB_RED, SRGB_BLUE)
# Adobe RGB (1998): a wider gamut than sRGB, with primaries adapted to D50 as ICC profiles store them.
ADOBE_RGB_PRIMARIES = (0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446)
ADOBE_RGB_PROFILE = icc_profile(*ADOBE_RGB_PRIMARIES)


def _heif_boxes(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """The boxes in data[start:end]: kind -> (start, end), headers included (the last of a kind)."""
    found = {}
    while start < end:
        size, kind = struct.unpack_from(">I4s", data, start)
        found[kind], start = (start, start + size), start + size
    return found


def heif_with_property(data: bytes, box: bytes) -> bytes:
    """An AVIF or HEIC with one more property box (a `clli`, say) for its primary item: appended to
    `ipco`, associated in `ipma` (version 0, 8-bit property numbers)."""
    meta = _heif_boxes(data, 0, len(data))[b"meta"]
    boxes = _heif_boxes(data, meta[0] + 12, meta[1])
    properties = _heif_boxes(data, boxes[b"iprp"][0] + 8, boxes[b"iprp"][1])
    ipco, ipma = (bytearray(data[slice(*properties[kind])]) for kind in (b"ipco", b"ipma"))
    assert ipma[8] == 0 and ipma[11] & 1 == 0, "ipma version 0 with 8-bit property numbers only"
    number = len(_heif_boxes(data, properties[b"ipco"][0] + 8, properties[b"ipco"][1])) + 1
    primary = struct.unpack_from(">H", data, boxes[b"pitm"][0] + 12)[0]
    at = 16
    for _ in range(struct.unpack_from(">I", ipma, 12)[0]):
        item, count = struct.unpack_from(">HB", ipma, at)
        if item == primary:
            ipma[at + 2] += 1
            ipma[at + 3 + count : at + 3 + count] = bytes([number])
            break
        at += 3 + count
    ipco += box
    for grown in (ipco, ipma):
        struct.pack_into(">I", grown, 0, len(grown))
    iprp = b"".join(bytes(ipco) if kind == b"ipco" else bytes(ipma) if kind == b"ipma" else data[slice(*where)]
                    for kind, where in properties.items())  # fmt: skip
    return heif_with_iprp(data, iprp)


def heif_with_iprp(data: bytes, contents: bytes) -> bytes:
    """An AVIF or HEIC whose `iprp` box holds `contents` (its `ipco` and `ipma`, say), and the `iloc`
    offsets into `mdat` moved by the bytes the `meta` box grew."""
    meta = _heif_boxes(data, 0, len(data))[b"meta"]
    boxes = _heif_boxes(data, meta[0] + 12, meta[1])
    iprp = struct.pack(">I4s", 8 + len(contents), b"iprp") + contents
    moved = len(iprp) - (boxes[b"iprp"][1] - boxes[b"iprp"][0])
    iloc = bytearray(data[slice(*boxes[b"iloc"])])
    version, offset_size, base_size = iloc[8], iloc[12] >> 4, iloc[13] >> 4
    assert version in (0, 1) and base_size == 0 and offset_size == 4, "iloc with 4-byte extent offsets only"
    index_size, at = (iloc[13] & 15 if version else 0), 16
    for _ in range(struct.unpack_from(">H", iloc, 14)[0]):
        at += 2 + (2 if version else 0) + 2  # item, construction method, data reference
        extents, at = struct.unpack_from(">H", iloc, at)[0], at + 2
        for _ in range(extents):
            at += index_size
            struct.pack_into(">I", iloc, at, struct.unpack_from(">I", iloc, at)[0] + moved)
            at += offset_size + (iloc[12] & 15)
    body = b"".join(iprp if kind == b"iprp" else bytes(iloc) if kind == b"iloc" else data[slice(*where)]
                    for kind, where in boxes.items())  # fmt: skip
    head = struct.pack(">I4s", 12 + len(body), b"meta") + data[meta[0] + 8 : meta[0] + 12]
    return data[: meta[0]] + head + body + data[meta[1] :]


def heif_with_empty_ipma(data: bytes) -> bytes:
    """An AVIF or HEIC with a second `ipma` box after its first, associating nothing."""
    meta = _heif_boxes(data, 0, len(data))[b"meta"]
    iprp = _heif_boxes(data, meta[0] + 12, meta[1])[b"iprp"]
    empty = struct.pack(">I4sBxxBI", 16, b"ipma", 0, 1, 0)  # version 0, flags 1, no entries
    return heif_with_iprp(data, data[iprp[0] + 8 : iprp[1]] + empty)


def with_ispe(data: bytes, width: int, height: int) -> bytes:
    """An AVIF or HEIC whose every `ispe` property (its items' declared sizes) says width x height,
    whatever size its items are coded at: the bytes after each `ispe` box's version and flags."""
    patched, at = bytearray(data), data.find(b"ispe")
    while at >= 0:
        struct.pack_into(">II", patched, at + 8, width, height)
        at = data.find(b"ispe", at + 4)
    return bytes(patched)


def content_light_level_box(max_cll: int, max_pall: int = 0) -> bytes:
    """An AVIF's or HEIC's `clli` property: the content's peak and frame average, in cd/m2."""
    return struct.pack(">I4sHH", 12, b"clli", max_cll, max_pall)


def progressive_grey_jpeg(width: int, height: int, scans: int, *, arithmetic_marker: bool = False) -> bytes:
    """A valid progressive greyscale JPEG of mid grey with `scans` scans: one DC scan, then each AC
    coefficient in turn sent bit by bit (a first scan, then refinements: 11 scans a coefficient,
    as jpegtran's -scans would write them). Every coefficient is 0, so each scan is a few bytes of
    end-of-band runs, however large the image, while a decoder still visits every block in each.
    `arithmetic_marker` only relabels the frame as arithmetic-coded (SOF10): not decodable, for
    what is read from the header."""
    blocks = -(-width // 8) * -(-height // 8)
    quantization = b"\xff\xdb" + struct.pack(">HB", 67, 0) + bytes([1] * 64)
    sof = b"\xff\xca" if arithmetic_marker else b"\xff\xc2"
    frame = sof + struct.pack(">HBHHBBBB", 11, 8, height, width, 1, 1, 0x11, 0)
    # DC: the one category 0 (a difference of 0), code "0". AC: end-of-band runs EOB0..EOB14 (0xr0),
    # 4-bit codes.
    dc_table = b"\x00" + bytes([1] + [0] * 15) + b"\x00"
    ac_table = b"\x10" + bytes([0, 0, 0, 15] + [0] * 12) + bytes(range(0, 0xF0, 0x10))
    tables = b"\xff\xc4" + struct.pack(">H", 2 + len(dc_table) + len(ac_table)) + dc_table + ac_table

    def scan(start: int, end: int, high: int, low: int, bits: str) -> bytes:
        bits += "1" * (-len(bits) % 8)  # padded with 1s
        data = int(bits, 2).to_bytes(len(bits) // 8, "big").replace(b"\xff", b"\xff\x00") if bits else b""
        return b"\xff\xda" + struct.pack(">HBBBBBB", 8, 1, 1, 0x00, start, end, high << 4 | low) + data

    end_of_bands = ""
    left = blocks
    while left:
        run = min(left, 32767)
        size = run.bit_length() - 1
        end_of_bands += format(size, "04b") + (format(run - (1 << size), f"0{size}b") if size else "")
        left -= run
    parts = [scan(0, 0, 0, 0, "0" * blocks)]
    for index in range(1, scans):
        coefficient, bit = 1 + (index - 1) // 11, (index - 1) % 11
        high, low = (0, 10) if bit == 0 else (11 - bit, 10 - bit)
        parts.append(scan(coefficient, coefficient, high, low, end_of_bands))
    return b"\xff\xd8" + quantization + frame + tables + b"".join(parts) + b"\xff\xd9"


EXIF_SHORT, EXIF_LONG, EXIF_BYTE, EXIF_SSHORT = 3, 4, 1, 8  # TIFF entry types
_EXIF_PACKING = {EXIF_SHORT: "H", EXIF_LONG: "I", EXIF_BYTE: "B", EXIF_SSHORT: "h"}


def exif_tiff(*entries: tuple[int, int, list[int]], order: str = "<", magic: int = 42) -> bytes:
    """EXIF's TIFF structure, byte `order` "<" or ">", with one directory of `entries` (tag, type,
    values), each value inline as entries of four bytes or fewer hold it."""
    directory = struct.pack(order + "H", len(entries))
    for tag, kind, values in entries:
        inline = b"".join(struct.pack(order + _EXIF_PACKING[kind], value) for value in values)
        directory += struct.pack(order + "HHI", tag, kind, len(values)) + inline.ljust(4, b"\0")
    header = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", magic, 8)
    return header + directory + struct.pack(order + "I", 0)  # no next directory


def jpeg_app1(contents: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", 2 + len(contents)) + contents


def jpeg_exif(tiff: bytes, *, signature: bytes = b"Exif\0\0") -> bytes:
    return jpeg_app1(signature + tiff)


def jpeg_with(image: Image.Image, *segments: bytes, before: bytes = b"\xff\xdb", progressive: bool = False) -> bytes:
    """`image` as a JPEG (quality 95, no chroma subsampling) with `segments` inserted before the first
    marker `before` (by default DQT, after Pillow's JFIF APP0)."""
    data = encode(image, "JPEG", quality=95, subsampling=0, progressive=progressive)
    at = data.index(before)
    return data[:at] + b"".join(segments) + data[at:]


def tiff_of_layout(
    width: int,
    height: int,
    *,
    samples: int = 3,
    bits: int = 8,
    photometric: int = 2,
    compression: int = 8,
    tile: tuple[int, int] | None = None,
    rows_per_strip: int | None = None,
    planar: int = 1,
    pixels: bytes = b"",
    order: str = "<",
    big: bool = False,
) -> bytes:
    """A TIFF (a BigTIFF when `big`) of one directory of this layout, byte `order` "<" or ">", whose
    every strip or tile is `pixels` (as compressed): a header may declare strips or tiles far larger
    than the file holds. Samples beyond the colour's are extra samples of unspecified meaning."""
    chunk_width, chunk_height = tile or (width, rows_per_strip or height)
    chunks = -(-width // chunk_width) * -(-height // chunk_height) * (samples if planar == 2 else 1)
    colour = {1: 1, 2: 3, 5: 4}[photometric]
    entries = [
        (256, 4, [width]),
        (257, 4, [height]),
        (258, 3, [bits] * samples),
        (259, 3, [compression]),
        (262, 3, [photometric]),
        (277, 3, [samples]),
        (284, 3, [planar]),
        *([(278, 4, [rows_per_strip])] if rows_per_strip else []),
        *([(322, 4, [tile[0]]), (323, 4, [tile[1]])] if tile else []),
        *([(338, 3, [0] * (samples - colour))] if samples > colour else []),
    ]
    offsets, counts = (324, 325) if tile else (273, 279)
    entries += [(offsets, 4, [0] * chunks), (counts, 4, [len(pixels)] * chunks)]
    entries.sort()
    field, count_format = (8, "Q") if big else (4, "I")
    entry_size = 4 + 2 * field
    head = 16 if big else 8
    values_at = head + (8 if big else 2) + entry_size * len(entries) + field
    packing = {3: "H", 4: "I"}
    sizes = [len(values) * (2 if kind == 3 else 4) for _, kind, values in entries]
    pixels_at = values_at + sum(size for size in sizes if size > field)
    directory, values_blob = struct.pack(order + ("Q" if big else "H"), len(entries)), b""
    for (tag, kind, values), size in zip(entries, sizes, strict=True):
        if tag == offsets:
            values = [pixels_at] * chunks
        packed = b"".join(struct.pack(order + packing[kind], value) for value in values)
        directory += struct.pack(order + "HH" + count_format, tag, kind, len(values))
        if size <= field:
            directory += packed.ljust(field, b"\0")
        else:
            directory += struct.pack(order + count_format, values_at + len(values_blob))
            values_blob += packed
    byte_order = b"II" if order == "<" else b"MM"
    if big:
        header = byte_order + struct.pack(order + "HHHQ", 43, 8, 0, head)
    else:
        header = byte_order + struct.pack(order + "HI", 42, head)
    return header + directory + bytes(field) + values_blob + pixels
