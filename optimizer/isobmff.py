"""How an AVIF or HEIC (ISO base media file format) is read before ImageMagick reads it. Leniently,
as far as it is whole, for the never-grow rule (optimizer.containers) and the probe's checks of alpha
planes, colour and coded frame sizes (optimizer.probe): its boxes, where each item's data is (`iloc`),
its primary item (`pitm`), item references (`iref`) and property associations (`ipma`). Strictly:
whether libavif, which browsers decode AVIF with, accepts an AVIF (avif_items_for_browsers, for the
never-grow rule)."""

import struct
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

# More than encoders write (a grid of 16x16 tiles, each with its alpha, is 513 items of one extent
# each): a box of a few bytes can declare millions of zero-byte extents, each a step in Python.
MAX_ITEMS = 4096
MAX_EXTENTS = 4096
# Property associations (ipma) and item references (iref), each in all, and boxes side by side:
# encoders write a few per item. Each is a step in Python: 32 MiB of references took the probe ~11 s
# a reading, of associations ~9 s.
MAX_ASSOCIATIONS = 16 * MAX_ITEMS
MAX_REFERENCES = 4 * MAX_ITEMS
MAX_BOXES = 4 * MAX_ITEMS
# The auxiliary type of an AV1 alpha plane (MIAF; libavif knows no other).
ALPHA_TYPE = b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha"


@dataclass(frozen=True)
class ItemLocation:
    item: int
    method: int  # where the extents are: 0 in the file, 1 in the `meta` box's `idat`, 2 in another item
    reference: int  # the file the data is in: 0 is this one
    extents: tuple[tuple[int, int], ...]  # (offset, length), the base offset added; a length of 0 runs to the end


def item_locations(data: bytes, start: int, end: int) -> list[ItemLocation]:
    """The entries of the `iloc` box whose contents are data[start:end] (ISO/IEC 14496-12, 8.11.3);
    IndexError if they run past it, or number more than MAX_ITEMS items or MAX_EXTENTS extents."""
    at = start

    def number(size: int) -> int:
        nonlocal at
        at += size
        if at > end:
            raise IndexError("iloc runs past its box")
        return int.from_bytes(data[at - size : at], "big")

    version = number(4) >> 24  # and the flags
    offset_size, length_size = divmod(number(1), 16)
    base_size, index_size = divmod(number(1), 16)
    index_size, id_size = (index_size if version in (1, 2) else 0), (4 if version == 2 else 2)
    locations, count, extent_count = [], number(id_size), 0
    if count > MAX_ITEMS:
        raise IndexError(f"iloc places {count} items")
    for _ in range(count):
        item = number(id_size)
        method = number(2) & 15 if version in (1, 2) else 0
        reference, base = number(2), number(base_size)
        extents, extents_here = [], number(2)
        extent_count += extents_here
        if extent_count > MAX_EXTENTS:
            raise IndexError(f"iloc places over {MAX_EXTENTS} extents")
        for _ in range(extents_here):
            number(index_size)
            extents.append((base + number(offset_size), number(length_size)))
        locations.append(ItemLocation(item, method, reference, tuple(extents)))
    return locations


def boxes(
    data: bytes | bytearray, start: int, end: int, *, zero_runs_to_end: bool = True
) -> Iterator[tuple[bytes, int, int, int]]:
    """Each box in data[start:end] (its kind, and where it starts, its contents start and it ends), as
    far as they are whole: a box past `end`, or smaller than its header, ends the walk, as does the
    MAX_BOXES-th. A size of 0 (ISO: to the end of the file) runs to `end`, or ends the walk unless
    `zero_runs_to_end`."""
    for _ in range(MAX_BOXES):
        if start + 8 > end:
            return
        size, kind = struct.unpack_from(">I4s", data, start)
        header = 8
        if size == 1:
            if start + 16 > end:
                return
            size, header = struct.unpack_from(">Q", data, start + 8)[0], 16
        elif size == 0 and zero_runs_to_end:
            size = end - start
        if size < header or start + size > end:
            return
        yield kind, start, start + header, start + size
        start += size


