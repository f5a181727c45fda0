"""The development corpus beyond ../shared/bench-corpus.sh: images as customers send them.

    .venv/bin/python bench/corpus.py DEST

bench-corpus.sh brings 26 images from public packages, mostly photographs and textures. Customers
also send screenshots, charts and diagrams (often saved as JPEG), transparent logos and icons, and
large camera photos. This adds them, from public Debian packages (wallpapers: photographs and
digital art; icon themes: transparent icons), from tools as people use them (matplotlib charts,
Graphviz diagrams, screenshots of this site's own pages in Chromium), and five made here, into
DEST with an `extra-` prefix. Nothing is committed; everything is built again when missing, the
same each time.

Needs: apt-get (downloads packages without installing them), Graphviz's `dot` and Debian's
Chromium (installed by `make bench-compression`), matplotlib and Playwright (requirements-dev.txt).
"""

import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smolpix.settings")

from optimizer import colour, magick  # noqa: E402  (the drawings below are ImageMagick's)

FONTS = Path("/usr/share/fonts/truetype/dejavu")

# Debian package -> {file in the package: name in the corpus}.
DEBIAN_IMAGES = {
    "mate-backgrounds": {
        # Photographs.
        "usr/share/backgrounds/mate/nature/RainDrops.jpg": "photo-raindrops.jpg",
        "usr/share/backgrounds/mate/nature/Blinds.jpg": "photo-blinds.jpg",
        "usr/share/backgrounds/mate/nature/Dune.jpg": "photo-dune.jpg",
        "usr/share/backgrounds/mate/nature/LadyBird.jpg": "photo-ladybird.jpg",
        "usr/share/backgrounds/mate/nature/Storm.jpg": "photo-storm.jpg",
        "usr/share/backgrounds/mate/nature/TwoWings.jpg": "photo-twowings.jpg",
        "usr/share/backgrounds/mate/nature/FreshFlower.jpg": "photo-freshflower.jpg",
        "usr/share/backgrounds/mate/nature/GreenMeadow.jpg": "photo-greenmeadow.jpg",
        # Digital art and flat graphics.
        "usr/share/backgrounds/mate/abstract/Gulp.png": "art-gulp.png",
        "usr/share/backgrounds/mate/desktop/Float-into-MATE.png": "art-float-into-mate.png",
        "usr/share/backgrounds/mate/desktop/Ubuntu-Mate-Cold-no-logo.png": "art-mate-cold.png",
        "usr/share/backgrounds/mate/desktop/MATE-Stripes-Dark.png": "graphic-stripes-dark.png",
        # A wallpaper with transparency.
        "usr/share/backgrounds/mate/abstract/Arc-Colors-Transparent-Wallpaper.png": "alpha-arc-colors.png",
    },
    "ukui-wallpapers": {
        "usr/share/backgrounds/rhythm.jpg": "photo-rhythm.jpg",
        "usr/share/backgrounds/string.jpg": "photo-string.jpg",
        "usr/share/backgrounds/the-mouse.jpg": "photo-the-mouse.jpg",
        "usr/share/backgrounds/firstgeneration.jpg": "photo-firstgeneration.jpg",
        "usr/share/backgrounds/fluent-color.png": "art-fluent-color.png",
        "usr/share/backgrounds/goldfish.png": "art-goldfish.png",
        "usr/share/backgrounds/calla.png": "art-calla.png",
        "usr/share/backgrounds/city.png": "graphic-city.png",
        "usr/share/backgrounds/desert.png": "graphic-desert.png",
    },
    "plasma-workspace-wallpapers": {
        "usr/share/wallpapers/Volna/contents/images/5120x2880.jpg": "photo-volna-5120.jpg",
        "usr/share/wallpapers/SafeLanding/contents/images/5120x2880.jpg": "art-safelanding-5120.jpg",
        "usr/share/wallpapers/Canopee/contents/images/3840x2160.png": "art-canopee-3840.png",
    },
    "oxygen-icon-theme": {
        "usr/share/icons/oxygen/base/256x256/apps/digikam.png": "alpha-icon-digikam.png",
        "usr/share/icons/oxygen/base/256x256/apps/kchart.png": "alpha-icon-chart.png",
        "usr/share/icons/oxygen/base/256x256/places/folder-blue.png": "alpha-icon-folder.png",
        "usr/share/icons/oxygen/base/256x256/applets/org.kde.plasma.analogclock.png": "alpha-icon-clock.png",
        "usr/share/icons/oxygen/base/128x128/devices/audio-headphones.png": "alpha-icon-headphones-128.png",
    },
    "tango-icon-theme": {
        "usr/share/icons/Tango/32x32/apps/accessories-calculator.png": "alpha-icon-calculator-32.png",
    },
}

