"""Throughput of the production stack next to the bare pipeline's ceiling (`make bench-throughput`).

Starts the stack exactly as `make serve` does (scripts/serve.sh: gunicorn, Celery worker, Celery
beat) on a loopback port against DATABASE_URL and REDIS_URL, creates a benchmark account
(bench@smolpix.invalid, Agency plan, no rate limit) with a fresh API key, then for each
concurrency C:

- service: C client threads POST the images to /api/v1/optimize (multipart upload, default
  options, JSON answer), each request timed from sending to the last byte of the answer;
- ceiling: C processes run the pipeline (optimizer.pipeline.optimize)
  directly on the same images: no HTTP, no database, no Redis.

The images are a realistic mix from the development corpus (/work/shared/bench-corpus.sh):
photographs re-encoded as 1920-px-wide JPEGs, as a CMS would send them, and small graphics (logos,
icons, text) as they are. Prints a table: images/second, p50/p99 latency, errors, and the service's
throughput as a ratio of the ceiling's.

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/throughput.py --corpus bench-corpus
"""

import argparse
import http.client
import json
import math
import multiprocessing
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smolpix.settings")

# Photographs (and photographic wallpapers) of the corpus, sent as 1920-px-wide JPEGs.
PHOTOS = [
    "debian-adwaita-l.webp",
    "debian-licorice-l.webp",
    "debian-pixels-d.webp",
    "debian-grid-d.webp",
    "skimage-retina.jpg",
    "skimage-hubble_deep_field.jpg",
    "skimage-coffee.png",
    "skimage-astronaut.png",
]
# Small graphics, sent as they are.
GRAPHICS = [
    "skimage-logo.png",
    "mpl-Minduka_Present_Blue_Pack.png",
    "mpl-logo2.png",
    "skimage-text.png",
    "skimage-page.png",
    "skimage-color.png",
    "debian-glow.png",
]
PHOTO_WIDTH = 1920
PHOTO_JPEG_QUALITY = 90
TARGET_RATIO_AT_2 = 0.85
STARTUP_SECONDS = 180
REQUEST_TIMEOUT_SECONDS = 120
BENCH_EMAIL = "bench@smolpix.invalid"


@dataclass(frozen=True)
class Image:
    name: str
    data: bytes


@dataclass(frozen=True)
class Run:
    images: int
    seconds: float
    latencies: list[float]
    errors: list[str]

    @property
    def throughput(self) -> float:
        return self.images / self.seconds

    def percentile(self, share: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(share * len(ordered)) - 1)] * 1000


def load_mix(corpus: Path) -> list[Image]:
    from optimizer.magick import Image as MagickImage  # the policy-checked way into ImageMagick

    missing = [name for name in PHOTOS + GRAPHICS if not (corpus / name).exists()]
    if missing:
        sys.exit(f"{corpus} lacks {', '.join(missing)}: build it with /work/shared/bench-corpus.sh {corpus}")
    photos = []
    for name in PHOTOS:
        with MagickImage(filename=str(corpus / name) + "[0]") as image:
            image.resize(PHOTO_WIDTH, round(image.height * PHOTO_WIDTH / image.width), filter="lanczos")
            image.format = "jpeg"
            image.compression_quality = PHOTO_JPEG_QUALITY
            photos.append(Image(f"{Path(name).stem}.jpg", image.make_blob()))
    graphics = [Image(name, (corpus / name).read_bytes()) for name in GRAPHICS]
    # Interleaved, so every slice of the run has both kinds.
    mix = []
    for index in range(max(len(photos), len(graphics))):
        mix += photos[index : index + 1] + graphics[index : index + 1]
    return mix


# --- The stack ---------------------------------------------------------------------------------


