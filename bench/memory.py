"""Peak memory of a worker per input size (issue 14): is every accepted image within the ceiling?

    make bench-memory
    .venv/bin/python bench/memory.py [--sizes 12,24,48,100] [--ceiling-mib 1024]

For each size (megapixels) it makes four sources (never committed; made here, deterministically):
a photo-like JPEG (shapes and grain), a smooth PNG (a gradient, small on disk however large, like
the 1.2 MB 10000 x 10000 PNG of the issue), a transparent PNG (a soft-edged shape) and a flat PNG
(blocks of a few hundred colours: a graphic with more colours than a palette holds). Each is
optimized in a fresh worker-like process (Django set up, the Celery task module imported, exactly
as a worker child starts) through
the real pipeline, as WebP and as AVIF, at the default maxWidth (1920) with smart on and off, and
at full width (maxWidth = the image's width; smart makes no difference there, since images above
8 megapixels are not measured); then with either format allowed (`auto`: both encoders at once),
smart at the largest result it scores keeping the metric's reference between trials (5 MP) and
at the largest it scores at all (8.4 MP). It prints the process's peak resident memory (VmHWM), its
resident memory before the image (the baseline, measured in the same process), the time, and the
outcome: the format returned, or the 4xx code of a refusal. An accepted image over the ceiling is
a FAIL; a refusal must come before the decode, so it is quick and cheap.
"""

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from procfile import worker_environment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer.compression import SMART_MAX_PIXELS  # noqa: E402
from optimizer.imaging import fit_width  # noqa: E402
from optimizer.perceptual import KEEP_MAX_PIXELS  # noqa: E402

RESULTS = ROOT / "bench" / "results"
# Width x height for each size; 100 MP is the default OPTIMIZER_MAX_PIXELS.
SIZES = {12: (4000, 3000), 24: (6000, 4000), 48: (8000, 6000), 100: (10000, 10000)}

# Runs in the fresh process: argv = source path, format, maxWidth, smart.
WORKER_LIKE = """
import os, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smolpix.settings")
import django
django.setup()
import optimizer.tasks  # what a Celery worker imports at start-up
from django.conf import settings
from optimizer.formats import RequestedFormat
from optimizer.probe import ImagingError
from optimizer.pipeline import OptimizeOptions, optimize

def status(field):
    return int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith(field))) // 1024

path, format, max_width, smart = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
source = open(path, "rb").read()
baseline = status("VmRSS")
started = time.perf_counter()
options = OptimizeOptions(format=RequestedFormat(format), max_width=max_width, smart=smart)
try:
    result = optimize(source, options, max_pixels=settings.OPTIMIZER_MAX_PIXELS)
    outcome = f"{result.format} {result.width}x{result.height}"
except ImagingError as error:
    outcome = f"refused: {type(error).__name__}"
print(baseline, status("VmHWM"), round(time.perf_counter() - started, 2), outcome, sep="\\t")
"""


