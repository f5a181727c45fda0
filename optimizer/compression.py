"""The encoding decision: which format, which quality, lossless or not.

This is the simple, honest first version; the smart-compression work replaces `choose_encoding`
with a perceptual search built on the same blocks (imaging.encode / imaging.decode).

- `format: webp` or `avif` encodes that format at `quality`; `format: auto` encodes both and keeps
  the smaller.
- `smart: true` also tries lossless WebP for graphics (images with at most GRAPHIC_MAX_COLOURS
  colours: logos, icons, charts, flat screenshots) when WebP is acceptable, and keeps it when it is
  smaller. Photos are encoded at the requested quality.
- Transparency is never dropped: when AVIF cannot carry an image's alpha (ImageMagick 6's HEIC
  coder cannot), AVIF is not used; if AVIF was asked for explicitly, WebP is returned with a notice.
"""

from dataclasses import dataclass
from enum import StrEnum

from optimizer.imaging import Encoded, OutputFormat, Pixels, PreparedImage, TransparencyLost, count_colours, encode

GRAPHIC_MAX_COLOURS = 1024
# For lossless WebP the quality setting is compression effort; libwebp's default.
LOSSLESS_EFFORT = 75


class RequestedFormat(StrEnum):
    AUTO = "auto"
    WEBP = "webp"
    AVIF = "avif"

    @property
    def candidates(self) -> tuple[OutputFormat, ...]:
        if self is RequestedFormat.AUTO:
            return (OutputFormat.WEBP, OutputFormat.AVIF)
        return (OutputFormat(self.value),)


@dataclass(frozen=True)
class Choice:
    encoded: Encoded
    notice: str | None = None  # why the result differs from what was asked, for the customer


def choose_encoding(prepared: PreparedImage, *, format: RequestedFormat, quality: int, smart: bool) -> Choice:
    """The smallest acceptable encoding of `prepared` under the rules in this module's docstring."""
    pixels = prepared.pixels
    formats = format.candidates
    notice = None
    candidates = [encoded for output in formats if (encoded := _encode_if_faithful(pixels, output, quality=quality))]
    if not candidates:
        formats = (OutputFormat.WEBP,)
        candidates = [encode(pixels, OutputFormat.WEBP, quality=quality)]
        notice = f"{format.value.upper()} cannot carry this image's transparency here; returned WebP instead."
    if smart and OutputFormat.WEBP in formats and count_colours(pixels) <= GRAPHIC_MAX_COLOURS:
        candidates.append(encode(pixels, OutputFormat.WEBP, quality=LOSSLESS_EFFORT, lossless=True))
    return Choice(encoded=min(candidates, key=lambda encoded: len(encoded.data)), notice=notice)


def _encode_if_faithful(pixels: Pixels, output: OutputFormat, *, quality: int) -> Encoded | None:
    try:
        return encode(pixels, output, quality=quality)
    except TransparencyLost:
        return None
