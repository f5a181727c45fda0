"""What a source is, from its bytes, before any pixel is decoded: its format (sniff, from the magic
bytes), its size and orientation (probe, from the header; PNG chunks, EXIF, WebP's VP8 headers),
and the refusals (UnsupportedImage, ImageTooLarge) that follow. Also how a source reaches
ImageMagick (defused, then read_source), which preparation uses too.
"""

import logging
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import Enum
from itertools import islice
from typing import NoReturn

from optimizer.formats import SourceFormat
from optimizer.isobmff import (
    ALPHA_TYPE,
    MAX_CODED_UNITS,
    boxes,
    is_alpha,
    item_locations,
    item_references,
    primary_item,
    property_associations,
)
from optimizer.magick import Image, exceptions, holds_pixels, library, limits, new_image_reader, read_problem
from smolpix.errors import SourceRefused

logger = logging.getLogger(__name__)

# Progressive JPEGs from real encoders have about ten scans. Thousands of tiny scans each make the
# decoder pass over every block again; ImageMagick gives up silently after 1,024 with a partial
# image. libjpeg-turbo suggests a limit of 500 for untrusted input.
MAX_JPEG_SCANS = 500
# And each scan, however small, is a pass over every block it covers: what decoding costs is scans
# times pixels, 0.2-0.4 ns each in libjpeg-turbo (500 scans of a few bytes over 100 MP took 19 s),
# about twice that arithmetic-coded (SOF9 and up). The budget is 40 scans at 100 MP, 20
# arithmetic-coded: twice what encoders write (libjpeg 10, 18 for CMYK; mozjpeg 9-12; cameras at
# most ~15), and 1-2 s of decoding for scans that hold nothing (README, "Accepted inputs").
MAX_JPEG_SCAN_PIXELS = 4_000_000_000
# The most chunks a PNG may have: libpng writes its pixels in chunks of 8 KB (4,096 in the 32 MiB an
# upload may have), and each chunk costs Python a step in every walk of them (2.5 million empty ones
# took 12 s before a 10x10 image was decoded).
MAX_PNG_CHUNKS = 100_000
# The most chunks a WebP may have, for the same reason: libwebp writes a few, and one per frame of
# an animation (3.9 million empty ones took 5.6 s of the probe).
MAX_WEBP_CHUNKS = 100_000
# The most markers a JPEG may have, for the same reason (each a step in Python in every walk of
# them): encoders write a dozen; a progressive JPEG's at most MAX_JPEG_SCANS scans may each follow
# their own tables (SOS with DHT, DQT, DRI: 2,000), and metadata comes in segments of 64 KB (an ICC
# profile in at most 255, 32 MiB of XMP in 512). 8.4 million empty comments took 34 s.
MAX_JPEG_MARKERS = 10_000
ARITHMETIC_SCAN_COST = 2
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOFn; not DHT, JPG, DAC
_JPEG_ARITHMETIC_FRAMES = frozenset(range(0xC9, 0xD0)) - {0xCC}
_JPEG_LOSSLESS_FRAMES = frozenset({0xC3, 0xC7, 0xCB, 0xCF})
# A JPEG marker: 0xFF then a code that is not a stuffed 0x00, a restart marker or a fill byte.
_JPEG_MARKER = re.compile(rb"\xff([\x01-\xcf\xd8-\xfe])")
_JPEG_SOS, _JPEG_EOI = 0xDA, 0xD9
_JPEG_APP1 = 0xE1
# A JPEG's EXIF is an APP1 segment: "Exif\0", a byte Chromium does not read (a second NUL), then a TIFF structure.
_EXIF_SIGNATURE, _EXIF_START = b"Exif\0", 6
_EXIF_SHORT, _EXIF_LONG = 3, 4  # a TIFF entry's types: unsigned 16-bit, 32-bit
_EXIF_DIRECTORY = 0x8769  # the tag of the Exif directory's offset, in EXIF's first directory
# Entries read for an orientation, the Exif directory's included: cameras write a few dozen. Entries
# that each point to a directory of thousands made the reading grow with the square of their count
# (a PNG's eXIf of 138 KB took a worker 50 s; a JPEG's, held to 64 KB, 11 s).
MAX_EXIF_ENTRIES = 4096
_JPEG_MARKERS_WITHOUT_LENGTH = {0xD8, 0x01}  # SOI, TEM
# PNG chunks that only carry text, metadata the pipeline strips anyway. A compressed one can
# inflate a thousandfold, and libpng as ImageMagick 6 sets it up puts no limit on that.
PNG_TEXT_CHUNKS = frozenset({b"tEXt", b"zTXt", b"iTXt"})
_WEBP_ANIMATED = 0x02  # in the flags of a WebP's VP8X chunk
UNDECODABLE = "The image could not be decoded; it may be damaged or not what its type says."


class ImagingError(SourceRefused):
    """A problem with the image itself; the message is safe to show to the customer."""


class UnsupportedImage(ImagingError):
    pass


class ImageTooLarge(ImagingError):
    pass


@dataclass(frozen=True)
class SourceInfo:
    format: SourceFormat
    width: int  # as displayed, i.e. after EXIF orientation
    height: int
    stored_width: int  # as stored in the file
    stored_height: int
    separate_alpha: bool = False  # an AVIF's or HEIC's alpha plane, decoded on its own (heif_alpha)
    png_colour_type: int | None = None  # from a PNG's IHDR: 0 grey, 2 RGB, 3 palette, 4 grey and alpha, 6 RGBA
    animated: bool = False  # an animated WebP or an AVIF image sequence (we give its first frame)
    # An animated WebP's first frame's pixels where it does not cover its canvas from the corner: it
    # is cut out of the decoded canvas, then placed on a new one (imaging._on_webp_canvas); else 0.
    placed_frame_pixels: int = 0
    # ImageMagick orients it (auto_orient: a whole copy), by any orientation but the first: a flip or
    # a turn by 180 degrees keeps the size, so width and height do not show it.
    reoriented: bool = False
    # A PNG's or a JPEG's orientation as browsers show it (probe.own_orientation), read once here.
    own_orientation: str | None = None
    # An AVIF's or HEIC's decoded planes, as its codec headers declare them (check_heif_frames): the
    # most bits a sample of any item decoded, and the widest chroma subsampling (CHROMA_FORMATS).
    bit_depth: int = 8
    chroma: str = "4:2:0"
    # A TIFF's first directory (the page ImageMagick decodes), as our code reads it (tiff_layout).
    tiff: "TiffLayout | None" = None


# --- Sniffing -----------------------------------------------------------------------------

_AVIF_BRANDS = {b"avif", b"avis"}
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_BMP_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}
_BI_RGB, _BI_BITFIELDS = 0, 3  # a BMP's compression
# How AVIF and HEIC files declare an alpha plane: an auxiliary image ('auxl') of one of these types.
_HEIF_ALPHA_TYPES = (ALPHA_TYPE, b"urn:mpeg:hevc:2015:auxid:1")
UNREADABLE_ALPHA = "The image's alpha plane could not be read; send a PNG or WebP."
# The item properties that turn, mirror and crop an item as libheif decodes it.
_HEIF_TRANSFORMS = {b"irot", b"imir", b"clap"}


