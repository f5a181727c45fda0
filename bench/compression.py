"""Compression benchmark (issue 7): smart + auto against a fixed-quality ImageMagick WebP.

    make bench-compression            # builds the corpus and the extra images when missing
    .venv/bin/python bench/compression.py [--corpus DIR] [--reps 3] [--only NAME] [--no-memory]
    make bench-heldout                # the same on the held-out images (corpus.HELD_OUT_IMAGES)

For every image of the corpus (bench-corpus.sh, and what bench/corpus.py adds), at quality 80:
  (a) baseline: ImageMagick WebP q80, decoded, oriented, stripped and fitted to 1920 px by hand
      with Wand;
  (b) smart + auto, through the real pipeline (optimizer.pipeline.optimize);
  (c) smart: false + auto, through the same pipeline.
Bytes, and SSIMULACRA2 of each output against the source as it looks (decoded, converted to sRGB through
its ICC profile or a PNG's gAMA and cHRM, oriented, fitted: the baseline's own pixels for the many images without a
profile), both flattened onto magenta so that lost transparency shows. Wall
times: the three runs interleaved, in a rotating order, `--reps` times; medians, relative to (a).
Peak memory: each variant on the camera JPEG in a fresh worker-like process (Django set up, the
Celery task module imported, the Procfile worker's environment), as VmHWM. Then a PASS/FAIL line
per target of the issue.
"""

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smolpix.settings")

import corpus  # noqa: E402  (bench/corpus.py: the images beyond bench-corpus.sh)
from procfile import worker_environment  # noqa: E402

from optimizer import colour, encoders, imaging, magick, probe  # noqa: E402
from optimizer.formats import OutputFormat, RequestedFormat, SourceFormat  # noqa: E402
from optimizer.perceptual import is_graphic  # noqa: E402
from optimizer.pipeline import OptimizeOptions, optimize  # noqa: E402
from optimizer.smart import QualityTarget  # noqa: E402
from optimizer.ssimulacra2 import ssimulacra2  # noqa: E402

QUALITY = 80
MAX_WIDTH = 1920
MAX_PIXELS = 100_000_000
MAGENTA = "#ff00ff"
CAMERA = "extra-camera-5000x3000.jpg"
RESULTS = ROOT / "bench" / "results"


# --- (a) the baseline, and the reference every output is scored against -----------------------


def _fitted(data: bytes, *, colour_managed: bool = False) -> magick.Image:
    """The source decoded, oriented, stripped and fitted to MAX_WIDTH by hand (caller closes).
    `colour_managed`: converted to sRGB through its ICC profile (a PNG's: or the one its cICP, or
    gAMA and cHRM, chunks stand for) first, by LittleCMS, as it looks in a browser (the reference); the
    baseline strips the profile as it is, so its colours may shift."""
    source_format = probe.sniff(data)
    image = magick.new_image_reader(source_format.value)
    image.read(blob=data)
    implied = colour.png_colour_profile(data) if source_format is SourceFormat.PNG else None
    if colour_managed and implied:  # in place of an iCCP (a cICP chunk's)
        image.profiles["icc"] = implied
    if colour_managed and image.profiles["icc"]:
        magick.convert_to_srgb_profile(image)
    image.auto_orient()
    image.strip()
    if image.width > MAX_WIDTH:
        image.resize(MAX_WIDTH, max(1, round(image.height * MAX_WIDTH / image.width)))
    return image


def baseline(data: bytes) -> bytes:
    with _fitted(data) as image:
        image.format = "WEBP"
        image.compression_quality = QUALITY
        return image.make_blob()


def _flattened(image: magick.Image) -> np.ndarray:
    with image.clone() as copy:
        if copy.alpha_channel:
            copy.background_color = magick.Color(MAGENTA)
            copy.alpha_channel = "remove"
        if copy.colorspace != "srgb":
            copy.transform_colorspace("srgb")
        copy.depth = 8
        return np.frombuffer(copy.make_blob("RGB"), np.uint8).reshape(copy.height, copy.width, 3)


def _has_transparency(image: magick.Image) -> bool:
    if not image.alpha_channel:
        return False
    with image.clone() as copy:
        copy.depth = 8
        return bool(np.frombuffer(copy.make_blob("RGBA"), np.uint8)[3::4].min() < 255)