def primary_item(data: bytes, start: int, end: int) -> tuple[int, int]:
    """The primary item's number in the `pitm` box whose contents are data[start:end], and how many
    bytes it takes there (2, or 4 after version 0); IndexError if it is cut short."""
    width = 4 if data[start] else 2
    if end - start < 4 + width:
        raise IndexError("pitm is cut short")
    return int.from_bytes(data[start + 4 : start + 4 + width], "big"), width


def item_info(data: bytes, start: int) -> tuple[int, bytes] | None:
    """The item and its type (av01, Exif, mime, ...) in an `infe` box whose contents start at `start`;
    None before version 2, where an entry has no type."""
    version = data[start]
    if version < 2:
        return None
    type_at = start + (8 if version == 2 else 10)  # after the item's number and protection index
    return int.from_bytes(data[start + 4 : type_at - 2], "big"), data[type_at : type_at + 4]


class ItemReference(NamedTuple):
    kind: bytes  # auxl, dimg, thmb, ...
    source: int  # the item that refers
    targets: list[int]  # the items it refers to
    end: int  # where its targets end: libavif refuses bytes after them in the entry's box


def item_references(data: bytes, start: int, end: int) -> list[ItemReference]:
    """The entries of the `iref` box whose contents are data[start:end], each a box read as far as
    boxes are whole (boxes); IndexError if an entry's targets run past its box, or the entries refer
    to more than MAX_REFERENCES items in all."""
    width = 4 if data[start] else 2
    references, referred = [], 0
    for kind, _, at, stop in boxes(data, start + 4, end):
        source = int.from_bytes(data[at : at + width], "big")
        count, first = int.from_bytes(data[at + width : at + width + 2], "big"), at + width + 2
        if first + count * width > stop:
            raise IndexError("an iref entry runs past its box")
        referred += max(count, 1)  # an entry of no target is a step too
        if referred > MAX_REFERENCES:
            raise IndexError(f"iref refers to over {MAX_REFERENCES} items")
        targets = [int.from_bytes(data[first + i * width : first + (i + 1) * width], "big") for i in range(count)]
        references.append(ItemReference(kind, source, targets, first + count * width))
    return references


def property_associations(data: bytes, start: int, end: int) -> Iterator[tuple[int, list[tuple[int, bool]]]]:
    """The entries of the `ipma` box whose contents are data[start:end], in its order: each item and
    its properties, as (number in ipco, counted from 1 and 0 for none; whether essential); IndexError
    when one runs past the box, or it associates more than MAX_ITEMS items or MAX_ASSOCIATIONS
    properties."""
    version, flags = data[start], int.from_bytes(data[start + 1 : start + 4], "big")
    item_width, index_width = (4 if version else 2), (2 if flags & 1 else 1)
    essential = 1 << (8 * index_width - 1)  # the top bit; the number is the rest
    (count,), at = struct.unpack_from(">I", data, start + 4), start + 8
    if count > MAX_ITEMS:
        raise IndexError(f"ipma associates {count} items")
    associated = 0
    for _ in range(count):
        item = int.from_bytes(data[at : at + item_width], "big")
        number = data[at + item_width]
        associated += number
        if associated > MAX_ASSOCIATIONS:
            raise IndexError(f"ipma associates over {MAX_ASSOCIATIONS} properties")
        at += item_width + 1
        values = [int.from_bytes(data[at + i * index_width : at + (i + 1) * index_width], "big") for i in range(number)]
        at += number * index_width
        if at > end:
            raise IndexError("an ipma entry runs past its box")
        yield item, [(value & (essential - 1), bool(value & essential)) for value in values]


def is_alpha(properties: Iterable[tuple[bytes, bytes]], alpha_types: Collection[bytes]) -> bool:
    """Whether an item's properties (kind, contents) make it an alpha plane: an auxC (a full box) whose
    auxiliary type, a NUL-ended name after its version and flags, is one of `alpha_types`."""
    return any(kind == b"auxC" and contents[4:].split(b"\0", 1)[0] in alpha_types for kind, contents in properties)


# --- What libavif accepts ---------------------------------------------------------------------
#
# Browsers decode AVIF with libavif (Chrome, Firefox), whose parser refuses what libheif, which
# ImageMagick decodes with, lets pass: a damaged `av1C`, a `hdlr` whose pre_defined is not 0, a
# `meta` box of another version, an `iinf` with fewer entries than it counts. A source is returned
# as it is only if it holds what this reading accepts, which is no more than libavif accepts (its
# src/read.c; checked by mutation against avifdec 0.11 and Pillow's libavif 1.4): what it does not
# know, or libavif reads but this does not (grids, crops, layers), is refused, and the source is
# re-encoded instead.

