"""The encoding decision: which format, which settings, and (smart) how good the result is.

`smart: false` encodes at the requested quality. `format: auto` returns the smaller of WebP and
AVIF; AVIF is tried where it can win (opaque, not a graphic, at least SMALL_IMAGE_PIXELS): on
the benchmark corpus, AVIF at the same quality number was larger for 14 of the 15 opaque images
below that size, and an AVIF encode costs 3-4 WebP encodes on this stack.

`smart: true` searches, per image, for the encoding that gives the most visible quality per
byte, with a promise (QualityTarget):
- never below the floor: the returned encoding scores at least `floor` SSIMULACRA2 against the
  prepared (resized) image, measured, not predicted. Quality 80 means a floor of 72.
- above the floor, quality is bought only while it is cheap: among the encodings that meet the
  floor, the one with the least `bytes - bytes_per_point * score` wins, i.e. one more point is
  worth `bytes_per_point` bytes (2,000 at quality 80) and no more. That is the knee of the
  image's rate-distortion curve: easy and small images land well above the floor for a few
  hundred bytes, hard large photos sit near it. The same rule compares formats (`auto`),
  lossless and palette encodings of graphics, and the levels of each format.
The search is bounded by a count of trial encodes and a time budget; if no trial meets the floor
within it, a safe high-quality WebP (then lossless) is returned, so the floor holds whenever WebP
is allowed.

Transparency is never dropped: ImageMagick 6's AVIF writer cannot carry alpha, so transparent
images are WebP; if AVIF was asked for explicitly, WebP is returned with a notice.
"""

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from enum import StrEnum
from time import monotonic

import numpy as np

from optimizer.imaging import (
    Encoded,
    EncoderSettings,
    OutputFormat,
    Pixels,
    PreparedImage,
    TransparencyLost,
    decode,
    encode,
)
from optimizer.perceptual import Reference, detail, is_graphic, sampled_colours

# For lossless WebP the quality setting is compression effort (libwebp's default, 75), and method 1
# is 1.5-4x faster than the default 4 for the same bytes on the corpus' graphics (within 1%; +6%
# on a large detailed logo, where lossy wins anyway).
LOSSLESS_EFFORT = 75
LOSSLESS_WEBP = EncoderSettings(OutputFormat.WEBP, LOSSLESS_EFFORT, lossless=True, method=1)
# Measuring costs ~24 bytes of memory per pixel (two linear-light copies) and ~50 ms per
# megapixel; above this size (4K UHD fits) smart encodes at the requested quality unmeasured.
SMART_MAX_PIXELS = 8_388_608
TOO_LARGE_TO_MEASURE = (
    "Smart compression measures images of up to 8 megapixels; this one was encoded at the requested quality."
)
# WebP and AVIF are encoded at once only up to this size: above it, libaom's and libwebp's copies
# of the pixels together would take a worker past its memory ceiling (see optimizer.budget).
MAX_PARALLEL_PIXELS = 12_000_000
# What the search falls back on when no trial met the floor within the budget.
SAFE_WEBP = EncoderSettings(OutputFormat.WEBP, 95, sharp_yuv=True)
PALETTE_COLOURS = 256
# A palette is tried only for graphics with at most this many colours in the sample: beyond it,
# quantizing costs 4-6 points (the corpus' UI screenshot and 627-colour logo: 95.8 and 93.7),
# more than the bytes it saves are worth, and the trial (quantize, encode, score) costs 1.5-3x
# the whole fixed-quality encode.
PALETTE_MAX_SAMPLED_COLOURS = 512

# quality -> the SSIMULACRA2 floor (piecewise linear, monotone). The metric's own reading: 90
# visually lossless, 70 high, 50 medium, 30 low quality. 100 means lossless.
FLOOR_ANCHORS = ((1, 10.0), (30, 40.0), (50, 55.0), (70, 67.0), (80, 72.0), (90, 80.0), (95, 86.0), (99, 92.0))
# Bytes one SSIMULACRA2 point above the floor is worth at quality 80; doubles every 10 quality.
BYTES_PER_POINT_AT_80 = 2000.0


