"""The one way into ImageMagick: import Wand from here, never directly.

ImageMagick reads its policy once, when the library starts, which happens when Wand is first
imported. This module points MAGICK_CONFIGURE_PATH at the project's `policy.xml` before that
import, then proves the policy is in force (a denied coder must raise and the thread limit must be
ours); a process where that fails refuses to go on, rather than decode images unprotected.

Each process keeps ImageMagick's disk caches in a folder of its own (`use_own_cache_folder`), so
that what a process killed mid-image leaves behind can be found and removed, and `caches_in_use`
tells a process whether ImageMagick still holds caches once its images are closed: caches that
ImageMagick 6 leaked on an error path, which it counts against the policy's limits until the
process ends.
"""

import atexit
import ctypes
import os
import shutil
import sys
import tempfile
from pathlib import Path

POLICY_DIR = Path(__file__).resolve().parent
SRGB_PROFILE = (POLICY_DIR / "sRGB.icc").read_bytes()  # LittleCMS's built-in sRGB, see README

if "wand.api" in sys.modules and os.environ.get("MAGICK_CONFIGURE_PATH", "").split(os.pathsep)[0] != str(POLICY_DIR):
    raise RuntimeError("Wand was imported before optimizer.magick: ImageMagick started without the project policy.")
_others = [path for path in os.environ.get("MAGICK_CONFIGURE_PATH", "").split(os.pathsep) if path != str(POLICY_DIR)]
os.environ["MAGICK_CONFIGURE_PATH"] = os.pathsep.join([str(POLICY_DIR), *filter(None, _others)])

from wand import exceptions  # noqa: E402
from wand.api import library  # noqa: E402
from wand.color import Color  # noqa: E402
from wand.drawing import Drawing  # noqa: E402
from wand.image import Image  # noqa: E402
from wand.resource import limits  # noqa: E402

__all__ = [
    "SRGB_PROFILE",
    "Color",
    "Drawing",
    "Image",
    "caches_in_use",
    "convert_to_srgb_profile",
    "exceptions",
    "library",
    "limits",
    "new_image_reader",
    "remove_own_cache_folder",
    "use_own_cache_folder",
]

# Wand's `profiles[...] = ...` only attaches a profile; converting pixels needs MagickProfileImage.
library.MagickProfileImage.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t)
library.MagickProfileImage.restype = ctypes.c_bool

# Where every process's own folder for ImageMagick's disk caches lives (see use_own_cache_folder).
CACHE_ROOT = Path(tempfile.gettempdir()) / "smolpix-imagemagick"

# A one-pixel PBM: a coder ImageMagick ships and the system policy allows, but ours denies.
_DENIED_CODER, _DENIED_SAMPLE = "PBM", b"P1\n1 1\n0\n"


def new_image_reader(coder: str, *, first_frame_only: bool = True) -> Image:
    """An empty Image whose next `read(blob=...)` or ping decodes with `coder` and nothing else.

    The "CODER:" prefix makes ImageMagick trust the format instead of guessing it from the bytes;
    "[0]" reads only the first frame of multi-frame files.
    """
    image = Image()
    spec = f"{coder}:{'[0]' if first_frame_only else ''}"
    library.MagickSetFilename(image.wand, spec.encode())
    return image


def convert_to_srgb_profile(image: Image) -> None:
    """Convert the pixels from the image's embedded ICC profile (RGB, CMYK or grey) to sRGB."""
    if not library.MagickProfileImage(image.wand, b"icc", SRGB_PROFILE, len(SRGB_PROFILE)):
        image.raise_exception()


def caches_in_use() -> int:
    """Bytes of pixel cache (heap, memory-mapped and disk) ImageMagick counts as taken now."""
    return sum(limits.resource(kind) for kind in ("memory", "map", "disk"))


def use_own_cache_folder() -> Path:
    """Point this process's disk caches at a folder of its own (CACHE_ROOT/<pid>), and remove the
    folders of processes that are gone. ImageMagick reads MAGICK_TEMPORARY_PATH each time it opens
    a cache file, so this can be called again after a fork, in the child."""
    CACHE_ROOT.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder in CACHE_ROOT.iterdir():
        if folder.name.isdigit() and not _process_exists(int(folder.name)):
            shutil.rmtree(folder, ignore_errors=True)
    own = CACHE_ROOT / str(os.getpid())
    own.mkdir(mode=0o700, exist_ok=True)
    os.environ["MAGICK_TEMPORARY_PATH"] = str(own)
    return own


def remove_own_cache_folder() -> None:
    """At the end of a process: whatever ImageMagick still holds goes with it."""
    shutil.rmtree(CACHE_ROOT / str(os.getpid()), ignore_errors=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def assert_policy_in_force() -> None:
    """Raise RuntimeError unless the project policy governs this process's ImageMagick."""
    with new_image_reader(_DENIED_CODER) as probe:
        try:
            probe.read(blob=_DENIED_SAMPLE)
        except exceptions.PolicyError:
            pass
        else:
            raise RuntimeError(f"ImageMagick policy not in force: the {_DENIED_CODER} coder was not denied.")
    if limits["thread"] != 1:
        raise RuntimeError("ImageMagick policy not in force: the thread limit is not the project's.")


assert_policy_in_force()
use_own_cache_folder()
atexit.register(remove_own_cache_folder)