# Item properties understood here (what encoders write to a still image); any other is refused.
_PROPERTIES = {b"ispe", b"pixi", b"av1C", b"colr", b"auxC", b"irot", b"imir", b"pasp", b"clli"}
_ONE_PER_ITEM = {b"ispe", b"pixi", b"av1C", b"auxC", b"irot", b"imir", b"pasp", b"clli"}
_TRANSFORMS = {b"irot", b"imir"}  # essential, as MIAF requires
_META_CHILDREN = {b"hdlr", b"pitm", b"iloc", b"iinf", b"iprp", b"iref", b"idat", b"dinf"}
_REFERENCES = {b"auxl", b"dimg", b"thmb", b"cdsc", b"prem"}
# nclx matrix coefficients libavif converts to RGB (0, the identity, at 4:4:4 only).
_MATRICES = {0, 1, 2, 5, 6, 9}
_AV1_SEQUENCE_HEADER = 1
# The most OBUs or NAL units walked in a file's items, each a step in Python: encoders write a few an
# item (a sequence header or parameter sets, then the frame in one or a few parts).
MAX_CODED_UNITS = 10_000


class NotForBrowsers(ValueError):
    """An AVIF this reading does not vouch for: libavif may refuse it."""


# Each item's properties (kind, contents), in their order.
_Associations = dict[int, list[tuple[bytes, bytes]]]


@dataclass(frozen=True)
class Av1Item:
    """An AV1 image item libavif decodes to show the image (the primary item, its alpha plane)."""

    item: int
    config: bytes  # the av1C property's contents
    width: int  # as its ispe property declares
    height: int
    data: bytes  # its coded data, from iloc


