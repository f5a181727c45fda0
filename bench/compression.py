"""Compression benchmark (issue 7): smart + auto against a fixed-quality ImageMagick WebP.

    make bench-compression            # builds the corpus and the extra images when missing
    .venv/bin/python bench/compression.py [--corpus DIR] [--reps 3] [--only NAME] [--no-memory]

For every image of the corpus (bench-corpus.sh) plus four made here (a UI screenshot, a flat
chart, a soft-alpha logo, a 5,000 x 3,000 camera JPEG), at quality 80:
  (a) baseline: ImageMagick WebP q80, decoded, oriented, stripped and fitted to 1920 px by hand
      with Wand;
  (b) smart + auto, through the real pipeline (optimizer.pipeline.optimize);
  (c) smart: false + auto, through the same pipeline.
Bytes, and SSIMULACRA2 of each output against the source as it looks (decoded, converted to sRGB through
its ICC profile, oriented, fitted: the baseline's own pixels for the many images without a
profile), both flattened onto magenta so that lost transparency shows. Wall
times: the three runs interleaved, in a rotating order, `--reps` times; medians, relative to (a).
Peak memory: each variant on the camera JPEG in a fresh worker-like process (Django set up, the
Celery task module imported), as VmHWM. Then a PASS/FAIL line per target of the issue.
"""

import argparse
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

from optimizer import imaging, magick  # noqa: E402
from optimizer.compression import QualityTarget, RequestedFormat  # noqa: E402
from optimizer.pipeline import OptimizeOptions, optimize  # noqa: E402
from optimizer.ssimulacra2 import ssimulacra2  # noqa: E402

QUALITY = 80
MAX_WIDTH = 1920
MAX_PIXELS = 100_000_000
MAGENTA = "#ff00ff"
CAMERA = "extra-camera-5000x3000.jpg"
RESULTS = ROOT / "bench" / "results"
FONTS = Path("/usr/share/fonts/truetype/dejavu")


# --- (a) the baseline, and the reference every output is scored against -----------------------


def _fitted(data: bytes, *, colour_managed: bool = False) -> magick.Image:
    """The source decoded, oriented, stripped and fitted to MAX_WIDTH by hand (caller closes).
    `colour_managed`: converted to sRGB through its ICC profile first, as it looks (the
    reference); the baseline strips the profile as it is, so its colours may shift."""
    image = magick.new_image_reader(imaging.sniff(data).value)
    image.read(blob=data)
    if colour_managed and "icc" in image.profiles:
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
    the reference's transparency."""
    with magick.new_image_reader(imaging.sniff(output).value) as decoded:
        decoded.read(blob=output)
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


# --- the extra images -----------------------------------------------------------------------


def _text(draw, x, y, text, size, colour, font="DejaVuSans.ttf"):
    draw.font = str(FONTS / font)
    draw.font_size = size
    draw.fill_color = magick.Color(colour)
    draw.stroke_color = magick.Color("none")
    draw.text(x, y, text)


def _box(draw, left, top, right, bottom, fill, radius=0, stroke="none"):
    draw.fill_color = magick.Color(fill)
    draw.stroke_color = magick.Color(stroke)
    draw.stroke_width = 1
    if radius:
        draw.rectangle(left=left, top=top, right=right, bottom=bottom, radius=radius)
    else:
        draw.rectangle(left=left, top=top, right=right, bottom=bottom)


