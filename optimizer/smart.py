"""Smart compression (`smart: true`): the search for the smallest encoding that reaches a
perceptual quality.

It promises a perceptual quality and spends no more bytes than it takes: the result is
the smallest encoding whose SSIMULACRA2 against the prepared image, measured on the decoded
result, reaches the target `quality` stands for (QualityTarget: what a plain WebP at that quality
scores on a typical photograph; on an image where it scores less, what it scores, down to the
floor: the yardstick). One rule judges every candidate,
lossless, palette and lossy alike, WebP and AVIF alike: nothing wins by default, and no byte buys
quality nobody asked for. The search is bounded (trials and seconds); what it does, in turn:
- the yardstick: smart:false's WebP, encoded and scored first (a candidate too, where WebP may
  be returned);
- the exact candidates that need no score: lossless WebP, for graphics (and for quality 100); for
  a graphic of more than 256 colours only if a palette of 256 (lossy: scored) is smaller than the
  best result so far (lossless WebP is no smaller); for any other image stored without loss (a
  PNG, say), after the lanes, if what a sample of its rows takes lossless says the whole is
  smaller than the best result so far (lossless_estimate, on the second core meanwhile);
- each lossy format that can win for this kind of image, as a "lane" of quality levels: the
  first trial at the level a prediction puts at the target, the next ones corrected by what the
  trials measured, until a trial lands just above the target (and is the best so far, or its
  lane could not beat that even at the target), two adjacent levels bracket it, or the lane can
  no longer beat the best so far;
- smart:false's encodings, candidates like any other (so the result is never larger than one
  that reaches the target);
- the closest miss goes on up when nothing reached the target (past the budget) or the best
  result passed far above what that miss is expected to take (closest_goes_on);
- if still no trial reached the target, the top of each lossy format, then lossless WebP
  (exact), so the target holds whenever WebP may be returned; AVIF alone (asked for explicitly)
  returns its best attempt, with a notice.
A result larger than the source (`max_bytes`) is not given up on at once: the search goes down
to the quality's floor for something smaller, then, for a source stored without loss (a PNG, say),
tries lossless WebP if there is time, and says so in the notice when nothing is smaller.

Whether to search at all is optimizer.compression's decision (choose_encoding).
"""

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from time import monotonic

import numpy as np

from optimizer.choice import (
    AVIF_SPEED,
    LOSSLESS_WEBP,
    MAX_PARALLEL_PIXELS,
    Choice,
    Trial,
    encode_if_faithful,
    plain_settings,
    webp_method,
    with_larger_notice,
)
from optimizer.encoders import Encoded, EncoderSettings, decode, encode
from optimizer.formats import OutputFormat, RequestedFormat
from optimizer.perceptual import Reference, detail, has_at_most_colours, is_graphic
from optimizer.pixels import Pixels

PALETTE_COLOURS = 256
PALETTE_WEBP = replace(LOSSLESS_WEBP, palette=PALETTE_COLOURS)

# Lossless WebP of an image stored without loss that is not a graphic is estimated (lossless_estimate)
# from about this many of its pixels, and at most one row in LOSSLESS_SAMPLE_SHARE, in bands of this
# many rows: the sample and every other band of it take 1/30-1/20 of a lossless encode of a
# 1920-pixel-wide photograph (35-70 ms, on the second core; a lossy trial takes ~100 ms) and ~1/5
# of a smaller one's (6-16 ms at 450-512 px). An image of up to this many pixels (256 x 256) is
# encoded whole (~12 ms): the estimate is the encoding. (Sampled, a gradient that small is put
# at 4-16 times its bytes: its lossless encoding is mostly what every row shares.)
LOSSLESS_SAMPLE_PIXELS = 1 << 16
LOSSLESS_SAMPLE_SHARE = 8
LOSSLESS_SAMPLE_BAND = 8

CAREFUL_AVIF_SPEED = 7
# When nothing reached the target: the top of each lossy format, before lossless.
LAST_TRIES = (
    EncoderSettings(OutputFormat.AVIF, 90, speed=AVIF_SPEED, full_chroma=True),
    EncoderSettings(OutputFormat.WEBP, 95, sharp_yuv=True),
)

# quality -> the SSIMULACRA2 a smart result reaches (piecewise linear, monotone): about what
# libwebp gives a typical photograph at that quality (the corpus' median, bench/compression.py);
# on an image where it gives less, what it gives, down to the floor (QualityTarget.for_image).
# The metric's own reading: 90 visually lossless, 70 high, 50 medium, 30 low. 100 means lossless.
TARGET_ANCHORS = ((1, 10.0), (30, 51.0), (50, 63.0), (70, 71.0), (80, 75.0), (90, 82.0), (95, 87.0), (99, 93.0))
# What smart may go down to, below the quality's target: for an image a plain WebP at that quality
# scores less on, or for a result smaller than the source.
FLOOR_BELOW_TARGET = 4.0


@dataclass(frozen=True)
class QualityTarget:
    score: float  # the SSIMULACRA2 the result reaches (100: lossless)
    floor: float  # as low as the target goes for an image, and a result to stay smaller than its source

    @classmethod
    def for_quality(cls, quality: int) -> "QualityTarget":
        if not 1 <= quality <= 100:
            raise ValueError(f"quality must be 1-100, not {quality}")
        if quality == 100:
            return cls(score=100.0, floor=100.0)
        score = float(np.interp(quality, *zip(*TARGET_ANCHORS, strict=True)))
        return cls(score=score, floor=score - FLOOR_BELOW_TARGET)

    def for_image(self, yardstick: float) -> "QualityTarget":
        """The target for an image on which a plain WebP at the same quality (smart:false's)
        scores `yardstick`: no higher than that, down to the floor. What a number means stays what
        it meant before smart on every image: the result looks no worse than that WebP (above the
        floor) and, where WebP may be returned, is no larger (that WebP is a candidate too)."""
        return replace(self, score=max(self.floor, min(self.score, yardstick)))


