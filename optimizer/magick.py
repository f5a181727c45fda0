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
from collections.abc import Callable
from pathlib import Path

import numpy as np

from optimizer.pixels import Pixels
from smolpix.folders import own_folder

POLICY_DIR = Path(__file__).resolve().parent
SRGB_PROFILE = (POLICY_DIR / "sRGB.icc").read_bytes()  # LittleCMS's built-in sRGB, see README

if "wand.api" in sys.modules and os.environ.get("MAGICK_CONFIGURE_PATH", "").split(os.pathsep)[0] != str(POLICY_DIR):
    raise RuntimeError("Wand was imported before optimizer.magick: ImageMagick started without the project policy.")
_others = [path for path in os.environ.get("MAGICK_CONFIGURE_PATH", "").split(os.pathsep) if path != str(POLICY_DIR)]
os.environ["MAGICK_CONFIGURE_PATH"] = os.pathsep.join([str(POLICY_DIR), *filter(None, _others)])

from wand import exceptions  # noqa: E402
from wand import image as wand_image  # noqa: E402
from wand.api import libmagick, library  # noqa: E402
from wand.color import Color  # noqa: E402
from wand.drawing import Drawing  # noqa: E402
from wand.resource import limits  # noqa: E402

__all__ = [
    "LINEAR_GREY_COLORSPACE",
    "SRGB_PROFILE",
    "Color",
    "Drawing",
    "Image",
    "caches_in_use",
    "convert_to_srgb_profile",
    "exceptions",
    "holds_pixels",
    "library",
    "limits",
    "new_image_reader",
    "opaque",
    "read_problem",
    "remove_own_cache_folder",
    "replace_rows",
    "rows_of",
    "use_own_cache_folder",
]

# Wand's `profiles[...] = ...` only attaches a profile; converting pixels needs MagickProfileImage.
library.MagickProfileImage.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t)
library.MagickProfileImage.restype = ctypes.c_bool

# ImageMagick 6.9.10's linear grey colourspace (a PNG with a gAMA of 1.0), named as Image.colorspace
# names a value beyond Wand's table.
LINEAR_GREY_COLORSPACE = "unlisted-35"

# Where every process's own folder for ImageMagick's disk caches lives (see use_own_cache_folder).
CACHE_ROOT = Path(tempfile.gettempdir()) / "smolpix-imagemagick"

# What `read_problem` needs beyond Wand's declarations.
library.GetImageFromMagickWand.argtypes = (ctypes.c_void_p,)
library.GetImageFromMagickWand.restype = ctypes.c_void_p
libmagick.GetImageException.argtypes = (ctypes.c_void_p, ctypes.c_void_p)
libmagick.GetImageException.restype = None
# And `holds_pixels`: MagickCore's CacheType, whose first value is UndefinedCache.
libmagick.GetImagePixelCacheType.argtypes = (ctypes.c_void_p,)
libmagick.GetImagePixelCacheType.restype = ctypes.c_int
_UNDEFINED_CACHE = 0
# And `rows_of`, `replace_rows`: 8-bit samples; `samples_of`, `replace_samples`: 16-bit ones.
_CHAR_PIXEL = wand_image.STORAGE_TYPES.index("char")
_SHORT_PIXEL = wand_image.STORAGE_TYPES.index("short")
# And `opaque`.
libmagick.IsOpaqueImage.argtypes = (ctypes.c_void_p, ctypes.c_void_p)
libmagick.IsOpaqueImage.restype = ctypes.c_bool


def _enum_property(wand_property: property, read_value: Callable[[int], int], names: tuple[str, ...]) -> property:
    """Wand's enum property, except that a value missing from Wand's table reads as
    "unlisted-<value>" instead of raising IndexError: ImageMagick adds values (6.9.10's linear
    grey colourspace, 35, which PNGs with a gAMA of 1.0 get, is beyond Wand 0.7's table)."""

    def read(image: "Image") -> str:
        value = read_value(image.wand)
        return names[value] if 0 <= value < len(names) else f"unlisted-{value}"

    return property(read, wand_property.fset, doc=wand_property.__doc__)