def make_screenshot(path: Path) -> None:
    """1600x1000 dashboard: flat panels, buttons, antialiased text, a table, code and a chart."""
    width, height = 1600, 1000
    with magick.Image(width=width, height=height, background=magick.Color("#f6f7f9")) as image, magick.Drawing() as d:
        _box(d, 0, 0, width, 44, "#2b2f36")
        for i, colour in enumerate(("#ff5f56", "#ffbd2e", "#27c93f")):
            d.fill_color = magick.Color(colour)
            d.circle((22 + 22 * i, 22), (28 + 22 * i, 22))
        _text(d, 640, 29, "smolpix - dashboard", 16, "#e6e6e6")
        _box(d, 0, 44, 260, height, "#20242b")
        for i, item in enumerate(["Overview", "Images", "API keys", "Usage", "Billing", "Settings", "Docs", "Support"]):
            if i == 1:
                _box(d, 8, 70 + 44 * i, 252, 106 + 44 * i, "#3a6df0", radius=6)
            _text(d, 28, 95 + 44 * i, item, 17, "#ffffff" if i == 1 else "#b8bec9")
        _text(d, 300, 100, "Images", 30, "#1d2330", "DejaVuSans-Bold.ttf")
        _text(d, 300, 130, "Optimise JPEG, PNG, WebP and AVIF with a perceptual quality floor.", 15, "#5b6472")
        for i, label in enumerate(("Upload", "Compress all", "Export")):
            x = 300 + 150 * i
            _box(d, x, 160, x + 136, 198, "#3a6df0" if i == 0 else "#ffffff", radius=8, stroke="#c9ced8")
            _text(d, x + 22, 185, label, 15, "#ffffff" if i == 0 else "#1d2330")
        _box(d, 300, 230, 1560, 560, "#ffffff", radius=10, stroke="#dde1e8")
        columns = [330, 700, 860, 1010, 1160, 1320]
        for x, title in zip(columns, ["File", "Format", "Before", "After", "Saved", "SSIMULACRA2"], strict=True):
            _text(d, x, 268, title, 14, "#7a8391", "DejaVuSans-Bold.ttf")
        rng = np.random.default_rng(7)
        for row in range(7):
            y = 310 + 36 * row
            _box(d, 316, y - 24, 1544, y + 10, "#f3f6fb" if row % 2 else "#ffffff")
            before = int(rng.integers(80, 4000))
            after = int(before * rng.uniform(0.2, 0.7))
            cells = [f"IMG_{4210 + row * 17}.jpg", ("webp", "avif")[row % 2], f"{before} KB", f"{after} KB",
                     f"{100 - 100 * after // before}%", f"{rng.uniform(72, 88):.1f}"]  # fmt: skip
            for x, cell in zip(columns, cells, strict=True):
                _text(d, x, y, cell, 15, "#1d2330", "DejaVuSans.ttf" if x == 330 else "DejaVuSansMono.ttf")
        _box(d, 300, 590, 920, 960, "#ffffff", radius=10, stroke="#dde1e8")
        code = ["curl -X POST https://smolpix.co/api/v1/optimize \\", "  -H 'Authorization: Bearer pk_live_...' \\",
                "  -d '{\"url\": \"https://example.com/photo.jpg\"}'", "", "{", '  "format": "avif",',
                '  "optimizedSize": 184213,', '  "quality": {"metric": "ssimulacra2", "score": 76.2}', "}"]  # fmt: skip
        for i, line in enumerate(code):
            if line:
                _text(
                    d,
                    320,
                    625 + 26 * i,
                    line,
                    14,
                    "#2a7a3b" if line.startswith('  "') else "#303846",
                    "DejaVuSansMono.ttf",
                )
        _box(d, 950, 590, 1560, 960, "#ffffff", radius=10, stroke="#dde1e8")
        _text(d, 975, 625, "Bytes saved per day", 16, "#1d2330", "DejaVuSans-Bold.ttf")
        for i in range(14):
            bar = int(40 + 220 * abs(np.sin(i * 0.7 + 0.3)))
            _box(d, 980 + 40 * i, 930 - bar, 1008 + 40 * i, 930, "#3a6df0" if i % 3 else "#27c93f")
        d.stroke_color = magick.Color("#c9ced8")
        d.line((975, 931), (1540, 931))
        d(image)
        image.format = "PNG"
        image.save(filename=str(path))


