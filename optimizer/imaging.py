"""ImageMagick building blocks of the pipeline: bytes in, bytes and facts out. No ORM, no network.

    prepare(data, max_width=..., ...)  -> PreparedImage      decoded, oriented, sRGB, 8-bit, resized pixels
    encode(pixels, settings)           -> Encoded            one WebP or AVIF encoding
    decode(data, format)               -> Pixels             an encoding decoded again, for checks

What a source is, from its header alone, is optimizer.probe (sniff, probe), which also reads it
into ImageMagick: every decode names its coder explicitly, so ImageMagick never guesses a format
from the bytes, and runs under the project policy (optimizer.magick). Deciding *which* encoding
to return is not done here: that is optimizer.compression.
"""

import io
import logging
from dataclasses import dataclass

import numpy as np
from PIL import Image as PillowImage

from optimizer.colour import MatrixShaperProfile, matrix_shaper_profile, png_colour_profile, to_srgb
from optimizer.formats import OutputFormat, SourceFormat
from optimizer.magick import (
    Color,
    Image,
    convert_to_srgb_profile,
    exceptions,
    library,
    new_image_reader,
)
from optimizer.pixels import CHUNK_PIXELS, Pixels
from optimizer.probe import (
    ImagingError,
    SourceInfo,
    UnsupportedImage,
    declares_alpha,
    defused,
    png_orientation,
    probe,
    raise_imaging_error,
    read_source,
    shown_size,
)

logger = logging.getLogger(__name__)

# What an encoding may do to a transparent image's alpha and still carry its transparency: stay
# transparent (an encoder that drops alpha returns an opaque image), and change a pixel's alpha by
# at most this much on average (of 255). How the result looks, what its alpha lost included, is
# what smart compression's score measures (on magenta, perceptual.py).
ALPHA_MEAN_TOLERANCE = 2.0
# Large JPEGs are decoded at no less than this multiple of the target size: ImageMagick 6 asks
# libjpeg to scale by 1/floor(source / hint) while decoding (in the DCT, nearly free), and the
# Lanczos resize does the rest. A 5000x3000 photo for 1920 px is then decoded at 2500x1500
# (30 MB of pixel cache instead of 120 MB); with a margin of 2 it would not be scaled at all.
JPEG_SIZE_HINT_MARGIN = 1
RESIZE_FILTER = "lanczos"


class TransparencyLost(Exception):
    """An encoder returned an image without the source's transparency (AVIF on ImageMagick 6)."""


@dataclass(frozen=True)
class PreparedImage:
    """What every encoding starts from: the source decoded, oriented, in sRGB and resized."""

    pixels: Pixels
    source: SourceInfo


@dataclass(frozen=True)
class EncoderSettings:
    """One way to encode: what `encode` hands the encoder besides the pixels.

    `quality` is 1-100; for lossless WebP it is the compression effort (libwebp's meaning).
    `sharp_yuv` uses libwebp's sharper RGB->YUV conversion (lossy WebP: crisper colour edges, a
    few % more bytes at the same quality number and more at the same perceptual score).
    `palette` first reduces the image to at most that many colours (without dithering), which
    WebP lossless then stores as a palette: near-lossless for flat graphics.
    `method` is libwebp's effort, 0-6 (4, its default, is what ImageMagick uses).
    `speed` is libaom's for AVIF, 0-10 (faster is larger at the same quality number).
    `full_chroma` keeps AVIF's colour at full resolution (4:4:4) instead of 4:2:0: coloured text
    and lines stay crisp, at more bytes.
    """

    format: "OutputFormat"
    quality: int
    lossless: bool = False
    sharp_yuv: bool = False
    palette: int = 0
    method: int = 4
    speed: int = 6
    full_chroma: bool = False

    def __str__(self) -> str:
        if self.lossless:
            kind = f"lossless, palette of {self.palette}" if self.palette else "lossless"
        else:
            kind = f"q{self.quality}" + (" sharp YUV" if self.sharp_yuv else "")
        if self.format is OutputFormat.AVIF:
            effort = f" s{self.speed}" + (" 4:4:4" if self.full_chroma else "")
        else:
            effort = f" m{self.method}" if self.method != 4 else ""
        return f"{self.format.value} {kind}{effort}"


