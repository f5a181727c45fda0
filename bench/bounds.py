"""What any smart search over our encoders' settings could reach (issue 16's bounds).

    make bench-bounds                               # the development corpus
    make bench-bounds BENCH_ARGS="--held-out"       # the held-out images
    .venv/bin/python bench/bounds.py [--corpus DIR] [--held-out] [--only NAME]

For each image at quality 80, first what the search itself measures: the prepared image, the
yardstick (smart:false's WebP) encoded and scored, and the image's target (QualityTarget.for_image).
Then, for each family of settings the search has (AVIF at speed 9, 4:2:0 and 4:4:4; WebP; AVIF at
speed 7, which it runs only after a far miss), the lowest quality level whose encoding reaches the
target, found by bisection (scores grow with the level, give or take a hair), and its bytes; the
256-colour palette (scored) and lossless WebP (exact) too. Two bounds, against the baseline
(ImageMagick WebP q80 by hand, as in bench/compression.py) measured in the same run:
- bytes: the smallest encoding that reaches the target without speed 7 ("bound"; with it: "with
  s7"), or smart's own answer where that is smaller (it may keep the source). No search over these
  settings returns fewer bytes at these targets;
- time: the least a search must do to return the bound's encoding even if it knew which it is:
  prepare, the yardstick (encoded beside the reference's half of the metric, decoded, scored) and
  that encoding's one trial (encoded, decoded, scored; exact ones only encoded). Each step the best
  of 3, as are the baseline's and smart's own times.
"""

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from compression import (  # bench/compression.py, which also puts the project on sys.path
    MAX_PIXELS,
    MAX_WIDTH,
    QUALITY,
    baseline,
    built_corpus,
    corpus_arguments,
    smart,
)

from optimizer.choice import AVIF_SPEED, LOSSLESS_WEBP, encode_if_faithful, plain_settings, webp_method
from optimizer.encoders import Encoded, EncoderSettings, decode
from optimizer.formats import OutputFormat
from optimizer.imaging import prepare
from optimizer.perceptual import Reference
from optimizer.pixels import Pixels
from optimizer.smart import CAREFUL_AVIF_SPEED, PALETTE_WEBP, QualityTarget

REPS = 3
LEVELS = range(5, 100)  # a lane's levels (optimizer.smart.Lane)
SLOW = "avif s7"


def _best_time(step: Callable[[], object]) -> tuple[float, object]:
    """The best of REPS wall times of `step`, and what it returned."""
    seconds = []
    for _ in range(REPS):
        started = time.perf_counter()
        result = step()
        seconds.append(time.perf_counter() - started)
    return min(seconds), result


def _families(pixels: Pixels) -> dict[str, Callable[[int], EncoderSettings]]:
    return {
        "avif s9": lambda q: EncoderSettings(OutputFormat.AVIF, q, speed=AVIF_SPEED),
        "avif s9 4:4:4": lambda q: EncoderSettings(OutputFormat.AVIF, q, speed=AVIF_SPEED, full_chroma=True),
        "webp": lambda q: EncoderSettings(OutputFormat.WEBP, q, method=webp_method(pixels)),
        SLOW: lambda q: EncoderSettings(OutputFormat.AVIF, q, speed=CAREFUL_AVIF_SPEED),
    }


class _Scored:
    """Encodings of one image, scored against it as the search scores them."""

    def __init__(self, pixels: Pixels) -> None:
        self.pixels = pixels
        self.reference = Reference(pixels)

    def score(self, encoded: Encoded) -> float:
        return self.reference.score(encoded.decoded or decode(encoded.data, encoded.format))

    def lowest_passing(self, family: Callable[[int], EncoderSettings], target: float) -> tuple[Encoded, float] | None:
        """The encoding at the lowest level of `family` that reaches `target`, and its score."""
        low, high, found = LEVELS.start, LEVELS.stop - 1, None
        while low <= high:  # levels below `low` miss (or lose the transparency)
            level = (low + high) // 2
            encoded = encode_if_faithful(self.pixels, family(level))
            score = self.score(encoded) if encoded else -1.0
            if score >= target:
                found, high = (encoded, score), level - 1
            else:
                low = level + 1
        return found

    def trial_seconds(self, encoded: Encoded, *, exact: bool) -> float:
        """A trial of `encoded`'s settings: encoded, and unless exact decoded and scored."""
        seconds, _ = _best_time(lambda: encode_if_faithful(self.pixels, encoded.settings))
        if not exact:
            decoding, decoded = _best_time(lambda: decode(encoded.data, encoded.format))
            scoring, _ = _best_time(lambda: self.reference.score(decoded))
            seconds += decoding + scoring
        return seconds