@dataclass(frozen=True)
class QualityTarget:
    floor: float
    bytes_per_point: float

    @classmethod
    def for_quality(cls, quality: int) -> "QualityTarget":
        if not 1 <= quality <= 100:
            raise ValueError(f"quality must be 1-100, not {quality}")
        floor = 100.0 if quality == 100 else float(np.interp(quality, *zip(*FLOOR_ANCHORS, strict=True)))
        return cls(floor=floor, bytes_per_point=BYTES_PER_POINT_AT_80 * 2 ** ((quality - 80) / 10))

    def cost(self, size: int, score: float) -> float:
        """What the search minimises among encodings that meet the floor."""
        return size - self.bytes_per_point * score


@dataclass(frozen=True)
class Budget:
    """At most `max_trials` scored trial encodes, and no trial started after
    `seconds + seconds_per_megapixel * megapixels` (the fallback encode aside)."""

    max_trials: int = 7
    seconds: float = 1.0
    seconds_per_megapixel: float = 1.5

    def seconds_for(self, pixels: Pixels) -> float:
        return self.seconds + self.seconds_per_megapixel * pixels.width * pixels.height / 1e6


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


def choose_encoding(
    prepared: PreparedImage, *, format: RequestedFormat, quality: int, smart: bool, budget: Budget = Budget()
) -> Choice:
    pixels = prepared.pixels
    if smart and pixels.width * pixels.height <= SMART_MAX_PIXELS:
        return _smart_choice(pixels, format=format, quality=quality, budget=budget)
    choice = _fixed_choice(pixels, format=format, quality=quality)
    if smart:
        return replace(choice, notice=choice.notice or TOO_LARGE_TO_MEASURE)
    return choice


# --- smart: false ---------------------------------------------------------------------------


def _fixed_choice(pixels: Pixels, *, format: RequestedFormat, quality: int) -> Choice:
    formats = format.candidates
    if format is RequestedFormat.AUTO and not _avif_can_win(pixels, lambda: is_graphic(pixels)):
        formats = (OutputFormat.WEBP,)
    settings = [_plain(pixels, output, quality) for output in formats]
    encodings = [encoded for encoded in _in_parallel(_encode_if_faithful, pixels, settings) if encoded]
    if encodings:
        return Choice(encoded=min(encodings, key=lambda encoded: len(encoded.data)))
    return Choice(encoded=encode(pixels, _plain(pixels, OutputFormat.WEBP, quality)), notice=_alpha_notice(format))


def _plain(pixels: Pixels, output: OutputFormat, quality: int) -> EncoderSettings:
    """`output` at `quality`, at the WebP effort for the image's size."""
    return EncoderSettings(output, quality, method=_webp_method(pixels, smart=False))


def _webp_method(pixels: Pixels, *, smart: bool) -> int:
    if pixels.width * pixels.height >= FAST_WEBP_MAX_PIXELS:
        return 4
    if pixels.has_alpha:
        return 4 if smart else FAST_TRANSPARENT_WEBP_METHOD
    return FAST_WEBP_METHOD


def _avif_can_win(pixels: Pixels, graphic: Callable[[], bool]) -> bool:
    return not pixels.has_alpha and pixels.width * pixels.height >= SMALL_IMAGE_PIXELS and not graphic()


def _encode_if_faithful(pixels: Pixels, settings: EncoderSettings) -> Encoded | None:
    try:
        return encode(pixels, settings)
    except TransparencyLost:
        return None


def _alpha_notice(format: RequestedFormat) -> str:
    return f"{format.value.upper()} cannot carry this image's transparency here; returned WebP instead."