class Stack:
    def __init__(self, log: Path, hash_secret: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.folder = Path(tempfile.mkdtemp(prefix="smolpix-bench-"))
        environment = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "DEBUG": "false",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
            "API_KEY_HASH_SECRET": hash_secret,  # the key this script creates must verify there
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "STATIC_ROOT": str(self.folder / "static"),
            "CELERY_BEAT_SCHEDULE_FILENAME": str(self.folder / "beat-schedule"),
        }
        self.log = log
        with log.open("w") as sink:
            self.process = subprocess.Popen(
                [str(ROOT / "scripts" / "serve.sh")], cwd=ROOT, env=environment, stdout=sink, stderr=subprocess.STDOUT
            )

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"the stack exited with {self.process.returncode}; see {self.log}")
            try:
                client = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                client.request("GET", "/healthz")
                if client.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        sys.exit(f"the stack was not healthy within {STARTUP_SECONDS} s; see {self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=STARTUP_SECONDS)


def bench_key() -> str:
    """A fresh API key of the benchmark account (created the first time), its older keys revoked."""
    from accounts.models import PlanCode, User
    from accounts.services import account_create, account_set_overrides, account_set_plan
    from apikeys.services import api_key_create, api_key_revoke

    user = User.objects.filter(email=BENCH_EMAIL).first()
    account = user.account if user else account_create(email=BENCH_EMAIL, password=None)
    account_set_plan(account=account, plan_code=PlanCode.AGENCY)
    account_set_overrides(account=account, rate_limit=1_000_000)  # measure the stack, not the limiter
    for old in account.api_keys.active():
        api_key_revoke(api_key=old)
    return api_key_create(account=account, name="throughput benchmark")[1]


def service_run(*, port: int, key: str, jobs: list[Image], concurrency: int) -> Run:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    local = threading.local()

    def send(image: Image) -> tuple[float, str | None]:
        if not hasattr(local, "client"):
            local.client = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_SECONDS)
        body = encode_multipart(BOUNDARY, {"file": SimpleUploadedFile(image.name, image.data)})
        headers = {"Authorization": f"Bearer {key}", "Content-Type": MULTIPART_CONTENT}
        started = time.perf_counter()
        try:
            local.client.request("POST", "/api/v1/optimize", body=body, headers=headers)
            response = local.client.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as error:
            local.client.close()
            del local.client
            return time.perf_counter() - started, f"{image.name}: {error!r}"
        elapsed = time.perf_counter() - started
        if response.status != 200 or not json.loads(answer).get("success"):
            return elapsed, f"{image.name}: {response.status} {answer[:200]!r}"
        return elapsed, None

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        outcomes = list(pool.map(send, jobs))
    seconds = time.perf_counter() - started
    return Run(len(jobs), seconds, [latency for latency, _ in outcomes], [error for _, error in outcomes if error])


# --- The ceiling: the pipeline in plain processes -------------------------------------------------

_mix: list[Image] = []
_max_pixels = 0


def _ceiling_start(mix: list[Image], max_pixels: int) -> None:
    global _mix, _max_pixels
    _mix, _max_pixels = mix, max_pixels
    import optimizer.pipeline  # noqa: F401  (ImageMagick and its policy load before the clock starts)


def _ceiling_optimize(index: int) -> float:
    from optimizer.pipeline import OptimizeOptions, optimize

    started = time.perf_counter()
    optimize(_mix[index].data, OptimizeOptions(), max_pixels=_max_pixels)
    return time.perf_counter() - started


