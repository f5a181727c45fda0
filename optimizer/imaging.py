"""ImageMagick building blocks of the pipeline: bytes in, bytes and facts out. No ORM, no network.

    sniff(data)                        -> SourceFormat       what the magic bytes say, or UnsupportedImage
    probe(data, max_pixels=...)        -> SourceInfo         dimensions from the header only (ping)
    prepare(data, max_width=..., ...)  -> PreparedImage      decoded, oriented, sRGB, 8-bit, resized pixels
    encode(pixels, format, quality=..., lossless=...) -> Encoded   one WebP or AVIF encoding
    decode(data, format)               -> Pixels             an encoding decoded again, for checks

Every decode names its coder explicitly, so ImageMagick never guesses a format from the bytes, and
runs under the project policy (optimizer.magick). Deciding *which* encoding to return is not done
here: that is optimizer.compression.
"""

import logging
import operator
import struct
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, NoReturn

from optimizer.magick import Image, convert_to_srgb_profile, exceptions, library, limits, new_image_reader

logger = logging.getLogger(__name__)

# The largest difference (of 255) an encoding may make to any pixel's alpha and still count as
# carrying the image's transparency faithfully.
ALPHA_TOLERANCE = 3
# Large JPEGs are decoded at no less than this multiple of the target size (libjpeg scales by
# 1/2, 1/4 or 1/8 while decoding), leaving the final resize some detail to work with.
JPEG_SIZE_HINT_MARGIN = 2
RESIZE_FILTER = "lanczos"


class ImagingError(Exception):
    """A problem with the image itself; the message is safe to show to the customer."""


class UnsupportedImage(ImagingError):
    pass


class ImageTooLarge(ImagingError):
    pass


class TransparencyLost(Exception):
    """An encoder returned an image without the source's transparency (AVIF on ImageMagick 6)."""


class SourceFormat(StrEnum):
    """Accepted source formats; each value is the ImageMagick coder that decodes it."""

    JPEG = "JPEG"
    PNG = "PNG"
    GIF = "GIF"
    WEBP = "WEBP"
    AVIF = "AVIF"
    HEIC = "HEIC"
    TIFF = "TIFF"
    BMP = "BMP"


class OutputFormat(StrEnum):
    WEBP = "webp"
    AVIF = "avif"

    @property
    def content_type(self) -> str:
        return f"image/{self.value}"

    @property
    def coder(self) -> str:
        return self.value.upper()

    @classmethod
    def of_source(cls, source: SourceFormat) -> "OutputFormat | None":
        """The output format a source already is, if any."""
        return {SourceFormat.WEBP: cls.WEBP, SourceFormat.AVIF: cls.AVIF}.get(source)


@dataclass(frozen=True)
class SourceInfo:
    format: SourceFormat
    width: int  # as displayed, i.e. after EXIF orientation
    height: int
    stored_width: int  # as stored in the file
    stored_height: int


@dataclass(frozen=True, repr=False)
class Pixels:
    """8-bit sRGB samples, row by row, without metadata: `RGBA` when any pixel is not fully
    opaque, else `RGB`."""

    data: bytes
    width: int
    height: int
    has_alpha: bool

    @property
    def layout(self) -> Literal["RGB", "RGBA"]:
        return "RGBA" if self.has_alpha else "RGB"

    def alpha(self) -> bytes:
        """The alpha sample of every pixel (255 everywhere for opaque images)."""
        return self.data[3::4] if self.has_alpha else b"\xff" * (self.width * self.height)

    def __repr__(self) -> str:
        return f"Pixels({self.layout} {self.width}x{self.height})"


@dataclass(frozen=True)
class PreparedImage:
    """What every encoding starts from: the source decoded, oriented, in sRGB and resized."""

    pixels: Pixels
    source: SourceInfo


@dataclass(frozen=True, repr=False)
class Encoded:
    data: bytes
    format: OutputFormat
    quality: int
    lossless: bool

    def __repr__(self) -> str:
        return f"Encoded({self.format} q{self.quality}{' lossless' if self.lossless else ''}, {len(self.data)} bytes)"


# --- Sniffing -----------------------------------------------------------------------------