def sniff(data: bytes) -> SourceFormat:
    """The format the magic bytes declare; anything outside the accepted formats (SVG, PDF,
    PostScript, MVG, text, HTML, ...) is UnsupportedImage."""
    if data.startswith(b"\xff\xd8\xff"):
        return SourceFormat.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return SourceFormat.PNG
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return SourceFormat.GIF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return SourceFormat.WEBP
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return SourceFormat.TIFF
    if data[:2] == b"BM" and len(data) >= 18 and int.from_bytes(data[14:18], "little") in _BMP_HEADER_SIZES:
        return SourceFormat.BMP
    if data[4:8] == b"ftyp":
        heif = _heif_format(data)
        if heif:
            return heif
    raise UnsupportedImage("The file is not a supported image (JPEG, PNG, GIF, WebP, AVIF, HEIC, TIFF or BMP).")


def _heif_format(data: bytes) -> SourceFormat | None:
    """AVIF or HEIC from an ISO-BMFF `ftyp` box: its major brand, then its compatible brands."""
    box_size = int.from_bytes(data[:4], "big")
    if not 16 <= box_size <= min(len(data), 4096):
        return None
    brands = [data[8:12]] + [data[i : i + 4] for i in range(16, box_size - 3, 4)]
    for brand in brands:
        if brand in _AVIF_BRANDS:
            return SourceFormat.AVIF
        if brand in _HEIC_BRANDS:
            return SourceFormat.HEIC
    return None


# --- Reading ------------------------------------------------------------------------------


def raise_imaging_error(error: exceptions.WandException, what: str) -> NoReturn:
    logger.info("ImageMagick refused %s: %s", what, error)
    # A cache ImageMagick could not open or extend ("cache resources exhausted") is no damage either.
    if isinstance(error, exceptions.ResourceLimitError | exceptions.CacheError):
        raise ImageTooLarge("The image is too large to process.") from error
    raise UnsupportedImage(UNDECODABLE) from error


def read_source(image: Image, data: bytes, *, ping: bool = False) -> None:
    """Read (or ping) `data` into `image`; a damaged image is UnsupportedImage, even when
    ImageMagick only warns: libjpeg fills what a cut JPEG lacks with grey, and says so with a
    corrupt-data warning. Other warnings (libpng or libtiff about metadata) leave the pixels whole."""
    read = library.MagickPingImageBlob if ping else library.MagickReadImageBlob
    whole = read(image.wand, data, len(data))
    problem = read_problem(image)
    if isinstance(problem, exceptions.BaseWarning) and not isinstance(problem, exceptions.CorruptImageWarning):
        logger.info("ImageMagick warned about a source: %s", problem)
    elif problem:
        raise_imaging_error(problem, "a source")
    if not (whole and image.width and image.height and (ping or holds_pixels(image))):
        # Some coders report failure as an empty image, or one without pixels, rather than an exception.
        raise UnsupportedImage(UNDECODABLE)


def defused(source_format: SourceFormat, data: bytes) -> bytes:
    """The bytes ImageMagick is given: PNG text chunks removed, an animated WebP's frames after the
    first, a lossless WebP's alpha declared used. (A JPEG is given as it is, once probe has checked
    it: check_jpeg.)"""
    if source_format is SourceFormat.PNG:
        return without_png_text(data)
    if source_format is SourceFormat.WEBP:
        return _with_vp8l_alpha_used(webp_first_frame(data))
    return data


@dataclass(frozen=True)
class JpegScans:
    """A JPEG's scans, and what each one passes over: the frame its first frame header (SOFn) declares."""

    count: int
    width: int = 0
    height: int = 0
    arithmetic: bool = False  # arithmetic-coded (SOF9 and up)
    precision: int = 8  # bits a sample
    lossless: bool = False  # SOF3, 7, 11 and 15

    @property
    def cost(self) -> int:
        """What decoding them costs, in pixels passed over (MAX_JPEG_SCAN_PIXELS)."""
        return self.count * self.width * self.height * (ARITHMETIC_SCAN_COST if self.arithmetic else 1)

    @property
    def most_accepted(self) -> int:
        """The most scans accepted at this size and coding."""
        return self.count * MAX_JPEG_SCAN_PIXELS // max(1, self.cost)


def jpeg_scans(data: bytes) -> JpegScans:
    """The scans of a JPEG (its SOS markers), found as libjpeg finds them: marker by marker, over
    each segment's length (an APPn or COM segment may hold any bytes, 0xFF 0xDA too), and over
    entropy-coded data, where 0xFF is followed only by a stuffed 0x00 or a restart marker. More
    than MAX_JPEG_MARKERS is UnsupportedImage."""
    scans, index, frame, markers = 0, 2, None, 0  # after SOI
    while found := _JPEG_MARKER.search(data, index):
        marker, index, markers = found[1][0], found.end(), markers + 1
        if markers > MAX_JPEG_MARKERS:
            raise UnsupportedImage(f"The JPEG has more than {MAX_JPEG_MARKERS:,} segments; save it again.")
        if marker == _JPEG_EOI:
            break
        if marker in _JPEG_MARKERS_WITHOUT_LENGTH:
            continue
        scans += marker == _JPEG_SOS
        if marker in _JPEG_FRAMES and frame is None and len(data) >= index + 7:
            # Length, precision, then height and width (libjpeg refuses a second frame header).
            height, width = struct.unpack_from(">HH", data, index + 3)
            arithmetic, lossless = marker in _JPEG_ARITHMETIC_FRAMES, marker in _JPEG_LOSSLESS_FRAMES
            frame = width, height, arithmetic, data[index + 2], lossless
        index += int.from_bytes(data[index : index + 2], "big")
    return JpegScans(scans, *(frame or ()))


def check_jpeg(data: bytes) -> JpegScans:
    """A JPEG's scans, refused (UnsupportedImage) if more than MAX_JPEG_MARKERS markers or
    MAX_JPEG_SCANS scans, lossless or not 8-bit: the first walk of its markers, before ImageMagick
    reads it."""
    scans = jpeg_scans(data)
    if scans.count > MAX_JPEG_SCANS:
        raise UnsupportedImage(f"The JPEG has {scans.count:,} scans; at most {MAX_JPEG_SCANS} are accepted.")
    # libjpeg, as ImageMagick 6 links it, reads neither: it would be "may be damaged".
    if scans.lossless or scans.precision != 8:
        kind = "lossless" if scans.lossless else f"{scans.precision}-bit"
        raise UnsupportedImage(f"The JPEG is {kind}; only 8-bit lossy JPEGs are supported. Send it as a PNG or a TIFF.")
    return scans


def check_jpeg_scans(scans: JpegScans) -> None:
    """Refuse a JPEG whose scans cost too much to decode for its size (MAX_JPEG_SCAN_PIXELS)."""
    if scans.cost > MAX_JPEG_SCAN_PIXELS:
        coding = "arithmetic-coded " if scans.arithmetic else ""
        raise UnsupportedImage(
            f"The {coding}JPEG has {scans.count} scans at {scans.width}x{scans.height} pixels, too many to decode "
            f"at that size: at most {scans.most_accepted} are accepted. Save it as a baseline JPEG, or as a "
            "progressive one with the usual ten or so scans."
        )


def png_chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """The kind, start and end of each chunk after a PNG's signature, as far as lengths can be read,
    up to IEND (what follows is no PNG: 32 MB of zeros read as chunks took seconds). More than
    MAX_PNG_CHUNKS is UnsupportedImage."""
    index, count = 8, 0
    while index + 12 <= len(data):
        count += 1
        if count > MAX_PNG_CHUNKS:
            raise UnsupportedImage(f"The PNG has more than {MAX_PNG_CHUNKS:,} chunks; save it again to join them.")
        end = index + 12 + int.from_bytes(data[index : index + 4], "big")
        kind = data[index + 4 : index + 8]
        yield kind, index, end
        if kind == b"IEND":
            return
        index = end