class Image(wand_image.Image):
    """Wand's Image with every enum property that looks its value up in a table made safe (Wand
    already guards `orientation` and `dispose`)."""

    colorspace = _enum_property(
        wand_image.Image.colorspace, library.MagickGetImageColorspace, wand_image.COLORSPACE_TYPES
    )
    compression = _enum_property(
        wand_image.Image.compression, library.MagickGetImageCompression, wand_image.COMPRESSION_TYPES
    )
    gravity = _enum_property(wand_image.Image.gravity, library.MagickGetGravity, wand_image.GRAVITY_TYPES)
    interlace_scheme = _enum_property(
        wand_image.Image.interlace_scheme, library.MagickGetImageInterlaceScheme, wand_image.INTERLACE_TYPES
    )
    rendering_intent = _enum_property(
        wand_image.Image.rendering_intent, library.MagickGetImageRenderingIntent, wand_image.RENDERING_INTENT_TYPES
    )
    type = _enum_property(wand_image.Image.type, library.MagickGetImageType, wand_image.IMAGE_TYPES)
    units = _enum_property(wand_image.Image.units, library.MagickGetImageUnits, wand_image.UNIT_TYPES)


class _ExceptionInfo(ctypes.Structure):
    """The leading fields of MagickCore's ExceptionInfo (the same in ImageMagick 6 and 7)."""

    _fields_ = (
        ("severity", ctypes.c_int),
        ("error_number", ctypes.c_int),
        ("reason", ctypes.c_char_p),
        ("description", ctypes.c_char_p),
    )


def read_problem(image: Image) -> exceptions.WandException | None:
    """The worst problem ImageMagick reported while reading into `image` (a warning too), as
    Wand's exception, and cleared; None if there was none.

    Coders report some problems on the image rather than on the wand, where Wand never looks:
    libjpeg's "Premature end of JPEG file" is a warning on the image, and the grey-filled picture
    would pass for a whole one. Reading the severity here, rather than turning Wand's Python
    warnings into errors, keeps to this image: `warnings` filters are process-wide.
    """
    severity = ctypes.c_int()
    description = library.MagickGetException(image.wand, ctypes.byref(severity))
    worst, message = severity.value, ctypes.string_at(description) if description else b""
    if description:
        library.MagickRelinquishMemory(description)
    library.MagickClearException(image.wand)
    if library.MagickGetNumberImages(image.wand):  # an empty wand would note an error of its own
        info = libmagick.AcquireExceptionInfo()
        libmagick.GetImageException(library.GetImageFromMagickWand(image.wand), info)  # worst, cleared
        details = ctypes.cast(info, ctypes.POINTER(_ExceptionInfo)).contents
        if details.severity > worst:
            worst, message = details.severity, details.reason or b""
        libmagick.DestroyExceptionInfo(info)
    if not worst:
        return None
    fallback = exceptions.BaseWarning if worst < 400 else exceptions.BaseError  # a severity Wand does not list
    return exceptions.TYPE_MAP.get(worst, fallback)(message.decode(errors="replace"))


def holds_pixels(image: Image) -> bool:
    """Whether the image read into `image` has pixels. A coder can give up silently after setting
    the size (ImageMagick 6's WebP coder on a damaged frame of an animation): no error, no warning,
    and no pixel cache, which every later step reads as no bytes at all."""
    return libmagick.GetImagePixelCacheType(library.GetImageFromMagickWand(image.wand)) != _UNDEFINED_CACHE