class Ceiling:
    """C warm processes that run the pipeline directly."""

    def __init__(self, *, mix: list[Image], concurrency: int, max_pixels: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pool = context.Pool(concurrency, initializer=_ceiling_start, initargs=(mix, max_pixels))
        smallest = min(range(len(mix)), key=lambda index: len(mix[index].data))
        self.pool.map(_ceiling_optimize, [smallest] * concurrency * 2, chunksize=1)  # warm every process

    def run(self, job_indexes: list[int]) -> Run:
        started = time.perf_counter()
        latencies = list(self.pool.imap(_ceiling_optimize, job_indexes, chunksize=1))
        return Run(len(job_indexes), time.perf_counter() - started, latencies, [])

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


def combined(runs: list[Run]) -> Run:
    return Run(
        sum(run.images for run in runs),
        sum(run.seconds for run in runs),
        [latency for run in runs for latency in run.latencies],
        [error for run in runs for error in run.errors],
    )


# --- Main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "bench-corpus")
    parser.add_argument("--concurrency", default="1,2,4", help="comma-separated levels (default 1,2,4)")
    parser.add_argument("--passes", type=int, default=6, help="passes over the mix per level and side (default 6)")
    parser.add_argument("--log", type=Path, default=ROOT / "bench" / "results" / "throughput-stack.log")
    arguments = parser.parse_args()
    levels = [int(level) for level in arguments.concurrency.split(",")]

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL:
        sys.exit("The benchmark runs the production stack: set DATABASE_URL (PostgreSQL) and REDIS_URL.")
    mix = load_mix(arguments.corpus)
    arguments.log.parent.mkdir(parents=True, exist_ok=True)

    load_before = os.getloadavg()[0]
    stack = Stack(arguments.log, settings.API_KEY_HASH_SECRET)
    try:
        stack.wait_until_healthy()
        key = bench_key()
        warm_up = sorted(mix, key=lambda image: len(image.data))[: 2 * max(levels)]
        service_run(port=stack.port, key=key, jobs=warm_up, concurrency=max(levels))  # every worker process
        results = []
        for level in levels:
            # Service and ceiling take turns, one pass over the mix each, in the order S C C S S C...,
            # so that whatever else the machine is doing meanwhile weighs on both alike.
            ceiling = Ceiling(mix=mix, concurrency=level, max_pixels=settings.OPTIMIZER_MAX_PIXELS)
            service_runs, ceiling_runs = [], []
            try:
                for turn in range(arguments.passes):
                    if turn % 2 == 0:
                        service_runs.append(service_run(port=stack.port, key=key, jobs=mix, concurrency=level))
                    ceiling_runs.append(ceiling.run(list(range(len(mix)))))
                    if turn % 2 == 1:
                        service_runs.append(service_run(port=stack.port, key=key, jobs=mix, concurrency=level))
            finally:
                ceiling.close()
            results.append((level, combined(service_runs), combined(ceiling_runs)))
            print(f"concurrency {level}: done", file=sys.stderr, flush=True)
    finally:
        stack.stop()
    report(mix, arguments.passes, results)
    print(f"Machine load average (1 min): {load_before:.1f} before the run, {os.getloadavg()[0]:.1f} after.")
    errors = [error for _, service, _ in results for error in service.errors]
    if errors:
        sys.exit("Errors:\n" + "\n".join(errors[:20]))


def report(mix: list[Image], passes: int, results: list[tuple[int, Run, Run]]) -> None:
    photos = sum(image.name.endswith(".jpg") for image in mix)
    print(
        f"\nSmolpix throughput: {photos} photos ({PHOTO_WIDTH}-px JPEG) + {len(mix) - photos} small graphics, "
        f"x{passes} = {len(mix) * passes} images per run, default options (format auto, quality 80, "
        f"maxWidth 1920, smart), uploaded. {os.cpu_count()} CPU cores; the stack's settings are make serve's "
        f"(gunicorn and Celery processes: one per core unless WEB_CONCURRENCY / CELERY_WORKER_CONCURRENCY say).\n"
    )
    header = ("concurrency", "service img/s", "p50 ms", "p99 ms", "errors")
    header += ("ceiling img/s", "p50 ms", "p99 ms", "ratio")
    rows = [
        (
            str(level),
            f"{service.throughput:.2f}",
            f"{service.percentile(0.50):.0f}",
            f"{service.percentile(0.99):.0f}",
            str(len(service.errors)),
            f"{ceiling.throughput:.2f}",
            f"{ceiling.percentile(0.50):.0f}",
            f"{ceiling.percentile(0.99):.0f}",
            f"{service.throughput / ceiling.throughput:.2f}",
        )
        for level, service, ceiling in results
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    at_two = {level: service.throughput / ceiling.throughput for level, service, ceiling in results}.get(2)
    if at_two is not None:
        verdict = "met" if at_two >= TARGET_RATIO_AT_2 else "NOT met"
        print(f"\nTarget: service >= {TARGET_RATIO_AT_2:.2f} x ceiling at concurrency 2: {verdict} ({at_two:.2f}).")


if __name__ == "__main__":
    main()
