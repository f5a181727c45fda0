"""Files on the caller's disk: recognising images, and writing results so they are never half there."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# What the API reads (JPEG, PNG, GIF, WebP, AVIF/HEIC, TIFF, BMP), by the names files usually have.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".webp", ".avif", ".heic", ".heif", ".tif", ".tiff", ".bmp"}
)
# The prefix of the temporary files written beside a result; folder scans pass them over.
PARTIAL_PREFIX = ".smolpix-partial-"
_HEAD_BYTES = 16


def is_image(path: Path) -> bool:
    """Whether `path` starts like an image (the server makes the final check). Its name is not asked:
    a file named by the user may have any; folder scans pass over those not named like images."""
    with path.open("rb") as file:
        return looks_like_image(file.read(_HEAD_BYTES))


def looks_like_image(head: bytes) -> bool:
    """Whether the first bytes of a file are those of an image format the API reads."""
    return (
        head.startswith(b"\xff\xd8\xff")  # JPEG
        or head.startswith(b"\x89PNG\r\n\x1a\n")
        or head[:6] in (b"GIF87a", b"GIF89a")
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # TIFF, BigTIFF
        or head[:2] == b"BM"
        or head[4:8] == b"ftyp"  # AVIF or HEIC: the server checks the brand
    )


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that `path` is either absent, the old file or the whole new one."""
    os.replace(write_partial(path, data), path)


def write_partial(path: Path, data: bytes) -> Path:
    """Write `data` into a new temporary file beside `path`, flushed to disk, and return it: renamed
    over `path` (os.replace), it puts the whole file there at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: its files are private (0600), and this one becomes the result. Not named
    # after `path` either: a result whose name is near the 255 bytes file systems allow could not be.
    partial = path.with_name(f"{PARTIAL_PREFIX}{secrets.token_hex(8)}")
    try:
        with partial.open("xb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return partial
