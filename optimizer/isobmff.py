"""Where each item's data is in an AVIF or HEIC (ISO base media file format): its `iloc` box,
read for the never-grow rule (optimizer.containers) and for the check of coded frame sizes
(optimizer.probe)."""

from dataclasses import dataclass

# More than encoders write (a grid of 16x16 tiles, each with its alpha, is 513 items of one extent
# each): a box of a few bytes can declare millions of zero-byte extents, each a step in Python.
MAX_ITEMS = 4096
MAX_EXTENTS = 4096


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