@dataclass(frozen=True, repr=False)
class Encoded:
    data: bytes
    settings: EncoderSettings
    # The encoding decoded again, when encoding already had to (to verify transparency).
    decoded: "Pixels | None" = None

    @property
    def format(self) -> OutputFormat:
        return self.settings.format

    @property
    def quality(self) -> int:
        return self.settings.quality

    @property
    def lossless(self) -> bool:
        return self.settings.lossless

    def __repr__(self) -> str:
        return f"Encoded({self.settings}, {len(self.data)} bytes)"


# --- Preparing ----------------------------------------------------------------------------


def _on_gif_screen(image: Image) -> None:
    """Place a GIF's first frame on its logical screen; browsers leave the rest transparent."""
    width, height = shown_size(image, SourceFormat.GIF)
    _, _, left, top = image.page
    if (width, height) != (image.width, image.height):
        image.background_color = Color("transparent")
        image.extent(width, height, x=-left, y=-top)
    image.reset_coords()


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
    if source.format in (SourceFormat.AVIF, SourceFormat.HEIC) and declares_alpha(data):
        # ImageMagick 6's HEIC coder reads colour planes only: the result would silently be opaque.
        raise UnsupportedImage("Transparent AVIF and HEIC images are not supported yet; send a PNG or WebP.")
    width, height = fit_width(source.width, source.height, max_width)
    with new_image_reader(source.format.value) as image:
        size_hint = jpeg_size_hint(source, width, height)
        if size_hint:
            image.options["jpeg:size"] = size_hint
        read_source(image, defused(source.format, data))
        try:
            if source.format is SourceFormat.GIF:
                _on_gif_screen(image)
            if source.format is SourceFormat.PNG:
                # Browsers orient a PNG by its eXIf chunk alone (ImageMagick by an orNT chunk of its own).
                image.orientation = png_orientation(data) or "top_left"
            # Without a resize, a matrix/TRC profile is applied last, in numpy on 8-bit samples
            # (~7x cheaper); a resize must average in sRGB (the source's curve differs most in dark
            # detail), and 16-bit samples keep their precision through LittleCMS.
            resized = (image.width, image.height) not in ((width, height), (height, width))
            implied = png_colour_profile(data) if source.format is SourceFormat.PNG else None
            deferred_profile = _convert_to_srgb(image, may_defer=not resized and image.depth <= 8, implied=implied)
            image.auto_orient()
            if (image.width, image.height) != (width, height):
                image.resize(width, height, filter=RESIZE_FILTER)
            image.strip()
            image.depth = 8
            pixels = _pixels_of(image)
        except exceptions.WandException as error:
            raise_imaging_error(error, "to process a source")
    if deferred_profile:
        pixels = to_srgb(pixels, deferred_profile)
    return PreparedImage(pixels=pixels, source=source)


def _convert_to_srgb(image: Image, *, may_defer: bool, implied: bytes | None = None) -> "MatrixShaperProfile | None":
    """Convert the image to sRGB through its ICC profile, or the `implied` one (a PNG's gAMA and
    cHRM), except, when `may_defer`, from a matrix/TRC RGB profile (other than sRGB): that one is
    returned, for `to_srgb` to apply to the final 8-bit pixels."""
    data = image.profiles["icc"]  # None when there is none (`in` is always true for Wand's profiles)
    if implied and not data:
        image.profiles["icc"] = data = implied
    profile = matrix_shaper_profile(data) if data else None
    if profile and profile.is_srgb:
        data = None  # converting would change nothing
    elif may_defer and profile and image.colorspace == "srgb":
        return profile
    if data:
        try:
            convert_to_srgb_profile(image)
        except exceptions.WandException as error:
            logger.info("ignoring an unusable embedded ICC profile: %s", error)
    if image.colorspace != "srgb":
        image.transform_colorspace("srgb")
    return None


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