def bounds(path: Path) -> dict | None:
    data = path.read_bytes()
    baseline_seconds, baseline_bytes = _best_time(lambda: baseline(data))
    smart_seconds, smart_result = _best_time(lambda: smart(data))
    prepare_seconds, prepared = _best_time(lambda: prepare(data, max_width=MAX_WIDTH, max_pixels=MAX_PIXELS))
    pixels = prepared.pixels
    if min(pixels.width, pixels.height) < 8:  # not measurable: encoded lossless
        return None
    scored = _Scored(pixels)
    reference_seconds, _ = _best_time(scored.reference.prepared)
    yardstick_settings = plain_settings(pixels, OutputFormat.WEBP, QUALITY)
    encode_seconds, yardstick = _best_time(lambda: encode_if_faithful(pixels, yardstick_settings))
    decode_seconds, decoded = _best_time(lambda: yardstick.decoded or decode(yardstick.data, yardstick.format))
    score_seconds, yardstick_score = _best_time(lambda: scored.reference.score(decoded))
    target = QualityTarget.for_quality(QUALITY).for_image(yardstick_score).score
    # Each family's lowest level that reaches the target (encoding, score), and the exact ones
    candidates = {"yardstick": (yardstick, yardstick_score)} if yardstick_score >= target else {}
    for name, family in _families(pixels).items():
        if found := scored.lowest_passing(family, target):
            candidates[name] = found
    if (palette := encode_if_faithful(pixels, PALETTE_WEBP)) and (score := scored.score(palette)) >= target:
        candidates["palette"] = (palette, score)
    if lossless := encode_if_faithful(pixels, LOSSLESS_WEBP):
        candidates["lossless"] = (lossless, 100.0)
    fast = min((name for name in candidates if name != SLOW), key=lambda name: len(candidates[name][0].data))
    with_slow = min(candidates, key=lambda name: len(candidates[name][0].data))
    winner, winner_score = candidates[fast]
    smarter = len(winner.data) <= len(smart_result.data)  # the bound's encoding, else smart's own answer
    floor = prepare_seconds + max(encode_seconds, reference_seconds) + decode_seconds + score_seconds
    if fast != "yardstick":
        floor += scored.trial_seconds(winner, exact=fast == "lossless")
    return {
        "image": path.name,
        "size": f"{pixels.width}x{pixels.height}",
        "target": target,
        "baseline_bytes": len(baseline_bytes),
        "smart_bytes": len(smart_result.data),
        "smart_claim": smart_result.score,
        "bound_bytes": min(len(winner.data), len(smart_result.data)),
        "bound_score": winner_score if smarter else smart_result.score,
        "bound_chosen": str(winner.settings) if smarter else f"smart's {smart_result.encoding or 'source'}",
        "with_slow_bytes": min(len(candidates[with_slow][0].data), len(smart_result.data)),
        "smart_ratio": smart_seconds / baseline_seconds,
        "floor_ratio": floor / baseline_seconds,
    }


def report(rows: list[dict]) -> None:
    total = {key: sum(row[f"{key}_bytes"] for row in rows) for key in ("baseline", "smart", "bound", "with_slow")}
    times = {key: [row[f"{key}_ratio"] for row in rows] for key in ("smart", "floor")}
    print(
        f"bytes against the baseline: smart {total['smart'] / total['baseline']:.3f}x, "
        f"bound {total['bound'] / total['baseline']:.3f}x, with s7 {total['with_slow'] / total['baseline']:.3f}x "
        "(issue 16: <= 0.70x)"
    )
    print(
        "median score (our metric): smart's claim "
        f"{statistics.median(row['smart_claim'] or 100.0 for row in rows):.1f}, "
        f"the bound's {statistics.median(row['bound_score'] or 100.0 for row in rows):.1f}"
    )
    for key in ("smart", "floor"):
        print(
            f"time against the baseline, {key}: median {statistics.median(times[key]):.2f}x, "
            f"p95 {float(np.percentile(times[key], 95)):.2f}x (issue 16: <= 1.5x, <= 3x)"
        )


def main() -> None:
    args = corpus_arguments(__doc__).parse_args()
    folder = built_corpus(args)
    print(f"quality {QUALITY}; bytes and time against ImageMagick WebP q{QUALITY}, best of {REPS}")
    header = (
        f"{'image':34s} {'size':>9s} {'target':>6s} | {'base kB':>8s} {'smart kB':>8s} {'bound kB':>8s} "
        f"{'chosen':22s} {'with s7':>8s} | {'t smart':>7s} {'floor':>6s}"
    )
    print(header + "\n" + "-" * len(header))
    rows = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and args.only in p.name):
        row = bounds(path)
        if row is None:
            continue
        rows.append(row)
        print(
            f"{row['image'][:34]:34s} {row['size']:>9s} {row['target']:6.1f} | {row['baseline_bytes'] / 1000:8.1f} "
            f"{row['smart_bytes'] / 1000:8.1f} {row['bound_bytes'] / 1000:8.1f} {row['bound_chosen'][:22]:22s} "
            f"{row['with_slow_bytes'] / 1000:8.1f} | {row['smart_ratio']:6.2f}x {row['floor_ratio']:5.2f}x",
            flush=True,
        )
    print("-" * len(header))
    report(rows)


if __name__ == "__main__":
    main()
