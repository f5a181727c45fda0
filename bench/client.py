"""The `smolpix` command's throughput next to a naive loop and the server's ceiling (`make bench-client`).

Makes 200 small images (64-200 px photographs, JPEG quality 95 and PNG), starts a local site and
optimizes them all, with default options, in turn:

- naive: a sequential loop as the docs' old snippet wrote it, one `httpx.post` per image (a new
  connection each, as `requests.post` does), the JSON answer's base64 decoded and written;
- smolpix C: the installed command, `smolpix optimize <folder> --out <new folder> --concurrency C
  --json`, timed as a user would (its start-up, scanning, writing files and its manifest included);
- bare client C: C threads uploading the images over kept-alive connections, reading the JSON
  answers and writing nothing (bench/throughput.py's service run): what the site serves to a
  client that costs nothing, its ceiling at that concurrency;
- pipeline C: the same images through `optimizer.pipeline.optimize` called directly in C warm
  processes, no HTTP and no database (bench/throughput.py's ceiling): the image work alone.

The site is `make run`'s (runserver on the embedded defaults, with a SQLite database of its own in
a temporary folder), or with DATABASE_URL (PostgreSQL) and REDIS_URL set, `make serve`'s stack
(scripts/serve.sh: gunicorn, Celery worker and beat). The benchmark account
(bench@smolpix.invalid, Agency, no rate limit: the client is measured, not the limiter) gets a new
key. Runs take turns in a different order each pass, so the machine's other load weighs on all.

    .venv/bin/python bench/client.py [--images 200] [--passes 2] [--concurrency 1,2,4]
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smolpix.settings")

SMOLPIX = Path(sys.executable).parent / "smolpix"
STARTUP_SECONDS = 120
REQUEST_TIMEOUT_SECONDS = 120


@dataclass
class Timing:
    label: str
    concurrency: int
    seconds: float = 0.0
    images: int = 0

    @property
    def throughput(self) -> float:
        return self.images / self.seconds


def make_images(folder: Path, count: int) -> list[Path]:
    from optimizer.tests import images

    folder.mkdir(parents=True)
    paths = []
    for index in range(count):
        path = folder / f"photo-{index:03d}.{'png' if index % 4 == 0 else 'jpg'}"
        picture = images.photo(64 + (index * 37) % 137, 64 + (index * 23) % 137)
        path.write_bytes(images.encode(picture, "PNG" if path.suffix == ".png" else "JPEG", quality=95))
        paths.append(path)
    return paths


class DevServer:
    """`make run`'s server: runserver on the embedded defaults, with the SQLite database that this
    process was set up with (DATABASE_URL, set before Django was)."""

    def __init__(self, log: Path) -> None:
        from tests.processes import free_port

        self.port = free_port()
        self.log = log
        with log.open("w") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def wait_until_healthy(base_url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the site exited with {process.returncode}; see {log}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=10).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    sys.exit(f"the site was not healthy within {STARTUP_SECONDS} s; see {log}")


def naive_loop(base_url: str, key: str, sources: list[Path], out: Path) -> None:
    out.mkdir()
    for source in sources:
        response = httpx.post(
            f"{base_url}/api/v1/optimize",
            headers={"Authorization": f"Bearer {key}"},
            files={"file": (source.name, source.read_bytes())},
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
        data = response.json()
        if not data.get("success"):
            sys.exit(f"naive loop, {source.name}: {response.status_code} {data}")
        (out / f"{source.stem}.{data['format']}").write_bytes(base64.b64decode(data["data"]))


def command(base_url: str, key: str, folder: Path, out: Path, concurrency: int, count: int) -> None:
    environment = {**os.environ, "SMOLPIX_API_KEY": key, "SMOLPIX_BASE_URL": base_url}
    arguments = [str(SMOLPIX), "optimize", str(folder), "--out", str(out), "--concurrency", str(concurrency), "--json"]
    run = subprocess.run(arguments, env=environment, capture_output=True, text=True, check=False)
    summary = json.loads(run.stdout.splitlines()[-1])["summary"] if run.stdout else {}
    if run.returncode != 0 or summary.get("done") != count:
        failures = [line for line in run.stdout.splitlines() if '"failed"' in line][:5]
        sys.exit(f"smolpix at concurrency {concurrency} exited {run.returncode}: {summary}\n{failures}\n{run.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--passes", type=int, default=2, help="times each run is repeated (default 2)")
    parser.add_argument("--concurrency", default="1,2,4", help="comma-separated levels (default 1,2,4)")
    parser.add_argument("--log", type=Path, default=ROOT / "bench" / "results" / "client-site.log")
    arguments = parser.parse_args()
    levels = [int(level) for level in arguments.concurrency.split(",")]
    work = Path(tempfile.mkdtemp(prefix="smolpix-bench-client-"))
    production = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
    if not production:  # make run's embedded defaults, in a database of the benchmark's own
        os.environ.update(DATABASE_URL=f"sqlite:///{work / 'db.sqlite3'}", REDIS_URL="", CELERY_BROKER_URL="")

    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Django's logging would print every request
    from django.conf import settings
    from django.core.management import call_command
    from throughput import Ceiling, Image, Stack, bench_key, service_run

    sources = make_images(work / "photos", arguments.images)
    arguments.log.parent.mkdir(parents=True, exist_ok=True)
    if production:
        site = Stack(arguments.log, settings.API_KEY_HASH_SECRET)
    else:
        call_command("migrate", verbosity=0)
        site = DevServer(arguments.log)
    port = site.port
    base_url = f"http://127.0.0.1:{port}"
    mix = [Image(path.name, path.read_bytes()) for path in sources]
    ceilings = {}
    timings = [Timing("naive loop (httpx.post)", 1)]
    timings += [Timing("smolpix optimize", level) for level in levels]
    timings += [Timing("bare client", level) for level in levels]
    timings += [Timing("pipeline alone", level) for level in levels]
    try:
        wait_until_healthy(base_url, site.process, arguments.log)
        key = bench_key()
        naive_loop(base_url, key, sources[:4], work / "warm-up")  # the site's first requests load its code
        for level in levels:
            ceilings[level] = Ceiling(mix=mix, concurrency=level, max_pixels=settings.OPTIMIZER_MAX_PIXELS)
        for turn in range(arguments.passes):
            for timing in timings if turn % 2 == 0 else reversed(timings):
                out = work / f"out-{secrets.token_hex(4)}"
                started = time.perf_counter()
                if timing.label.startswith("naive"):
                    naive_loop(base_url, key, sources, out)
                elif timing.label.startswith("smolpix"):
                    command(base_url, key, work / "photos", out, timing.concurrency, len(sources))
                elif timing.label.startswith("bare"):
                    run = service_run(port=port, key=key, jobs=mix, concurrency=timing.concurrency)
                    if run.errors:
                        sys.exit(f"bare client at concurrency {timing.concurrency}: {run.errors[:5]}")
                else:
                    ceilings[timing.concurrency].run(list(range(len(mix))))
                timing.seconds += time.perf_counter() - started
                timing.images += len(sources)
            print(f"pass {turn + 1} of {arguments.passes} done", file=sys.stderr, flush=True)
    finally:
        for ceiling in ceilings.values():
            ceiling.close()
        site.stop()
    report(timings, arguments.images, arguments.passes, "make serve's stack" if production else "make run's server")


def report(timings: list[Timing], images: int, passes: int, site: str) -> None:
    naive = timings[0]
    bare = {timing.concurrency: timing for timing in timings if timing.label.startswith("bare")}
    print(
        f"\n{images} images (64-200 px, 3 JPEG q95 : 1 PNG), default options, x{passes} passes, against {site}; "
        f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the end.\n"
    )
    header = ("run", "concurrency", "wall s", "images/s", "vs naive", "vs bare client")
    rows = []
    for timing in timings:
        ceiling = bare.get(timing.concurrency)
        shown = timing.label.startswith(("naive", "smolpix")) and ceiling is not None
        against_ceiling = f"{timing.throughput / ceiling.throughput:.2f}x" if shown else ""
        rows.append(
            (
                timing.label,
                str(timing.concurrency),
                f"{timing.seconds / passes:.1f}",
                f"{timing.throughput:.1f}",
                f"{timing.throughput / naive.throughput:.2f}x",
                against_ceiling,
            )
        )
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    for row in [header, tuple("-" * width for width in widths), *rows]:
        print("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |")
    print("\n(wall s: one pass over the images; vs bare client: against the bare client at the same concurrency.)")


if __name__ == "__main__":
    main()
