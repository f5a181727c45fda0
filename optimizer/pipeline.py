"""The whole pipeline, pure: source bytes and typed options in, optimized bytes and facts out.

prepare (imaging) -> choose an encoding (compression) -> never grow. No ORM, no network: its
caller hands it the source's bytes (a worker, from optimizer.transfer).
"""

import logging
from dataclasses import dataclass

import numpy as np

from optimizer import budget
from optimizer.choice import AVIF_SPEED, LOSSLESS_WEBP, Choice, with_larger_notice
from optimizer.compression import choose_encoding
from optimizer.containers import ImageOnly, image_only
from optimizer.encoders import EncoderSettings, encode
from optimizer.formats import OutputFormat, RequestedFormat
from optimizer.imaging import PreparedImage, prepare
from optimizer.isobmff import NotForBrowsers
from optimizer.probe import ImagingError, probe

logger = logging.getLogger(__name__)

QUALITY_METRIC = "ssimulacra2"
KEPT_SOURCE_NOTICE = (
    "The original was already smaller than any re-encoding; its image is returned as it was, without its metadata."
)
# SSIMULACRA2 compares images at six scales, each half the last; libjxl's reference refuses images
# under 8x8, and below that a lossy encoding of a few pixels can be far off and still score 100.
MEASURABLE_SIDE = 8
TOO_SMALL_TO_MEASURE = (
    "Images under 8x8 pixels cannot be scored (SSIMULACRA2 is not defined there); this one was encoded "
    "losslessly, as WebP."
)
# AVIF alone (asked for explicitly): its top quality with full-resolution colour. That is exact for
# an opaque image (imagecodecs' libavif turns to its lossless identity matrix at quality 100), each
# channel within a few levels of the source for a transparent one (Pillow's: RGB to YUV and back).
NEAR_LOSSLESS_AVIF = EncoderSettings(OutputFormat.AVIF, 100, speed=AVIF_SPEED, full_chroma=True)
TOO_SMALL_TO_MEASURE_AVIF = (
    "Images under 8x8 pixels cannot be scored (SSIMULACRA2 is not defined there); this one was encoded "
    "as AVIF at its highest quality, within a few levels of the original."
)
# An AVIF source that browsers may not decode is re-encoded, even where that is larger: said first.
NOT_FOR_BROWSERS_NOTICE = (
    "The original is not returned as it was: browsers' AVIF decoder (libavif) may refuse it ({problem})."
)


@dataclass(frozen=True)
class OptimizeOptions:
    format: RequestedFormat = RequestedFormat.AUTO
    quality: int = 80
    max_width: int = 1920
    smart: bool = True


@dataclass(frozen=True, repr=False)
class Optimized:
    data: bytes
    format: OutputFormat
    width: int
    height: int
    original_size: int
    lossless: bool
    notice: str | None = None
    score: float | None = None  # SSIMULACRA2 against the prepared image, measured (smart only)
    encoding: str | None = None  # the encoder settings, e.g. "webp q77 sharp YUV" (for benchmarks)

    @property
    def optimized_size(self) -> int:
        return len(self.data)

    @property
    def quality_score(self) -> dict[str, object] | None:
        """The measured quality as the API reports it."""
        return None if self.score is None else {"metric": QUALITY_METRIC, "score": round(self.score, 1)}

    @property
    def savings(self) -> int:
        """Bytes saved; never negative (a re-encoding may be larger than a tiny source)."""
        return max(0, self.original_size - self.optimized_size)

    @property
    def savings_percent(self) -> int:
        return self.savings * 100 // self.original_size if self.original_size else 0

    def __repr__(self) -> str:
        return f"Optimized({self.format} {self.width}x{self.height}, {self.original_size} -> {self.optimized_size})"


