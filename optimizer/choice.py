"""What the encoding decision returns (Choice, with the scored Trials of a smart search), and
what its two ways share (optimizer.compression for `smart: false`, optimizer.smart for
`smart: true`): each format's settings at a requested quality, lossless WebP, and an encode that
gives up on an encoder that loses the image's transparency.

AVIF is encoded by libavif at libaom's speed 9 here: 10-15x faster than its default speed for
~15-20% more bytes at the same score, the right trade for a search of two or three trials: their
encodes cost what one plain WebP encode does, and about what their scores do (at 1.8 megapixels
~35 ms an encode, ~25 ms a score).
"""

from dataclasses import dataclass, replace

from optimizer.encoders import Encoded, EncoderSettings, TransparencyLost, encode
from optimizer.formats import OutputFormat
from optimizer.pixels import Pixels

# For lossless WebP the quality setting is compression effort (libwebp's default, 75), and method 1
# is 1.5-4x faster than the default 4 for the same bytes on the corpus' graphics (within 1%).
LOSSLESS_EFFORT = 75
LOSSLESS_WEBP = EncoderSettings(OutputFormat.WEBP, LOSSLESS_EFFORT, lossless=True, method=1)

# WebP and AVIF are encoded at once only up to this size: above it, libaom's and libwebp's copies
# of the pixels together would take a worker past its memory ceiling (see optimizer.budget).
MAX_PARALLEL_PIXELS = 12_000_000
# libaom's speed for every AVIF here (see the module's docstring).
AVIF_SPEED = 9

# libwebp's effort for lossy WebP. Opaque images: method 2, in 0.45x the time of the default 4 for
# 4% more bytes (the corpus' median; at most 10%), which WebP's share of the time in smart:false
# (3x an AVIF encode at speed 9) makes the right trade. Transparent ones keep 4: their lossless
# alpha plane costs 12-27% more bytes at methods 2 and 3.
OPAQUE_WEBP_METHOD = 2
TRANSPARENT_WEBP_METHOD = 4


@dataclass(frozen=True)
class Trial:
    encoded: Encoded
    score: float
    seconds: float

    @property
    def size(self) -> int:
        return len(self.encoded.data)


@dataclass(frozen=True)
class Choice:
    encoded: Encoded
    score: float | None = None  # SSIMULACRA2 of `encoded`, measured (smart only)
    notice: str | None = None  # why the result differs from what was asked, for the customer
    trials: tuple[Trial, ...] = ()


def with_larger_notice(notice: str | None, original_size: int) -> str:
    """`notice` (why the result differs from what was asked), then that the result is larger than
    the original: `savings` says 0 (it is never negative), and the customer is told why."""
    return " ".join(filter(None, (notice, f"It is larger than the original ({original_size:,} bytes).")))


def plain_settings(pixels: Pixels, output: OutputFormat, quality: int) -> EncoderSettings:
    """`output` at `quality`, at the WebP effort for the image or AVIF's speed."""
    if output is OutputFormat.AVIF:
        return EncoderSettings(output, quality, speed=AVIF_SPEED)
    return EncoderSettings(output, quality, method=webp_method(pixels))


def webp_method(pixels: Pixels) -> int:
    return TRANSPARENT_WEBP_METHOD if pixels.has_alpha else OPAQUE_WEBP_METHOD


def encode_if_faithful(pixels: Pixels, settings: EncoderSettings, *, avif_only: bool = False) -> Encoded | None:
    """The encoding, unless it loses the image's transparency. AVIF encodes the alpha at the
    colour's quality, which at low qualities can lose a hard-edged or noisy alpha (a 70x52 sprite
    at quality 30): where AVIF is the only format asked for (`avif_only`: smart:false), such an
    encoding is made again with its alpha exact, so that the answer is the AVIF asked for,
    transparency intact, at more bytes. (A smart search leaves such a trial out instead: its
    other levels and settings may carry the alpha in fewer bytes; see smart._Search.fallback.)"""
    attempts = [settings]
    if avif_only and settings.format is OutputFormat.AVIF and pixels.has_alpha and not settings.exact_alpha:
        attempts.append(replace(settings, exact_alpha=True))
    for each in attempts:
        try:
            return encode(pixels, each)
        except TransparencyLost:
            continue
    return None