def make_chart(path: Path) -> None:
    """900x600 bar chart in four colours on white: a flat graphic."""
    with magick.Image(width=900, height=600, background=magick.Color("white")) as image, magick.Drawing() as d:
        _text(d, 40, 50, "Quarterly revenue", 28, "#222222", "DejaVuSans-Bold.ttf")
        colours = ["#e4572e", "#17bebb", "#ffc914", "#76b041"]
        for quarter in range(4):
            for series in range(4):
                bar = 60 + 70 * ((quarter * 3 + series * 5) % 6)
                x = 80 + quarter * 200 + series * 40
                _box(d, x, 540 - bar, x + 32, 540, colours[series])
            _text(d, 120 + quarter * 200, 575, f"Q{quarter + 1}", 18, "#444444")
        d.stroke_color = magick.Color("#444444")
        d.stroke_width = 2
        d.line((60, 541), (860, 541))
        d(image)
        image.type = "palette"
        image.format = "PNG"
        image.save(filename=str(path))


def make_logo(path: Path) -> None:
    """1200x700 RGBA logo: a gradient disc, text, a blurred drop shadow (soft alpha edges)."""
    width, height = 1200, 700
    y, x = np.mgrid[0:420, 0:420].astype(np.float32)
    radius = np.hypot(x - 209.5, y - 209.5)
    t = np.clip(radius / 200.0, 0, 1)[..., None]
    rgb = (1 - t) * np.array([255, 216, 77], np.float32) + t * np.array([224, 64, 106], np.float32)
    alpha = np.clip(200.5 - radius, 0, 1) * 255
    disc_pixels = np.dstack([rgb, alpha]).round().astype(np.uint8)
    with magick.Image(width=width, height=height, background=magick.Color("transparent")) as art:
        with magick.Image(blob=disc_pixels.tobytes(), format="RGBA", width=420, height=420, depth=8) as disc:
            art.composite(disc, left=90, top=140)
        with magick.Drawing() as d:
            _text(d, 560, 330, "smol", 150, "#1e2a78", "DejaVuSans-Bold.ttf")
            _text(d, 560, 470, "pix", 150, "#e0406a", "DejaVuSans-Bold.ttf")
            d.fill_color = magick.Color("#ffffff")
            d.circle((300, 350), (300, 280))
            d(art)
        with art.clone() as shadow:
            shadow.background_color = magick.Color("#101030")
            shadow.shadow(alpha=60.0, sigma=18.0, x=0, y=0)
            with magick.Image(width=width, height=height, background=magick.Color("transparent")) as canvas:
                canvas.composite(shadow, left=14, top=22)
                canvas.composite(art, left=0, top=0)
                canvas.format = "PNG"
                canvas.save(filename=str(path))