@dataclass(frozen=True)
class Budget:
    """At most `max_trials` scored trial encodes (the yardstick and six), and no trial started
    after `seconds + seconds_per_megapixel * megapixels` (the fallback encode aside)."""

    max_trials: int = 7
    seconds: float = 1.0
    seconds_per_megapixel: float = 1.5

    def seconds_for(self, pixels: Pixels) -> float:
        return self.seconds + self.seconds_per_megapixel * pixels.width * pixels.height / 1e6


@dataclass(frozen=True)
class Lane:
    """One lossy way to encode, over its quality levels: bytes and score both grow with the level."""

    settings: Callable[[int], EncoderSettings]
    # The corpus' median SSIMULACRA2 by quality level (opaque images, fitted to 1920 px): the
    # first guess, and the slope that corrects each next one until the image's own trials say more.
    prior: tuple[tuple[int, float], ...]
    levels: tuple[int, ...] = tuple(range(5, 100))
    max_trials: int = 3
    # Searched only when a first trial missed its aim by more than FAR_MISS points (see _lanes),
    # starting up from that trial's level: slower settings score at least what it did there.
    after_a_far_miss: bool = False

    @property
    def format(self) -> OutputFormat:
        return self.settings(50).format


AVIF_PRIOR = ((20, 39.9), (30, 53.1), (40, 62.1), (45, 67.2), (50, 71.4), (55, 74.5), (60, 77.3), (65, 79.3),
              (70, 81.4), (75, 83.1), (80, 84.5), (85, 85.9), (90, 87.3), (95, 89.2))  # fmt: skip
AVIF_GRAPHIC_PRIOR = ((30, 58.0), (40, 67.8), (50, 75.5), (60, 82.1), (70, 87.1), (80, 89.8), (90, 92.5))
WEBP_PRIOR = ((5, 40.0), (30, 57.1), (40, 62.2), (50, 65.5), (60, 68.1), (65, 69.5), (70, 70.7), (75, 72.2),
              (80, 74.8), (85, 78.0), (90, 81.8), (95, 85.7))  # fmt: skip
WEBP_GRAPHIC_PRIOR = ((5, 55.0), (30, 71.9), (40, 75.1), (50, 77.4), (60, 79.7), (70, 81.5), (80, 83.6),
                      (85, 85.7), (90, 86.7), (95, 87.4))  # fmt: skip
# The level an image needs grows with its texture: ~5 levels per e-fold of the mean luma step
# between neighbours (perceptual.detail), around the corpus' median step.
LEVELS_PER_E_FOLD_OF_DETAIL = 5.0
MEDIAN_DETAIL = 4.0
# What each score point costs in bytes, about (the corpus: 4-5%): what a trial that missed is
# expected to take at the target, and what a pass above it wastes.
BYTES_PER_POINT = 0.05
# A lane's first trial aims this far above the target: the prior misses by ~3 points either way,
# and a trial that misses costs another, while each point above costs BYTES_PER_POINT. Its next
# trials, corrected by what it measured, aim closer. A passing trial this close above the target
# ends the lane: one more would save ~5% a point, for the time of a whole trial (about what a plain
# WebP encode takes). A pass further above is worth one, whether the lane came down or up to it.
FIRST_AIM_ABOVE = 3.0
AIM_ABOVE = 0.5
CLOSE_ENOUGH = 6.0
# Once a lane has missed below a pass, its next level is interpolated between the two measurements
# rather than guessed along the prior's slope, and lands within about a point of its aim: a pass
# further than this above the target is then worth that trial (~7% of its bytes, or more).
CLOSE_ENOUGH_BETWEEN = 2.0
# A first trial that misses its aim by more than this is not the prior's usual error (~3 points):
# libaom's speed 9 fails this image (see _lanes).
FAR_MISS = 12.0
# A trial whose encoding is this much larger than the best result so far is not scored, and ends
# its lane: even at the target, a few levels lower, it would not be smaller.
NO_CHANCE = 1.25
# How much of an opaque image's coding error a transparent image shows, per unit of mean alpha
# (0-1): the corpus' soft glows and logos (mean alpha 0.09-0.23) lose 2.3-2.8 x their mean alpha
# of what an opaque image loses at the same quality; 2 errs towards low qualities.
ERROR_SHOWN_PER_ALPHA = 2.0
# Score levels per quality level are never taken below this, and one step moves at most this many
# levels: flat stretches of a curve would send the next trial far off.
MIN_SLOPE = 0.15
MAX_STEP = 15
# Levels a lane goes up from one whose AVIF lost the transparency (the alpha is encoded at the
# colour's quality: at low levels a hard-edged or noisy alpha is lost, from the corpus' 20
# transparent images 14 at quality 1, 4 at 30, none at 80; not always below a level that keeps
# it). Where the alpha holds says nothing of the score, so the lane goes up one step of its
# priors' grid at a time until it holds.
LOST_ALPHA_STEP = 5