def _in_parallel(function: Callable, pixels: Pixels, settings: Sequence[EncoderSettings]) -> list:
    """`function(pixels, s)` for each of `settings`, two at a time: encoders run in C through
    ctypes, which releases the GIL, so WebP and AVIF encode at once on two cores. Large images
    go one at a time: two encoders' copies of their pixels would not fit in a worker's memory."""
    if len(settings) == 1 or pixels.width * pixels.height > MAX_PARALLEL_PIXELS:
        return [function(pixels, one) for one in settings]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(function, [pixels] * len(settings), settings))


# --- smart: true ----------------------------------------------------------------------------

# The corpus-median SSIMULACRA2 of each encoder quality (opaque images of the benchmark corpus,
# fitted to 1920 px): the search's prior, shifted onto each image's own measurements.
WEBP_PRIOR = ((5, 30.0), (30, 55.6), (40, 60.9), (50, 65.1), (60, 69.2), (65, 71.0), (70, 71.8), (75, 73.5),
              (80, 78.0), (85, 82.4), (90, 86.5), (95, 90.0), (99, 93.0))  # fmt: skip
AVIF_PRIOR = ((2, 15.0), (20, 29.0), (30, 46.0), (40, 56.0), (50, 67.4), (55, 73.1), (60, 76.0), (65, 77.3),
              (70, 77.6), (75, 79.4), (80, 81.1), (90, 83.9))  # fmt: skip
# Corpus-median growth of the bytes per SSIMULACRA2 point (d ln bytes / d score) by score: each
# point costs more the higher the score. Each image's own measurements scale it.
PRIOR_SLOPE = {
    OutputFormat.WEBP: ((60, 0.032), (70, 0.038), (77.5, 0.048), (82.5, 0.057), (87.5, 0.080)),
    OutputFormat.AVIF: ((55, 0.034), (62.5, 0.040), (67.5, 0.050), (72.5, 0.060), (77.5, 0.112)),
}
# Bits per pixel at a score of 72 = a * detail ** b, where detail is the mean luma step between
# neighbouring pixels (perceptual.detail): fitted on the corpus' opaque images (log-log
# correlation 0.95; residuals within a factor of 1.5 (WebP) to 2 (AVIF)).
BITS_PER_PIXEL_AT_72 = {OutputFormat.WEBP: (0.091, 0.92), OutputFormat.AVIF: (0.048, 1.12)}
# The factor that prediction is off by for most images; a format is not tried when, even this
# much smaller than predicted, it would be 15% larger than another format's best (AVIF is tried
# first, so this spares large photos a WebP trial where AVIF is far ahead).
PREDICTION_ERROR = 1.5


def _avif_level(quality: int) -> int:
    """libheif 1.15's aom cq-level for an ImageMagick quality: 64 distinct levels."""
    return ((100 - quality) * 63 + 50) // 100