def make_camera(path: Path, corpus: Path) -> None:
    """5000x3000 JPEG q92 4:2:0: four corpus photos upscaled and tiled, with sensor-like grain."""
    tiles = ["skimage-motorcycle_left.png", "skimage-coffee.png", "skimage-rocket.jpg", "skimage-chelsea.png"]
    with magick.Image(width=5000, height=3000, background=magick.Color("black")) as canvas:
        for i, name in enumerate(tiles):
            with magick.Image(filename=str(corpus / name)) as tile:
                tile.alpha_channel = False
                tile.resize(2500, 1500, filter="lanczos")
                canvas.composite(tile, left=2500 * (i % 2), top=1500 * (i // 2))
        canvas.depth = 8
        rgb = np.frombuffer(canvas.make_blob("RGB"), np.uint8).reshape(3000, 5000, 3)
    grain = np.random.default_rng(42).normal(0.0, 3.5, size=(3000, 5000, 1)).astype(np.float32)
    noisy = np.clip(rgb.astype(np.float32) + grain, 0, 255).astype(np.uint8)
    with magick.Image(blob=noisy.tobytes(), format="RGB", width=5000, height=3000, depth=8) as image:
        image.unsharp_mask(radius=0, sigma=1.0, amount=0.6, threshold=0)
        image.format = "JPEG"
        image.compression_quality = 92
        image.options["jpeg:sampling-factor"] = "2x2"
        path.write_bytes(image.make_blob())  # by blob: the policy allows the JPEG coder, not "JPG"


def make_extra_images(corpus: Path) -> None:
    makers = {
        "extra-screenshot-ui.png": make_screenshot,
        "extra-chart-flat.png": make_chart,
        "extra-logo-softalpha.png": make_logo,
        CAMERA: lambda path: make_camera(path, corpus),
    }
    for name, make in makers.items():
        if not (corpus / name).exists():
            make(corpus / name)
            print(f"made {name}", flush=True)


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
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
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
        row = {
            "image": path.name,
            "size": size,
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


def report(rows: list[dict], memory: dict[str, float] | None) -> bool:
    total = {key: sum(row[f"{key}_bytes"] for row in rows) for key in ("baseline", "smart", "fixed")}
    median = {key: statistics.median(row[f"{key}_score"] for row in rows) for key in ("baseline", "smart", "fixed")}
    minimum = {key: min(row[f"{key}_score"] for row in rows) for key in ("baseline", "smart", "fixed")}
    smart_time = statistics.median(row["smart_ratio"] for row in rows)
    fixed_time = statistics.median(row["fixed_ratio"] for row in rows)
    print(
        f"{'TOTAL (bytes) / MEDIAN (score, time)':36s} {'':>9s} | {total['baseline'] / 1000:8.1f} "
        f"{median['baseline']:5.1f} | {total['smart'] / 1000:8.1f} {median['smart']:5.1f} {'':5s} "
        f"{'':24s} | {total['fixed'] / 1000:8.1f} {median['fixed']:5.1f} {'':10s} | {'':7s} {smart_time:5.2f}x "
        f"{fixed_time:5.2f}x"
    )
    print(
        f"min score: baseline {minimum['baseline']:.1f}, smart {minimum['smart']:.1f}, fixed {minimum['fixed']:.1f}; "
        f"bytes: smart {total['smart'] / total['baseline']:.3f} x baseline, "
        f"fixed {total['fixed'] / total['baseline']:.3f} x; "
        f"claimed vs measured score: max |difference| {max(abs(r['smart_claim'] - r['smart_score']) for r in rows):.2f}"
    )
    floor = QualityTarget.for_quality(QUALITY).floor
    checks = [
        ("total bytes smart <= 0.75 x baseline", total["smart"] <= 0.75 * total["baseline"],
         f"{total['smart'] / total['baseline']:.3f}"),
        ("every image SSIMULACRA2 >= 70 (smart)", minimum["smart"] >= 70,
         f"min {minimum['smart']:.1f} (floor {floor:g})"),
        ("median score smart >= baseline median", median["smart"] >= median["baseline"],
         f"{median['smart']:.1f} vs {median['baseline']:.1f}"),
        ("transparency intact in every output", all(row["transparency_kept"] for row in rows), ""),
        ("median time smart <= 2.0 x baseline", smart_time <= 2.0, f"{smart_time:.2f}x"),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT / "bench-corpus")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", default="", help="only images whose name contains this")
    parser.add_argument("--no-memory", action="store_true")
    args = parser.parse_args()
    make_extra_images(args.corpus)
    import django

    django.setup()
    print(f"quality {QUALITY}: floor SSIMULACRA2 {QualityTarget.for_quality(QUALITY).floor:g}, reps {args.reps}")
    rows = run(args.corpus, args.reps, args.only)
    memory = None if args.no_memory else {name: peak_memory(name, args.corpus / CAMERA) for name in VARIANTS}
    passed = report(rows, memory)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "compression.json").write_text(json.dumps({"rows": rows, "memory": memory}, indent=1))
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
