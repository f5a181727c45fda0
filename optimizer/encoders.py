"""The encoders and decoders of our outputs: pixels in, one WebP or AVIF encoding out (encode),
and an encoding decoded again (decode), for the transparency check and the perceptual score.
WebP through ImageMagick, AVIF through libavif (imagecodecs' binding, Pillow's for transparent
images but those whose alpha is to stay exact); never from customer bytes. Decoded again by
libwebp (OpenCV's binding) and libavif (imagecodecs'): our own bytes only.

    encode(pixels, settings)           -> Encoded            one WebP or AVIF encoding
    decode(data, format)               -> Pixels             an encoding decoded again, for checks
"""

import io
from dataclasses import dataclass

import cv2
import imagecodecs
import numpy as np
from PIL import Image as PillowImage

from optimizer.formats import OutputFormat
from optimizer.magick import Image, library, new_image_reader
from optimizer.pixels import CHUNK_PIXELS, Pixels
from optimizer.probe import ImagingError

# What an encoding may do to a transparent image's alpha and still carry its transparency: stay
# transparent (an encoder that drops alpha returns an opaque image), and change a pixel's alpha by
# at most this much on average (of 255). How the result looks, what its alpha lost included, is
# what smart compression's score measures (on magenta, perceptual.py).
ALPHA_MEAN_TOLERANCE = 2.0
# libaom's threads for one AVIF encode. At speed 9 its row-based multithreading gives the same bytes
# as one thread (tested; at speed 7 a hair different), in ~0.7x the time at 1-3 megapixels: a smart
# search runs its trials one after another, and its second core (which scores share too,
# optimizer.ssimulacra2) is often free meanwhile.
AVIF_THREADS = 2


