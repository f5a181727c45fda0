"""The one way into ImageMagick: import Wand from here, never directly.

ImageMagick reads its policy once, when the library starts, which happens when Wand is first
imported. This module points MAGICK_CONFIGURE_PATH at the project's `policy.xml` before that
import, then proves the policy is in force (a denied coder must raise and the thread limit must be
ours); a process where that fails refuses to go on, rather than decode images unprotected.
"""

import ctypes
import os
import sys
from pathlib import Path

POLICY_DIR = Path(__file__).resolve().parent
SRGB_PROFILE = (POLICY_DIR / "sRGB.icc").read_bytes()  # LittleCMS's built-in sRGB, see README

if "wand.api" in sys.modules and os.environ.get("MAGICK_CONFIGURE_PATH", "").split(os.pathsep)[0] != str(POLICY_DIR):
    raise RuntimeError("Wand was imported before optimizer.magick: ImageMagick started without the project policy.")
_others = [path for path in os.environ.get("MAGICK_CONFIGURE_PATH", "").split(os.pathsep) if path != str(POLICY_DIR)]
os.environ["MAGICK_CONFIGURE_PATH"] = os.pathsep.join([str(POLICY_DIR), *filter(None, _others)])

from wand import exceptions  # noqa: E402
from wand.api import library  # noqa: E402
from wand.image import Image  # noqa: E402
from wand.resource import limits  # noqa: E402

__all__ = ["SRGB_PROFILE", "Image", "convert_to_srgb_profile", "exceptions", "library", "limits", "new_image_reader"]

# Wand's `profiles[...] = ...` only attaches a profile; converting pixels needs MagickProfileImage.
library.MagickProfileImage.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t)
library.MagickProfileImage.restype = ctypes.c_bool

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