def smart_choice(
    pixels: Pixels,
    *,
    format: RequestedFormat,
    quality: int,
    max_bytes: int | None,
    budget: Budget,
    lossless_source: bool = False,
) -> Choice:
    """`lossless_source`: the source (`max_bytes` long) stores its pixels without loss, so lossless
    WebP may be smaller than it (see the module's docstring)."""
    target = QualityTarget.for_quality(quality)
    # The second core prepares the reference for scoring first (if anything is to be scored), then
    # encodes, meanwhile, what needs no score or no trial of a lane (below).
    with (
        ThreadPoolExecutor(max_workers=1) as side,
        _Search(pixels, target.score, budget, side if target.score < 100 else None) as search,
    ):
        graphic = is_graphic(pixels)
        formats = format.candidates
        # Lossless WebP (exact) is often a graphic's smallest. Up to 256 colours, counted exactly
        # (libwebp then stores a palette), it is encoded from the start. With more it is no smaller
        # than a palette of 256 (the same image in fewer colours), tried first: then only if that is
        # smaller than the best result so far (a graphic of more flat colours than a palette holds).
        palette = graphic and OutputFormat.WEBP in formats and not has_at_most_colours(pixels, PALETTE_COLOURS)
        lossless = OutputFormat.WEBP in formats and ((graphic and not palette) or target.score >= 100)
        parallel = pixels.width * pixels.height <= MAX_PARALLEL_PIXELS

        def lossless_webp() -> None:
            # On the second core, competing from the next trial after it is done; else here (two
            # encoders at once would not fit a worker's memory).
            if parallel:
                search.exact_when_done(side.submit(encode_if_faithful, pixels, LOSSLESS_WEBP))
            else:
                search.exact(encode_if_faithful(pixels, LOSSLESS_WEBP))

        if lossless:
            lossless_webp()  # while this core measures the yardstick
        # Any other image stored without loss (a PNG of a smooth gradient, say) may still be
        # smallest lossless: what a sample of its rows takes, on the second core, says whether.
        estimated = lossless_source and OutputFormat.WEBP in formats and not (lossless or palette)
        estimate = side.submit(lossless_estimate, pixels) if estimated and parallel else None
        if target.score < 100:
            yardstick = plain_settings(pixels, OutputFormat.WEBP, quality)
            target = search.measure_yardstick(yardstick, target, candidate=OutputFormat.WEBP in formats)
        lanes = _lanes(pixels, formats, graphic=graphic) if target.score < 100 else []
        plain = [plain_settings(pixels, output, quality) for output in formats] if target.score < 100 else []
        # Then smart:false's encodings that the first lane cannot settle (see _Search.rivals): for
        # a graphic AVIF (the yardstick is its WebP).
        first_lane = _family(lanes[0].settings(quality)) if lanes else None
        early = {
            s: side.submit(search.rival, s)
            for s in plain
            if parallel and _family(s) != first_lane and not search.settled(s)
        }
        if graphic and parallel:
            # A graphic's lanes all run: the palette and the next lanes' first trials are encoded on
            # the second core while this one searches the first lane.
            search.encode_ahead([PALETTE_WEBP] * palette + [search.first_settings(lane) for lane in lanes[1:]])
        for lane in lanes:
            if lane.after_a_far_miss and not search.far_miss:
                continue
            reached = search.lane(lane)
            if lane is lanes[0] and parallel:
                # What the first lane left unsettled of smart:false's encodings, its own kind's
                # too (a miss, or a pass above the requested quality), the second core encodes
                # while the next lanes run.
                early |= {s: side.submit(search.rival, s) for s in plain if s not in early and not search.settled(s)}
            if palette and lane.format is OutputFormat.WEBP:
                # After WebP's lossy best, a palette (quantized: lossy, so scored) only if it could
                # win (NO_CHANCE); with 256 colours or fewer, lossless WebP already stores one.
                search.run(PALETTE_WEBP)
                if search.may_be_smaller(PALETTE_WEBP):
                    lossless_webp()
            # For photographs and art AVIF is 20-50% smaller than WebP at the same score (the
            # corpus): once a lane reached the target, the next ones would spend trials for nothing.
            if reached and not graphic:
                break
        search.rivals(plain, early)
        search.closest_goes_on()
        if estimated:
            search.lossless_if_expected_smaller(estimate.result() if estimate else lossless_estimate(pixels))
    best, notice = search.best(), None
    if best is None:
        best, notice = search.fallback(formats)
    if max_bytes is not None and best.size > max_bytes:
        below = search.below(target.floor, max_bytes, lanes)
        if below is None and lossless_source and OutputFormat.WEBP in formats:
            # Lossless WebP, left out where lossy encodings are the smaller as a rule, may still be
            # (a PNG of a pattern that no lossy encoding keeps in fewer bytes: libwebp's lossless
            # is smaller than PNG as a rule, never than a lossy source); exact, it keeps the quality.
            exact = search.lossless_trial()
            if exact is not None and exact.size < best.size:
                best, notice = exact, None
        if below is not None:
            best, notice = below
        elif best.size > max_bytes:
            notice = _larger_notice(max_bytes, notice)
    return Choice(encoded=best.encoded, score=best.score, notice=notice, trials=tuple(search.trials))


def _lanes(pixels: Pixels, formats: Sequence[OutputFormat], *, graphic: bool) -> list[Lane]:
    """The lossy formats worth a search for this image, the likeliest winner first.

    Photographs, art and transparent images: AVIF (20-50% smaller than WebP at the same score);
    if it could not reach the target, AVIF at libaom's speed 7 when its first trial missed far
    (smooth gradients, which speed 9 bands: the corpus' MATE wallpaper scores 54 at speed 9 and 73
    at 7, for less bytes, and 5x the encode time; speed 8 bands as 9 does), starting above the
    level that missed, then AVIF with full-resolution colour
    (colourful gradients), then WebP. Graphics: WebP, then AVIF with full-resolution colour
    (coloured text and lines)."""
    method = webp_method(pixels)
    webp = Lane(
        lambda q: EncoderSettings(OutputFormat.WEBP, q, method=method),
        WEBP_GRAPHIC_PRIOR if graphic else WEBP_PRIOR,
        max_trials=2,
    )
    avif = Lane(lambda q: EncoderSettings(OutputFormat.AVIF, q, speed=AVIF_SPEED), AVIF_PRIOR)
    avif_full_chroma = Lane(
        lambda q: EncoderSettings(OutputFormat.AVIF, q, speed=AVIF_SPEED, full_chroma=True),
        AVIF_GRAPHIC_PRIOR,
        max_trials=2,
    )
    avif_careful = Lane(
        lambda q: EncoderSettings(OutputFormat.AVIF, q, speed=CAREFUL_AVIF_SPEED),
        AVIF_PRIOR,
        max_trials=2,
        after_a_far_miss=True,
    )
    lanes = [webp, avif_full_chroma] if graphic else [avif, avif_careful, avif_full_chroma, webp]
    return [lane for lane in lanes if lane.format in formats]


@dataclass(frozen=True)
class LosslessEstimate:
    size: float  # the bytes lossless WebP is expected to take
    whole: Encoded | None  # lossless WebP itself, when the sample was the whole image