def png_metadata_chunks(data: bytes, kinds: frozenset[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """The kind and contents of each chunk of `kinds` before a PNG's image data, as Chromium reads
    them: wherever they stand among the others (after PLTE too), and only when their CRC is right.
    (libpng, as ImageMagick 6 sets it up, uses an iCCP chunk whose CRC is wrong.)"""
    view = memoryview(data)  # no copy of a large chunk to check its CRC
    for kind, start, end in png_chunks(data):
        if kind == b"IDAT":
            return
        if (
            kind in kinds
            and end <= len(data)
            and zlib.crc32(view[start + 4 : end - 4]) == int.from_bytes(view[end - 4 : end], "big")
        ):
            yield kind, data[start + 8 : end - 4]


def webp_first_frame(data: bytes) -> bytes:
    """An animated WebP with its first frame only (its ANMF chunks after the first dropped, the
    RIFF size set to match), else `data` as it is. ImageMagick 6 decodes every frame of an animated
    WebP whatever frame is asked for: 16 frames passed the policy's list length (IMAGE_TOO_LARGE
    for a small sticker), and a large canvas took a worker's memory once per frame. More than
    MAX_WEBP_CHUNKS, the first frame's own chunks included, is UnsupportedImage (this is the first
    walk of them: probe.defused)."""
    kept, index, frames, count = [data[:12]], 12, 0, 0
    while index + 8 <= len(data):
        kind = data[index : index + 4]
        end = index + 8 + int.from_bytes(data[index + 4 : index + 8], "little")
        end += end % 2  # chunks are padded to an even length
        count += 1
        if kind == b"ANMF":
            frames += 1
            if frames == 1:  # walked again for its bitstream (_with_vp8l_alpha_used, webp_first_frame_area)
                count += _chunks_counted(data, index + 24, min(end, len(data)), most=MAX_WEBP_CHUNKS)
        if count > MAX_WEBP_CHUNKS:
            raise UnsupportedImage(f"The WebP has more than {MAX_WEBP_CHUNKS:,} chunks; save it again.")
        if kind != b"ANMF" or frames == 1:
            kept.append(data[index:end])
        index = end
    if frames <= 1:
        return data
    kept.append(data[index:])  # whatever cannot be read as chunks, for libwebp to judge
    body = b"".join(kept)[8:]
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def _chunks_counted(data: bytes, index: int, end: int, *, most: int) -> int:
    """How many RIFF chunks start in data[index:end], counted up to `most` + 1."""
    count = 0
    while index + 8 <= end and count <= most:
        size = int.from_bytes(data[index + 4 : index + 8], "little")
        index, count = index + 8 + size + size % 2, count + 1
    return count


_VP8X_ALPHA = 0x10  # the VP8X chunk's flag of an image with alpha


def _with_vp8l_alpha_used(data: bytes) -> bytes:
    """A WebP with the alpha_is_used bit of its first VP8L bitstream (a still image's or the first
    frame's) set. Chromium shows a lossless WebP's alpha whatever that bit and the VP8X flags say;
    ImageMagick 6 keeps alpha only when libwebp's features report it, which they take from that bit
    alone. The bit is a hint the decoder does not read, and an alpha opaque everywhere is dropped
    later (imaging._pixels_of). A VP8X chunk's alpha flag is set with it: libwebp's demuxer, which
    ImageMagick reads an ICC profile through, refuses a file whose bitstream has alpha its flag
    denies (the profile was lost)."""
    index, end = 12, len(data)
    while index + 13 <= end:
        kind, size = data[index : index + 4], int.from_bytes(data[index + 4 : index + 8], "little")
        if kind == b"ANMF":
            index, end = index + 24, min(end, index + 8 + size)  # into the frame's own chunks
        elif kind == b"VP8L":
            flags = index + 12  # after the 0x2F signature, the header's fourth byte: bit 28 of the 32
            if data[index + 8] != 0x2F or data[flags] & 0x10:
                return data
            used = bytearray(data)
            used[flags] |= 0x10
            if used[12:16] == b"VP8X":
                used[20] |= _VP8X_ALPHA
            return bytes(used)
        else:
            index += 8 + size + size % 2
    return data


def webp_first_frame_area(data: bytes) -> tuple[int, int, int, int] | None:
    """An animated WebP's first frame's place on its canvas (left, top, width, height, from its
    ANMF chunk), else None. As the container's specification has it, an ANMF chunk in a WebP its
    VP8X chunk does not flag as animated, or a frame beyond the canvas, is damage: UnsupportedImage
    (ImageMagick 6 decoded the frame alone, and it was cropped to nothing or failed to crop)."""
    animated = data[12:16] == b"VP8X" and len(data) >= 21 and bool(data[20] & _WEBP_ANIMATED)
    index = 12
    while index + 8 <= len(data):
        size = int.from_bytes(data[index + 4 : index + 8], "little")
        if data[index : index + 4] == b"ANMF":
            fields = data[index + 8 : index + 20]
            if len(fields) < 12:
                return None
            left, top = (2 * int.from_bytes(fields[at : at + 3], "little") for at in (0, 3))
            # The frame's size is its bitstream's, as libwebp's demuxer (and so browsers) take it:
            # ImageMagick 6 decodes the whole bitstream, which an ANMF declaring less cropped.
            width, height = _webp_frame_size(data, index + 24, index + 8 + size) or (0, 0)
            canvas_width, canvas_height = _webp_size(data) or (0, 0)
            if not (animated and width) or left + width > canvas_width or top + height > canvas_height:
                raise UnsupportedImage(UNDECODABLE)
            return left, top, width, height
        index += 8 + size + size % 2
    return None


def without_png_text(data: bytes) -> bytes:
    """A PNG without its tEXt, zTXt and iTXt chunks; whatever cannot be parsed as chunks is kept
    for libpng to judge."""
    kept, last = [data[:8]], 8
    for kind, start, end in png_chunks(data):
        if kind not in PNG_TEXT_CHUNKS:
            kept.append(data[start:end])
        last = end
    kept.append(data[last:])
    return b"".join(kept)


def probe(data: bytes, *, max_pixels: int) -> SourceInfo:
    """Sniff the format and read the dimensions from the header alone; refuse images above
    `max_pixels`, or wider or taller than ImageMagick's limits, before any pixel is decoded."""
    source_format = sniff(data)
    scans = check_jpeg(data) if source_format is SourceFormat.JPEG else None
    data = defused(source_format, data)
    webp_size = _webp_size(data) if source_format is SourceFormat.WEBP else None
    if webp_size:
        # ImageMagick 6 ignores EXIF orientation in WebP: as stored is as displayed.
        _check_size(*webp_size, max_pixels=max_pixels)
        width, height = webp_size
        area = webp_first_frame_area(data)
        placed = area is not None and area != (0, 0, width, height)
        return SourceInfo(
            source_format,
            width=width,
            height=height,
            stored_width=width,
            stored_height=height,
            animated=area is not None,
            placed_frame_pixels=area[2] * area[3] if placed else 0,
        )
    bit_depth, chroma = 8, "4:2:0"
    tiff = tiff_layout(data) if source_format is SourceFormat.TIFF else None
    if source_format in (SourceFormat.AVIF, SourceFormat.HEIC):
        bit_depth, chroma = check_heif_frames(data)
    with new_image_reader(source_format.value) as image:
        try:
            read_source(image, data, ping=True)
        except UnsupportedImage:
            # libpng refuses an image beyond the width/height limits without saying why.
            if source_format is SourceFormat.PNG and data[12:16] == b"IHDR" and len(data) >= 24:
                _check_size(*struct.unpack(">II", data[16:24]), max_pixels=max_pixels)
            raise
        stored_width, stored_height = shown_size(image, source_format)
        own = own_orientation(source_format, data)
        orientation = own or image.orientation
        turned = orientation in ("left_top", "right_top", "right_bottom", "left_bottom")
    _check_size(stored_width, stored_height, max_pixels=max_pixels)
    if scans:
        check_jpeg_scans(scans)  # after the size: a JPEG too large is that first
    alpha = heif_alpha(data) if source_format in (SourceFormat.AVIF, SourceFormat.HEIC) else None
    if alpha:
        with new_image_reader(source_format.value) as plane:
            read_source(plane, alpha.copy, ping=True)
            size = (plane.height, plane.width) if alpha.turned else (plane.width, plane.height)
            if size != (stored_width, stored_height):
                raise UnsupportedImage("The image's alpha plane is not the size of its colour planes.")
    width, height = (stored_height, stored_width) if turned else (stored_width, stored_height)
    return SourceInfo(
        format=source_format,
        width=width,
        height=height,
        stored_width=stored_width,
        stored_height=stored_height,
        separate_alpha=alpha is not None,
        png_colour_type=data[25] if source_format is SourceFormat.PNG and data[12:16] == b"IHDR" else None,
        animated=source_format is SourceFormat.AVIF and _is_avif_sequence(data),
        reoriented=orientation not in (None, "undefined", "top_left"),
        own_orientation=own,
        bit_depth=bit_depth,
        chroma=chroma,
        tiff=tiff,
    )


def _is_avif_sequence(data: bytes) -> bool:
    """Whether an AVIF's `ftyp` box names the image-sequence brand (an animated AVIF)."""
    brands = data[8 : int.from_bytes(data[:4], "big")]
    return any(brands[at : at + 4] == b"avis" for at in range(0, len(brands) - 3, 4))


def shown_size(image: Image, source_format: SourceFormat) -> tuple[int, int]:
    """The size of what is shown: a GIF's first frame sits on the GIF's logical screen, enlarged
    to hold the frame if need be, as browsers show it. (Other formats' page offsets, such as a
    PNG's oFFs, are not shown.)"""
    if source_format is not SourceFormat.GIF:
        return image.width, image.height
    screen_width, screen_height, left, top = image.page
    return max(screen_width, left + image.width), max(screen_height, top + image.height)


# EXIF's orientations, 1 to 8, as Wand names them.
EXIF_ORIENTATIONS = (
    "top_left",
    "top_right",
    "bottom_right",
    "bottom_left",
    "left_top",
    "right_top",
    "right_bottom",
    "left_bottom",
)


def own_orientation(source_format: SourceFormat, data: bytes) -> str | None:
    """The orientation browsers show a PNG or a JPEG in (as Wand names it; "top_left" without one),
    read by our code as Chromium reads it; None for other formats, whose orientation ImageMagick reads."""
    if source_format is SourceFormat.PNG:
        return png_orientation(data) or "top_left"
    if source_format is SourceFormat.JPEG:
        return jpeg_orientation(data) or "top_left"
    return None


def png_orientation(data: bytes) -> str | None:
    """The orientation a PNG's eXIf chunk gives (as Wand names it), None without one: Chromium
    applies it, ImageMagick 6 does not read the chunk."""
    for _, exif in png_metadata_chunks(data, frozenset({b"eXIf"})):
        return _exif_orientation(exif)
    return None


def jpeg_orientation(data: bytes) -> str | None:
    """The orientation a JPEG's EXIF gives (as Wand names it), None without one, as Chromium 156
    reads it: from the first EXIF segment with more than its signature, before the first scan;
    later ones are not read, even when it gives none. ImageMagick 6 also took an orientation of any
    number type or count, and one between a progressive JPEG's scans, which its ping does not reach
    (the probe's size then disagreed with the decoded one)."""
    index = 2  # after SOI
    while found := _JPEG_MARKER.search(data, index):
        marker, index = found[1][0], found.end()
        if marker in (_JPEG_SOS, _JPEG_EOI):
            return None
        if marker in _JPEG_MARKERS_WITHOUT_LENGTH:
            continue
        start, end = index + 2, index + int.from_bytes(data[index : index + 2], "big")
        if marker == _JPEG_APP1 and data.startswith(_EXIF_SIGNATURE, start) and len(data[start:end]) > _EXIF_START:
            return _exif_orientation(data[start + _EXIF_START : end])
        index = end
    return None


def _exif_orientation(exif: bytes) -> str | None:
    """Tag 0x0112 of EXIF's first directory (a TIFF structure), as Chromium 156 reads it: the first
    entry that is one SHORT from 1 to 8; one of another type, count or value is passed over. The
    Exif directory (0x8769) that the first points to is read where its entry stands, one level
    deep: its orientation counts as the first's own (measured in Chromium, with or without one
    there; a GPS directory's, or one two levels down, does not). At most MAX_EXIF_ENTRIES entries
    are read in all."""
    order = {b"II": "<", b"MM": ">"}.get(exif[:2])
    if not order:
        return None
    try:
        magic, directory = struct.unpack_from(order + "HI", exif, 2)
    except struct.error:
        return None
    if magic != 42:
        return None
    entries = _directory_entries(exif, order, directory, exif_directory=True)
    for tag, kind, values, value in islice(entries, MAX_EXIF_ENTRIES):
        if tag == 0x0112 and (kind, values) == (_EXIF_SHORT, 1) and 1 <= value <= len(EXIF_ORIENTATIONS):
            return EXIF_ORIENTATIONS[value - 1]
    return None


def _directory_entries(
    exif: bytes, order: str, directory: int, *, exif_directory: bool
) -> Iterator[tuple[int, int, int, int]]:
    """The entries (tag, type, count, first value as a SHORT) of one EXIF directory, each followed,
    if `exif_directory` and it points to the Exif directory, by that directory's (see
    _exif_orientation); as far as each directory is whole."""
    try:
        (count,) = struct.unpack_from(order + "H", exif, directory)
        for index in range(count):
            entry = directory + 2 + 12 * index
            tag, kind, values, value = struct.unpack_from(order + "HHIH", exif, entry)
            yield tag, kind, values, value
            if tag == _EXIF_DIRECTORY and exif_directory and (kind, values) == (_EXIF_LONG, 1):
                (pointed,) = struct.unpack_from(order + "I", exif, entry + 8)
                yield from _directory_entries(exif, order, pointed, exif_directory=False)
    except struct.error:
        return


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size a WebP's first chunk declares (VP8X, VP8L or VP8), None if it is not one
    of those: ImageMagick 6's WebP coder decodes every pixel even to ping (0.3 s at 4096 x 4096)."""
    if data[12:16] == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    return _webp_bitstream_size(data, 12, len(data))


def _webp_frame_size(data: bytes, start: int, end: int) -> tuple[int, int] | None:
    """The size of the bitstream (VP8L or VP8) among an ANMF chunk's chunks, from `start` to `end`
    (after an ALPH chunk, say); None if there is none."""
    index = start
    while index + 8 <= end:
        if data[index : index + 4] in (b"VP8L", b"VP8 "):
            return _webp_bitstream_size(data, index, end)
        size = int.from_bytes(data[index + 4 : index + 8], "little")
        index += 8 + size + size % 2
    return None


def _webp_bitstream_size(data: bytes, at: int, end: int) -> tuple[int, int] | None:
    """The size a VP8L or VP8 chunk at `at` declares in its bitstream's header (read before `end`)."""
    chunk, header = data[at : at + 4], data[at + 8 : min(at + 18, end)]
    if chunk == b"VP8L" and len(header) >= 5 and header[0] == 0x2F:
        bits = int.from_bytes(header[1:5], "little")
        return 1 + (bits & 0x3FFF), 1 + (bits >> 14 & 0x3FFF)
    if chunk == b"VP8 " and len(header) >= 10 and header[3:6] == b"\x9d\x01\x2a":
        return int.from_bytes(header[6:8], "little") & 0x3FFF, int.from_bytes(header[8:10], "little") & 0x3FFF
    return None


class BmpAlpha(Enum):
    """Where Chromium takes a 32-bit BMP's alpha from."""

    NONE = "none"  # opaque
    FOURTH_BYTE = "fourth byte"  # each pixel's, whatever bits the alpha mask names
    MASKED = "masked"  # the bits the alpha mask names (BI_BITFIELDS), as ImageMagick reads them


@dataclass(frozen=True)
class BmpPixels:
    """Where a 32-bit BMP's pixels start, their order, and where Chromium takes their alpha from."""

    offset: int
    top_down: bool
    alpha: BmpAlpha


def bmp_32bit_pixels(data: bytes) -> BmpPixels | None:
    """How Chromium (156, measured) reads a 32-bit BI_RGB or BI_BITFIELDS BMP's alpha, else None:
    only where a V4 or V5 header (108 or 124 bytes) declares an alpha mask, whatever the compression,
    or a V3 header (56 bytes) does with BI_BITFIELDS; with BI_RGB it then takes each pixel's fourth
    byte whole. A 40- or 52-byte header's fourth byte is padding. An alpha of 0 everywhere is
    transparent."""
    header_size = int.from_bytes(data[14:18], "little")
    if header_size < 40 or len(data) < 14 + header_size:
        return None  # OS/2's first header has no 32-bit pixels; a cut header, no pixels at all
    height, _, bits, compression = struct.unpack_from("<iHHI", data, 22)
    if bits != 32 or compression not in (_BI_RGB, _BI_BITFIELDS):
        return None
    declared = header_size >= 108 or (header_size == 56 and compression == _BI_BITFIELDS)
    if not (declared and int.from_bytes(data[66:70], "little")):
        alpha = BmpAlpha.NONE
    else:
        alpha = BmpAlpha.MASKED if compression == _BI_BITFIELDS else BmpAlpha.FOURTH_BYTE
    return BmpPixels(offset=int.from_bytes(data[10:14], "little"), top_down=height < 0, alpha=alpha)


def _check_size(width: int, height: int, *, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageTooLarge(f"The image is {width}x{height} pixels; the limit is {max_pixels:,} pixels in total.")
    if width > limits["width"] or height > limits["height"]:
        raise ImageTooLarge(
            f"The image is {width}x{height} pixels; the limit is {limits['width']} pixels in either direction."
        )


# --- TIFF directories ------------------------------------------------------------------------

# The tags of a TIFF directory that decide how libtiff and ImageMagick 6 decode its pixels, and the
# entry types they come in (BYTE, SHORT, LONG and BigTIFF's LONG8: the struct format and its size).
_TIFF_BITS_PER_SAMPLE, _TIFF_COMPRESSION, _TIFF_PHOTOMETRIC, _TIFF_SAMPLES_PER_PIXEL = 258, 259, 262, 277
_TIFF_ROWS_PER_STRIP, _TIFF_PLANAR, _TIFF_TILE_WIDTH, _TIFF_TILE_LENGTH = 278, 284, 322, 323
_TIFF_LAYOUT_TAGS = frozenset({258, 259, 262, 277, 278, 284, 322, 323})
_TIFF_TYPES = {1: ("B", 1), 3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}
_BIGTIFF = 43  # the magic number after the byte order (a TIFF's is 42)
_BIGTIFF_MAX_ENTRIES = 4096
# BitsPerSample holds one value a sample, and ImageMagick 6 decodes at most 32 samples: the values
# read are bounded (a count of 16 million, within 32 MiB, took 0.7 s and 612 MB to read whole).
_TIFF_MAX_BITS_VALUES = 64


@dataclass(frozen=True)
class TiffLayout:
    """How a TIFF's first directory stores its pixels, with libtiff's defaults for absent tags."""

    samples_per_pixel: int = 1
    bits_per_sample: int = 1  # the most any sample has
    compression: int = 1  # 1 none, 5 LZW, 6 and 7 JPEG, 8 and 32946 Deflate, ...
    photometric: int | None = None  # 0-1 grey, 2 RGB, 3 palette, 5 CMYK, 6 YCbCr, ...
    planar: int = 1  # 1 the samples of a pixel together, 2 each sample in planes of its own
    rows_per_strip: int | None = None  # as tagged (None: absent, as in most tiled files)
    tile_width: int = 0  # 0 in a TIFF stored in strips
    tile_length: int = 0


def tiff_layout(data: bytes) -> TiffLayout:
    """The layout of a TIFF's (or BigTIFF's) first directory, read as libtiff reads it: the first
    entry of each tag, its values inline when they fit the entry, else where it points. A directory
    that cannot be read is damaged, as libtiff finds it."""
    order = "<" if data[:2] == b"II" else ">"
    try:
        big = struct.unpack_from(order + "H", data, 2)[0] == _BIGTIFF
        # A BigTIFF's offsets and counts take 8 bytes (and its entries 20), a TIFF's 4 (and 12).
        offset, entry_size, field = (order + "Q", 20, 8) if big else (order + "I", 12, 4)
        (directory,) = struct.unpack_from(offset, data, 8 if big else 4)
        (entries,) = struct.unpack_from(order + ("Q" if big else "H"), data, directory)
        if entries > _BIGTIFF_MAX_ENTRIES:  # libtiff's sanity check; a TIFF's count is a SHORT
            raise UnsupportedImage(UNDECODABLE)
        start = directory + (8 if big else 2)
        values: dict[int, tuple[int, ...]] = {}
        for index in range(entries):
            at = start + entry_size * index
            tag, kind, count = struct.unpack_from(order + "HH" + offset[1], data, at)
            if tag not in _TIFF_LAYOUT_TAGS or tag in values or kind not in _TIFF_TYPES:
                continue
            item, size = _TIFF_TYPES[kind]
            at += 4 + field
            if count * size > field:
                (at,) = struct.unpack_from(offset, data, at)
            wanted = min(count, _TIFF_MAX_BITS_VALUES if tag == _TIFF_BITS_PER_SAMPLE else 1)
            values[tag] = struct.unpack_from(f"{order}{wanted}{item}", data, at)
    except (struct.error, OverflowError) as error:  # OverflowError: a BigTIFF offset of 2**63 or more
        raise UnsupportedImage(UNDECODABLE) from error
    first = {tag: found[0] for tag, found in values.items() if found}
    return TiffLayout(
        samples_per_pixel=first.get(_TIFF_SAMPLES_PER_PIXEL, 1),
        bits_per_sample=max(values.get(_TIFF_BITS_PER_SAMPLE) or (1,)),
        compression=first.get(_TIFF_COMPRESSION, 1),
        photometric=first.get(_TIFF_PHOTOMETRIC),
        planar=first.get(_TIFF_PLANAR, 1),
        rows_per_strip=first.get(_TIFF_ROWS_PER_STRIP),
        tile_width=first.get(_TIFF_TILE_WIDTH, 0),
        tile_length=first.get(_TIFF_TILE_LENGTH, 0),
    )


# --- AVIF and HEIC alpha planes --------------------------------------------------------------


@dataclass(frozen=True)
class HeifAlpha:
    """An AVIF's or HEIC's alpha plane, as ImageMagick can read it (heif_alpha)."""

    copy: bytes  # the file, with the alpha plane as its primary item
    # What libheif does to the colour planes but not to this alpha plane (it has no such properties
    # of its own), in order: (b"irot", quarter turns anticlockwise) and (b"imir", 0 to exchange top
    # and bottom, 1 left and right).
    turns: tuple[tuple[bytes, int], ...] = ()
    # The colour planes hold each colour multiplied by its alpha (a `prem` reference), to be divided.
    premultiplied: bool = False

    @property
    def turned(self) -> bool:
        """Whether the turns exchange width and height."""
        return sum(value for kind, value in self.turns if kind == b"irot") % 2 == 1


def heif_alpha(data: bytes) -> HeifAlpha | None:
    """For an AVIF or HEIC file with an alpha plane, a copy of it whose primary item is that plane;
    None when it has none. ImageMagick 6's HEIC coder decodes the primary item's colour planes only:
    from the copy it decodes the alpha plane, as a grey image. Only the item number in `pitm`
    changes, so every offset in the file stays valid.

    libheif transforms (turns, mirrors, crops) the alpha plane read this way by its own properties:
    libavif gives it those of the colour planes. An alpha plane without any gets the colour planes'
    turns and mirrors (HeifAlpha.turns). Refused (UnsupportedImage): other mismatches, and a file
    whose metadata names an alpha plane this reading cannot find."""
    try:
        meta = _heif_meta(data)
        alpha = meta.alpha_item() if meta else None
        colour_transforms = list(meta.transforms(meta.primary)) if alpha else []
        alpha_transforms = list(meta.transforms(alpha)) if alpha else []
    except (struct.error, IndexError):
        alpha = None
    if not alpha:
        if any(kind in data[:65536] for kind in _HEIF_ALPHA_TYPES):
            raise UnsupportedImage(UNREADABLE_ALPHA)
        return None
    if alpha_transforms == colour_transforms:
        turns = ()
    elif not alpha_transforms and all(kind != b"clap" for kind, _ in colour_transforms):
        turns = tuple(
            (kind, int.from_bytes(contents[:1], "big") & (3 if kind == b"irot" else 1))
            for kind, contents in colour_transforms
        )
    else:
        raise UnsupportedImage(
            "Transparent AVIF and HEIC images whose alpha plane is cropped, turned or mirrored unlike their colour "
            "are not supported; send a PNG or WebP."
        )
    start, width = meta.pitm_item
    if alpha >= 1 << 8 * width:
        raise UnsupportedImage(UNREADABLE_ALPHA)
    copy = bytearray(data)
    copy[start : start + width] = alpha.to_bytes(width, "big")
    return HeifAlpha(bytes(copy), turns, premultiplied=any(kind == b"prem" for kind, _, _ in meta.references))


# --- AVIF and HEIC coded frames --------------------------------------------------------------

_AV1_SEQUENCE_HEADER = 1  # the OBU type
_HEVC_SPS = 33  # the NAL unit type
# The most of a sequence header or SPS read: the sizes and the bit depth come within its first hundred
# bytes or so.
_CODEC_HEADER_BYTES = 256
# How much larger than its `ispe` a frame may be coded: HEVC encoders code whole blocks, of at most
# 64 samples, and crop the rest away (the SPS's conformance window). AV1 codes any size exactly, but
# what costs memory is a frame far larger, not a few samples of an encoder's alignment.
_PADDING = 63
FRAME_LARGER_THAN_DECLARED = (
    "The image's coded frame is larger than the size its header declares; the file is damaged or crafted."
)
TOO_MANY_CODED_UNITS = "The image's coded data is in more parts than encoders write; the file is damaged or crafted."

# Chroma subsampling, from the least data a pixel to the most.
CHROMA_FORMATS = ("4:0:0", "4:2:0", "4:2:2", "4:4:4")
# What an AVIF's or HEIC's planes are counted as when a codec header cannot be read: the most either codes.
WORST_CODING = (12, "4:4:4")


@dataclass(frozen=True)
class CodedFrame:
    """What an AV1 sequence header or an HEVC SPS declares of the frames it codes."""

    width: int  # the largest frame (AV1), the coded size before the conformance window crops it (HEVC)
    height: int
    bit_depth: int
    chroma: str  # one of CHROMA_FORMATS


def check_heif_frames(data: bytes) -> tuple[int, str]:
    """Refuse (UnsupportedImage) an AVIF or HEIC whose primary item, alpha plane, or their grid's
    tiles, are coded larger than their `ispe` property declares; else the most bits a sample and the
    widest chroma subsampling of any of them, which the decoder's memory grows with (the budget).
    The size checks and the budget trust `ispe`, while the decoder decodes the whole coded frame
    (then libheif crops it): a 12-bit 8192x4352 frame behind a 64x64 `ispe` took a worker to 992 MB.
    What is coded is read from every AV1 sequence header or HEVC SPS of the item, in its
    configuration property (av1C, hvcC) and in its data, as libheif hands both to the decoder. A
    header that cannot be found or read refuses nothing: only a size that provably differs is
    refused (a decoder fails on a header it cannot read before it decodes a pixel); its planes are
    counted at the most either codec codes (WORST_CODING), as are a file's whose items cannot be read."""
    try:
        meta = _heif_meta(data)
        if meta is None:
            return WORST_CODING
        # Each item's properties by kind, the first of a kind kept (libheif reads that one).
        items = {item: dict(reversed(list(meta.item_properties(item)))) for item in _decoded_items(meta)}
    except (struct.error, IndexError):
        return WORST_CODING  # heif_alpha says what is wrong with such a file
    item_data, units, codings = _items_data(data, set(items)), [0], set()
    for item, properties in items.items():
        coded = item_data.get(item, b"")
        if b"av1C" in properties:
            headers = _obus(properties[b"av1C"][4:], units) + _obus(coded, units)
            read_frame = av1_frame
        elif b"hvcC" in properties:
            headers = _hvcc_nal_units(properties[b"hvcC"]) + _nal_units(coded, units)
            read_frame = _hevc_frame
        else:
            continue  # a derived item (a grid, an overlay): its tiles are coded
        frames = [read_frame(header) for header in set(headers)]  # each header once: a file may repeat one
        codings |= {(frame.bit_depth, frame.chroma) if frame else WORST_CODING for frame in frames or [None]}
        if len(properties.get(b"ispe", b"")) < 12:
            continue
        width, height = struct.unpack_from(">II", properties[b"ispe"], 4)
        for frame in filter(None, frames):
            if frame.width > width + _PADDING or frame.height > height + _PADDING:
                logger.info(
                    "A %dx%d frame behind an ispe of %dx%d (item %d)", frame.width, frame.height, width, height, item
                )
                raise UnsupportedImage(FRAME_LARGER_THAN_DECLARED)
    if not codings:
        return WORST_CODING
    return max(depth for depth, _ in codings), max((chroma for _, chroma in codings), key=CHROMA_FORMATS.index)


def _decoded_items(meta: "_HeifMeta") -> set[int]:
    """The items decoded to show the image: the primary item and its alpha plane, and what a derived
    one is made of (`dimg`), to the last level (the tiles of a grid inside an overlay, say)."""
    items = {item for item in (meta.primary, meta.alpha_item()) if item}
    derived_from = [(item, tiles) for kind, item, tiles in meta.references if kind == b"dimg"]
    while more := {tile for item, tiles in derived_from if item in items for tile in tiles} - items:
        items |= more
    return items


def _items_data(data: bytes, items: set[int]) -> dict[int, bytes | memoryview]:
    """These items' data, as their `iloc` entries place it: in the file (construction method 0) or in
    the `meta` box's `idat` (1); left out when it is elsewhere (another item, another file) or cannot
    be read. Not copied unless in several extents; all copied together are at most the file's size
    (else UnsupportedImage: the items share data, which encoders do not write)."""
    children, found, copied = _meta_children(data), {}, 0
    try:
        locations = item_locations(data, *children.get(b"iloc", (0, 0)))
    except IndexError:
        return found
    for location in locations:
        method = location.method
        if location.item not in items or location.reference or method not in (0, 1):
            continue
        if method == 1 and b"idat" not in children:
            continue
        origin, stop = children[b"idat"] if method == 1 else (0, len(data))
        pieces = [memoryview(data)[origin + offset : origin + offset + length if length else stop]
                  for offset, length in location.extents]  # fmt: skip
        if len(pieces) > 1:
            copied += sum(map(len, pieces))
            if copied > len(data):
                raise UnsupportedImage(TOO_MANY_CODED_UNITS)
        found[location.item] = pieces[0] if len(pieces) == 1 else b"".join(pieces)
    return found


def _obus(data: bytes | memoryview, units: list[int]) -> list[bytes]:
    """The payloads of the AV1 sequence header OBUs in `data`, as far as sizes can be read; each OBU
    walked counts in units[0] (at most MAX_CODED_UNITS)."""
    found, at = [], 0
    while at < len(data):
        units[0] += 1
        if units[0] > MAX_CODED_UNITS:
            raise UnsupportedImage(TOO_MANY_CODED_UNITS)
        header = data[at]
        at += 2 if header & 0x04 else 1  # an extension byte
        size = len(data) - at  # without a size field, to the end
        if header & 0x02:
            size = 0
            for shift in range(0, 56, 7):  # leb128
                if at >= len(data):
                    return found
                size |= (data[at] & 0x7F) << shift
                at += 1
                if not data[at - 1] & 0x80:
                    break
        if header >> 3 & 15 == _AV1_SEQUENCE_HEADER:
            found.append(bytes(data[at : at + min(size, _CODEC_HEADER_BYTES)]))
        at += size
    return found


def _hvcc_nal_units(hvcc: bytes) -> list[bytes]:
    """The SPS NAL units in an `hvcC` property's arrays (after its 22 bytes of settings)."""
    found, at = [], 23
    try:
        for _ in range(hvcc[22]):
            at += 1  # completeness and the units' type
            count, at = struct.unpack_from(">H", hvcc, at)[0], at + 2
            for _ in range(count):
                size, at = struct.unpack_from(">H", hvcc, at)[0], at + 2
                if hvcc[at] >> 1 & 63 == _HEVC_SPS:
                    found.append(hvcc[at : at + min(size, _CODEC_HEADER_BYTES)])
                at += size
    except (struct.error, IndexError):
        pass
    return found


def _nal_units(data: bytes | memoryview, units: list[int]) -> list[bytes]:
    """The SPS NAL units in an HEVC item's data, each after its length in 4 bytes (as libheif reads
    it, whatever hvcC's lengthSizeMinusOne says); each unit walked counts in units[0]."""
    found, at = [], 0
    while at + 5 <= len(data):
        units[0] += 1
        if units[0] > MAX_CODED_UNITS:
            raise UnsupportedImage(TOO_MANY_CODED_UNITS)
        size, at = int.from_bytes(data[at : at + 4], "big"), at + 4
        if data[at] >> 1 & 63 == _HEVC_SPS:
            found.append(bytes(data[at : at + min(size, _CODEC_HEADER_BYTES)]))
        at += size
    return found


class _Bits:
    """A big-endian bit reader over a codec header; reading past its end is IndexError."""

    def __init__(self, data: bytes) -> None:
        self.value, self.left = int.from_bytes(data, "big"), 8 * len(data)

    def read(self, count: int) -> int:
        if count > self.left:
            raise IndexError("the header is cut short")
        self.left -= count
        return self.value >> self.left & (1 << count) - 1

    def golomb(self) -> int:
        """An unsigned Exp-Golomb number: HEVC's ue(v), AV1's uvlc(); IndexError past 32 leading
        zeros, more than either codes (and a header of zeros would be read a bit at a time)."""
        zeros = 0
        while not self.read(1):
            zeros += 1
            if zeros > 32:
                raise IndexError("an Exp-Golomb number longer than 32 bits")
        return (1 << 32) - 1 if zeros == 32 else (1 << zeros) - 1 + self.read(zeros)


def av1_frame(header: bytes) -> CodedFrame | None:
    """What an AV1 sequence header (OBU payload) declares: max_frame_width_minus_1 + 1 and
    max_frame_height_minus_1 + 1, then its color_config's bit depth and subsampling (AV1
    specification, 5.5.1 and 5.5.2); None if it cannot be read."""
    bits = _Bits(header)
    try:
        profile = bits.read(3)
        bits.read(1)  # still_picture
        reduced = bits.read(1)  # reduced_still_picture_header
        if reduced:
            bits.read(5)  # seq_level_idx
        else:
            decoder_model, delay_length = False, 0
            if bits.read(1):  # timing_info_present_flag
                bits.read(64)  # num_units_in_display_tick, time_scale
                if bits.read(1):  # equal_picture_interval
                    bits.golomb()  # num_ticks_per_picture_minus_1
                decoder_model = bool(bits.read(1))
                if decoder_model:
                    delay_length = bits.read(5) + 1  # buffer_delay_length_minus_1
                    bits.read(42)  # num_units_in_decoding_tick, two lengths
            initial_display_delay = bits.read(1)
            for _ in range(bits.read(5) + 1):  # operating points
                bits.read(12)  # operating_point_idc
                if bits.read(5) > 7:  # seq_level_idx
                    bits.read(1)  # seq_tier
                if decoder_model and bits.read(1):
                    bits.read(2 * delay_length + 1)  # buffer delays, low_delay_mode_flag
                if initial_display_delay and bits.read(1):
                    bits.read(4)
        width_bits, height_bits = bits.read(4) + 1, bits.read(4) + 1
        width, height = bits.read(width_bits) + 1, bits.read(height_bits) + 1
        if not reduced and bits.read(1):  # frame_id_numbers_present_flag
            bits.read(7)  # the frame ids' lengths
        bits.read(3)  # use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
        if not reduced:
            bits.read(4)  # interintra and masked compound, warped motion, dual filter
            order_hint = bits.read(1)
            bits.read(2 * order_hint)  # enable_jnt_comp, enable_ref_frame_mvs
            # seq_choose_screen_content_tools, else seq_force_screen_content_tools; then seq_choose_integer_mv
            if (bits.read(1) or bits.read(1)) and not bits.read(1):
                bits.read(1)  # seq_force_integer_mv
            bits.read(3 * order_hint)  # order_hint_bits_minus_1
        bits.read(3)  # enable_superres, enable_cdef, enable_restoration
        high_bit_depth = bits.read(1)
        bit_depth = 8 + 2 * high_bit_depth + 2 * (profile == 2 and high_bit_depth and bits.read(1))  # twelve_bit
        monochrome = profile != 1 and bits.read(1)
        colour = bits.read(24) if bits.read(1) else 0  # color_primaries, transfer and matrix, if present
        if monochrome:
            return CodedFrame(width, height, bit_depth, "4:0:0")
        if colour == 0x010D00:  # BT.709 primaries, sRGB transfer, identity matrix: 4:4:4
            return CodedFrame(width, height, bit_depth, "4:4:4")
        bits.read(1)  # color_range
        if profile == 0:
            return CodedFrame(width, height, bit_depth, "4:2:0")
        horizontal = profile == 2 and (bit_depth < 12 or bits.read(1))  # subsampling_x
        vertical = horizontal and bit_depth == 12 and bits.read(1)  # subsampling_y
        return CodedFrame(width, height, bit_depth, ["4:4:4", "4:2:2", "4:2:0"][horizontal + vertical])
    except IndexError:
        return None


def _hevc_frame(nal_unit: bytes) -> CodedFrame | None:
    """What an HEVC SPS declares (H.265, 7.3.2.2): its coded size (pic_width_in_luma_samples,
    pic_height_in_luma_samples), before its conformance window crops it, its chroma_format_idc and
    the larger of its luma and chroma bit depths; None if it cannot be read."""
    bits = _Bits(re.sub(b"\x00\x00\x03", b"\x00\x00", nal_unit[2:]))  # without emulation prevention
    try:
        bits.read(4)  # sps_video_parameter_set_id
        sub_layers = bits.read(3)  # sps_max_sub_layers_minus1
        bits.read(1 + 88 + 8)  # sps_temporal_id_nesting_flag, the general profile, its level
        present = [(bits.read(1), bits.read(1)) for _ in range(sub_layers)]  # profile, level
        if sub_layers:
            bits.read(2 * (8 - sub_layers))  # reserved_zero_2bits
        for profile, level in present:
            bits.read(88 * profile + 8 * level)
        bits.golomb()  # sps_seq_parameter_set_id
        chroma = bits.golomb()  # chroma_format_idc
        if chroma == 3:
            bits.read(1)  # separate_colour_plane_flag
        width, height = bits.golomb(), bits.golomb()
        if bits.read(1):  # conformance_window_flag
            for _ in range(4):
                bits.golomb()
        bit_depth = 8 + max(bits.golomb(), bits.golomb())  # bit_depth_luma_minus8, bit_depth_chroma_minus8
        return CodedFrame(width, height, bit_depth, CHROMA_FORMATS[min(chroma, 3)])
    except IndexError:
        return None


@dataclass(frozen=True)
class HeifColour:
    """An AVIF's or HEIC's colour properties (`colr`): an ICC profile, or nclx's colour primaries and
    transfer characteristics (ITU-T H.273 code points); and its content's peak (`clli`)."""

    icc_profile: bytes | None = None
    primaries: int | None = None
    transfer: int | None = None
    peak_nits: int | None = None  # the content light level box's max_content_light_level, if not 0


def heif_colour(data: bytes) -> HeifColour:
    """The colour properties of an AVIF's or HEIC's primary item (ImageMagick 6's HEIC coder reads
    none of them); none when it has none or they cannot be read."""
    colour = HeifColour()
    try:
        meta = _heif_meta(data)
        for kind, contents in meta.item_properties(meta.primary) if meta else []:
            if kind == b"clli" and len(contents) >= 4 and colour.peak_nits is None:
                colour = replace(colour, peak_nits=struct.unpack_from(">H", contents)[0] or None)
            if kind != b"colr":
                continue
            if contents[:4] in (b"prof", b"rICC") and not colour.icc_profile:
                colour = replace(colour, icc_profile=contents[4:])
            elif contents[:4] == b"nclx" and len(contents) >= 8 and colour.primaries is None:
                primaries, transfer = struct.unpack_from(">HH", contents, 4)
                colour = replace(colour, primaries=primaries, transfer=transfer)
    except (struct.error, IndexError):
        return HeifColour()
    return colour


@dataclass
class _HeifMeta:
    """What heif_alpha needs of an AVIF's or HEIC's `meta` box."""

    pitm_item: tuple[int, int]  # where the primary item's number is, and its width in bytes
    primary: int
    references: list[tuple[bytes, int, list[int]]]  # (kind, from item, to items)
    properties: list[tuple[bytes, bytes]]  # (kind, contents), numbered from 1 by `associations`
    associations: dict[int, list[int]]  # item -> its properties

    def item_properties(self, item: int) -> Iterator[tuple[bytes, bytes]]:
        """The item's properties (kind, contents), in their order."""
        for index in self.associations.get(item, []):
            if index:
                yield self.properties[index - 1]

    def transforms(self, item: int) -> Iterator[tuple[bytes, bytes]]:
        """The item's turns, mirrors and crops (kind, contents), in the order they apply."""
        return ((kind, contents) for kind, contents in self.item_properties(item) if kind in _HEIF_TRANSFORMS)

    def alpha_item(self) -> int | None:
        """The auxiliary image of the primary item that is its alpha plane."""
        for kind, source, targets in self.references:
            if (
                kind == b"auxl"
                and self.primary in targets
                and is_alpha(self.item_properties(source), _HEIF_ALPHA_TYPES)
            ):
                return source
        return None


def _meta_children(data: bytes) -> dict[bytes, tuple[int, int]]:
    """The boxes in the file's `meta` box (kind -> contents' start and end); none without one. Read
    leniently (isobmff.boxes), as far as they are whole: what cannot be read here refuses nothing,
    the decoder refuses what it cannot decode."""
    meta = next(((start, end) for kind, _, start, end in boxes(data, 0, len(data)) if kind == b"meta"), None)
    return {kind: (start, end) for kind, _, start, end in boxes(data, meta[0] + 4, meta[1])} if meta else {}


def _heif_meta(data: bytes) -> _HeifMeta | None:
    children = _meta_children(data)
    if b"pitm" not in children:
        return None
    start, end = children[b"pitm"]
    primary, width = primary_item(data, start, end)
    meta_info = _HeifMeta((start + 4, width), primary, [], [], {})
    if b"iref" in children:
        references = item_references(data, *children[b"iref"])
        meta_info.references = [(kind, source, targets) for kind, source, targets, _ in references]
    if b"iprp" in children:
        properties = [(kind, start, end) for kind, _, start, end in boxes(data, *children[b"iprp"])]
        ipco = next(((start, end) for kind, start, end in properties if kind == b"ipco"), None)
        if ipco:
            meta_info.properties = [(kind, data[start:end]) for kind, _, start, end in boxes(data, *ipco)]
        # Every ipma box, as libheif and libavif read them: with the last alone, a second one made
        # the primary item's av1C unseen here, and its frame unchecked (review, 2026-12-07).
        for start, end in ((start, end) for kind, start, end in properties if kind == b"ipma"):
            associations = {
                item: [index for index, _ in found] for item, found in property_associations(data, start, end)
            }
            for item, indices in associations.items():
                meta_info.associations.setdefault(item, []).extend(indices)
    return meta_info