_AVIF_BRANDS = {b"avif", b"avis"}
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_BMP_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}
# How AVIF and HEIC files declare an alpha plane (an auxiliary image of this type).
_HEIF_ALPHA_MARKERS = (b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha", b"urn:mpeg:hevc:2015:auxid:1")


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


def _raise_imaging_error(error: exceptions.WandException, what: str) -> NoReturn:
    logger.info("ImageMagick refused %s: %s", what, error)
    if isinstance(error, exceptions.ResourceLimitError):
        raise ImageTooLarge("The image is too large to process.") from error
    raise UnsupportedImage("The image could not be decoded; it may be damaged or not what its type says.") from error


def _read(image: Image, data: bytes, *, ping: bool = False) -> None:
    try:
        if ping:
            if not library.MagickPingImageBlob(image.wand, data, len(data)):
                image.raise_exception()
        else:
            image.read(blob=data)
    except exceptions.WandException as error:
        _raise_imaging_error(error, "a source")
    if not (image.width and image.height):
        # Some coders report failure as an empty image rather than an exception.
        raise UnsupportedImage("The image could not be decoded; it may be damaged or not what its type says.")


def probe(data: bytes, *, max_pixels: int) -> SourceInfo:
    """Sniff the format and read the dimensions from the header alone; refuse images above
    `max_pixels`, or wider or taller than ImageMagick's limits, before any pixel is decoded."""
    source_format = sniff(data)
    with new_image_reader(source_format.value) as image:
        try:
            _read(image, data, ping=True)
        except UnsupportedImage:
            # libpng refuses an image beyond the width/height limits without saying why.
            if source_format is SourceFormat.PNG and data[12:16] == b"IHDR":
                _check_size(*struct.unpack(">II", data[16:24]), max_pixels=max_pixels)
            raise
        stored_width, stored_height = image.width, image.height
        turned = image.orientation in ("left_top", "right_top", "right_bottom", "left_bottom")
    _check_size(stored_width, stored_height, max_pixels=max_pixels)
    width, height = (stored_height, stored_width) if turned else (stored_width, stored_height)
    return SourceInfo(
        format=source_format, width=width, height=height, stored_width=stored_width, stored_height=stored_height
    )


def _check_size(width: int, height: int, *, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageTooLarge(f"The image is {width}x{height} pixels; the limit is {max_pixels:,} pixels in total.")
    if width > limits["width"] or height > limits["height"]:
        raise ImageTooLarge(
            f"The image is {width}x{height} pixels; the limit is {limits['width']} pixels in either direction."
        )


def _declares_alpha(data: bytes) -> bool:
    """Whether an AVIF or HEIC file's metadata (near its start) declares an alpha plane."""
    head = data[:65536]
    return any(marker in head for marker in _HEIF_ALPHA_MARKERS)


def fit_width(width: int, height: int, max_width: int) -> tuple[int, int]:
    """The size that fits `max_width` keeping the aspect ratio; never larger than the original."""
    if width <= max_width:
        return width, height
    return max_width, max(1, round(height * max_width / width))


def jpeg_size_hint(source: SourceInfo, width: int, height: int) -> str | None:
    """For a JPEG much larger than the target `width` x `height`, the size (as stored, before
    orientation) libjpeg may decode it down to: memory and time then follow the target, not the
    source."""
    if source.format is not SourceFormat.JPEG or width * JPEG_SIZE_HINT_MARGIN >= source.width:
        return None
    hint_width, hint_height = width * JPEG_SIZE_HINT_MARGIN, height * JPEG_SIZE_HINT_MARGIN
    if (source.width, source.height) != (source.stored_width, source.stored_height):
        hint_width, hint_height = hint_height, hint_width
    return f"{hint_width}x{hint_height}"


def prepare(data: bytes, *, max_width: int, max_pixels: int) -> PreparedImage:
    """Decode the source (first frame only) into the pixels every encoding starts from: EXIF
    orientation applied, converted to sRGB (through its ICC profile when it has one, CMYK too),
    8 bits per sample, metadata gone, and resized down to `max_width` with a Lanczos filter."""
    source = probe(data, max_pixels=max_pixels)
    if source.format in (SourceFormat.AVIF, SourceFormat.HEIC) and _declares_alpha(data):
        # ImageMagick 6's HEIC coder reads colour planes only: the result would silently be opaque.
        raise UnsupportedImage("Transparent AVIF and HEIC images are not supported yet; send a PNG or WebP.")
    width, height = fit_width(source.width, source.height, max_width)
    with new_image_reader(source.format.value) as image:
        size_hint = jpeg_size_hint(source, width, height)
        if size_hint:
            image.options["jpeg:size"] = size_hint
        _read(image, data)
        try:
            _convert_to_srgb(image)
            image.auto_orient()
            if (image.width, image.height) != (width, height):
                image.resize(width, height, filter=RESIZE_FILTER)
            image.strip()
            image.depth = 8
            pixels = _pixels_of(image)
        except exceptions.WandException as error:
            _raise_imaging_error(error, "to process a source")
    return PreparedImage(pixels=pixels, source=source)


def _convert_to_srgb(image: Image) -> None:
    if "icc" in image.profiles:
        try:
            convert_to_srgb_profile(image)
        except exceptions.WandException as error:
            logger.info("ignoring an unusable embedded ICC profile: %s", error)
    if image.colorspace != "srgb":
        image.transform_colorspace("srgb")


def _pixels_of(image: Image) -> Pixels:
    """Export 8-bit samples, with alpha only when some pixel is not fully opaque."""
    width, height = image.width, image.height
    if image.alpha_channel:
        rgba = image.make_blob("RGBA")
        if rgba[3::4].strip(b"\xff"):
            return Pixels(data=rgba, width=width, height=height, has_alpha=True)
        image.alpha_channel = False
    return Pixels(data=image.make_blob("RGB"), width=width, height=height, has_alpha=False)


# --- Encoding -----------------------------------------------------------------------------


def _image_of(pixels: Pixels) -> Image:
    image = new_image_reader(pixels.layout, first_frame_only=False)
    library.MagickSetSize(image.wand, pixels.width, pixels.height)
    library.MagickSetDepth(image.wand, 8)
    image.read(blob=pixels.data)
    return image


def encode(pixels: Pixels, format: OutputFormat, *, quality: int, lossless: bool = False) -> Encoded:
    """Encode `pixels` as `format`. `quality` is 1-100; for lossless WebP it is the compression
    effort instead (libwebp's meaning). AVIF has no lossless mode on this stack (ValueError).

    Raises TransparencyLost when the encoding, decoded again, does not carry the alpha of
    `pixels` within ALPHA_TOLERANCE: a transparent image is never returned opaque.
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be 1-100, not {quality}")
    if lossless and format is not OutputFormat.WEBP:
        raise ValueError("Lossless encoding is only available for WebP.")
    with _image_of(pixels) as image:
        image.format = format.coder
        image.compression_quality = quality
        if format is OutputFormat.WEBP:
            # Explicit both ways: ImageMagick 6 silently switches to lossless at quality 100.
            image.options["webp:lossless"] = "true" if lossless else "false"
            image.options["webp:alpha-quality"] = "100"
        image.strip()
        data = image.make_blob()
    encoded = Encoded(data=data, format=format, quality=quality, lossless=lossless)
    if pixels.has_alpha:
        _check_transparency(pixels, encoded)
    return encoded


def decode(data: bytes, format: OutputFormat) -> Pixels:
    """Decode one of our own encodings back to 8-bit sRGB pixels (alpha kept if it has any)."""
    with new_image_reader(format.coder) as image:
        _read(image, data)
        if image.colorspace != "srgb":
            image.transform_colorspace("srgb")  # the HEIC coder hands back YCbCr
        image.depth = 8
        return _pixels_of(image)


def _check_transparency(pixels: Pixels, encoded: Encoded) -> None:
    try:
        decoded = decode(encoded.data, encoded.format)
    except ImagingError as error:
        raise TransparencyLost(f"{encoded.format} output could not be decoded again") from error
    if (decoded.width, decoded.height) != (pixels.width, pixels.height):
        raise TransparencyLost(f"{encoded.format} changed the size to {decoded.width}x{decoded.height}")
    expected, actual = pixels.alpha(), decoded.alpha()
    if expected == actual:
        return
    worst = max(map(abs, map(operator.sub, expected, actual)))
    if worst > ALPHA_TOLERANCE:
        raise TransparencyLost(f"{encoded.format} changed alpha by up to {worst}")


def count_colours(pixels: Pixels) -> int:
    """How many distinct colours (alpha included) the image uses."""
    with _image_of(pixels) as image:
        return image.colors