def lossless_estimate(pixels: Pixels) -> LosslessEstimate:
    """What lossless WebP (LOSSLESS_WEBP) is expected to take of `pixels`, from the same encoder
    on a sample of them: the whole image up to LOSSLESS_SAMPLE_PIXELS, else bands of rows spread
    over it, about that many pixels (at most one row in LOSSLESS_SAMPLE_SHARE). Lossless bytes do
    not grow in proportion to the rows: a smooth gradient's are mostly the encoding's fixed part
    (its codes; 370 bytes for a 256 x 256 angled gradient, 1.5 kB at 1920 x 1080), a photograph's
    grow with every row. So the sample is encoded twice, every band and every other band, and the
    line through the two (the fixed part, and the bytes per row) is followed to the image's height.
    It is about right on photographs (1.0-1.2x) and off either way on gradients (0.6-2.5x): too
    low costs a lossless encode that loses, too high misses a lossless win (as before)."""
    if pixels.width * pixels.height <= LOSSLESS_SAMPLE_PIXELS:
        whole = encode_if_faithful(pixels, LOSSLESS_WEBP)
        return LosslessEstimate(size=len(whole.data) if whole else math.inf, whole=whole)
    rows = np.frombuffer(pixels.data, np.uint8).reshape(pixels.height, pixels.width, len(pixels.layout))
    share = max(LOSSLESS_SAMPLE_SHARE, round(pixels.width * pixels.height / LOSSLESS_SAMPLE_PIXELS))
    period = LOSSLESS_SAMPLE_BAND * share
    starts = np.arange(0, pixels.height, period)

    def encoded_rows(band_starts: np.ndarray) -> tuple[int, int]:
        taken = (band_starts[:, None] + np.arange(LOSSLESS_SAMPLE_BAND)).ravel()
        taken = taken[taken < pixels.height]
        sample = Pixels(rows[taken].tobytes(), pixels.width, taken.size, pixels.has_alpha)
        encoded = encode_if_faithful(sample, LOSSLESS_WEBP)
        return taken.size, len(encoded.data) if encoded else math.inf

    all_rows, all_bytes = encoded_rows(starts)
    if len(starts) == 1:  # one band (a short, wide image): no line to follow, its bytes in proportion
        return LosslessEstimate(size=all_bytes * pixels.height / all_rows, whole=None)
    half_rows, half_bytes = encoded_rows(starts[::2])
    if math.inf in (all_bytes, half_bytes):  # lossless WebP lost its transparency: no candidate
        return LosslessEstimate(size=math.inf, whole=None)
    per_row = max(0.0, (all_bytes - half_bytes) / (all_rows - half_rows)) if all_rows > half_rows else 0.0
    return LosslessEstimate(size=all_bytes + per_row * (pixels.height - all_rows), whole=None)


def _larger_notice(max_bytes: int, missed: str | None) -> str:
    """Why the result is larger than the source; `missed`, the notice of a result that did not
    reach the target (AVIF alone), stays first: that result does not keep the quality either."""
    if missed:
        return with_larger_notice(missed, max_bytes)
    return (
        f"No encoding of this image at this quality is smaller than the original ({max_bytes:,} bytes); "
        "this is the smallest that keeps the quality."
    )