LEVELS = {
    OutputFormat.WEBP: tuple(range(5, 100)),  # 100 is lossless in ImageMagick
    # One quality per distinct AVIF level; above 90 the 4:2:0 ceiling gives < 2 points for 2-5x the bytes.
    OutputFormat.AVIF: tuple(sorted({_avif_level(q): q for q in range(90, 0, -1)}.values())),
}
PRIORS = {OutputFormat.WEBP: WEBP_PRIOR, OutputFormat.AVIF: AVIF_PRIOR}
# How much of an opaque image's coding error a transparent image shows, per unit of mean alpha
# (0-1): the corpus' soft glows and logos (mean alpha 0.09-0.23) lose 2.3-2.8 x their mean alpha
# of what an opaque image loses at the same encoder quality. 2 errs towards low qualities, where
# such images' scores hardly move (the glow: 92 at WebP 5, 96 at 92).
ERROR_SHOWN_PER_ALPHA = 2.0
# Aim this far above the floor, so that a prediction a little off still passes.
MARGIN = 1.0
# A search ends when its next trial is expected to lower the cost by less than this many points'
# worth of bytes (a trial costs about as much time as the whole fixed-quality encode). At 2 the
# corpus' textures (grass, gravel) took a second trial for 1-2 points' worth.
STOP_GAIN_POINTS = 3.0
# Above 90 SSIMULACRA2 a lossy encoding is visually lossless: no point buying more. AVIF on this
# stack (4:2:0, point-sampled chroma) tops out near 84.
MAX_LOSSY_SCORE = {OutputFormat.WEBP: 90.0, OutputFormat.AVIF: 84.0}
# The furthest one step of a search moves up (curves can be flat, then steep: AVIF on gradients).
MAX_STEP_UP = 15
# AVIF trials cost 3-4 WebP trials here.
MAX_AVIF_TRIALS = 3
# Below this size a whole encode takes 10-30 ms and a trial's score costs more than its encode:
# smart's WebP runs without sharp YUV (+40% encode time), and `auto` does not try AVIF (larger
# there for 14 of the corpus' 15 opaque images).
SMALL_IMAGE_PIXELS = 500_000
# Below this size WebP runs at a lower effort: method 2 for opaque images, with smart or not (half
# the encode time of method 4 for 2-4% more bytes); for transparent ones, whose lossless alpha
# plane takes 15-20% more bytes at 2, method 3 without smart (0-13% more bytes for 20-30% less
# time) and 4 with it (bytes first).
FAST_WEBP_MAX_PIXELS = 1_000_000
FAST_WEBP_METHOD = 2
FAST_TRANSPARENT_WEBP_METHOD = 3


def _smart_choice(pixels: Pixels, *, format: RequestedFormat, quality: int, budget: Budget) -> Choice:
    target = QualityTarget.for_quality(quality)
    search = _Search(pixels, target, budget)
    formats = format.candidates
    notice = None
    if pixels.has_alpha and OutputFormat.AVIF in formats:
        formats = (OutputFormat.WEBP,)
        notice = None if format is RequestedFormat.AUTO else _alpha_notice(format)
    graphic = is_graphic(pixels)
    small = pixels.width * pixels.height < SMALL_IMAGE_PIXELS
    if OutputFormat.WEBP in formats and (graphic or target.floor >= 100):
        lossless = [LOSSLESS_WEBP]
        if target.floor < 100 and PALETTE_COLOURS < sampled_colours(pixels) <= PALETTE_MAX_SAMPLED_COLOURS:
            lossless.append(replace(LOSSLESS_WEBP, palette=PALETTE_COLOURS))
        for settings in lossless:
            search.run(settings)
    if target.floor < 100 and not search.lossy_cannot_win():
        if OutputFormat.AVIF in formats and (format is RequestedFormat.AVIF or _avif_can_win(pixels, lambda: graphic)):
            search.lossy(lambda q: EncoderSettings(OutputFormat.AVIF, q), max_trials=MAX_AVIF_TRIALS)
        if OutputFormat.WEBP in formats:
            # Sharp YUV for large opaque photos only: on the corpus' transparent glows and logos it
            # took 20-35% more time for the same or 5% more bytes at the same score.
            sharp, method = not (graphic or small or pixels.has_alpha), _webp_method(pixels, smart=True)
            search.lossy(
                lambda q: EncoderSettings(OutputFormat.WEBP, q, sharp_yuv=sharp, method=method),
                max_trials=budget.max_trials,
            )
    best = search.best()
    if best is None:
        best, shortfall = search.fallback(formats)
        notice = notice or shortfall
    return Choice(encoded=best.encoded, score=best.score, notice=notice, trials=tuple(search.trials))


