"""A WebP or AVIF source's own image, as the never-grow rule may return it: the container reduced to
what draws the image, without its metadata, unknown parts or whatever follows it. Bytes in, bytes
out, no decoding (the pipeline decodes the result before returning it).

    image_only(data, source_format) -> ImageOnly | None

Our own encodings carry no metadata and no colour profile (sRGB, untagged: encoders strips the
WebP, and AVIF says sRGB in nclx); what never grow returns must be no more than that. None means
the source cannot be returned without being re-encoded; NotForBrowsers, that it must not be (an
AVIF that browsers may not decode).
"""

import struct
from dataclasses import dataclass
from functools import partial

import numpy as np

from optimizer.formats import SourceFormat
from optimizer.isobmff import (
    NotForBrowsers,
    av1_sequence_header,
    av1c_depth,
    avif_items_for_browsers,
    boxes,
    item_info,
    item_locations,
)
from optimizer.probe import av1_frame

# VP8X flags: ICC profile, EXIF, XMP (animation and alpha stay).
_VP8X_METADATA_FLAGS = 0x20 | 0x08 | 0x04
_WEBP_IMAGE_CHUNKS = {b"VP8 ", b"VP8L", b"ALPH", b"VP8X"}
_WEBP_ANIMATION_CHUNKS = {b"ANIM", b"ANMF"}
# Top-level boxes an AVIF image needs; any other one (free, skip, uuid, ...) is blanked in place,
# since removing it would move the media data its `iloc` offsets point at.
_AVIF_BOXES = {b"ftyp", b"meta", b"mdat"}
# Item types that are images (coded, derived); any other (Exif, mime: XMP, ...) is metadata.
_AVIF_IMAGE_ITEMS = {b"av01", b"grid", b"iden", b"iovl"}
# Whole boxes only, and a box of size 0 (to the end of the file) is not one: the file returned ends
# before it, as libavif refuses it (isobmff._box_list) and what comes before is a whole AVIF.
_boxes = partial(boxes, zero_runs_to_end=False)


@dataclass(frozen=True)
class ImageOnly:
    data: bytes
    # An ICC profile was left out: the pixels may be returned only if they show the same without it.
    dropped_profile: bool = False


def image_only(data: bytes, source_format: SourceFormat) -> ImageOnly | None:
    """The source reduced to its image, never larger than it; None for a source whose metadata
    cannot be left out here, an animation (whose answer is its first frame), or another format;
    NotForBrowsers for an AVIF that browsers may not decode."""
    if source_format is SourceFormat.WEBP:
        return _webp_image_only(data)
    if source_format is SourceFormat.AVIF:
        return _avif_image_only(data)
    return None