def opaque(image: Image) -> bool:
    """Whether every pixel of `image` is fully opaque (true of an image without alpha): MagickCore's
    own test, which stops at the first pixel that is not (Wand's channel range reads them all)."""
    info = libmagick.AcquireExceptionInfo()
    try:
        return libmagick.IsOpaqueImage(library.GetImageFromMagickWand(image.wand), info)
    finally:
        libmagick.DestroyExceptionInfo(info)


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
    """Convert the pixels from the image's embedded ICC profile (RGB, CMYK or grey) to sRGB,
    relative colorimetric whatever intent the file names, as Chromium does (for LUT-based
    profiles, CMYK ones above all, perceptual reads other tables)."""
    image.rendering_intent = "relative"
    if not library.MagickProfileImage(image.wand, b"icc", SRGB_PROFILE, len(SRGB_PROFILE)):
        image.raise_exception()


def rows_of(image: Image, top: int, rows: int, *, alpha: bool) -> Pixels:
    """8-bit samples of `rows` rows of the image from row `top` (RGBA if `alpha`, else RGB)."""
    layout = "RGBA" if alpha else "RGB"
    buffer = ctypes.create_string_buffer(image.width * rows * len(layout))
    if not library.MagickExportImagePixels(image.wand, 0, top, image.width, rows, layout.encode(), _CHAR_PIXEL, buffer):
        image.raise_exception()
    return Pixels(data=buffer.raw, width=image.width, height=rows, has_alpha=alpha)


def replace_rows(image: Image, top: int, pixels: Pixels) -> None:
    """Write `pixels` (as wide as the image) over its rows from row `top`, in place."""
    if not library.MagickImportImagePixels(
        image.wand, 0, top, pixels.width, pixels.height, pixels.layout.encode(), _CHAR_PIXEL, pixels.data
    ):
        image.raise_exception()


def samples_of(image: Image, top: int, rows: int) -> np.ndarray:
    """16-bit RGB samples of `rows` rows of the image from row `top`, a pixel a row (N x 3)."""
    samples = np.empty((image.width * rows, 3), np.uint16)
    if not library.MagickExportImagePixels(
        image.wand, 0, top, image.width, rows, b"RGB", _SHORT_PIXEL, samples.ctypes.data_as(ctypes.c_void_p)
    ):
        image.raise_exception()
    return samples


def replace_samples(image: Image, top: int, samples: np.ndarray) -> None:
    """Write 16-bit RGB `samples` (as `samples_of` gives them) over the image's rows from row
    `top`, in place: its alpha stays as it is."""
    samples = np.ascontiguousarray(samples, np.uint16)
    if not library.MagickImportImagePixels(
        image.wand, 0, top, image.width, len(samples) // image.width, b"RGB", _SHORT_PIXEL,
        samples.ctypes.data_as(ctypes.c_void_p),
    ):  # fmt: skip
        image.raise_exception()


def replace_alpha(image: Image, top: int, alpha: np.ndarray) -> None:
    """Write 8-bit `alpha` (rows x the image's width) over the alpha of the image's rows from row
    `top`, in place: its colour stays as it is. The image must have an alpha channel."""
    alpha = np.ascontiguousarray(alpha, np.uint8)
    if not library.MagickImportImagePixels(
        image.wand, 0, top, image.width, len(alpha), b"A", _CHAR_PIXEL, alpha.ctypes.data_as(ctypes.c_void_p)
    ):
        image.raise_exception()


def caches_in_use() -> int:
    """Bytes of pixel cache (heap, memory-mapped and disk) ImageMagick counts as taken now."""
    return sum(limits.resource(kind) for kind in ("memory", "map", "disk"))


def use_own_cache_folder() -> Path:
    """Point this process's disk caches at a folder of its own (CACHE_ROOT/<pid>), and remove the
    folders of processes that are gone. ImageMagick reads MAGICK_TEMPORARY_PATH each time it opens
    a cache file, so this can be called again after a fork, in the child."""
    own = own_folder(CACHE_ROOT)
    os.environ["MAGICK_TEMPORARY_PATH"] = str(own)
    return own


def remove_own_cache_folder() -> None:
    """At the end of a process: whatever ImageMagick still holds goes with it."""
    shutil.rmtree(CACHE_ROOT / str(os.getpid()), ignore_errors=True)


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