class _Search:
    """Trials of one image against one target, within one budget.

    Trials run one after another: on this two-core machine shared by other work, two trials in
    two threads took 0.9-1.2x the time of running them in turn (the score's many small numpy
    steps contend for the GIL), and a score at 2 MP holds ~90 MB.
    """

    def __init__(self, pixels: Pixels, target: QualityTarget, budget: Budget) -> None:
        self.pixels = pixels
        self.target = target
        self.budget = budget
        self.reference = Reference(pixels)
        self.deadline = monotonic() + budget.seconds_for(pixels)
        self.trials: list[Trial] = []
        self._seconds_per_trial: dict[OutputFormat, float] = {}

    # -- trials --

    def _trial(self, settings: EncoderSettings) -> Trial | None:
        started = monotonic()
        encoded = _encode_if_faithful(self.pixels, settings)  # a palette can flatten soft alpha
        if encoded is None:
            return None
        if settings.lossless and not settings.palette:
            score = 100.0  # exact (fully transparent pixels may change colour, invisible once flattened)
        else:
            score = self.reference.score(encoded.decoded or decode(encoded.data, settings.format))
        return Trial(encoded=encoded, score=score, seconds=monotonic() - started)

    def affordable(self, format: OutputFormat) -> bool:
        if len(self.trials) >= self.budget.max_trials:
            return False
        return monotonic() + self._seconds_per_trial.get(format, 0.0) <= self.deadline

    def run(self, settings: EncoderSettings) -> Trial | None:
        """One trial, if the budget allows it (and the encoding carries the image faithfully)."""
        if not self.affordable(settings.format):
            return None
        trial = self._trial(settings)
        if trial:
            self._seconds_per_trial[settings.format] = trial.seconds
            self.trials.append(trial)
        return trial

    def best(self, trials: Iterable[Trial] | None = None) -> Trial | None:
        passing = [t for t in (self.trials if trials is None else trials) if t.score >= self.target.floor]
        return min(passing, key=lambda t: self.target.cost(t.size, t.score), default=None)

    def lossy_cannot_win(self) -> bool:
        """No lossy encoding can cost less than `-bytes_per_point * 90` (0 bytes at the highest
        score worth buying): a lossless or palette encoding already below that wins."""
        best = self.best()
        ceiling = max(MAX_LOSSY_SCORE.values())
        return best is not None and self.target.cost(best.size, best.score) <= -self.target.bytes_per_point * ceiling

    # -- one lossy format --

    def lossy(self, settings_for: Callable[[int], EncoderSettings], *, max_trials: int) -> None:
        """Search the levels of one lossy format for the knee above the floor (module docstring),
        with at most `max_trials` trials, one at a time: each lands where the image's own
        measurements (else the corpus' priors) put the aim; the search ends when the next trial
        is expected to lower the cost by less than STOP_GAIN_POINTS points' worth of bytes."""
        format = settings_for(50).format
        levels, prior = LEVELS[format], PRIORS[format]
        curve = _SizeCurve(format)
        rival = self.best()
        predicted_size = self._predicted_size(format)
        if rival and curve.size_at(predicted_size, 72.0, rival.score) / PREDICTION_ERROR > 1.15 * rival.size:
            return  # even 1.5x smaller than predicted, this format would be clearly larger
        # The prediction is for opaque images: large transparent ones, whose bytes are mostly
        # their (lossless) alpha, start at the floor.
        large = self.pixels.width * self.pixels.height >= SMALL_IMAGE_PIXELS
        aim = self.target.floor + MARGIN if self.pixels.has_alpha and large else self._aim(curve, predicted_size, 72.0)
        tried: dict[int, Trial] = {}
        level = _prior_level(prior, levels, self._as_if_opaque(aim))
        while level is not None and len(tried) < max_trials and (trial := self.run(settings_for(level))):
            tried[level] = trial
            curve = _SizeCurve(format, tried.values(), aim)
            nearest = min(tried.values(), key=lambda t: abs(t.score - aim))
            aim = self._aim(curve, nearest.size, nearest.score)
            best = self.best(tried.values())
            if best and self._expected_gain(curve, best, aim) < STOP_GAIN_POINTS * self.target.bytes_per_point:
                return
            if self._cannot_win(tried, rival):
                return
            level = _next_level(tried, aim, prior, levels)

    def _as_if_opaque(self, score: float) -> float:
        """The score an opaque image would need for its encoding to score `score` flattened as
        this one is: a pixel's coding error shows only as much as its alpha, so the distance from
        100 shrinks with the image's mean alpha."""
        if not self.pixels.has_alpha:
            return score
        mean_alpha = float(self.pixels.alpha_samples().mean()) / 255
        shown = min(1.0, ERROR_SHOWN_PER_ALPHA * mean_alpha)
        return 100.0 - (100.0 - score) / max(shown, 0.01)

    def _predicted_size(self, format: OutputFormat) -> float:
        """The bytes this image is expected to take in `format` at a score of 72."""
        factor, exponent = BITS_PER_PIXEL_AT_72[format]
        return factor * max(detail(self.pixels), 0.1) ** exponent * self.pixels.width * self.pixels.height / 8

    def _aim(self, curve: "_SizeCurve", size: float, score: float) -> float:
        """Where one more point costs `bytes_per_point`, on `curve` through (size, score); never
        below the floor (plus MARGIN) nor above what is worth buying."""
        knee = curve.knee(size, score, self.target.bytes_per_point)
        return min(max(knee, self.target.floor + MARGIN), MAX_LOSSY_SCORE[curve.format])

    def _expected_gain(self, curve: "_SizeCurve", best: Trial, aim: float) -> float:
        """How much lower the cost is expected to be at the aim than at `best` (in bytes)."""
        size_at_aim = curve.size_at(best.size, best.score, aim)
        return self.target.cost(best.size, best.score) - self.target.cost(size_at_aim, aim)

    def _cannot_win(self, tried: dict[int, Trial], rival: Trial | None) -> bool:
        """Another encoding's best is clearly better: this format's trials near its score are
        already 15% larger; or, since bytes and score both grow with the level, every level that
        meets the floor is at least as large as a trial that missed it, and even at the highest
        score worth buying, that many bytes cost more than the rival."""
        if rival is None:
            return False
        if any(t.size > 1.15 * rival.size and t.score <= rival.score + 1.0 for t in tried.values()):
            return True
        smallest = max((t.size for t in tried.values() if t.score < self.target.floor), default=0)
        format = next(iter(tried.values())).encoded.format
        best_possible = self.target.cost(smallest, MAX_LOSSY_SCORE[format])
        return best_possible >= self.target.cost(rival.size, rival.score)

    # -- the guarantee --

    def fallback(self, formats: Sequence[OutputFormat]) -> tuple[Trial, str | None]:
        """Nothing met the floor within the budget: a safe high-quality WebP, then lossless WebP
        (exact, so it always meets the floor). AVIF alone (asked for explicitly) cannot promise
        that: its best attempt is returned with a notice."""
        if OutputFormat.WEBP in formats:
            safe = self._force(SAFE_WEBP)
            if safe.score >= self.target.floor:
                return safe, None
            return self._force(LOSSLESS_WEBP), None
        attempts = self.trials or [self._force(EncoderSettings(OutputFormat.AVIF, LEVELS[OutputFormat.AVIF][-1]))]
        best = max(attempts, key=lambda t: t.score)
        return best, f"AVIF could not reach the quality floor ({self.target.floor:g}) on this image; this is its best."

    def _force(self, settings: EncoderSettings) -> Trial:
        trial = self._trial(settings)
        self.trials.append(trial)
        return trial