def measure(reference: magick.Image, output: bytes) -> tuple[float, bool]:
    """SSIMULACRA2 of `output` against `reference`, both on magenta; and whether the output kept
    the reference's transparency. The output is decoded by the library that wrote it (libwebp or
    libavif): ImageMagick 6 reads no AVIF alpha."""
    pixels = encoders.decode(output, OutputFormat.of_source(probe.sniff(output)))
    with magick.Image(
        blob=pixels.data, format=pixels.layout, width=pixels.width, height=pixels.height, depth=8
    ) as decoded:
        if decoded.size != reference.size:
            decoded.resize(*reference.size)
        kept = _has_transparency(decoded) or not _has_transparency(reference)
        return ssimulacra2(_flattened(reference), _flattened(decoded)), kept


# --- (b) and (c) through the pipeline -------------------------------------------------------


def smart(data: bytes):
    return optimize(
        data, OptimizeOptions(format=RequestedFormat.AUTO, quality=QUALITY, smart=True), max_pixels=MAX_PIXELS
    )


def fixed(data: bytes):
    return optimize(
        data, OptimizeOptions(format=RequestedFormat.AUTO, quality=QUALITY, smart=False), max_pixels=MAX_PIXELS
    )


VARIANTS = {"baseline": baseline, "smart": smart, "fixed": fixed}


# --- running ----------------------------------------------------------------------------------


def peak_memory(variant: str, path: Path) -> float:
    """VmHWM in MB of a fresh worker-like process running one variant on `path`."""
    code = (
        "import django, sys; django.setup()\n"
        "import optimizer.tasks\n"  # what a Celery worker imports at start-up
        f"sys.path.insert(0, {str(ROOT / 'bench')!r})\n"
        "import compression\n"
        f"compression.VARIANTS[{variant!r}](open({str(path)!r}, 'rb').read())\n"
        "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=worker_environment()
    )
    return int(out.stdout.split()[-1]) / 1024


def run(corpus: Path, reps: int, only: str) -> list[dict]:
    paths = sorted(p for p in corpus.iterdir() if p.is_file() and only in p.name)
    rows = []
    header = (
        f"{'image':36s} {'size':>9s} | {'base kB':>8s} {'s2':>5s} | {'smart kB':>8s} {'s2':>5s} {'claim':>5s} "
        f"{'chosen':24s} | {'fixed kB':>8s} {'s2':>5s} {'chosen':10s} | "
        f"{'t base':>7s} {'smart':>6s} {'fixed':>6s}"
    )
    print(header)
    print("-" * len(header))
    for path in paths:
        data = path.read_bytes()
        seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
        outputs = {}
        names = list(VARIANTS)
        for rep in range(reps):
            for name in names[rep % 3 :] + names[: rep % 3]:
                started = time.perf_counter()
                outputs[name] = VARIANTS[name](data)
                seconds[name].append(time.perf_counter() - started)
        with _fitted(data, colour_managed=True) as reference:
            size = f"{reference.width}x{reference.height}"
            base_score, base_kept = measure(reference, outputs["baseline"])
            smart_score, smart_kept = measure(reference, outputs["smart"].data)
            fixed_score, fixed_kept = measure(reference, outputs["fixed"].data)
        times = {name: statistics.median(values) for name, values in seconds.items()}
        smart_result, fixed_result = outputs["smart"], outputs["fixed"]
        prepared = imaging.prepare(data, max_width=MAX_WIDTH, max_pixels=MAX_PIXELS).pixels
        row = {
            "image": path.name,
            "size": size,
            "transparent": prepared.has_alpha,
            "graphic": is_graphic(prepared),
            "source_bytes": len(data),
            "baseline_bytes": len(outputs["baseline"]),
            "baseline_score": base_score,
            "smart_bytes": len(smart_result.data),
            "smart_score": smart_score,
            "smart_claim": smart_result.score,
            "smart_chosen": smart_result.encoding or "source",
            "fixed_bytes": len(fixed_result.data),
            "fixed_score": fixed_score,
            "fixed_chosen": fixed_result.encoding or "source",
            "transparency_kept": base_kept and smart_kept and fixed_kept,
            "baseline_seconds": times["baseline"],
            "smart_ratio": times["smart"] / times["baseline"],
            "fixed_ratio": times["fixed"] / times["baseline"],
        }
        rows.append(row)
        print(
            f"{path.name[:36]:36s} {size:>9s} | {row['baseline_bytes'] / 1000:8.1f} {base_score:5.1f} | "
            f"{row['smart_bytes'] / 1000:8.1f} {smart_score:5.1f} {smart_result.score:5.1f} "
            f"{row['smart_chosen'][:24]:24s} | {row['fixed_bytes'] / 1000:8.1f} {fixed_score:5.1f} "
            f"{row['fixed_chosen'][:10]:10s} | {1000 * times['baseline']:5.0f}ms {row['smart_ratio']:5.2f}x "
            f"{row['fixed_ratio']:5.2f}x" + ("" if row["transparency_kept"] else "  TRANSPARENCY LOST"),
            flush=True,
        )
    print("-" * len(header))
    return rows