def encode(pixels: Pixels, settings: EncoderSettings) -> Encoded:
    """Encode `pixels` as `settings` say. AVIF has no lossless mode on this stack (ValueError).

    Raises TransparencyLost when the encoding, decoded again, does not carry the alpha of
    `pixels` (ALPHA_MEAN_TOLERANCE): a transparent image is never returned opaque. That decode is
    kept in `Encoded.decoded`, for scoring without decoding twice.
    """
    if not 1 <= settings.quality <= 100:
        raise ValueError(f"quality must be 1-100, not {settings.quality}")
    if settings.format is OutputFormat.AVIF:
        if settings.lossless:
            raise ValueError("Lossless encoding is only available for WebP.")
        data = _encode_avif(pixels, settings)
    else:
        data = _encode_webp(pixels, settings)
    if not pixels.has_alpha:
        return Encoded(data=data, settings=settings)
    try:
        decoded = decode(data, settings.format)
    except ImagingError as error:
        raise TransparencyLost(f"{settings.format} output could not be decoded again") from error
    _check_transparency(pixels, decoded, settings.format)
    return Encoded(data=data, settings=settings, decoded=decoded)


def _encode_webp(pixels: Pixels, settings: EncoderSettings) -> bytes:
    with _image_of(pixels) as image:
        if settings.palette:
            image.quantize(settings.palette, colorspace_type="srgb", treedepth=0, dither=False, measure_error=False)
        image.format = "WEBP"
        image.compression_quality = settings.quality
        # Explicit both ways: ImageMagick 6 silently switches to lossless at quality 100.
        image.options["webp:lossless"] = "true" if settings.lossless else "false"
        image.options["webp:alpha-quality"] = "100"
        image.options["webp:method"] = str(settings.method)
        if settings.sharp_yuv:
            # An integer: ImageMagick 6 parses "true" as 0 and silently ignores it.
            image.options["webp:use-sharp-yuv"] = "1"
        image.strip()
        return image.make_blob()


def _encode_avif(pixels: Pixels, settings: EncoderSettings) -> bytes:
    """AVIF through libavif (Pillow's binding), from the pixels ImageMagick produced: never from
    customer bytes. ImageMagick 6's own writer (through libheif) runs libaom at its slowest
    useful speed, drops alpha and point-samples the chroma of each 2x2 block; libavif averages it
    and keeps alpha, at the colour's quality (lossy: a transparent image is scored composited, so
    what the alpha plane loses is measured with the rest)."""
    image = PillowImage.frombuffer(
        pixels.layout, (pixels.width, pixels.height), pixels.data, "raw", pixels.layout, 0, 1
    )
    output = io.BytesIO()
    image.save(
        output,
        "AVIF",
        quality=settings.quality,
        speed=settings.speed,
        subsampling="4:4:4" if settings.full_chroma else "4:2:0",
        codec="aom",
        max_threads=1,  # workers scale by processes, as ImageMagick does (policy.xml)
        autotiling=False,  # one tile: the fewest bytes; decoders need no parallelism at these sizes
    )
    return output.getvalue()


def decode(data: bytes, format: OutputFormat) -> Pixels:
    """Decode one of our own encodings back to 8-bit sRGB pixels (alpha kept if it has any), by
    libwebp or libavif through Pillow: the bytes are ours, not a customer's, and these decoders
    are several times faster than ImageMagick 6's (which reads no AVIF alpha at all)."""
    with PillowImage.open(io.BytesIO(data), formats=[format.coder]) as image:
        image.load()
        transparent = image.mode == "RGBA" and image.getchannel("A").getextrema()[0] < 255
        layout = "RGBA" if transparent else "RGB"
        return Pixels(
            data=image.convert(layout).tobytes(), width=image.width, height=image.height, has_alpha=transparent
        )


def _check_transparency(pixels: Pixels, decoded: Pixels, format: OutputFormat) -> None:
    if (decoded.width, decoded.height) != (pixels.width, pixels.height):
        raise TransparencyLost(f"{format} changed the size to {decoded.width}x{decoded.height}")
    if not decoded.has_alpha:
        raise TransparencyLost(f"{format} returned the image opaque")
    difference = _mean_alpha_difference(pixels, decoded)
    if difference > ALPHA_MEAN_TOLERANCE:
        raise TransparencyLost(f"{format} changed alpha by {difference:.1f} on average")


def _mean_alpha_difference(a: Pixels, b: Pixels) -> float:
    """Compared a chunk at a time: full-size working copies of a large image's alpha would cost
    the worker several bytes a pixel."""
    total = 0
    for start in range(0, a.width * a.height, CHUNK_PIXELS):
        chunk = slice(start, start + CHUNK_PIXELS)
        total += int(np.abs(a.alpha_samples()[chunk].astype(np.int16) - b.alpha_samples()[chunk]).sum())
    return total / (a.width * a.height)
