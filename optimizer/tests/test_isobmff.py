"""How each reader of an AVIF's or HEIC's boxes takes the boxes encoders do not write (a size of 0,
a 64-bit size cut short, a box past its parent, bytes after the last box), and the item references
and property associations the probe and libavif's reading share: the probe reads what it can,
never grow returns only whole boxes, and what browsers decode (libavif) refuses them all."""

import struct

import pytest

from optimizer import isobmff, probe
from optimizer.containers import ImageOnly, image_only
from optimizer.formats import SourceFormat
from optimizer.isobmff import NotForBrowsers
from optimizer.tests import images


def _box(kind: bytes, contents: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(contents), kind) + contents


def _large_box(kind: bytes, contents: bytes = b"") -> bytes:
    return struct.pack(">I4sQ", 1, kind, 16 + len(contents)) + contents


HDLR = _box(b"hdlr", bytes(8) + b"pict" + bytes(13))
FTYP = _box(b"ftyp", b"avif" + bytes(4) + b"mif1avif")


def _meta(contents: bytes) -> bytes:
    return _box(b"meta", bytes(4) + contents)


def _meta_children(data: bytes) -> dict[bytes, tuple[int, int]]:
    """What the probe reads of a file's meta box: kind -> contents, as bytes."""
    return {kind: data[start:end] for kind, (start, end) in probe._meta_children(data).items()}


# --- The probe: as much as can be read ---------------------------------------------------------


def test_the_probe_reads_a_box_of_size_0_to_the_end_of_its_parent():
    """ISO's size 0 is "to the end of the file"; the probe reads it, at any level, to the end of the
    box it is in."""
    data = FTYP + b"\0\0\0\0meta" + bytes(4) + HDLR + b"\0\0\0\0pitm" + b"\0\0\0\0\0\1"

    assert _meta_children(data) == {b"hdlr": HDLR[8:], b"pitm": b"\0\0\0\0\0\1"}


IINF = _box(b"iinf", bytes(6))


@pytest.mark.parametrize(
    "damaged",
    [
        struct.pack(">I4s", 64, b"pitm") + bytes(8),  # runs past the meta box
        struct.pack(">I4s", 4, b"pitm") + IINF,  # smaller than its header
        struct.pack(">I4sQ", 1, b"pitm", 8) + IINF,  # a 64-bit size smaller than its header
        struct.pack(">I4sQ", 1, b"pitm", 0) + IINF,  # a 64-bit size of 0 is not "to the end"
        struct.pack(">I4sI", 1, b"pitm", 0),  # a 64-bit size cut short by the meta box's end
        b"\0\0\0",  # bytes after the last box
    ],
    ids=["past-parent", "under-header", "large-under-header", "large-0", "large-cut", "leftover"],
)
def test_the_probe_reads_the_boxes_before_one_that_does_not_fit(damaged):
    data = FTYP + _meta(HDLR + damaged) + _box(b"mdat", bytes(64))

    assert _meta_children(data) == {b"hdlr": HDLR[8:]}


def test_the_probe_reads_a_64_bit_size_cut_short_by_the_end_of_the_file_as_by_its_parent_s_end():
    """It raised struct.error where the meta box is the file's last (no bytes to read the size from)
    and so dropped all of it: the frame check passed a frame larger than its ispe. libheif refuses
    such a file ("No 'meta' box"), but the probe's reading of a meta box did not depend on what
    follows it anywhere else."""
    cut = struct.pack(">I4s", 1, b"free")
    assert _meta_children(FTYP + _meta(HDLR + cut)) == {b"hdlr": HDLR[8:]}

    avif = images.with_ispe(images.encode(images.photo(256, 192), "AVIF"), 16, 16)
    meta = slice(*images._heif_boxes(avif, 0, len(avif))[b"meta"])
    before = avif[: meta.start] + _box(b"free", bytes(meta.stop - meta.start - 8)) + avif[meta.stop :]  # offsets kept
    for last in (bytes(avif[meta]), _box(b"meta", avif[meta][8:] + cut)):
        with pytest.raises(probe.UnsupportedImage, match="larger than the size its header declares"):
            probe.check_heif_frames(before + last)


def test_the_probe_reads_a_64_bit_size():
    data = FTYP + _meta(HDLR + _large_box(b"pitm", bytes(6)))

    assert _meta_children(data) == {b"hdlr": HDLR[8:], b"pitm": bytes(6)}


# --- Never grow: whole boxes only ----------------------------------------------------------------


@pytest.fixture(scope="module")
def avif() -> bytes:
    return images.encode(images.photo(), "AVIF", quality=5)