PLASMA_HELD_OUT = {
    "Altai": "5120x2880.png", "Autumn": "2560x1600.jpg", "BytheWater": "2560x1600.jpg", "Cascade": "3840x2160.png",
    "Cluster": "3840x2160.png", "ColdRipple": "2560x1600.jpg", "ColorfulCups": "2560x1600.jpg",
    "DarkestHour": "2560x1600.jpg", "Elarun": "2560x1600.png", "EveningGlow": "2560x1600.jpg",
    "FallenLeaf": "2560x1600.jpg", "Flow": "5120x2880.jpg", "Honeywave": "5120x2880.jpg", "Kite": "2560x1600.jpg",
}  # fmt: skip
# Images nothing is tuned on (`bench/compression.py --held-out`): whether a change to the search
# holds on images it has never seen. Wallpapers (photographs and art), a logo wallpaper, transparent
# sprites and panels, from packages the corpus above does not use (plasma's other wallpapers aside).
HELD_OUT_IMAGES = {
    "plasma-workspace-wallpapers": {
        f"usr/share/wallpapers/{name}/contents/images/{file}": f"plasma-{name}{Path(file).suffix}"
        for name, file in PLASMA_HELD_OUT.items()
    },
    "lxqt-themes": {
        f"usr/share/lxqt/wallpapers/{file}": f"lxqt-{file}"
        for file in ("fog.jpg", "after-the-rain.jpg", "flowers.png", "waves-logo.png", "Valendas.png")
    },
    "xfdesktop4-data": {f"usr/share/backgrounds/xfce/{file}": file for file in ("xfce-blue.jpg", "xfce-teal.jpg")},
    "lomiri-wallpapers": {"usr/share/backgrounds/warty-final-ubuntu.png": "lomiri-warty.png"},
    "supertux-data": {
        "usr/share/games/supertux2/images/creatures/yeti/busted1.png": "sprite-yeti.png",
        "usr/share/games/supertux2/images/creatures/ghosttree/ghosttree-swallow-0.png": "sprite-ghosttree.png",
        "usr/share/games/supertux2/images/creatures/tux/earth/light/backflip.png": "sprite-tux.png",
        "usr/share/games/supertux2/particles/generic/puff_round.png": "sprite-puff.png",
    },
    "frozen-bubble-data": {
        "usr/share/games/frozen-bubble/gfx/win_panel_p2.png": "fb-win-panel.png",
        "usr/share/games/frozen-bubble/gfx/hurry_p2.png": "fb-hurry.png",
    },
}