class _SizeCurve:
    """How an image's bytes grow with its score in one format: the corpus' slope by score,
    scaled to the image's own slope where two of its trials measure it."""

    STEP = 0.25  # points

    def __init__(self, format: OutputFormat, trials: Iterable[Trial] = (), near: float = 0.0) -> None:
        self.format = format
        self.scale = 1.0
        by_score = sorted(trials, key=lambda t: t.score)
        pairs = [(low, high) for low, high in itertools.pairwise(by_score) if high.score - low.score > 0.5]
        if pairs:
            low, high = min(pairs, key=lambda pair: abs((pair[0].score + pair[1].score) / 2 - near))
            if high.size > low.size:
                measured = math.log(high.size / low.size) / (high.score - low.score)
                self.scale = min(max(measured / self.slope((low.score + high.score) / 2), 0.25), 4.0)

    def slope(self, score: float) -> float:
        """d ln(bytes) / d score at `score`."""
        scores, slopes = zip(*PRIOR_SLOPE[self.format], strict=True)
        return self.scale * float(np.interp(score, scores, slopes))

    def size_at(self, size: float, score: float, to_score: float) -> float:
        """The size at `to_score`, from a point (size, score) of the curve."""
        direction = 1 if to_score > score else -1
        while abs(to_score - score) > self.STEP / 2:
            step = direction * min(self.STEP, abs(to_score - score))
            size *= math.exp(self.slope(score + step / 2) * step)
            score += step
        return size

    def knee(self, size: float, score: float, bytes_per_point: float) -> float:
        """The score where one more point costs `bytes_per_point`, walking from (size, score)."""
        direction = 1 if self.slope(score) * size < bytes_per_point else -1
        for _ in range(400):  # at most 100 points either way
            if (self.slope(score) * size < bytes_per_point) != (direction > 0):
                break
            size *= math.exp(self.slope(score + direction * self.STEP / 2) * direction * self.STEP)
            score += direction * self.STEP
        return score