class TransparencyLost(Exception):
    """An encoder returned an image without the source's transparency (AVIF on ImageMagick 6)."""


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
    `exact_alpha` keeps a transparent AVIF's alpha lossless instead of at the colour's quality (at
    low qualities that can lose a hard-edged or noisy alpha: optimizer.choice.encode_if_faithful).
    """

    format: "OutputFormat"
    quality: int
    lossless: bool = False
    sharp_yuv: bool = False
    palette: int = 0
    method: int = 4
    speed: int = 6
    full_chroma: bool = False
    exact_alpha: bool = False

    def __str__(self) -> str:
        if self.lossless:
            kind = f"lossless, palette of {self.palette}" if self.palette else "lossless"
        else:
            kind = f"q{self.quality}" + (" sharp YUV" if self.sharp_yuv else "")
        if self.format is OutputFormat.AVIF:
            effort = f" s{self.speed}" + (" 4:4:4" if self.full_chroma else "")
            effort += " exact alpha" if self.exact_alpha else ""
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
        """Whether it holds the pixels themselves: a palette (quantized first) does not."""
        return self.settings.lossless and not self.settings.palette

    def __repr__(self) -> str:
        return f"Encoded({self.settings}, {len(self.data)} bytes)"


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
    """AVIF through libavif, from the pixels ImageMagick produced: never from customer bytes.
    ImageMagick 6's own writer (through libheif) runs libaom at its slowest useful speed, drops
    alpha and point-samples the chroma of each 2x2 block; libavif averages it. Opaque images
    through imagecodecs' binding, whose libavif is built with libyuv (Pillow's is not): Pillow's
    bytes (or up to 7% fewer at high levels) in ~0.6x the time (40 against 70 ms at 1.8 MP).
    Transparent ones through Pillow's, which encodes the alpha at the colour's quality
    (imagecodecs' keeps it lossless: 1.1-11x the bytes at the same score on the corpus'
    transparent images), unless `exact_alpha` asks for just that; the image is scored composited,
    so what its alpha loses is measured with the rest. One tile either way: the fewest bytes;
    decoders need no parallelism at these sizes."""
    if pixels.has_alpha and not settings.exact_alpha:
        return _encode_transparent_avif(pixels, settings)
    samples = np.frombuffer(pixels.data, np.uint8).reshape(pixels.height, pixels.width, len(pixels.layout))
    return imagecodecs.avif_encode(
        _hidden_colour_filled(samples) if pixels.has_alpha else samples,
        settings.quality,
        speed=settings.speed,
        pixelformat="444" if settings.full_chroma else "420",
        codec="aom",
        primaries=imagecodecs.AVIF.COLOR_PRIMARIES.BT709,  # sRGB's (its default: unspecified)
        transfer=imagecodecs.AVIF.TRANSFER_CHARACTERISTICS.SRGB,
        numthreads=AVIF_THREADS,
    )


def _encode_transparent_avif(pixels: Pixels, settings: EncoderSettings) -> bytes:
    samples = np.frombuffer(pixels.data, np.uint8).reshape(pixels.height, pixels.width, 4)
    image = PillowImage.fromarray(_hidden_colour_filled(samples))
    output = io.BytesIO()
    image.save(
        output,
        "AVIF",
        quality=settings.quality,
        speed=settings.speed,
        subsampling="4:4:4" if settings.full_chroma else "4:2:0",
        codec="aom",
        max_threads=AVIF_THREADS,
        autotiling=False,
    )
    return output.getvalue()


# The colour under a fully transparent pixel: the visible pixels' of its block of this size, else
# of the blocks near it (as far as this many blocks away: past the largest transforms of AVIF's
# colour), else of the nearest coarser block that has any.
HIDDEN_COLOUR_BLOCK = 4
HIDDEN_COLOUR_REACH = 8


def _hidden_colour_filled(samples: np.ndarray) -> np.ndarray:
    """RGBA `samples` (a copy, if any pixel is hidden) where each fully transparent pixel takes the
    colour of the visible pixels near it: invisible either way, but AVIF's 4:2:0 chroma and its
    transforms no longer carry the colour hidden under a transparent area into the visible edge
    beside it (a magenta fringe round a white shape: up to 66 levels off). libwebp cleans
    transparent areas itself."""
    hidden = (samples[..., 3] == 0).view(np.uint8)  # a mask as OpenCV takes them
    if not hidden.any():
        return samples
    filled = samples.copy()
    block = HIDDEN_COLOUR_BLOCK
    height, width = hidden.shape
    rows, columns = -(-height // block), -(-width // block)
    # Per block, a band of blocks at a time: the means of colour times alpha (/255) and of alpha.
    means = np.empty((rows, columns, 4), np.float32)
    band_rows = max(1, CHUNK_PIXELS // (block * block * columns))
    for first in range(0, rows, band_rows):
        band = filled[first * block : (first + band_rows) * block]
        padded = cv2.copyMakeBorder(band, 0, -len(band) % block, 0, -width % block, cv2.BORDER_CONSTANT, value=0)
        premultiplied = cv2.cvtColor(padded, cv2.COLOR_RGBA2mRGBA)
        means[first : first + band_rows] = cv2.resize(
            premultiplied, (columns, len(padded) // block), interpolation=cv2.INTER_AREA
        )
    colour = np.zeros((rows, columns, 4), np.uint8)  # alpha 0, as under the pixels it is written to
    colour[..., :3] = _block_colours(means[..., :3] * 255, means[..., 3])
    for first in range(0, rows, band_rows):
        band = filled[first * block : (first + band_rows) * block]
        blocks = colour[first : first + band_rows]
        near = cv2.resize(blocks, (columns * block, len(blocks) * block), interpolation=cv2.INTER_NEAREST)
        cv2.copyTo(near[: len(band), :width], hidden[first * block : first * block + len(band)], band)
    return filled


def _block_colours(weighted: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Each block's alpha-weighted mean colour (`weighted` / `weight`); for a block without visible
    pixels the mean of its neighbours that have a colour, spread HIDDEN_COLOUR_REACH times, and
    beyond that _coarser_colours'."""
    known = weight > 0
    colour = np.divide(weighted, weight[..., None], out=np.zeros_like(weighted), where=known[..., None])
    for _ in range(HIDDEN_COLOUR_REACH):
        # Unknown blocks hold 0: the sums and counts are of the known neighbours only.
        sums = cv2.boxFilter(colour, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
        counts = cv2.boxFilter(
            known.view(np.uint8), cv2.CV_32F, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT
        )
        reached = (counts > 0) & ~known
        if not reached.any():
            break
        colour[reached] = sums[reached] / counts[reached][:, None]
        known |= reached
    if not known.all():
        colour = np.where(known[..., None], colour, _coarser_colours(colour, known.astype(np.float32)))
    return np.clip(colour.round(), 0, 255).astype(np.uint8)  # the means were rounded: a hair over 255 may come


def _coarser_colours(colour: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """For each block, the mean colour (weighted by `weight`) of the smallest block of 2x2, 4x4...
    of them that has any weight (of an image without any: black)."""
    rows, columns = weight.shape
    if rows == columns == 1:
        return colour
    pad = ((0, rows % 2), (0, columns % 2))
    half = (-(-rows // 2), 2, -(-columns // 2), 2)
    weight_sum = np.pad(weight, pad).reshape(half).sum(axis=(1, 3))
    weighted_sum = np.pad(colour * weight[..., None], (*pad, (0, 0))).reshape(*half, 3).sum(axis=(1, 3))
    mean = np.divide(
        weighted_sum, weight_sum[..., None], out=np.zeros_like(weighted_sum), where=weight_sum[..., None] > 0
    )
    if (weight_sum == 0).any():
        mean = np.where(weight_sum[..., None] > 0, mean, _coarser_colours(mean, weight_sum))
    return np.repeat(np.repeat(mean, 2, 0), 2, 1)[:rows, :columns]


def decode(data: bytes, format: OutputFormat) -> Pixels:
    """Decode one of our own encodings back to 8-bit sRGB pixels (alpha kept if it has any): the
    bytes are ours, not a customer's, so faster decoders than ImageMagick 6's (which reads no AVIF
    alpha at all) may read them. WebP by libwebp's plain decoder through OpenCV: half the time of
    Pillow's, which goes through libwebp's animation decoder (~25 against ~50 ms at 1.8 MP, the
    same pixels); AVIF by libavif (dav1d) through imagecodecs: Pillow's pixels, in 0.83x the time
    (the corpora's transparent and opaque images, 4:2:0 and 4:4:4: 3-6 ms less at 2 MP)."""
    if format is OutputFormat.WEBP:
        return _decode_webp(data)
    return _decode_avif(data)


def _decode_webp(data: bytes) -> Pixels:
    # IMREAD_UNCHANGED: BGR, or BGRA where the WebP has alpha; EXIF orientation ignored (ours has none).
    samples = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if samples is None or samples.ndim != 3:
        raise ImagingError("WebP output could not be decoded")
    transparent = samples.shape[2] == 4 and int(samples[..., 3].min()) < 255
    if samples.shape[2] == 4 and not transparent:
        samples = cv2.cvtColor(samples, cv2.COLOR_BGRA2RGB)
    else:  # in place: a large image's transparency check holds one copy less
        cv2.cvtColor(samples, cv2.COLOR_BGRA2RGBA if transparent else cv2.COLOR_BGR2RGB, dst=samples)
    height, width = samples.shape[:2]
    return Pixels(data=samples.tobytes(), width=width, height=height, has_alpha=transparent)


def _decode_avif(data: bytes) -> Pixels:
    try:
        samples = imagecodecs.avif_decode(data, numthreads=AVIF_THREADS)
    except imagecodecs.AvifError as error:
        raise ImagingError("AVIF output could not be decoded") from error
    if samples.ndim != 3 or samples.dtype != np.uint8:
        raise ImagingError("AVIF output is not 8-bit colour")
    transparent = samples.shape[2] == 4 and int(samples[..., 3].min()) < 255
    if samples.shape[2] == 4 and not transparent:
        samples = samples[..., :3]
    height, width = samples.shape[:2]
    return Pixels(data=samples.tobytes(), width=width, height=height, has_alpha=transparent)


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
