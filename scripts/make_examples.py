"""Make the before/after examples the landing and pricing pages show: `make examples`.

The "before" images are drawn here (no third-party pictures): a photo-like landscape saved as a
typical camera/CMS JPEG, and a flat chart saved as a PNG screenshot would be. The "after" images
are what Smolpix's own pipeline (optimizer.pipeline.optimize, with the API's defaults) makes of
them. Everything lands in static/img/examples/ with examples.json, the figures the pages print;
tests check the figures against the files and against what the pipeline makes of the sources now.
"""

import json
import math
import random
import sys
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from optimizer.formats import RequestedFormat  # noqa: E402
from optimizer.pipeline import OptimizeOptions, optimize  # noqa: E402

OUT = ROOT / "static" / "img" / "examples"
WIDTH, HEIGHT = 960, 600


def _lerp(a: tuple[int, ...], b: tuple[int, ...], t: float) -> tuple[int, ...]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))


def _ridge(rng: random.Random, base: float, amplitude: float, step: int = 4) -> list[tuple[int, int]]:
    """A mountain skyline: a few slow waves plus a smoothed random walk for the rocky detail."""
    phases = [rng.uniform(0, math.tau) for _ in range(3)]
    points, walk, slope = [], 0.0, 0.0
    for x in range(0, WIDTH + step, step):
        slope = 0.8 * slope + rng.uniform(-1.0, 1.0)
        walk = 0.97 * walk + slope
        waves = 0.55 * math.sin(x / 170 + phases[0]) + 0.3 * math.sin(x / 67 + phases[1])
        waves += 0.15 * math.sin(x / 23 + phases[2])
        points.append((x, round(base - amplitude * waves - walk * amplitude / 60)))
    return points