def optimize(source: bytes, options: OptimizeOptions, *, max_pixels: int) -> Optimized:
    # What the image will cost is known from its header: refuse it before decoding, not half-way.
    info = probe(source, max_pixels=max_pixels)
    format = budget.affordable_format(info, options.format, max_width=options.max_width)
    prepared = prepare(source, max_width=options.max_width, max_pixels=max_pixels)
    if prepared.pixels.has_alpha:  # transparency costs the encoders more
        # Judged against what the customer asked for: the advice of a refusal may need `auto`'s other format.
        format = budget.affordable_format(info, options.format, max_width=options.max_width, transparent=True)
    measurable = min(prepared.pixels.width, prepared.pixels.height) >= MEASURABLE_SIDE
    # Never grow: a source that may be returned as it is answers for itself (below); any other
    # source's size is what smart tries to stay under.
    try:
        own, not_for_browsers = _own_image(source, prepared, options, max_pixels=max_pixels), None
    except NotForBrowsers as problem:
        logger.info("An AVIF source is not returned as it is, libavif may refuse it: %s", problem)
        own, not_for_browsers = None, problem
    returnable = own is not None and _source_fits(prepared, options, returned=None)
    if measurable:
        choice = choose_encoding(
            prepared,
            format=format,
            quality=options.quality,
            smart=options.smart,
            max_bytes=None if returnable else len(source),
        )
    elif OutputFormat.WEBP in format.candidates:
        # Too small to measure, and a few bytes either way: exact, so nothing is claimed unmeasured.
        choice = Choice(encoded=encode(prepared.pixels, LOSSLESS_WEBP), notice=TOO_SMALL_TO_MEASURE)
    else:
        choice = Choice(encoded=encode(prepared.pixels, NEAR_LOSSLESS_AVIF), notice=TOO_SMALL_TO_MEASURE_AVIF)
    encoded = choice.encoded
    # The source is smaller, and of a format the request takes.
    source_could_answer = len(encoded.data) > len(source) and _source_fits(prepared, options, returned=encoded.format)
    if (
        own is not None
        and source_could_answer
        # One that dropped a profile was decoded again already (_own_image).
        and (own.dropped_profile or _shows(own.data, prepared, options, max_pixels=max_pixels))
    ):
        # Never grow: the source's own image already is an acceptable answer, and a smaller one.
        return Optimized(
            data=own.data,
            format=OutputFormat.of_source(prepared.source.format),
            width=prepared.source.width,
            height=prepared.source.height,
            original_size=len(source),
            lossless=True,  # the source's own image: nothing is lost
            notice=KEPT_SOURCE_NOTICE,
            # The source is the image the score is measured against, exactly.
            score=100.0 if options.smart and measurable else None,
        )
    notice = choice.notice
    if len(encoded.data) > len(source) and (returnable or not measurable):
        # Encoded without the source's size as its bound (that bound's notices say so themselves).
        notice = with_larger_notice(notice, len(source))
    # Said only where the source could have been the answer: not to `format: webp`, which no AVIF is.
    if not_for_browsers is not None and source_could_answer:
        notice = " ".join(filter(None, (NOT_FOR_BROWSERS_NOTICE.format(problem=not_for_browsers), notice)))
    return Optimized(
        data=encoded.data,
        format=encoded.format,
        width=prepared.pixels.width,
        height=prepared.pixels.height,
        original_size=len(source),
        lossless=encoded.lossless,
        notice=notice,
        score=choice.score,
        encoding=str(encoded.settings),
    )


def _own_image(
    source: bytes, prepared: PreparedImage, options: OptimizeOptions, *, max_pixels: int
) -> ImageOnly | None:
    """What never grow may return of a source that fits: its image without its metadata
    (containers.image_only). One that had a colour profile is decoded again at once, since it
    decides whether the size of the source bounds the search: it is returned only if it shows the
    same without the profile, i.e. the profile was sRGB (our encodings carry none).
    NotForBrowsers for an AVIF that browsers may not decode (image_only)."""
    if not _source_fits(prepared, options, returned=OutputFormat.of_source(prepared.source.format)):
        return None
    own = image_only(source, prepared.source.format)
    if own is None or not own.dropped_profile:
        return own
    return own if _shows(own.data, prepared, options, max_pixels=max_pixels, tolerance=1) else None


def _shows(
    data: bytes, prepared: PreparedImage, options: OptimizeOptions, *, max_pixels: int, tolerance: int = 0
) -> bool:
    """Whether `data`, decoded as the source was, shows the prepared pixels (within `tolerance`
    levels: an sRGB profile converts to sRGB within a level of rounding): customer bytes are
    verified like any output before they are returned."""
    try:
        shown = prepare(data, max_width=options.max_width, max_pixels=max_pixels).pixels
    except ImagingError:
        return False
    expected = prepared.pixels
    if (shown.width, shown.height, shown.has_alpha) != (expected.width, expected.height, expected.has_alpha):
        return False
    difference = np.abs(np.frombuffer(shown.data, np.uint8).astype(np.int16) - np.frombuffer(expected.data, np.uint8))
    return int(difference.max(initial=0)) <= tolerance


def _source_fits(prepared: PreparedImage, options: OptimizeOptions, *, returned: OutputFormat | None) -> bool:
    """Whether the source could be returned as it is: in an acceptable format (one asked for, or
    the one the result is in), within maxWidth, and still (the answer to an animation is its
    first frame)."""
    source = prepared.source
    acceptable = {*options.format.candidates, returned} - {None}
    return (
        OutputFormat.of_source(source.format) in acceptable
        and source.width <= options.max_width
        and not source.animated
    )
