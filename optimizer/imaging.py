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
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image as PillowImage

from optimizer.formats import OutputFormat, SourceFormat
from optimizer.magick import (
    SRGB_PROFILE,
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
    png_chunks,
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
        pixels = _to_srgb(pixels, deferred_profile)
    return PreparedImage(pixels=pixels, source=source)


def _convert_to_srgb(image: Image, *, may_defer: bool, implied: bytes | None = None) -> "MatrixShaperProfile | None":
    """Convert the image to sRGB through its ICC profile, or the `implied` one (a PNG's gAMA and
    cHRM), except, when `may_defer`, from a matrix/TRC RGB profile (other than sRGB): that one is
    returned, for `_to_srgb` to apply to the final 8-bit pixels."""
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


@dataclass(frozen=True, repr=False)
class MatrixShaperProfile:
    """What LittleCMS uses of an RGB profile made of three primaries and three tone curves
    ("matrix/TRC" or "matrix-shaper"): Adobe RGB, Display P3 and nearly all camera and display
    profiles."""

    colorants: np.ndarray  # 3x3: the (D50) XYZ of the red, green and blue primaries, as columns
    to_linear: np.ndarray  # 3x256 float32: each channel's 8-bit values in linear light

    @property
    def is_srgb(self) -> bool:
        """sRGB itself, within rounding: most camera and editor files carry one ("sRGB
        IEC61966-2.1", "GIMP built-in sRGB"), and converting through it would change nothing."""
        return bool(
            np.abs(self.colorants - _SRGB.colorants).max() <= 0.002
            and np.abs(self.to_linear - _SRGB.to_linear).max() <= 0.002
        )


# Tags LittleCMS prefers to the matrix and tone curves when a profile has them.
_LUT_TAGS = frozenset({b"A2B0", b"A2B1", b"A2B2", b"D2B0", b"D2B1", b"D2B2"})
_CODES = np.arange(256) / 255


def matrix_shaper_profile(profile: bytes) -> MatrixShaperProfile | None:
    """The primaries and tone curves of a matrix/TRC RGB profile; None for any other (LUT-based,
    grey, CMYK, Lab connection space) and for one that cannot be parsed."""
    if profile[16:24] != b"RGB XYZ ":  # the data colour space, then the connection space
        return None
    try:
        tags = {}
        (count,) = struct.unpack_from(">I", profile, 128)
        for index in range(count):
            signature, offset, size = struct.unpack_from(">4sII", profile, 132 + 12 * index)
            tags[signature] = profile[offset : offset + size]
        if tags.keys() & _LUT_TAGS:
            return None
        colorants = [struct.unpack_from(">3i", tags[signature], 8) for signature in (b"rXYZ", b"gXYZ", b"bXYZ")]
        with np.errstate(all="ignore"):  # absurd parameters give inf or nan, refused below
            to_linear = np.array([_tone_curve(tags[signature], _CODES) for signature in (b"rTRC", b"gTRC", b"bTRC")])
    except (KeyError, struct.error, ValueError):
        return None
    if not np.isfinite(to_linear).all():
        return None
    return MatrixShaperProfile(colorants=np.array(colorants).T / 65536, to_linear=to_linear.astype(np.float32))


def _tone_curve(tag: bytes, x: np.ndarray) -> np.ndarray:
    """An ICC tone curve ('curv' table or gamma, 'para' function 0, 3 or 4) at x in [0, 1]."""
    if tag[:4] == b"curv":
        (count,) = struct.unpack_from(">I", tag, 8)
        if count == 0:
            return x
        if count == 1:
            return x ** (struct.unpack_from(">H", tag, 12)[0] / 256)
        table = np.array(struct.unpack_from(f">{count}H", tag, 12)) / 65535
        return np.interp(x, np.linspace(0, 1, count), table)
    if tag[:4] == b"para":
        (function,) = struct.unpack_from(">H", tag, 8)
        arity = {0: 1, 3: 5, 4: 7}[function]  # KeyError for the others: rare, left to ImageMagick
        parameters = [value / 65536 for value in struct.unpack_from(f">{arity}i", tag, 12)]
        g, a, b, c, d, e, f = parameters + [0.0] * (7 - arity)
        if function == 0:
            return x**g
        return np.where(x >= d, np.maximum(a * x + b, 0) ** g + e, c * x + f)
    raise ValueError("unknown tone curve type")


_SRGB = matrix_shaper_profile(SRGB_PROFILE)

# --- PNG colour chunks --------------------------------------------------------------------------

# Chromium reads a gAMA within 5% of 1/2.2, without cHRM, as plain sRGB (Skia, after libpng).
NEUTRAL_PNG_GAMMA = (0.95 / 2.2, 1.05 / 2.2)
_D50 = np.array([0.9642, 1.0, 0.8249])
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def png_colour_profile(data: bytes) -> bytes | None:
    """The ICC profile a PNG's gAMA (and cHRM) chunks stand for, read as Chromium reads them: an
    iCCP or sRGB chunk takes precedence (ImageMagick applies those), cHRM counts only with gAMA,
    and a gAMA near 1/2.2 alone is sRGB. None when the chunks say nothing beyond sRGB.
    ImageMagick 6 ignores gAMA and cHRM, but for marking a gAMA of 1.0 as linear."""
    chunks: dict[bytes, bytes] = {}
    for kind, start, end in png_chunks(data):
        if kind in (b"PLTE", b"IDAT"):
            break  # colour chunks come before these
        chunks.setdefault(kind, data[start + 8 : end - 4])
    if b"iCCP" in chunks or b"sRGB" in chunks or len(chunks.get(b"gAMA", b"")) != 4:
        return None
    gamma = int.from_bytes(chunks[b"gAMA"], "big") / 100_000
    chromaticities = chunks.get(b"cHRM", b"")
    if len(chromaticities) == 32:
        colorants = _colorants(struct.unpack(">8I", chromaticities))
    elif NEUTRAL_PNG_GAMMA[0] < gamma < NEUTRAL_PNG_GAMMA[1]:
        return None
    else:
        colorants = _SRGB.colorants
    if not gamma or colorants is None:
        return None  # as Chromium does with a zero gamma or a cHRM that makes no colour space
    grey = chunks.get(b"IHDR", b"")[9:10] in (b"\0", b"\4")  # colour types 0 and 4
    return _gamma_profile(1 / gamma, None if grey else colorants)


def _colorants(chromaticities: tuple[int, ...]) -> np.ndarray | None:
    """The D50 XYZ of the primaries a cHRM chunk names (white, red, green, blue; each x and y
    times 100,000), as columns, Bradford-adapted as ICC profiles are; None if they make no
    colour space an ICC profile can hold."""
    xy = np.array(chromaticities, dtype=float).reshape(4, 2) / 100_000
    if (xy[:, 1] <= 0).any():
        return None
    white, *primaries = (np.array([x / y, 1.0, (1 - x - y) / y]) for x, y in xy)
    primaries = np.column_stack(primaries)
    if abs(np.linalg.det(primaries)) < 1e-9:
        return None
    to_xyz = primaries * np.linalg.solve(primaries, white)  # scaled so that R = G = B = 1 is the white
    adaptation = np.linalg.inv(_BRADFORD) @ np.diag(_BRADFORD @ _D50 / (_BRADFORD @ white)) @ _BRADFORD
    colorants = adaptation @ to_xyz
    return colorants if np.isfinite(colorants).all() and np.abs(colorants).max() < 32768 else None  # s15Fixed16


def _gamma_profile(exponent: float, colorants: np.ndarray | None) -> bytes | None:
    """A minimal ICC v2 display profile: samples decoded as x ** exponent, through `colorants`
    (3x3, D50, as columns) or, without them, grey. None for an exponent a profile cannot hold."""
    step = round(exponent * 256)  # a one-entry curve holds the exponent as u8Fixed8
    if not 0 < step < 65536:
        return None

    def xyz(values: np.ndarray) -> bytes:
        return b"XYZ \0\0\0\0" + struct.pack(">3i", *(round(value * 65536) for value in values))

    curve = b"curv\0\0\0\0" + struct.pack(">IH2x", 1, step)
    tags = {b"wtpt": xyz(_D50)}
    if colorants is None:
        tags[b"kTRC"] = curve
    else:
        tags |= dict(zip((b"rXYZ", b"gXYZ", b"bXYZ"), map(xyz, colorants.T), strict=True))
        tags |= {b"rTRC": curve, b"gTRC": curve, b"bTRC": curve}
    table, body = b"", b""
    for name, tag in tags.items():
        table += struct.pack(">4sII", name, 128 + 4 + 12 * len(tags) + len(body), len(tag))
        body += tag
    size = 128 + 4 + len(table) + len(body)
    colour_space = b"GRAY" if colorants is None else b"RGB "
    header = struct.pack(">I4sI4s4s4s12s4s24xI", size, b"", 0x02100000, b"mntr", colour_space, b"XYZ ", b"", b"acsp", 0)
    return (header + xyz(_D50)[8:]).ljust(128, b"\0") + struct.pack(">I", len(tags)) + table + body


def _srgb_lut(steps: int) -> np.ndarray:
    """Linear light in `steps` even steps from 0 to 1, encoded as 8-bit sRGB. Near black one
    8-bit level spans 1/3300 of linear light, so the steps must be finer than that."""
    linear = np.linspace(0, 1, steps)
    encoded = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.rint(encoded * 255).astype(np.uint8)


_SRGB_STEPS = 65536
_LINEAR_TO_SRGB = _srgb_lut(_SRGB_STEPS)


def _to_srgb(pixels: Pixels, profile: MatrixShaperProfile) -> Pixels:
    """`pixels` read through `profile`, converted to sRGB the way LittleCMS converts between
    matrix/TRC profiles (relative colorimetric, out-of-gamut colours clipped), alpha untouched:
    ~30 ns a pixel, where ImageMagick 6 takes ~200."""
    to_srgb = (np.linalg.inv(_SRGB.colorants) @ profile.colorants).T.astype(np.float32)
    samples = np.frombuffer(pixels.data, np.uint8).reshape(-1, 4 if pixels.has_alpha else 3)
    converted = samples.copy()
    channels = np.arange(3)
    for start in range(0, len(samples), CHUNK_PIXELS):
        linear = profile.to_linear[channels, samples[start : start + CHUNK_PIXELS, :3]] @ to_srgb
        steps = np.clip(linear * (_SRGB_STEPS - 1) + 0.5, 0, _SRGB_STEPS - 1).astype(np.uint16)
        converted[start : start + CHUNK_PIXELS, :3] = _LINEAR_TO_SRGB[steps]
    return Pixels(data=converted.tobytes(), width=pixels.width, height=pixels.height, has_alpha=pixels.has_alpha)


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