@pytest.mark.parametrize(
    "tail",
    [
        b"\0\0\0\0free" + b"<html>",  # size 0: to the end of the file
        struct.pack(">I4sI", 1, b"free", 0),  # a 64-bit size cut short by the end of the file
        struct.pack(">I4s", 64, b"free") + b"<html>",  # runs past the end of the file
        struct.pack(">I4s", 4, b"free") + b"<html>",  # smaller than its header
        b"<html",  # fewer bytes than a box header
    ],
    ids=["size-0", "large-cut", "past-end", "under-header", "leftover"],
)
def test_never_grow_returns_the_boxes_before_one_that_is_not_whole(avif, tail):
    """A box of size 0 included: a file that ends in one is not what libavif reads (below), and what
    comes before it is a whole AVIF."""
    assert image_only(avif + tail, SourceFormat.AVIF) == ImageOnly(avif)


def test_never_grow_blanks_a_box_of_64_bit_size_after_its_header(avif):
    note = _large_box(b"uuid", b"<html>")

    assert image_only(avif + note, SourceFormat.AVIF) == ImageOnly(avif + note[:4] + b"free" + note[8:16] + bytes(6))


# --- What browsers decode: every box whole, and nothing else ------------------------------------


def test_libavif_s_reading_takes_boxes_that_fill_their_parent_exactly():
    data = _box(b"free", b"ab") + _large_box(b"skip", b"cd")

    assert isobmff._box_list(data, 0, len(data)) == [(b"free", 8, 10), (b"skip", 26, 28)]


@pytest.mark.parametrize(
    "tail",
    [
        b"\0\0\0\0free",  # size 0: libavif 0.11 and this reading refuse it
        struct.pack(">I4sI", 1, b"free", 0),  # a 64-bit size cut short
        struct.pack(">I4s", 64, b"free"),  # runs past its parent
        struct.pack(">I4s", 4, b"free") + bytes(4),  # smaller than its header
        b"\0\0\0",  # bytes after the last box
        _box(b"uuid"),  # what this reading does not follow
    ],
    ids=["size-0", "large-cut", "past-parent", "under-header", "leftover", "uuid"],
)
def test_libavif_s_reading_refuses_a_box_that_does_not_fit(avif, tail):
    data = _box(b"free") + tail

    with pytest.raises(NotForBrowsers):
        isobmff._box_list(data, 0, len(data))
    with pytest.raises(NotForBrowsers):
        isobmff.avif_items_for_browsers(avif + tail)


# --- Item references and property associations, read by both ------------------------------------

ALPHA = b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha\0"
CODED = bytes(16)  # each item's data: not decoded here


def _avif(*, ipma: bytes | None = None, iref: bytes | None = None) -> bytes:
    """A transparent AVIF of items 1 (colour) and 2 (its alpha plane, an auxl reference), built box by
    box: ipma's contents (after version and flags) and iref's can be replaced."""
    properties = [_box(b"ispe", bytes(4) + struct.pack(">II", 8, 8)), _box(b"av1C", b"\x81\x00\x0c\x00")]
    ipco = _box(b"ipco", b"".join(properties) + _box(b"auxC", bytes(4) + ALPHA))
    if ipma is None:
        ipma = struct.pack(">IHB2BHB3B", 2, 1, 2, 0x81, 0x82, 2, 3, 0x81, 0x82, 0x83)
    if iref is None:
        iref = _box(b"auxl", struct.pack(">HHH", 2, 1, 1))
    infe = [_box(b"infe", struct.pack(">BxxxHH4sx", 2, item, 0, b"av01")) for item in (1, 2)]
    boxes = [
        HDLR,
        _box(b"pitm", bytes(4) + b"\0\1"),
        _box(b"iloc", bytes(4) + b"\x44\x00" + struct.pack(">H", 2) + bytes(2 * 14)),  # placed below
        _box(b"iinf", bytes(4) + struct.pack(">H", 2) + b"".join(infe)),
        _box(b"iprp", ipco + _box(b"ipma", bytes(4) + ipma)),
        _box(b"iref", bytes(4) + iref),
    ]
    head = FTYP + _meta(b"".join(boxes))
    mdat = len(head) + 8
    entries = b"".join(struct.pack(">HHHII", item, 0, 1, mdat + (item - 1) * 16, 16) for item in (1, 2))
    iloc = _box(b"iloc", bytes(4) + b"\x44\x00" + struct.pack(">H", 2) + entries)
    return FTYP + _meta(b"".join(iloc if box[4:8] == b"iloc" else box for box in boxes)) + _box(b"mdat", CODED * 2)


def test_a_built_avif_is_read_alike_by_the_probe_and_libavif_s_reading():
    data = _avif()

    assert [(item.item, item.width) for item in isobmff.avif_items_for_browsers(data)] == [(1, 8), (2, 8)]
    assert probe._heif_meta(data).alpha_item() == 2