def build(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    makers = {
        "debian images": _debian_images,
        "charts": _charts,
        "diagrams": _diagrams,
        "screenshots": _screenshots,
        "drawn images": _drawn,
    }
    for what, make in makers.items():
        started = time.monotonic()
        made = make(dest)
        if made:
            print(f"corpus: {len(made)} {what} in {time.monotonic() - started:.0f} s", flush=True)


def build_held_out(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if made := _debian_images(dest, HELD_OUT_IMAGES, prefix=""):
        print(f"held-out corpus: {len(made)} images in {time.monotonic() - started:.0f} s", flush=True)


def _missing(dest: Path, names, prefix: str = "extra-") -> list[str]:
    return [name for name in names if not (dest / f"{prefix}{name}").exists()]


def _debian_images(dest: Path, images: dict = DEBIAN_IMAGES, prefix: str = "extra-") -> list[str]:
    made = []
    with tempfile.TemporaryDirectory() as work:
        for package, files in images.items():
            if not _missing(dest, files.values(), prefix):
                continue
            subprocess.run(["apt-get", "download", "-qq", package], cwd=work, check=True, capture_output=True)
            (deb,) = Path(work).glob(f"{package}_*.deb")
            unpacked = Path(work) / package
            subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
            for inside, name in files.items():
                shutil.copyfile(unpacked / inside, dest / f"{prefix}{name}")
                made.append(name)
    return made


def _charts(dest: Path) -> list[str]:
    """matplotlib's charts as people export them: PNG from savefig, and some as JPEG."""
    names = ["chart-bars.png", "chart-lines.jpg", "chart-scatter.png", "chart-area.jpg"]
    if not _missing(dest, names):
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    random = np.random.default_rng(7)
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    figure, axes = plt.subplots(figsize=(10, 6), dpi=100)
    for offset, label in enumerate(("2024", "2025", "2026")):
        axes.bar(np.arange(12) + offset * 0.27, random.integers(20, 100, 12), width=0.27, label=label)
    axes.set_xticks(np.arange(12) + 0.27, months)
    axes.set_title("Images optimized per month")
    axes.legend()
    _save(figure, dest / "extra-chart-bars.png")

    figure, axes = plt.subplots(figsize=(12, 5), dpi=120)
    days = np.arange(365)
    for name in ("p50", "p95", "p99"):
        axes.plot(days, np.cumsum(random.normal(0, 1, 365)) + 50, label=name, linewidth=1.2)
    axes.grid(True, alpha=0.3)
    axes.set_xlabel("day")
    axes.set_ylabel("latency (ms)")
    axes.legend()
    _save(figure, dest / "extra-chart-lines.jpg", quality=85)

    figure, axes = plt.subplots(figsize=(8, 8), dpi=100)
    points = random.normal(0, 1, (3, 400, 2)) + np.array([[[0, 0]], [[3, 1]], [[1, 3]]])
    for cluster in points:
        axes.scatter(cluster[:, 0], cluster[:, 1], s=12, alpha=0.7)
    axes.set_title("Clusters")
    _save(figure, dest / "extra-chart-scatter.png")

    figure, axes = plt.subplots(figsize=(9, 5), dpi=150)
    series = np.abs(random.normal(5, 2, (4, 60))).cumsum(axis=1)
    axes.stackplot(np.arange(60), series, labels=["web", "api", "cli", "plugins"], alpha=0.85)
    axes.legend(loc="upper left")
    axes.set_title("Requests by client")
    _save(figure, dest / "extra-chart-area.jpg", quality=90)
    plt.close("all")
    return names


def _save(figure, path: Path, *, quality: int | None = None) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    image = Image.open(buffer)
    if quality is None:
        image.save(path)
    else:
        image.convert("RGB").save(path, quality=quality)


# A class diagram, as engineers draw them and paste them into documents.
CLASS_DIAGRAM = """
digraph classes {
  graph [rankdir=TB, fontname="DejaVu Sans", bgcolor=white, pad=0.3];
  node [shape=record, fontname="DejaVu Sans", fontsize=11, style=filled, fillcolor="#fffbe6"];
  edge [fontname="DejaVu Sans", fontsize=9, arrowhead=empty];
  Account [label="{Account|+ owner: User\\l+ plan: Plan\\l+ monthly_limit_override: int\\l
    + rate_limit_override: int\\l|+ limits(): AccountLimits\\l}"];
  Plan [label="{Plan|+ code: str\\l+ price_cents: int\\l+ monthly_limit: int\\l+ api_access: bool\\l}"];
  ApiKey [label="{ApiKey|+ prefix: str\\l+ key_hash: str\\l+ revoked_at: datetime\\l
    |+ verify(key): bool\\l+ revoke()\\l}"];
  MonthlyUsage [label="{MonthlyUsage|+ month: date\\l+ used: int\\l|+ reserve(): Reservation\\l+ refund()\\l}"];
  RequestRecord [label="{RequestRecord|+ status: int\\l+ bytes_in: int\\l+ bytes_out: int\\l+ duration_ms: int\\l}"];
  Subscription [label="{Subscription|+ stripe_id: str\\l+ status: str\\l+ current_period_end: datetime\\l}"];
  Account -> Plan [label="on"]; ApiKey -> Account [label="belongs to"];
  MonthlyUsage -> Account; RequestRecord -> ApiKey; RequestRecord -> Account; Subscription -> Account;
}
"""


def _diagrams(dest: Path) -> list[str]:
    """A Graphviz class diagram as PNG, and the same saved as a q60 JPEG (as it is often pasted)."""
    names = ["diagram-classes.png", "diagram-classes-q60.jpg"]
    if not _missing(dest, names):
        return []
    png = subprocess.run(["dot", "-Tpng", "-Gdpi=144"], input=CLASS_DIAGRAM.encode(), capture_output=True, check=True)
    (dest / "extra-diagram-classes.png").write_bytes(png.stdout)
    Image.open(io.BytesIO(png.stdout)).convert("RGB").save(dest / "extra-diagram-classes-q60.jpg", quality=60)
    return names


# This site's own pages, as a customer would screenshot them: (path, width, saved as).
SCREENSHOTS = [
    ("/", 1280, "screenshot-landing.png"),
    ("/pricing/", 1280, "screenshot-pricing.jpg"),
    ("/docs/", 1280, "screenshot-docs.png"),
    ("/dashboard/", 1280, "screenshot-dashboard.png"),
    ("/dashboard/keys/", 1280, "screenshot-keys.jpg"),
    ("/", 390, "screenshot-landing-phone.png"),
]


def _screenshots(dest: Path) -> list[str]:
    names = [name for _, _, name in SCREENSHOTS]
    if not _missing(dest, names):
        return []
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as work, _site(Path(work)) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        page.goto(f"{base_url}/accounts/login/")
        page.get_by_label("Email").fill("screenshots@example.com")
        page.get_by_label("Password").fill("a-long-screenshot-password")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state("networkidle")
        for path, width, name in SCREENSHOTS:
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{base_url}{path}")
            page.wait_for_load_state("networkidle")
            shot = Image.open(io.BytesIO(page.screenshot(full_page=True)))
            shot = shot.crop((0, 0, shot.width, min(shot.height, 3 * shot.width)))  # no endless strips
            if name.endswith(".jpg"):
                shot.convert("RGB").save(dest / f"extra-{name}", quality=85)
            else:
                shot.save(dest / f"extra-{name}")
        browser.close()
    return names


class _site:
    """This site on embedded defaults (a SQLite file of its own) on a free port, with an account."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> str:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{self.folder / 'db.sqlite3'}", "DEBUG": "true"}
        env.pop("REDIS_URL", None)
        env.pop("CELERY_BROKER_URL", None)
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput"], env=env, check=True, capture_output=True)
        subprocess.run(
            [*manage, "createaccount", "screenshots@example.com", "--plan", "pro", "--password",
             "a-long-screenshot-password"],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        port = _free_port()
        self.process = subprocess.Popen(
            [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base_url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base_url}/", timeout=1)  # noqa: S310 (our own loopback server)
                return base_url
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the site did not start for the screenshots")

    def __exit__(self, *exc_info) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- Made here: drawn with ImageMagick, deterministically ---------------------------------------


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


def make_phone(path: Path, corpus: Path) -> None:
    """4032x3024 JPEG q90 4:2:0 in Display P3, as phones take them: a corpus photo upscaled, with
    sensor-like grain, its samples read as Display P3's."""
    with magick.Image(filename=str(corpus / "extra-photo-freshflower.jpg")) as photo:
        photo.resize(4032, 3024, filter="lanczos")
        photo.depth = 8
        rgb = np.frombuffer(photo.make_blob("RGB"), np.uint8).reshape(3024, 4032, 3)
    grain = np.random.default_rng(7).normal(0.0, 3.0, size=(3024, 4032, 1)).astype(np.float32)
    noisy = np.clip(rgb.astype(np.float32) + grain, 0, 255).astype(np.uint8)
    with magick.Image(blob=noisy.tobytes(), format="RGB", width=4032, height=3024, depth=8) as image:
        image.profiles["icc"] = colour.heif_colour_profile(12, 13)  # H.273: P3 primaries, sRGB's curve
        image.format = "JPEG"
        image.compression_quality = 90
        image.options["jpeg:sampling-factor"] = "2x2"
        path.write_bytes(image.make_blob())


def _drawn(corpus: Path) -> list[str]:
    """A UI screenshot, a flat bar chart, a logo with soft alpha edges and a blurred shadow, a
    5,000 x 3,000 camera-like JPEG (four corpus photos upscaled, with grain) and a 12-megapixel
    Display P3 phone photo."""
    makers = {
        "screenshot-ui.png": make_screenshot,
        "chart-flat.png": make_chart,
        "logo-softalpha.png": make_logo,
        "camera-5000x3000.jpg": lambda path: make_camera(path, corpus),
        "phone-p3-4032x3024.jpg": lambda path: make_phone(path, corpus),
    }
    made = []
    for name in _missing(corpus, makers):
        makers[name](corpus / f"extra-{name}")
        made.append(name)
    return made


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "bench-corpus"))