class _Search:
    """Trials of one image against one target score, within one budget.

    Trials run one after another, each score on both cores (optimizer.ssimulacra2); the second
    core meanwhile prepares the reference, encodes (and, when they will most likely be needed,
    scores) smart:false's encodings, which no trial decides (rival), and encodes the trials known
    ahead (encode_ahead).
    """

    def __init__(self, pixels: Pixels, target: float, budget: Budget, side: Executor | None = None) -> None:
        """`side`: an executor on another core, to prepare the reference on."""
        self.pixels = pixels
        self.target = target
        self.budget = budget
        self.reference = Reference(pixels)
        self._side = side
        if side:
            self.reference.prepare_on(side)
        self.deadline = monotonic() + budget.seconds_for(pixels)
        # When nothing reached the target, the trials that keep the promise (closest_goes_on, the
        # fallback's) run past the deadline, until the budget has passed a second time; then lossless
        # WebP (exact, and quick: 2.6 s at 8.4 MP of noise) ends the search. Unbounded, 8.4 MP of
        # transparent noise took 47 s of a task's 50 (CELERY_TASK_SOFT_TIME_LIMIT).
        self.overtime_deadline = self.deadline + budget.seconds_for(pixels)
        # Where the first trial of a lane goes, from the prior, for this image's texture.
        self.detail_shift = LEVELS_PER_E_FOLD_OF_DETAIL * math.log(max(detail(pixels), 0.1) / MEDIAN_DETAIL)
        self.trials: list[Trial] = []
        self.max_bytes: int | None = None  # while `below` searches for a result this small
        self._scoring: Encoded | None = None  # the trial being scored now (see rival)
        self._comparable = threading.Event()  # a trial is being scored, or the lanes are done
        self.far_miss: Trial | None = None  # a lane's first trial that missed its aim by more than FAR_MISS
        self._exact_pending: Future[Encoded | None] | None = None  # lossless WebP, on the second core
        self._encoding_ahead: dict[EncoderSettings, Future[Encoded | None]] = {}  # see encode_ahead
        self._sizes: dict[EncoderSettings, int] = {}  # of every trial's encoding, scored or not
        self._alpha_lost: set[EncoderSettings] = set()  # trials whose encoding lost the transparency
        # What a trial took, by its settings but the level (a speed-7 AVIF trial takes ~4x a speed-9 one).
        self._seconds_per_trial: dict[EncoderSettings, float] = {}

    def __enter__(self) -> "_Search":
        return self

    def __exit__(self, *exception: object) -> None:
        self.lanes_done()  # whatever ended the search (an error too), the second core waits no more
        for unused in self._encoding_ahead.values():
            unused.cancel()

    def lanes_done(self) -> None:
        self._comparable.set()

    # -- trials --

    def _trial(self, settings: EncoderSettings, *, with_a_chance: bool = False) -> Trial | None:
        """None if the encoding is unfaithful (a palette can flatten soft alpha), or, `with_a_chance`,
        if it has none against the best result so far (NO_CHANCE: its score, the costly part, is not
        worth taking)."""
        started = monotonic()
        ahead = self._encoding_ahead.pop(settings, None)  # cancelled if not begun: encoded here
        if ahead and not ahead.cancel():
            self._take_over_ahead(until=ahead)
            encoded = ahead.result()
        else:
            encoded = encode_if_faithful(self.pixels, settings)
        if encoded is None:
            self._alpha_lost.add(settings)
            # Timed all the same: a lane climbing past levels that lose the alpha (7.8 MP of noise:
            # four, 3 s each) must not start one the deadline leaves no time for.
            self._seconds_per_trial[_family(settings)] = monotonic() - started
            return None
        self._sizes[settings] = len(encoded.data)
        self._take_exact()
        best = self.best()
        if with_a_chance and best and len(encoded.data) > round(best.size * NO_CHANCE):
            return None
        self._scoring = encoded
        self._comparable.set()
        try:
            return self._scored(encoded, started)
        finally:
            self._scoring = None

    def _scored(self, encoded: Encoded, started: float) -> Trial:
        score = self.reference.score(encoded.decoded or decode(encoded.data, encoded.format))
        return Trial(encoded=_bytes_only(encoded), score=score, seconds=monotonic() - started)

    def measure_yardstick(self, settings: EncoderSettings, target: QualityTarget, *, candidate: bool) -> QualityTarget:
        """smart:false's WebP (`settings`), encoded and scored: this image's target
        (QualityTarget.for_image), and a candidate like any other when WebP may be returned. An
        encoding that loses the transparency measures nothing: the quality's own target stands."""
        trial = self._trial(settings)
        if trial is None:
            return target
        if candidate:
            self._seconds_per_trial[_family(settings)] = trial.seconds
            self.trials.append(trial)
        target = target.for_image(trial.score)
        self.target = target.score
        return target

    def affordable(self, settings: EncoderSettings) -> bool:
        """Whether a trial of `settings` fits in the budget: if it would take what the last of the
        same settings (but the level) did, it ends before the deadline."""
        return len(self.trials) < self.budget.max_trials and self._in_time(settings)

    def _in_time(self, settings: EncoderSettings, *, overtime: bool = False) -> bool:
        if overtime:  # settings not tried yet are taken to be as slow as the slowest so far
            slowest = max(self._seconds_per_trial.values(), default=0.0)
            return monotonic() + self._seconds_per_trial.get(_family(settings), slowest) <= self.overtime_deadline
        return monotonic() + self._seconds_per_trial.get(_family(settings), 0.0) <= self.deadline

    def run(self, settings: EncoderSettings) -> Trial | None:
        """One trial, if the budget allows it, the encoding carries the image faithfully, and it
        has a chance against the best result so far (NO_CHANCE)."""
        if not self.affordable(settings):
            return None
        trial = self._trial(settings, with_a_chance=True)
        if trial:
            self._seconds_per_trial[_family(settings)] = trial.seconds
            self.trials.append(trial)
        return trial

    def exact_when_done(self, encoding: Future[Encoded | None]) -> None:
        """Lossless WebP, encoding on the second core: it competes from the first trial after it is
        done (which it may make pointless: NO_CHANCE), at the latest in rivals."""
        self._exact_pending = encoding

    def encode_ahead(self, settings: Iterable[EncoderSettings | None]) -> None:
        """Encode these trials (None: a lane with nothing to try) on the second core while this
        one runs the trials before them; a trial that core has not begun by then is encoded here."""
        for each in settings:
            if self._side and each and each not in self._encoding_ahead:
                self._encoding_ahead[each] = self._side.submit(encode_if_faithful, self.pixels, each)

    def _take_over_ahead(self, *, until: Future[Encoded | None]) -> None:
        """While the second core is still encoding `until`, this one encodes, in their order, the
        trials queued behind it (rather than wait, then wait for those too): the same encodings,
        ready sooner. A graphic's search waits here for its palette (50-220 ms on the corpus'
        screenshots), with the next lane's first trial queued behind it."""
        for settings, queued in list(self._encoding_ahead.items()):
            if until.done():
                return
            if queued.cancel():
                done: Future[Encoded | None] = Future()
                done.set_result(encode_if_faithful(self.pixels, settings))
                self._encoding_ahead[settings] = done

    def may_be_smaller(self, settings: EncoderSettings) -> bool:
        """Whether an encoding no smaller than that of `settings` may be smaller than the best
        result so far (yes if `settings` were not encoded: out of time, or unfaithful)."""
        best = self.best()
        return best is None or self._sizes.get(settings, 0) < best.size

    def _take_exact(self, *, wait: bool = False) -> None:
        pending = self._exact_pending
        if pending and (wait or pending.done()):
            self._exact_pending = None
            self.exact(pending.result())

    def exact(self, encoded: Encoded | None) -> Trial | None:
        """A lossless encoding: the pixels themselves (fully transparent ones may change colour,
        unseen), so nothing to measure and not counted against the trials."""
        if encoded is None:
            return None
        trial = Trial(encoded=_bytes_only(encoded), score=100.0, seconds=0.0)
        self.trials.append(trial)
        return trial

    def lossless_trial(self) -> Trial | None:
        """Lossless WebP's trial: the one made, else made now if it ends before overtime_deadline
        (taken to be as slow as the slowest trial so far)."""
        made = [t for t in self.trials if t.encoded.settings == LOSSLESS_WEBP]
        if made:
            return made[0]
        if not self._in_time(LOSSLESS_WEBP, overtime=True):
            return None
        return self.exact(encode_if_faithful(self.pixels, LOSSLESS_WEBP))

    def lossless_if_expected_smaller(self, estimate: "LosslessEstimate") -> None:
        """Lossless WebP, when `estimate` says it is smaller than the best result so far (that
        reached the target: with none, the fallback ends with lossless WebP anyway). An exact
        candidate like any other: it competes on its bytes."""
        best = self.best()
        if best is None or estimate.size >= best.size:
            return
        if estimate.whole is not None:
            self.exact(estimate.whole)
        else:
            self.lossless_trial()

    def best(self, trials: Iterable[Trial] | None = None, *, at_least: float | None = None) -> Trial | None:
        at_least = self.target if at_least is None else at_least
        passing = [t for t in (self.trials if trials is None else trials) if t.score >= at_least]
        return min(passing, key=lambda t: t.size, default=None)

    # -- one lossy lane --

    def lane(self, lane: Lane, *, more: int | None = None) -> bool:
        """Search the lane for its lowest level that reaches the target (module docstring), from
        what the trials so far measured of its settings (the yardstick, for WebP), else from its
        prior; within its trials' limit, those measured before included, or `more` trials.
        Whether one of its own trials reached the target, at levels that all kept the alpha."""
        tried = self._tried(lane)
        if any(self._close_enough(t, tried) for t in tried.values()):
            return False
        aim = self.target + FIRST_AIM_ABOVE
        level = self._first_level(lane, tried)
        guessed = not tried  # a first trial from the prior, which a far miss proves wrong for this image
        limit = lane.max_trials if more is None else len(tried) + more
        own: list[Trial] = []
        alpha_lost = False
        while level is not None and len(tried) < limit:
            settings = lane.settings(level)
            trial = None if settings in self._alpha_lost else self.run(settings)
            if trial is None and settings in self._alpha_lost:
                # The alpha is not lost at every level below one that keeps it (art-gulp: lost at
                # 5 and 15, kept at 10 and 20). On the way down, the next try is halfway back to
                # the lowest pass. Before any pass, up (LOST_ALPHA_STEP) until the alpha holds,
                # and the next lanes are searched too (another lane may keep it lower).
                passed, lost = [t.encoded.quality for t in own if t.score >= self.target], self._alpha_lost
                top = min(passed) if passed else max(lane.levels) + 1
                left = [each for each in lane.levels if level < each < top and lane.settings(each) not in lost]
                level = _snap(left, (level + top) / 2 if passed else level + LOST_ALPHA_STEP) if left else None
                guessed, alpha_lost = False, alpha_lost or not passed
                continue
            if trial is None:
                break
            own.append(trial)
            tried[level] = trial
            if guessed and len(own) == 1 and trial.score < aim - FAR_MISS and not lane.after_a_far_miss:
                self.far_miss = trial
                break  # these settings fail this image: the lanes for such images take over
            rival = self.best(t for t in self.trials if t not in tried.values())
            if self._ends_its_lane(trial, tried):
                break
            if rival and self._cannot_win(tried, rival):
                break
            level = _next_level(tried, self.target + AIM_ABOVE, lane)
        return not alpha_lost and any(t.score >= self.target for t in own)

    def first_settings(self, lane: Lane) -> EncoderSettings | None:
        """What the lane's next search would try first, from the trials so far."""
        level = self._first_level(lane, self._tried(lane))
        return None if level is None else lane.settings(level)

    def _tried(self, lane: Lane) -> dict[int, Trial]:
        family = _family(lane.settings(lane.levels[0]))
        return {t.encoded.quality: t for t in self.trials if _family(t.encoded.settings) == family}

    def _first_level(self, lane: Lane, tried: dict[int, Trial]) -> int | None:
        aim = self.target + FIRST_AIM_ABOVE
        if len(tried) == 1 and (measured := next(iter(tried.values()))).score > self.target:
            # One level measured, far above the target (a graphic's yardstick, say): the prior's
            # curve, moved to pass through it, gives the level for the aim (the prior's slope at
            # that level would not reach far down a flat curve: MAX_STEP).
            offset = measured.score - _prior_score(lane.prior, measured.encoded.quality)
            return _snap(lane.levels, _prior_level(lane.prior, aim - offset))
        if tried:
            return _next_level(tried, self.target + AIM_ABOVE, lane)
        if lane.after_a_far_miss and self.far_miss:
            # Up from the far miss, along the slope (Lane.after_a_far_miss), not back where it missed.
            return _next_level({self.far_miss.encoded.quality: self.far_miss}, aim, lane)
        return _snap(lane.levels, _prior_level(lane.prior, self._as_if_opaque(aim)) + self.detail_shift)

    def _close_enough(self, trial: Trial, lane: dict[int, Trial]) -> bool:
        """A pass this close above the target ends its lane (CLOSE_ENOUGH; CLOSE_ENOUGH_BETWEEN
        when the lane missed at a lower level), if small enough (below)."""
        fits = self.max_bytes is None or trial.size <= self.max_bytes
        missed_below = any(t.score < self.target and level < trial.encoded.quality for level, t in lane.items())
        margin = CLOSE_ENOUGH_BETWEEN if missed_below else CLOSE_ENOUGH
        return fits and self.target <= trial.score <= self.target + margin

    def _ends_its_lane(self, trial: Trial, tried: dict[int, Trial]) -> bool:
        """Whether a trial ends its lane (`tried`, its trials so far) by what it measured. One that
        reached the target but is larger than the best result so far cannot be the answer: it ends
        the lane where the lane is expected to be no smaller than that even at the target, a level
        or two lower (_bytes_at_target), and otherwise the lane goes on down, however close above
        the target it passed (plasma-ColorfulCups: AVIF q56 at 74.1 and 95.9 kB, against the
        yardstick's 93.1 kB at 72.2, the target). Any other ends it if close enough (below)."""
        best = self.best()
        if trial.score >= self.target and best is not trial:
            return self._bytes_at_target(trial) >= best.size
        return self._close_enough(trial, tried)

    def _as_if_opaque(self, score: float) -> float:
        """The score an opaque image would need for its encoding to score `score` composited as
        this one is: a pixel's coding error shows only as much as its alpha, so the distance from
        100 shrinks with the image's mean alpha (ERROR_SHOWN_PER_ALPHA)."""
        if not self.pixels.has_alpha:
            return score
        shown = min(1.0, ERROR_SHOWN_PER_ALPHA * float(self.pixels.alpha_samples().mean()) / 255)
        return 100.0 - (100.0 - score) / max(shown, 0.01)

    def _cannot_win(self, tried: dict[int, Trial], rival: Trial) -> bool:
        """Every level that reaches the target is at least as large as any trial below it (bytes
        grow with the level), and that is already no smaller than the best so far."""
        missed = [t.size for t in tried.values() if t.score < self.target]
        return bool(missed) and max(missed) >= rival.size

    # -- smaller than the source, the guarantee --

    def below(self, floor: float, max_bytes: int, lanes: Sequence[Lane]) -> tuple[Trial, str] | None:
        """The best result no larger than `max_bytes` that still reaches `floor`: among the trials
        so far, else from the lanes searched again for the floor. With a notice saying so."""

        def fitting() -> Trial | None:
            smaller = [t for t in self.trials if t.score >= floor and t.size <= max_bytes]
            return max(smaller, key=lambda t: t.score, default=None)

        found = fitting()
        if found is None:
            target, self.target, self.max_bytes = self.target, floor, max_bytes
            for lane in lanes:
                self.lane(lane, more=2)
            self.target, self.max_bytes = target, None
            found = fitting()
        if found is None:
            return None
        return found, (
            f"To stay smaller than the original, this image was compressed to a score of {found.score:.1f} "
            f"(the target at this quality is {self.target:g})."
        )

    def closest_goes_on(self) -> None:
        """The settings of the trial that missed the target but is expected to reach it in the
        fewest bytes (_bytes_at_target), among those with a level left to try, go on up: at most
        two more trials along their measured slope, until one passes. When nothing reached the
        target, past the deadline (until overtime_deadline); when the best result is over NO_CHANCE times that
        expectation (a lane that ran out of trials a level short, while smart:false's encoding
        passed far above the target), past the trials' limit but within the time budget."""
        best = self.best()
        misses = sorted(
            (t for t in self.trials if not t.encoded.settings.lossless and t.score < self.target),
            key=self._bytes_at_target,
        )
        for closest in misses:
            if best and best.size <= NO_CHANCE * self._bytes_at_target(closest):
                return
            family, lane = self._levels_of(closest.encoded.settings)
            if _next_level(family, self.target + AIM_ABOVE, lane) is not None:
                break
        else:
            return
        for _ in range(2):
            level = _next_level(family, self.target + AIM_ABOVE, lane)
            if level is None or not self._in_time(lane.settings(level), overtime=best is None):
                return
            trial = self._force(lane.settings(level), with_a_chance=best is not None)
            if trial is None or trial.score >= self.target:
                return
            family[level] = trial

    def _levels_of(self, settings: EncoderSettings) -> tuple[dict[int, Trial], Lane]:
        """The trials of `settings` at any level, by level, and those settings as a lane."""
        family = {t.encoded.quality: t for t in self.trials if _family(t.encoded.settings) == _family(settings)}
        prior = AVIF_PRIOR if settings.format is OutputFormat.AVIF else WEBP_PRIOR
        return family, Lane(lambda q: replace(settings, quality=q), prior)

    def _come_down(self, top: Trial) -> None:
        """A last try that reached the target (LAST_TRIES: the top of its format) comes down: up to
        two more trials of its settings, between it and the highest of their levels that missed
        (as a lane goes: _next_level), each only if it ends before overtime_deadline. At quality
        50 a photograph fitted to 100 pixels missed the target (59) with everything up to AVIF at
        79, and its answer was AVIF 4:4:4 at 90, scoring 78.6: byte for byte quality 80's."""
        family, lane = self._levels_of(top.encoded.settings)
        for _ in range(2):
            if any(self.target <= t.score <= self.target + CLOSE_ENOUGH_BETWEEN for t in family.values()):
                return
            level = _next_level(family, self.target + AIM_ABOVE, lane)
            if level is None or not self._in_time(lane.settings(level), overtime=True):
                return
            trial = self._force(lane.settings(level))
            if trial is None:
                return
            family[level] = trial

    def _bytes_at_target(self, trial: Trial) -> float:
        """What `trial`'s settings are expected to take at the target: along the bytes per point
        their two highest levels measured, when both rose, else BYTES_PER_POINT (a flat curve,
        speed 9's 4:2:0 on a small sprite say, costs several times that a point)."""
        settings = _family(trial.encoded.settings)
        family = [t for t in self.trials if _family(t.encoded.settings) == settings]
        rate = BYTES_PER_POINT
        if len(family) >= 2:
            lower, higher = sorted(family, key=lambda t: t.encoded.quality)[-2:]
            if higher.score > lower.score and higher.size > lower.size:
                rate = math.log(higher.size / lower.size) / (higher.score - lower.score)
        try:
            return trial.size * math.exp(rate * (self.target - trial.score))
        except OverflowError:  # far under the target along a curve all but flat: never
            return math.inf

    def fallback(self, formats: Sequence[OutputFormat]) -> tuple[Trial, str | None]:
        """Nothing reached the target within the budget, nor when the closest settings went on
        (closest_goes_on): a last try at the top of each lossy format (AVIF with full-resolution
        colour, which colourful gradients need, and WebP) that ends before overtime_deadline by
        what its settings took so far; then lossless WebP (exact), so the
        target holds whenever WebP may be returned. AVIF alone (asked for explicitly) cannot
        promise that: its best attempt is returned, with a notice. Should no AVIF have carried the
        transparency, not even the top one, that one is made again with its alpha exact."""
        for settings in LAST_TRIES:
            if settings.format in formats and not self.best() and self._in_time(settings, overtime=True):
                self._force(settings)
        if not self.trials:  # AVIF alone, none faithful (with WebP, the yardstick is a trial)
            self._force(replace(LAST_TRIES[0], exact_alpha=True))
        if best := self.best():
            self._come_down(best)
            return self.best(), None
        if OutputFormat.WEBP in formats:
            return self.exact(encode(self.pixels, LOSSLESS_WEBP)), None
        best = max(self.trials, key=lambda t: t.score)
        return best, f"AVIF could not reach the quality target ({self.target:g}) on this image; this is its best."

    # -- never larger than smart: false --

    def rival(self, settings: EncoderSettings) -> tuple[Encoded | None, Trial | None]:
        """smart:false's encoding at `settings`, on the second core while the search goes on; and
        its trial too if it is smaller than every encoding of the search that may reach the
        target, the one being scored included (then rivals will most likely need its score).
        Compared once there is something to compare with: a trial being scored, or the end of the
        lanes."""
        started = monotonic()
        encoded = encode_if_faithful(self.pixels, settings)
        self._comparable.wait()
        scoring = self._scoring
        hopeful = [t.size for t in self.trials if t.score >= self.target] + ([len(scoring.data)] if scoring else [])
        if encoded is None or not hopeful or len(encoded.data) >= min(hopeful):
            return encoded, None
        return encoded, self._scored(encoded, started)

    def rivals(self, plain: Sequence[EncoderSettings], early: dict[EncoderSettings, Future]) -> None:
        """smart:false's encodings (`plain`; some encoded, perhaps scored, `early` by `rival`), each
        scored if it is smaller than the best result so far, lossless WebP (perhaps still on the
        second core) included, unless the trials already settled it (settled). An early one the
        second core has not started yet is encoded here, while that core finishes its work."""
        self.lanes_done()
        encodings = []
        for settings in plain:
            future = early.get(settings)
            if self.settled(settings):
                if future:
                    future.cancel()
                continue
            if future and future.cancel():
                future = None
            started = monotonic()
            encoding = future.result() if future else (encode_if_faithful(self.pixels, settings), None)
            encodings.append((encoding, started))
        self._take_exact(wait=True)
        for (encoded, trial), started in encodings:
            best = self.best()
            if encoded is not None and (best is None or len(encoded.data) < best.size):
                self.trials.append(trial or self._scored(encoded, started))

    def settled(self, settings: EncoderSettings) -> bool:
        """Whether a trial already decides `settings`: one of these very settings (the yardstick),
        or one of the same settings at another level: one at its level or below that reached the
        target and is no smaller than the best result (it has at least those bytes: bytes grow
        with the level), or one at its level or above that missed the target (so does it: the
        score grows with the level)."""
        if any(t.encoded.settings == settings for t in self.trials):
            return True
        family = _family(settings)
        best = self.best()
        for trial in self.trials:
            if _family(trial.encoded.settings) != family:
                continue
            if trial.score >= self.target and trial.encoded.quality <= settings.quality and trial.size >= best.size:
                return True
            if trial.score < self.target and trial.encoded.quality >= settings.quality:
                return True
        return False

    def _force(self, settings: EncoderSettings, *, with_a_chance: bool = False) -> Trial | None:
        """One trial whatever the budget says (none if these settings were tried already; see
        _trial for `with_a_chance`)."""
        if any(t.encoded.settings == settings for t in self.trials):
            return None
        if trial := self._trial(settings, with_a_chance=with_a_chance):
            # Timed, as run's: the next trial of these settings is afforded on it (_come_down's).
            self._seconds_per_trial[_family(settings)] = trial.seconds
            self.trials.append(trial)
        return trial