def _box_list(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """The boxes (kind, contents' start and end) that fill data[start:end] exactly, as libavif reads
    a container: a box of size 0, or bytes left over, are a box header it cannot read. Strict where
    the lenient walk stops quietly, since a source it passes is returned to browsers as it is."""
    found = [(kind, contents, stop) for kind, _, contents, stop in boxes(data, start, end, zero_runs_to_end=False)]
    if (found[-1][2] if found else start) < end:
        raise NotForBrowsers("a box that does not fit, or bytes after the last box")
    if any(kind == b"uuid" for kind, _, _ in found):
        raise NotForBrowsers("a uuid box")
    return found


def _full_box(data: bytes, start: int, end: int, *, versions: tuple[int, ...] = (0,)) -> int:
    """A full box's version, refused unless one of `versions`, with flags 0 (what encoders write)."""
    if end - start < 4 or data[start] not in versions or data[start + 1 : start + 4] != b"\0\0\0":
        raise NotForBrowsers("a full box's version or flags")
    return data[start]


def _string_ends(data: bytes, start: int, end: int) -> int:
    """Where a NUL-ended string starting at `start` ends (after its NUL); libavif refuses one without."""
    nul = data.find(b"\0", start, end)
    if nul < 0:
        raise NotForBrowsers("a string without its NUL")
    return nul + 1


def avif_items_for_browsers(data: bytes) -> list[Av1Item]:
    """The AV1 items browsers decode of a still AVIF, if libavif's parser accepts it; NotForBrowsers
    (saying why) if it may not, or holds what this reading does not follow."""
    try:
        return _avif_items(data)
    except IndexError as error:
        raise NotForBrowsers(str(error)) from error


def _avif_items(data: bytes) -> list[Av1Item]:
    top = _box_list(data, 0, len(data))
    kinds = [kind for kind, _, _ in top]
    if not kinds or kinds[0] != b"ftyp" or kinds.count(b"ftyp") != 1 or kinds.count(b"meta") != 1:
        raise NotForBrowsers("not one ftyp first and one meta")
    where = {kind: (start, end) for kind, start, end in top}  # the one ftyp and meta
    _check_ftyp(data, *where[b"ftyp"])
    meta = _meta_boxes(data, *where[b"meta"])
    _check_hdlr(data, *meta[b"hdlr"])
    primary = _primary_item(data, *meta[b"pitm"])
    types = _item_types(data, *meta[b"iinf"])
    if types.get(primary) != b"av01":
        raise NotForBrowsers("the primary item is not an AV1 image")
    associations = _associations(data, *meta[b"iprp"], types=types)
    references = _references(data, *meta[b"iref"], types=types) if b"iref" in meta else []
    alphas = [
        source
        for kind, source, target in references
        if kind == b"auxl" and target == primary and is_alpha(associations.get(source, []), (ALPHA_TYPE,))
    ]
    if len(alphas) > 1 or (alphas and types[alphas[0]] != b"av01"):
        raise NotForBrowsers("alpha planes libavif may choose between")
    locations = _locations(data, *meta[b"iloc"])
    decoded = [_av1_item(data, item, associations, locations, meta.get(b"idat")) for item in [primary, *alphas]]
    if any((item.width, item.height) != (decoded[0].width, decoded[0].height) for item in decoded):
        raise NotForBrowsers("the alpha plane is not the size of the image")
    return decoded


def _check_ftyp(data: bytes, start: int, end: int) -> None:
    brands = data[start:end]
    if len(brands) < 8 or len(brands) % 4 or b"avif" not in {brands[at : at + 4] for at in range(0, len(brands), 4)}:
        raise NotForBrowsers("ftyp without the avif brand")


def _meta_boxes(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """The boxes in the `meta` box (kind -> contents' start and end), each once, hdlr first."""
    _full_box(data, start, end)
    children = _box_list(data, start + 4, end)
    kinds = [kind for kind, _, _ in children]
    if not kinds or kinds[0] != b"hdlr" or any(kinds.count(kind) > 1 for kind in kinds):
        raise NotForBrowsers("meta: hdlr not first, or a box twice")
    if set(kinds) - _META_CHILDREN or not {b"pitm", b"iloc", b"iinf", b"iprp"} <= set(kinds):
        raise NotForBrowsers(f"meta holds {kinds}")
    return {kind: (start, end) for kind, start, end in children}


def _check_hdlr(data: bytes, start: int, end: int) -> None:
    _full_box(data, start, end)
    if data[start + 4 : start + 12] != b"\0\0\0\0pict" or end - start < 24:
        raise NotForBrowsers("hdlr: pre_defined or handler")
    _string_ends(data, start + 24, end)


def _primary_item(data: bytes, start: int, end: int) -> int:
    primary, width = primary_item(data, start, end)
    _full_box(data, start, end, versions=(0, 1))
    if end - start != 4 + width:
        raise NotForBrowsers("pitm's size")
    return primary


def _item_types(data: bytes, start: int, end: int) -> dict[int, bytes]:
    """Each item's type, from the `iinf` box: version 2 entries, as many as it counts."""
    width = 2 if _full_box(data, start, end, versions=(0, 1)) == 0 else 4
    count = int.from_bytes(data[start + 4 : start + 4 + width], "big")
    entries = _box_list(data, start + 4 + width, end)
    if len(entries) != count:
        raise NotForBrowsers(f"iinf counts {count} entries and holds {len(entries)}")
    types = {}
    for kind, at, stop in entries:
        _full_box(data, at, stop, versions=(2,))
        item, item_type = item_info(data, at)
        if kind != b"infe" or stop - at < 13 or not item or item in types or data[at + 6 : at + 8] != b"\0\0":
            raise NotForBrowsers("an infe entry")
        name_end = _string_ends(data, at + 12, stop)
        if item_type == b"mime":
            _string_ends(data, name_end, stop)
        types[item] = item_type
    return types


def _associations(data: bytes, start: int, end: int, *, types: dict[int, bytes]) -> _Associations:
    """Each item's properties (kind, contents), from the `iprp` box: its ipco, then its ipma boxes."""
    iprp = _box_list(data, start, end)
    if not iprp or iprp[0][0] != b"ipco" or len(iprp) < 2 or any(kind != b"ipma" for kind, _, _ in iprp[1:]):
        raise NotForBrowsers("iprp: ipco, then ipma")
    properties = [(kind, data[at:stop]) for kind, at, stop in _box_list(data, iprp[0][1], iprp[0][2])]
    for kind, contents in properties:
        _check_property(kind, contents)
    associations: _Associations = {}
    seen_headers = set()
    for _, start, end in iprp[1:]:
        _check_ipma_header(data, start, end)  # before it is read: its entry count is there
        if data[start : start + 4] in seen_headers:
            raise NotForBrowsers("two ipma of one version and flags")
        seen_headers.add(data[start : start + 4])
        last = 0
        for item, indices in property_associations(data, start, end):
            if item <= last or item not in types or item in associations:
                raise NotForBrowsers("ipma's items out of order, unknown or twice")
            last, found = item, []
            for index, essential in indices:
                if not index:
                    continue
                if index > len(properties):
                    raise NotForBrowsers("ipma names a property ipco does not have")
                kind, contents = properties[index - 1]
                if kind in _TRANSFORMS and not essential:
                    raise NotForBrowsers(f"{kind!r} not essential")
                found.append((kind, contents))
            associations[item] = found
    return associations


def _references(data: bytes, start: int, end: int, *, types: dict[int, bytes]) -> list[tuple[bytes, int, int]]:
    """The `iref` box's references (kind, from item, to item)."""
    references = item_references(data, start, end)
    _full_box(data, start, end, versions=(0, 1))
    # libavif reads entries that fill the box, each filled by its targets: the lenient reading stops
    # at, or skips, what it refuses.
    if [reference.end for reference in references] != [stop for _, _, stop in _box_list(data, start + 4, end)]:
        raise NotForBrowsers("iref's entries do not fill their boxes, or it")
    for kind, source, targets, _ in references:
        if kind not in _REFERENCES or {source, *targets} - set(types):
            raise NotForBrowsers(f"an iref entry {kind!r}")
    return [(kind, source, target) for kind, source, targets, _ in references for target in targets]


def _locations(data: bytes, start: int, end: int) -> dict[int, ItemLocation]:
    """Each item's location, from the `iloc` box: in the file or its idat, as encoders write it."""
    if data[start] > 2 or data[start + 4] >> 4 not in (0, 4, 8) or data[start + 4] & 15 not in (0, 4, 8):
        raise NotForBrowsers("iloc's version or sizes")
    if data[start + 5] >> 4 not in (0, 4, 8) or (data[start] and data[start + 5] & 15):
        raise NotForBrowsers("iloc's base offset size or extent indices")
    locations = {}
    for location in item_locations(data, start, end):
        if location.item in locations or location.method not in (0, 1) or location.reference:
            raise NotForBrowsers("an iloc entry")
        locations[location.item] = location
    return locations


def _av1_item(
    data: bytes,
    item: int,
    associations: _Associations,
    locations: dict[int, ItemLocation],
    idat: tuple[int, int] | None,
) -> Av1Item:
    """An AV1 item libavif decodes: its properties, and its data, whole in the file or the idat."""
    found = associations.get(item, [])
    kinds = [kind for kind, _ in found]
    if any(kinds.count(kind) > 1 for kind in _ONE_PER_ITEM) or b"av1C" not in kinds or b"ispe" not in kinds:
        raise NotForBrowsers(f"item {item}'s properties: {kinds}")
    location = locations.get(item)
    if location is None or not location.extents:
        raise NotForBrowsers(f"item {item} has no data")
    origin, stop = 0, len(data)
    if location.method == 1:
        if idat is None:
            raise NotForBrowsers(f"item {item}'s data is in an idat the file does not have")
        origin, stop = idat
    pieces = []
    for offset, length in location.extents:
        if not length or origin + offset + length > stop:
            raise NotForBrowsers(f"item {item}'s data is not in the file")
        pieces.append(data[origin + offset : origin + offset + length])
    properties = dict(found)
    _check_depth(properties[b"av1C"], properties.get(b"pixi"))
    _check_matrix(properties[b"av1C"], [contents for kind, contents in found if kind == b"colr"])
    width, height = struct.unpack_from(">II", properties[b"ispe"], 4)
    return Av1Item(item, properties[b"av1C"], width, height, b"".join(pieces))


def _check_ipma_header(data: bytes, start: int, end: int) -> None:
    """ipma's version (0 or 1), its flags 0 or 1 (two-byte property indices), and its entry count."""
    if end - start < 8 or data[start] > 1 or data[start + 1 : start + 3] != b"\0\0" or data[start + 3] > 1:
        raise NotForBrowsers("ipma's version or flags")


def _check_property(kind: bytes, contents: bytes) -> None:
    """Refuse a property libavif may not parse, or that this reading does not know."""
    if kind not in _PROPERTIES:
        raise NotForBrowsers(f"property {kind!r}")
    size = len(contents)
    if kind == b"ispe":
        if size != 12 or contents[:4] != b"\0\0\0\0" or b"\0\0\0\0" in (contents[4:8], contents[8:]):
            raise NotForBrowsers("ispe")
    elif kind == b"pixi":
        if size < 5 or contents[:4] != b"\0\0\0\0" or contents[4] not in (1, 3) or size != 5 + contents[4]:
            raise NotForBrowsers("pixi")
    elif kind == b"av1C":
        if size < 4 or contents[0] != 0x81:
            raise NotForBrowsers("av1C's marker and version")
    elif kind == b"colr":
        if contents[:4] == b"nclx":
            if size != 11 or contents[10] & 0x7F:
                raise NotForBrowsers("colr nclx")
        elif contents[:4] not in (b"prof", b"rICC") or size < 5:
            raise NotForBrowsers("colr")
    elif kind == b"auxC":
        if contents[:4] != b"\0\0\0\0":
            raise NotForBrowsers("auxC")
        _string_ends(contents, 4, size)
    elif kind == b"irot" and (size != 1 or contents[0] & 0xFC):
        raise NotForBrowsers("irot")
    elif kind == b"imir" and (size != 1 or contents[0] & 0xFE):
        raise NotForBrowsers("imir")
    elif kind == b"pasp" and size != 8:
        raise NotForBrowsers("pasp")
    elif kind == b"clli" and size != 4:
        raise NotForBrowsers("clli")


def av1c_depth(config: bytes) -> int:
    """The bit depth an av1C property declares (high_bitdepth, twelve_bit)."""
    return 12 if config[2] & 0x20 else 10 if config[2] & 0x40 else 8  # as libavif reads it


def _check_depth(config: bytes, pixi: bytes | None) -> None:
    """libavif refuses an item whose pixi depths are not its av1C's (and, strict, a plane count
    other than its av1C's)."""
    if pixi is None:
        return
    planes = 1 if config[2] & 0x10 else 3  # monochrome
    if pixi[4] != planes or any(depth != av1c_depth(config) for depth in pixi[5:]):
        raise NotForBrowsers("pixi disagrees with av1C")


def _check_matrix(config: bytes, colours: list[bytes]) -> None:
    """libavif converts to RGB through the matrices of _MATRICES; the identity at 4:4:4 only."""
    for contents in colours:
        if contents[:4] == b"nclx":
            matrix = int.from_bytes(contents[8:10], "big")
            subsampled = config[2] & 0x0C or config[2] & 0x10
            if matrix not in _MATRICES or (matrix == 0 and subsampled):
                raise NotForBrowsers(f"nclx matrix {matrix}")
            return  # libavif reads the first nclx


def av1_sequence_header(coded: bytes) -> bytes | None:
    """The payload of the first sequence header OBU in an AV1 item's data, which libavif needs there
    (it does not read av1C's copy, which libheif hands the decoder); None without one, or if the
    data is not OBUs that end where it ends (an extent cut short: the decoder fails), or more of
    them than MAX_CODED_UNITS (16 million empty ones took 10 s to walk)."""
    at, found = 0, None
    for _ in range(MAX_CODED_UNITS):
        if at >= len(coded):
            break
        header = coded[at]
        if header & 0x80 or not header & 0x02:  # the forbidden bit; an AVIF item's OBUs carry their size
            return None
        at += 2 if header & 0x04 else 1
        size, shift = 0, 0
        while at < len(coded) and shift < 56:
            size |= (coded[at] & 0x7F) << shift
            at, shift = at + 1, shift + 7
            if not coded[at - 1] & 0x80:
                break
        if header >> 3 & 15 == _AV1_SEQUENCE_HEADER and found is None:
            found = coded[at : at + size]
        at += size
    return found if at == len(coded) else None