def kind(row: dict) -> str:
    """photo, art, graphic, transparent or icon: what the per-kind lines group."""
    width, height = map(int, row["size"].split("x"))
    name = row["image"]
    if max(width, height) <= 256:
        return "icon"
    if row["transparent"]:
        return "transparent"
    if row["graphic"] or any(word in name for word in ("screenshot", "chart", "diagram", "graphic")):
        return "graphic"
    return "art" if name.startswith(("extra-art-", "debian-")) else "photo"


def _family(encoding: str) -> str:
    """An encoding without its quality number: "avif s9", "webp lossless", "webp m2"..."""
    return " ".join(word for word in encoding.split() if not (word[0] == "q" and word[1:].isdigit()))


def report(rows: list[dict], memory: dict[str, float] | None) -> bool:
    total = {key: sum(row[f"{key}_bytes"] for row in rows) for key in ("baseline", "smart", "fixed")}
    median = {key: statistics.median(row[f"{key}_score"] for row in rows) for key in ("baseline", "smart", "fixed")}
    minimum = {key: min(row[f"{key}_score"] for row in rows) for key in ("baseline", "smart", "fixed")}
    smart_times = [row["smart_ratio"] for row in rows]
    smart_time, smart_p95 = statistics.median(smart_times), float(np.percentile(smart_times, 95))
    fixed_time = statistics.median(row["fixed_ratio"] for row in rows)
    target = QualityTarget.for_quality(QUALITY).score
    print(
        f"{'TOTAL (bytes) / MEDIAN (score, time)':36s} {'':>9s} | {total['baseline'] / 1000:8.1f} "
        f"{median['baseline']:5.1f} | {total['smart'] / 1000:8.1f} {median['smart']:5.1f} {'':5s} "
        f"{'':24s} | {total['fixed'] / 1000:8.1f} {median['fixed']:5.1f} {'':10s} | {'':7s} {smart_time:5.2f}x "
        f"{fixed_time:5.2f}x"
    )
    print(
        f"min score: baseline {minimum['baseline']:.1f}, smart {minimum['smart']:.1f}, fixed {minimum['fixed']:.1f}; "
        f"bytes: smart {total['smart'] / total['baseline']:.3f} x baseline, "
        f"fixed {total['fixed'] / total['baseline']:.3f} x; smart time p95 {smart_p95:.2f}x; "
        f"claimed vs measured score: max |difference| {max(abs(r['smart_claim'] - r['smart_score']) for r in rows):.2f}"
    )
    print(
        f"\n{'kind':12s} {'images':>6s} {'bytes':>6s} {'time':>6s} {'s2 base':>8s} {'s2 smart':>8s}  encoders that won"
    )
    for name in ("photo", "art", "graphic", "transparent", "icon"):
        group = [row for row in rows if kind(row) == name]
        if not group:
            continue
        ratio = sum(row["smart_bytes"] for row in group) / sum(row["baseline_bytes"] for row in group)
        won = collections.Counter(_family(row["smart_chosen"]) for row in group).most_common()
        print(
            f"{name:12s} {len(group):6d} {ratio:6.3f} {statistics.median(row['smart_ratio'] for row in group):5.2f}x "
            f"{statistics.median(row['baseline_score'] for row in group):8.1f} "
            f"{statistics.median(row['smart_score'] for row in group):8.1f}  "
            + ", ".join(f"{family} {count}" for family, count in won)
        )
    waste = [row["image"] for row in rows
             if row["baseline_score"] >= 80 and row["smart_bytes"] > 1.05 * row["baseline_bytes"]]  # fmt: skip
    grown = [row["image"] for row in rows if row["smart_bytes"] > row["source_bytes"]]
    over_fixed = [row["image"] for row in rows
                  if row["fixed_score"] >= target and row["smart_bytes"] > row["fixed_bytes"]]  # fmt: skip
    checks = [
        ("total bytes smart <= 0.70 x baseline", total["smart"] <= 0.70 * total["baseline"],
         f"{total['smart'] / total['baseline']:.3f}"),
        ("every image SSIMULACRA2 >= 70 (smart)", minimum["smart"] >= 70, f"min {minimum['smart']:.1f}"),
        ("median score smart >= baseline median", median["smart"] >= median["baseline"],
         f"{median['smart']:.1f} vs {median['baseline']:.1f}"),
        ("no waste: where WebP q80 scores >= 80, smart <= 1.05 x its bytes", not waste, ", ".join(waste)),
        ("never larger than the source (the landing page's claim)", not grown, ", ".join(grown)),
        (f"never larger than smart:false where it scores >= {target:g}", not over_fixed, ", ".join(over_fixed)),
        ("transparency intact in every output", all(row["transparency_kept"] for row in rows), ""),
        ("median time smart <= 1.5 x baseline", smart_time <= 1.5, f"{smart_time:.2f}x"),
        ("p95 time smart <= 3 x baseline", smart_p95 <= 3.0, f"{smart_p95:.2f}x"),
        ("median time smart:false <= 1.1 x baseline", fixed_time <= 1.1, f"{fixed_time:.2f}x"),
    ]  # fmt: skip
    if memory:
        print("peak memory (VmHWM) of a worker-like process on the 5000x3000 JPEG: "
              + ", ".join(f"{name} {mb:.0f} MB" for name, mb in memory.items()))  # fmt: skip
        worst = max(memory["smart"], memory["fixed"])
        checks.append(("peak worker memory <= 400 MB on a 5000x3000 JPEG", worst <= 400, f"{worst:.0f} MB"))
    for label, passed, detail in checks:
        print(f"  [{'PASS' if passed else 'FAIL'}] {label}  {detail}")
    return all(passed for _, passed, _ in checks)