def _bytes_only(encoded: Encoded) -> Encoded:
    """What a trial keeps of an encoding: its bytes, not the pixels decoded to check its transparency
    (4 bytes a pixel; a 7.8-megapixel transparent image's eight trials held 250 MB of them)."""
    return replace(encoded, decoded=None)


def _family(settings: EncoderSettings) -> EncoderSettings:
    """`settings` but the level: what one trial tells of the others of its lane."""
    return replace(settings, quality=0)


def _snap(levels: Sequence[int], level: float) -> int:
    return min(levels, key=lambda candidate: (abs(candidate - level), candidate))


def _prior_level(prior: Sequence[tuple[int, float]], score: float) -> float:
    qualities, scores = zip(*prior, strict=True)
    return float(np.interp(score, scores, qualities))


def _prior_score(prior: Sequence[tuple[int, float]], level: float) -> float:
    qualities, scores = zip(*prior, strict=True)
    return float(np.interp(level, qualities, scores))


def _prior_slope(prior: Sequence[tuple[int, float]], level: float) -> float:
    """Score points per quality level of the prior curve at `level`."""
    qualities, scores = zip(*prior, strict=True)
    step = 5
    rise = np.interp(level + step, qualities, scores) - np.interp(level - step, qualities, scores)
    return max(float(rise) / (2 * step), MIN_SLOPE)