@pytest.mark.parametrize(
    "iref",
    [
        _box(b"auxl", struct.pack(">HHHx", 2, 1, 1)),  # a byte after the entry's targets
        _box(b"auxl", struct.pack(">HHH", 2, 1, 1)) + b"\0\0\0",  # bytes after the last entry
        b"\0\0\0\0auxl" + struct.pack(">HHH", 2, 1, 1),  # an entry of size 0: to iref's end
    ],
    ids=["after-targets", "after-entries", "size-0"],
)
def test_an_iref_the_probe_reads_and_libavif_s_reading_refuses(iref):
    data = _avif(iref=iref)

    assert probe._heif_meta(data).alpha_item() == 2
    with pytest.raises(NotForBrowsers):
        isobmff.avif_items_for_browsers(data)


@pytest.mark.parametrize(
    ("ipma", "iref"),
    [
        (None, _box(b"auxl", struct.pack(">HHH", 2, 2, 1))),  # counts 2 targets, holds 1
        (None, _box(b"auxl", struct.pack(">HH", 2, 1))),  # cut short before its targets
        (None, _box(b"auxl", b"\0")),  # cut short before its count
        (struct.pack(">IHB2BHB3B", 3, 1, 2, 0x81, 0x82, 2, 3, 0x81, 0x82, 0x83), None),  # 3 entries of 2
        (struct.pack(">IHB2BHB2B", 2, 1, 2, 0x81, 0x82, 2, 3, 0x81, 0x82), None),  # 3 properties of 2
    ],
    ids=["iref-targets", "iref-cut", "iref-count-cut", "ipma-entries", "ipma-properties"],
)
def test_a_reference_or_association_past_its_box_is_unread_by_the_probe_and_refused(ipma, iref):
    data = _avif(ipma=ipma, iref=iref)

    with pytest.raises((IndexError, struct.error)):
        probe._heif_meta(data)
    with pytest.raises(NotForBrowsers):
        isobmff.avif_items_for_browsers(data)


def test_an_item_associated_twice_in_an_ipma_takes_its_last_entry_in_the_probe_and_is_refused():
    twice = struct.pack(">IHB2BHB3BHB1B", 3, 1, 2, 0x81, 0x82, 2, 3, 0x81, 0x82, 0x83, 2, 1, 0x81)
    data = _avif(ipma=twice)

    assert probe._heif_meta(data).associations == {1: [1, 2], 2: [1]}
    with pytest.raises(NotForBrowsers):
        isobmff.avif_items_for_browsers(data)


def test_an_alpha_plane_s_essential_bit_is_not_its_property_number():
    """ipma's 16-bit property numbers (flags 1): the top bit of each says essential."""
    wide = struct.pack(">IHB2HHB3H", 2, 1, 2, 0x8001, 0x8002, 2, 3, 0x8001, 0x8002, 0x0003)
    data = _avif(ipma=wide)
    data = data.replace(b"ipma\0\0\0\0", b"ipma\0\0\0\1")

    assert probe._heif_meta(data).associations == {1: [1, 2], 2: [1, 2, 3]}
    assert [item.item for item in isobmff.avif_items_for_browsers(data)] == [1, 2]


@pytest.mark.parametrize(
    "entries",
    [
        [(1 + entry % 2, 1) for entry in range(isobmff.MAX_ITEMS + 1)],  # more items than encoders write
        [(1 + entry % 2, 255) for entry in range(isobmff.MAX_ASSOCIATIONS // 255 + 1)],  # more properties
    ],
    ids=["items", "properties"],
)
def test_an_ipma_of_more_associations_than_encoders_write_is_not_read_through(entries):
    """Each association is a step in Python: 32 MiB of them took the probe ~9 s a reading."""
    ipma = struct.pack(">I", len(entries)) + b"".join(
        struct.pack(">HB", item, number) + b"\x81" * number for item, number in entries
    )
    data = _avif(ipma=ipma)

    with pytest.raises(IndexError, match="ipma associates"):
        probe._heif_meta(data)
    with pytest.raises(NotForBrowsers):
        isobmff.avif_items_for_browsers(data)
    assert probe.heif_colour(data) == probe.HeifColour()  # what cannot be read refuses nothing


def test_an_iref_of_more_references_than_encoders_write_is_not_read_through():
    many = _box(b"dimg", struct.pack(">HH", 1, isobmff.MAX_REFERENCES) + b"\0\2" * isobmff.MAX_REFERENCES)
    data = _avif(iref=_box(b"auxl", struct.pack(">HHH", 2, 1, 1)) + many)

    with pytest.raises(IndexError, match="iref refers to over"):
        probe._heif_meta(data)
    with pytest.raises(NotForBrowsers):
        isobmff.avif_items_for_browsers(data)


def test_a_walk_ends_at_the_most_boxes_encoders_write_side_by_side():
    data = _box(b"free") * (isobmff.MAX_BOXES + 1)

    assert len(list(isobmff.boxes(data, 0, len(data)))) == isobmff.MAX_BOXES
    with pytest.raises(NotForBrowsers):
        isobmff._box_list(data, 0, len(data))