def _snap(levels: Sequence[int], quality: float) -> int:
    return min(levels, key=lambda level: (abs(level - quality), level))


def _prior_level(prior: Sequence[tuple[int, float]], levels: Sequence[int], score: float) -> int:
    qualities, scores = zip(*prior, strict=True)
    return _snap(levels, float(np.interp(score, scores, qualities)))


def _prior_score(prior: Sequence[tuple[int, float]], quality: float) -> float:
    qualities, scores = zip(*prior, strict=True)
    return float(np.interp(quality, qualities, scores))


def _next_level(
    tried: dict[int, Trial], aim: float, prior: Sequence[tuple[int, float]], levels: Sequence[int]
) -> int | None:
    """The level expected to score `aim`: interpolated between the measured levels around it;
    else extrapolated from the two measured levels nearest it (when the score rises with the
    level between them), or the prior curve shifted through the nearest measurement. None when
    the levels around it are already adjacent."""
    above = [level for level, t in tried.items() if t.score >= aim]
    below = [level for level, t in tried.items() if t.score < aim]
    low = max(below, default=None)
    high = min((level for level in above if low is None or level > low), default=None)
    if low is not None and high is not None:
        inside = [level for level in levels if low < level < high]
        if not inside:
            return None
        return _snap(inside, _towards(low, tried[low].score, high, tried[high].score, aim))
    nearest = high if high is not None else low
    side = sorted(above if high is not None else below, key=lambda level: abs(level - nearest))
    if len(side) >= 2 and tried[side[0]].score != tried[side[1]].score:
        wanted = _towards(side[0], tried[side[0]].score, side[1], tried[side[1]].score, aim)
        if (wanted < nearest) != (high is not None):  # the measurements do not say which way: the prior does
            wanted = _prior_level(prior, levels, aim - (tried[nearest].score - _prior_score(prior, nearest)))
    else:
        wanted = _prior_level(prior, levels, aim - (tried[nearest].score - _prior_score(prior, nearest)))
    index = levels.index(nearest)
    if high is not None:  # everything measured is above the aim: go down at least one level
        candidates = levels[:index]
        return _snap(candidates, min(wanted, levels[index - 1])) if candidates else None
    candidates = levels[index + 1 :]  # everything below: go up at least two levels, at most MAX_STEP_UP
    wanted = min(max(wanted, levels[min(index + 2, len(levels) - 1)]), nearest + MAX_STEP_UP)
    return _snap(candidates, wanted) if candidates else None


def _towards(level_a: int, score_a: float, level_b: int, score_b: float, aim: float) -> float:
    """The level at which the line through two measurements reaches `aim`."""
    return level_a + (aim - score_a) * (level_b - level_a) / (score_b - score_a)