def _next_level(tried: dict[int, Trial], aim: float, lane: Lane) -> int | None:
    """The level expected to score `aim`: between the highest level below it and the lowest above
    it, when both were tried (None when they are adjacent); else from the nearest trial along the
    slope that the trials measured, or the prior's."""
    below = [level for level, t in tried.items() if t.score < aim]
    above = [level for level, t in tried.items() if t.score >= aim]
    low, high = max(below, default=None), min(above, default=None)
    if low is not None and high is not None and low < high:
        inside = [level for level in lane.levels if low < level < high]
        if not inside:
            return None
        a, b = tried[low], tried[high]
        return _snap(inside, low + (aim - a.score) * (high - low) / max(b.score - a.score, 1e-6))
    nearest = high if high is not None else low
    slope = _measured_slope(tried) or _prior_slope(lane.prior, nearest)
    wanted = nearest + (aim - tried[nearest].score) / slope
    if high is not None:  # everything passes: go down, at least one level
        candidates = [level for level in lane.levels if level < nearest]
        return _snap(candidates, max(min(wanted, nearest - 1), nearest - MAX_STEP)) if candidates else None
    candidates = [level for level in lane.levels if level > nearest]  # everything misses: go up, two levels or more
    return _snap(candidates, min(max(wanted, nearest + 2), nearest + MAX_STEP)) if candidates else None


def _measured_slope(tried: dict[int, Trial]) -> float | None:
    """Score points per level between the two trials of a lane, when they rise with the level."""
    if len(tried) < 2:
        return None
    (low, a), (high, b) = sorted(tried.items())[-2:]
    slope = (b.score - a.score) / (high - low)
    return slope if slope >= MIN_SLOPE else None