def _webp_image_only(data: bytes) -> ImageOnly | None:
    """The RIFF container remuxed with its image chunks alone (VP8X with its metadata flags
    cleared); EXIF, XMP, ICCP and unknown chunks, and anything past the RIFF's size, left out."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    end = 8 + int.from_bytes(data[4:8], "little")
    if end > len(data):
        return None
    kept, dropped_profile, index = [], False, 12
    while index < end:
        if index + 8 > end:
            return None
        kind, size = data[index : index + 4], int.from_bytes(data[index + 4 : index + 8], "little")
        stop = index + 8 + size + size % 2  # chunks are padded to an even length
        if stop > end:
            return None
        if kind in _WEBP_ANIMATION_CHUNKS:
            return None
        if kind == b"VP8X":
            if size < 10:
                return None
            kept.append(data[index : index + 8] + bytes([data[index + 8] & ~_VP8X_METADATA_FLAGS]))
            kept.append(data[index + 9 : stop])
        elif kind in _WEBP_IMAGE_CHUNKS:
            kept.append(data[index:stop])
        elif kind == b"ICCP":
            dropped_profile = True
        index = stop
    body = b"WEBP" + b"".join(kept)
    return ImageOnly(b"RIFF" + len(body).to_bytes(4, "little") + body, dropped_profile=dropped_profile)


def _avif_image_only(data: bytes) -> ImageOnly | None:
    """The file up to its last whole top-level box, with every byte no item points at zeroed in
    place: boxes other than the first ftyp and meta become `free` boxes of zeros, media data
    (`mdat`) keeps only what `iloc` points at, so every offset stays valid. None if the file holds
    items other than images (Exif, XMP, ...) or an ICC profile, which cannot be taken out without
    rewriting the offsets of the media data, or data `iloc` does not describe plainly.
    NotForBrowsers if what would be returned is not what browsers decode (_check_for_browsers):
    the customer is told why (the pipeline's notice)."""
    kept, seen, end = bytearray(), set(), 0
    for kind, start, contents, stop in _boxes(data, 0, len(data)):
        if kind in _AVIF_BOXES and (kind == b"mdat" or kind not in seen):
            kept += data[start:stop]
        else:
            kept += data[start : start + 4] + b"free" + data[start + 8 : contents] + bytes(stop - contents)
        seen.add(kind)
        end = stop
    meta = next(((contents, stop) for kind, _, contents, stop in _boxes(kept, 0, end) if kind == b"meta"), None)
    if meta is None:
        return None
    try:
        if not _only_images(bytes(kept), meta[0] + 4, meta[1]):
            return None
        extents = _file_extents(bytes(kept), meta[0] + 4, meta[1])
    except (struct.error, IndexError):
        return None
    if extents is None:
        return None
    unused = np.zeros(len(kept), bool)  # media data no item points at
    for kind, _, contents, stop in _boxes(kept, 0, end):
        if kind == b"mdat":
            unused[contents:stop] = True
    for start, length in extents:
        if start + length > end:
            return None
        unused[start : start + length] = False
    image = np.frombuffer(kept, np.uint8).copy()
    image[unused] = 0
    returned = image[:end].tobytes()
    _check_for_browsers(returned)
    return ImageOnly(returned)


def _check_for_browsers(data: bytes) -> None:
    """NotForBrowsers unless libavif, which browsers decode AVIF with, accepts the file: ImageMagick
    decoded it through libheif, which lets pass boxes libavif refuses (isobmff.avif_items_for_browsers),
    and an item whose sequence header is in its av1C alone, or disagrees with it or with its ispe
    (what encoders write: the largest frame is the image)."""
    for item in avif_items_for_browsers(data):
        header = av1_sequence_header(item.data)
        frame = av1_frame(header) if header is not None else None
        flags = item.config[2]
        chroma = "4:0:0" if flags & 0x10 else {0x0C: "4:2:0", 0x08: "4:2:2", 0x00: "4:4:4"}.get(flags & 0x0C)
        coded = (av1c_depth(item.config), chroma, item.width, item.height)
        if frame is None or (frame.bit_depth, frame.chroma, frame.width, frame.height) != coded:
            raise NotForBrowsers(f"item {item.item}'s sequence header is missing or disagrees with av1C or ispe")


def _only_images(data: bytes, start: int, end: int) -> bool:
    """Whether a `meta` box's contents (after its version and flags) hold image items alone and no
    ICC profile."""
    children = {kind: (contents, stop) for kind, _, contents, stop in _boxes(data, start, end)}
    if b"iinf" not in children:
        return False
    start, end = children[b"iinf"]
    first = start + (6 if data[start] == 0 else 8)  # version and flags, then the entry count
    for kind, _, contents, _ in _boxes(data, first, end):
        info = item_info(data, contents) if kind == b"infe" else None
        if info is None or info[1] not in _AVIF_IMAGE_ITEMS:
            return False  # not an image, or (before version 2, an entry without a type) not said to be
    properties = {kind: (contents, stop) for kind, _, contents, stop in _boxes(data, *children.get(b"iprp", (0, 0)))}
    ipco = properties.get(b"ipco", (0, 0))
    return not any(
        kind == b"colr" and data[contents : contents + 4] in (b"prof", b"rICC")
        for kind, _, contents, _ in _boxes(data, *ipco)
    )


def _file_extents(data: bytes, start: int, end: int) -> list[tuple[int, int]] | None:
    """Where in the file the items' data is (offset, length), from the `iloc` box among a `meta`
    box's contents; None if an item's data is elsewhere (another file) or runs to the end of the
    file (a length of 0), which this does not follow."""
    children = {kind: (contents, stop) for kind, _, contents, stop in _boxes(data, start, end)}
    if b"iloc" not in children:
        return None
    extents = []
    for location in item_locations(data, *children[b"iloc"]):
        if location.method != 0:  # 1: in the meta box's idat; 2: another item's data
            continue
        if location.reference != 0 or any(length == 0 for _, length in location.extents):
            return None
        extents += location.extents
    return extents