def make_sources(folder: Path, megapixels: int) -> list[Path]:
    """A photo-like JPEG, a smooth PNG, a transparent PNG and a flat PNG of `megapixels`, made with
    numpy and Pillow (ImageMagick's own tools are held to the system policy's 128 megapixels of cache)."""
    width, height = SIZES[megapixels]
    photo = folder / f"photo-{megapixels}mp.jpg"
    smooth, transparent, flat = (folder / f"{kind}-{megapixels}mp.png" for kind in ("smooth", "transparent", "flat"))
    random = np.random.default_rng(megapixels)
    if not photo.exists():
        # Shapes at a coarse scale, enlarged smoothly, and grain on top: what a camera makes.
        coarse = Image.fromarray(random.integers(0, 256, (height // 64, width // 64, 3), dtype=np.uint8))
        pixels = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
        pixels += random.integers(-10, 11, (height, width, 1), dtype=np.int16)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(photo, quality=90)
        del pixels
    rows = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    columns = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    gradient = [rows + 0 * columns, columns + 0 * rows, (rows + columns) / 2]
    if not smooth.exists():
        Image.fromarray(np.stack(gradient, axis=-1).astype(np.uint8)).save(smooth)
    if not transparent.exists():
        # A soft-edged shape on nothing: what logos and cut-outs are.
        alpha = np.clip(255 - np.hypot(rows - 128, columns - 128) * 2, 0, 255)
        Image.fromarray(np.stack([*gradient, alpha], axis=-1).astype(np.uint8)).save(transparent)
    if not flat.exists():
        # 24 blocks across, each of one of 600 colours: still a graphic once fitted to 1920 px
        # (the blocks' blended edges add colours, not too many), searched with a 256-colour palette.
        block, drawn = width // 24, np.random.default_rng(megapixels)  # the same whether the photo is made or not
        palette = drawn.integers(0, 256, (600, 3), dtype=np.uint8)
        blocks = palette[drawn.integers(0, len(palette), (-(-height // block), -(-width // block)))]
        Image.fromarray(np.repeat(np.repeat(blocks, block, axis=0), block, axis=1)[:height, :width]).save(flat)
    return [photo, smooth, transparent, flat]


def variants(width: int, height: int) -> list[tuple[str, int, bool]]:
    """(format, maxWidth, smart): the default width with smart on and off, and the full width
    (where smart changes nothing: images above 8 megapixels are not measured); then the smart
    search's own worst cases, with both formats allowed (both encoders at once): the largest result
    it measures keeping the metric's reference between trials, and the largest it measures."""
    plain = [(format, max_width, smart) for format in ("webp", "avif") for max_width, smart in
             ((1920, True), (1920, False), (width, False))]  # fmt: skip
    return plain + [
        ("auto", _largest_width(width, height, pixels), True) for pixels in (KEEP_MAX_PIXELS, SMART_MAX_PIXELS)
    ]


def _largest_width(width: int, height: int, pixels: int) -> int:
    """The largest maxWidth whose result has at most `pixels`."""
    max_width = math.isqrt(pixels * width // height)
    while math.prod(fit_width(width, height, max_width)) > pixels:
        max_width -= 1
    return max_width


def _accepted(row: dict) -> bool:
    return not row["outcome"].startswith(("refused", "CRASHED"))


def run_one(path: Path, format: str, max_width: int, smart: bool) -> dict:
    process = subprocess.run(
        [sys.executable, "-c", WORKER_LIKE, str(path), format, str(max_width), "1" if smart else "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**worker_environment(), "PYTHONPATH": str(ROOT)},
    )
    if process.returncode != 0:
        return {"baseline": 0, "peak": 0, "seconds": 0.0, "outcome": f"CRASHED ({process.stderr.strip()[-200:]})"}
    baseline, peak, seconds, outcome = process.stdout.strip().splitlines()[-1].split("\t")
    return {"baseline": int(baseline), "peak": int(peak), "seconds": float(seconds), "outcome": outcome}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="megapixels, of 12,24,48,100")
    parser.add_argument("--ceiling-mib", type=int, default=1024, help="the peak every accepted image must stay under")
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]

    rows = []
    print(f"{'source':22s} {'format':6s} {'maxWidth':>8s} {'smart':5s} | {'base MB':>7s} {'peak MB':>7s} "
          f"{'x ceiling':>9s} {'s':>6s} | outcome")  # fmt: skip
    print("-" * 100)
    with tempfile.TemporaryDirectory(prefix="smolpix-bench-memory-") as folder:
        for megapixels in sizes:
            for path in make_sources(Path(folder), megapixels):
                for format, max_width, smart in variants(*SIZES[megapixels]):
                    row = {"source": path.name, "format": format, "max_width": max_width, "smart": smart}
                    row |= run_one(path, format, max_width, smart)
                    row["fail"] = row["outcome"].startswith("CRASHED") or (
                        _accepted(row) and row["peak"] > arguments.ceiling_mib
                    )
                    rows.append(row)
                    print(
                        f"{path.name:22s} {format:6s} {max_width:8d} {smart!s:5s} | {row['baseline']:7d} "
                        f"{row['peak']:7d} {row['peak'] / arguments.ceiling_mib:9.2f} {row['seconds']:6.2f} | "
                        f"{row['outcome']}{'   FAIL' if row['fail'] else ''}",
                        flush=True,
                    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "memory.json").write_text(json.dumps(rows, indent=2))
    accepted = [row for row in rows if _accepted(row)]
    failures = sum(row["fail"] for row in rows)
    print("-" * 100)
    print(
        f"accepted: {len(accepted)} of {len(rows)}; highest peak of an accepted image: "
        f"{max((row['peak'] for row in accepted), default=0)} MB (ceiling {arguments.ceiling_mib} MiB); "
        f"{'PASS' if not failures else f'FAIL ({failures})'}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    started = time.monotonic()
    status = main()
    print(f"({time.monotonic() - started:.0f} s)")
    sys.exit(status)