def corpus_arguments(description: str) -> argparse.ArgumentParser:
    """The options that pick the images: --corpus, --held-out, --only."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, help="default: bench-corpus/, or bench-heldout/ with --held-out")
    parser.add_argument("--only", default="", help="only images whose name contains this")
    parser.add_argument(
        "--held-out", action="store_true", help="the held-out images instead (bench-heldout/; no memory run)"
    )
    return parser


def built_corpus(args: argparse.Namespace) -> Path:
    """The corpus folder the options name, its images built when missing; Django set up."""
    folder = args.corpus or ROOT / ("bench-heldout" if args.held_out else "bench-corpus")
    (corpus.build_held_out if args.held_out else corpus.build)(folder)
    import django

    django.setup()
    return folder


def main() -> None:
    parser = corpus_arguments(__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true")
    args = parser.parse_args()
    args.corpus = built_corpus(args)
    args.no_memory |= args.held_out  # the camera JPEG is the development corpus'
    print(f"quality {QUALITY}: target SSIMULACRA2 {QualityTarget.for_quality(QUALITY).score:g}, reps {args.reps}")
    rows = run(args.corpus, args.reps, args.only)
    memory = None if args.no_memory else {name: peak_memory(name, args.corpus / CAMERA) for name in VARIANTS}
    passed = report(rows, memory)
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = RESULTS / ("compression-heldout.json" if args.held_out else "compression.json")
    results.write_text(json.dumps({"rows": rows, "memory": memory}, indent=1))
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