def landscape() -> bytes:
    rng = random.Random(11)  # noqa: S311 - a drawing, seeded to be repeatable
    image = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(image)
    horizon = int(HEIGHT * 0.66)
    sky = [(38, 48, 112), (118, 82, 160), (240, 128, 112), (255, 204, 128)]
    for y in range(horizon):
        t = y / horizon * (len(sky) - 1)
        draw.line([(0, y), (WIDTH, y)], fill=_lerp(sky[int(t)], sky[min(int(t) + 1, len(sky) - 1)], t % 1))
    water = [(255, 196, 132), (170, 96, 128), (40, 40, 90)]
    for y in range(horizon, HEIGHT):
        t = (y - horizon) / (HEIGHT - horizon) * (len(water) - 1)
        draw.line([(0, y), (WIDTH, y)], fill=_lerp(water[int(t)], water[min(int(t) + 1, len(water) - 1)], t % 1))
    sun_x, sun_y = 640, int(HEIGHT * 0.47)
    glow = Image.new("L", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(glow).ellipse((sun_x - 170, sun_y - 170, sun_x + 170, sun_y + 170), fill=120)
    image.paste((255, 222, 170), mask=glow.filter(ImageFilter.GaussianBlur(70)))
    sun = Image.new("L", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(sun).ellipse((sun_x - 52, sun_y - 52, sun_x + 52, sun_y + 52), fill=255)
    image.paste((255, 243, 214), mask=sun.filter(ImageFilter.GaussianBlur(3)))
    # The sun's path on the water: broken horizontal strokes.
    shimmer = ImageDraw.Draw(image)
    for _ in range(260):
        y = rng.uniform(horizon + 4, HEIGHT)
        spread = 20 + (y - horizon) * 0.5
        x = sun_x + rng.gauss(0, spread / 2)
        length = rng.uniform(8, 40)
        shimmer.line([(x - length / 2, y), (x + length / 2, y)], fill=(255, 226, 176), width=2)
    layers = [
        (HEIGHT * 0.50, 55, (150, 104, 160), 4),
        (HEIGHT * 0.57, 45, (104, 72, 132), 2),
        (HEIGHT * 0.63, 30, (64, 48, 98), 1),
    ]
    for base, amplitude, colour, blur in layers:
        mask = Image.new("L", (WIDTH, HEIGHT), 0)
        ridge = _ridge(rng, base, amplitude)
        ImageDraw.Draw(mask).polygon([*ridge, (WIDTH, horizon), (0, horizon)], fill=255)
        image.paste(colour, mask=mask.filter(ImageFilter.GaussianBlur(blur)) if blur else mask)
    # A wooded shore in the foreground, then grain, so the picture compresses like a photograph.
    shore = Image.new("L", (WIDTH, HEIGHT), 0)
    shore_draw = ImageDraw.Draw(shore)
    shore_draw.polygon([(0, HEIGHT * 0.78), (260, HEIGHT * 0.86), (420, HEIGHT), (0, HEIGHT)], fill=255)
    for _ in range(70):
        x, size = rng.uniform(-20, 330), rng.uniform(18, 46)
        y = HEIGHT * 0.8 + x * 0.08 + rng.uniform(0, 40)
        shore_draw.polygon([(x, y - size * 2.6), (x - size * 0.5, y + 4), (x + size * 0.5, y + 4)], fill=255)
    image.paste((22, 22, 44), mask=shore)
    grain = Image.effect_noise((WIDTH, HEIGHT), 40).convert("RGB")
    image = Image.blend(image, grain, 0.08)
    buffer = BytesIO()
    image.save(buffer, "JPEG", quality=92, subsampling=0)
    return buffer.getvalue()


def chart() -> bytes:
    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((24, 24, WIDTH - 24, HEIGHT - 24), radius=18, fill=(245, 246, 250), outline=(221, 224, 234))
    for row in range(5):
        y = 120 + row * 90
        draw.line([(90, y), (WIDTH - 70, y)], fill=(221, 224, 234), width=2)
    values = [0.42, 0.58, 0.51, 0.73, 0.66, 0.88, 0.79, 0.95]
    for index, value in enumerate(values):
        x = 120 + index * 95
        top = 480 - value * 340
        draw.rounded_rectangle((x, top, x + 56, 480), radius=8, fill=(75, 63, 224) if index % 2 else (0, 163, 196))
    points = [(148 + i * 95, 430 - math.sin(i / 1.4) * 90 - i * 22) for i in range(len(values))]
    draw.line(points, fill=(15, 122, 74), width=6, joint="curve")
    for x, y in points:
        draw.ellipse((x - 9, y - 9, x + 9, y + 9), fill=(255, 255, 255), outline=(15, 122, 74), width=5)
    draw.rounded_rectangle((90, 60, 330, 88), radius=8, fill=(20, 22, 31))
    draw.rounded_rectangle((WIDTH - 250, 60, WIDTH - 70, 88), radius=8, fill=(236, 235, 255))
    buffer = BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


EXAMPLES = {
    "landscape": {
        "title": "Photograph",
        "source": ("jpg", landscape),
        "options": OptimizeOptions(format=RequestedFormat.AUTO, quality=60),
    },
    "chart": {
        "title": "Chart screenshot",
        "source": ("png", chart),
        "options": OptimizeOptions(format=RequestedFormat.AUTO, quality=80, smart=True),
    },
}


def remake(name: str, source: bytes) -> tuple[dict, bytes]:
    """What the pipeline makes of an example's source with its options now: the figures
    examples.json holds for it, and the optimized image. A test compares them with the published ones."""
    example = EXAMPLES[name]
    extension = example["source"][0]
    options = example["options"]
    result = optimize(source, options, max_pixels=100_000_000)
    figures = {
        "name": name,
        "title": example["title"],
        "original": f"{name}.{extension}",
        "originalFormat": {"jpg": "JPEG", "png": "PNG"}[extension],
        "optimized": f"{name}.{result.format.value}",
        "originalSize": result.original_size,
        "optimizedSize": result.optimized_size,
        "savingsPercent": result.savings_percent,
        "format": result.format.value,
        "lossless": result.lossless,
        "width": result.width,
        "height": result.height,
        "request": {"format": options.format.value, "quality": options.quality, "smart": options.smart},
    }
    return figures, result.data


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = []
    for name, example in EXAMPLES.items():
        _, draw = example["source"]
        source = draw()
        figures, optimized = remake(name, source)
        (OUT / figures["original"]).write_bytes(source)
        (OUT / figures["optimized"]).write_bytes(optimized)
        manifest.append(figures)
        print(f"{figures['original']}: {len(source):,} bytes -> {figures['optimized']}: {len(optimized):,} bytes")
    (OUT / "examples.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
