"""The encoding decision: which format, which settings, and (smart) how good the result is.

`smart: false` encodes at the requested quality: `webp` or `avif` that format, `auto` both at
once, keeping the smaller (here).

`smart: true` promises a perceptual quality and spends no more bytes than it takes: the search is
optimizer.smart. Images too large to measure are encoded as `smart: false` would be, with a notice.
What both ways share, the result (Choice) and each format's settings, is optimizer.choice.
"""

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial

from optimizer.choice import MAX_PARALLEL_PIXELS, Choice, encode_if_faithful, plain_settings, with_larger_notice
from optimizer.encoders import EncoderSettings, encode
from optimizer.formats import LOSSLESS_SOURCES, OutputFormat, RequestedFormat
from optimizer.imaging import PreparedImage
from optimizer.pixels import Pixels
from optimizer.smart import Budget, smart_choice

# Measuring costs ~24 bytes of memory per pixel (two linear-light copies) and 15-20 ms a score
# per megapixel on two cores; above this size (4K UHD fits) smart encodes at the requested quality
# unmeasured.
SMART_MAX_PIXELS = 8_388_608
TOO_LARGE_TO_MEASURE = (
    "Smart compression measures images of up to 8 megapixels; this one was encoded at the requested quality."
)


def choose_encoding(
    prepared: PreparedImage,
    *,
    format: RequestedFormat,
    quality: int,
    smart: bool,
    max_bytes: int | None = None,
    budget: Budget = Budget(),
) -> Choice:
    """`max_bytes`: the source's size, which smart tries not to exceed (see optimizer.smart)."""
    pixels = prepared.pixels
    if smart and pixels.width * pixels.height <= SMART_MAX_PIXELS:
        lossless_source = prepared.source.format in LOSSLESS_SOURCES
        return smart_choice(
            pixels, format=format, quality=quality, max_bytes=max_bytes, budget=budget, lossless_source=lossless_source
        )
    choice = _fixed_choice(pixels, format=format, quality=quality)
    if smart:
        choice = replace(choice, notice=choice.notice or TOO_LARGE_TO_MEASURE)
    if max_bytes is not None and len(choice.encoded.data) > max_bytes:
        # `savings` says 0 (it is never negative): the notice says why, after any other it has.
        notice = with_larger_notice(choice.notice, max_bytes) if choice.notice else _larger_notice(max_bytes)
        choice = replace(choice, notice=notice)
    return choice


# --- smart: false ---------------------------------------------------------------------------


def _fixed_choice(pixels: Pixels, *, format: RequestedFormat, quality: int) -> Choice:
    settings = [plain_settings(pixels, output, quality) for output in format.candidates]
    faithful = partial(encode_if_faithful, avif_only=format is RequestedFormat.AVIF)
    encodings = [encoded for encoded in _in_parallel(faithful, pixels, settings) if encoded]
    if encodings:
        return Choice(encoded=min(encodings, key=lambda encoded: len(encoded.data)))
    return Choice(
        encoded=encode(pixels, plain_settings(pixels, OutputFormat.WEBP, quality)), notice=_alpha_notice(format)
    )


def _larger_notice(max_bytes: int) -> str:
    return (
        f"At this quality the result is larger than the original ({max_bytes:,} bytes); "
        "a lower quality, or smart compression, may give a smaller one."
    )


def _alpha_notice(format: RequestedFormat) -> str:
    return f"{format.value.upper()} could not carry this image's transparency; returned WebP instead."


def _in_parallel(function: Callable, pixels: Pixels, settings: Sequence[EncoderSettings]) -> list:
    """`function(pixels, s)` for each of `settings`, two at a time: the encoders release the GIL,
    so WebP and AVIF encode at once on two cores. Large images go one at a time: two encoders'
    copies of their pixels would not fit in a worker's memory."""
    if len(settings) == 1 or pixels.width * pixels.height > MAX_PARALLEL_PIXELS:
        return [function(pixels, one) for one in settings]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(function, [pixels] * len(settings), settings))
