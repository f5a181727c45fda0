"""Site-wide pages (landing, pricing, docs, status), the favicon, the Python client's download and
the health check."""

import functools
import gzip
import hashlib
import io
import json
import logging
import sys
import tarfile
import threading
import tomllib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from time import monotonic

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import condition, require_safe

from accounts.selectors import plan_list
from api.errors import SERVER_ERROR, ErrorAnswer, ErrorCode, error_answer
from api.optimize import REFERENCE_EXAMPLE_RESPONSE
from apikeys.selectors import api_key_list
from optimizer import fetch, jobs
from optimizer.services import MAX_WIDTH_BOUNDS, fetch_policy
from smolpix.celery import app as celery_app
from smolpix.examples import example_list
from smolpix.outages import OUTAGES, RETRY_AFTER_SECONDS

logger = logging.getLogger(__name__)

# How long each health probe may take: a load balancer's check must answer in seconds.
PROBE_SECONDS = 2


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/landing.html", {"plans": plan_list(), "examples": example_list()})


def pricing(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/pricing.html", {"plans": plan_list(), "examples": example_list()})


def docs(request: HttpRequest) -> HttpResponse:
    """The API reference. Its examples read the key from SMOLPIX_API_KEY (a key is shown only once,
    on the keys page, with the line that sets it); a signed-in reader is told which key is newest."""
    newest_key = None
    if request.user.is_authenticated:
        newest_key = next(iter(api_key_list(account=request.user.account)), None)
    return render(
        request,
        "pages/docs.html",
        {
            "plans": plan_list(),
            "newest_key": newest_key,
            "max_source_size": fetch.size_limit_in_words(settings.OPTIMIZER_MAX_SOURCE_BYTES),
            "max_width": MAX_WIDTH_BOUNDS.max,
            "allowed_ports": sorted(settings.OPTIMIZER_ALLOWED_PORTS),
            # The OpenAPI schema's example too: one source for both.
            "example_response": json.dumps(REFERENCE_EXAMPLE_RESPONSE, indent=2),
            # The URL examples fetch their sample from this site: under `make run`, from loopback.
            "sample_fetchable": fetch.may_fetch(f"{request.scheme}://{request.get_host()}/", policy=fetch_policy()),
        },
    )


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico where a page names no icon (Django's admin): the site's icon.
    Not a permanent redirect: the icon's address carries its content's hash, which changes with it."""
    return redirect(static("img/favicon.svg"))


CLIENT_SOURCE = Path(settings.BASE_DIR) / "clients" / "python"
_CLIENT_VERSION = tomllib.loads((CLIENT_SOURCE / "pyproject.toml").read_text())["project"]["version"]
# The name `hatch build` gives the client's sdist: pip reads the name and version from it, and keeps the
# wheel it builds from this URL in its cache, so a changed client needs a new version.
CLIENT_SDIST_NAME = f"smolpix_client-{_CLIENT_VERSION}.tar.gz"
# hatchling's own time for reproducible builds: a wheel (a zip) cannot hold a time before 1980.
_SDIST_MTIME = 1580601600


def client_sdist_archive(source: Path, *, top: str) -> bytes:
    """The client in `source` as a source distribution: its PKG-INFO, pyproject.toml, README.md and
    package, in one folder `top`, without its tests or bytecode. The same files give the same bytes
    (sorted, with fixed times and owners), so that the download's ETag changes only with them."""
    package = (path for path in (source / "src").rglob("*") if path.is_file() and "__pycache__" not in path.parts)
    names = ["pyproject.toml", "README.md", *sorted(path.relative_to(source).as_posix() for path in package)]
    files = {"PKG-INFO": client_sdist_metadata(source)} | {name: (source / name).read_bytes() for name in names}
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w") as archive,
    ):
        for name, data in files.items():
            member = tarfile.TarInfo(f"{top}/{name}")
            member.size, member.mode, member.mtime = len(data), 0o644, _SDIST_MTIME
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def client_sdist_metadata(source: Path) -> bytes:
    """The PKG-INFO a source distribution holds (core metadata 2.1): the fields hatchling writes from
    the client's pyproject.toml, in its order, and the README (Markdown) as the description."""
    project = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    fields = [
        ("Metadata-Version", "2.1"),
        ("Name", project["name"]),
        ("Version", project["version"]),
        ("Summary", project["description"]),
        *(("Classifier", classifier) for classifier in project.get("classifiers", [])),
        ("Requires-Python", project["requires-python"]),
        *(("Requires-Dist", requirement) for requirement in project.get("dependencies", [])),
        ("Description-Content-Type", "text/markdown"),
    ]
    headers = "".join(f"{name}: {value}\n" for name, value in fields)
    return f"{headers}\n{(source / 'README.md').read_text(encoding='utf-8')}".encode()


@functools.cache
def _client_sdist() -> tuple[bytes, str]:
    data = client_sdist_archive(CLIENT_SOURCE, top=CLIENT_SDIST_NAME.removesuffix(".tar.gz"))
    return data, hashlib.sha256(data).hexdigest()


@require_safe
def client_sdist_earlier(request: HttpRequest) -> HttpResponse:
    """An earlier version's URL, as a requirements file pins it: this one's archive (pip takes it
    there; one that built the earlier version before keeps its own wheel). Not permanent: the
    next release moves it on."""
    return redirect("client-sdist")


@require_safe
@condition(etag_func=lambda request: _client_sdist()[1])
def client_sdist(request: HttpRequest) -> HttpResponse:
    """The Python client for `pip install <this URL>` (it is not on PyPI): built from this release's
    clients/python on the first request, then kept for the process's life. Caches ask again on each
    use, since a release may change it under the same name; its ETag makes that a 304."""
    data, _ = _client_sdist()
    return HttpResponse(
        data,
        content_type="application/gzip",
        headers={
            "Content-Disposition": content_disposition_header(True, CLIENT_SDIST_NAME),
            "Cache-Control": "public, no-cache",
        },
    )


def _check_database() -> str:
    # Runs in a probe thread, which has its own connection: open it afresh each time, and close it,
    # so that a restarted PostgreSQL is seen at once and no connection is left behind.
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()
    return "ok"


def _check_cache() -> str:
    cache.set("healthz", "ok", timeout=10)
    if cache.get("healthz") != "ok":
        raise RuntimeError("cache did not return what was stored")
    return "ok"


def _check_broker() -> str:
    if celery_app.conf.task_always_eager:
        return "eager"  # no broker configured: tasks run in-process
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=PROBE_SECONDS)
    return "ok"


def _check_worker() -> str:
    if celery_app.conf.task_always_eager:
        return "eager"  # no broker configured: tasks run in-process, no worker is needed
    if not jobs.workers_alive(patience=0):  # each worker says so every second (optimizer.jobs)
        raise RuntimeError(f"no Celery worker said it was alive in the last {jobs.HEARTBEAT_EXPIRY_SECONDS} s")
    return "ok"


class _Probe:
    """One check, run in a thread of its own so that a service that hangs (accepts connections
    but never answers) costs the health check PROBE_SECONDS, not a socket's whole timeout. While
    a check is still running, the next request does not start another but waits for that one: two
    load balancers probing at once share one check, and a hung check is not piled up on."""

    _threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="healthz")

    def __init__(self, check: Callable[[], str]) -> None:
        self.check = check
        self.running: Future | None = None
        self.lock = threading.Lock()

    def start(self) -> Future:
        with self.lock:
            if self.running is None or self.running.done():
                self.running = self._threads.submit(self.check)
            return self.running


PROBES = {
    "database": _Probe(_check_database),
    "cache": _Probe(_check_cache),
    "broker": _Probe(_check_broker),
    "worker": _Probe(_check_worker),
}


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _client_error(request, exception, status=400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _client_error(request, exception, status=403)


CSRF_FAILED_MESSAGE = (
    "This page has expired (it was open too long, or your browser did not send our cookies): reload it and try again."
)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form posted without its token, most often one left open until the token
    expired or sent by a browser that refuses cookies. Django's own page says so in terms meant for
    developers, and its inline style is refused by our Content-Security-Policy. A page's script
    asking for JSON (try it) gets the page's advice as an error it shows: "try again" would not do."""
    if not request.path.startswith("/api/") and request.get_preferred_type(["text/html", "application/json"]) == (
        "application/json"
    ):
        return JsonResponse(ErrorAnswer(403, ErrorCode.FORBIDDEN, CSRF_FAILED_MESSAGE).body, status=403)
    return _client_error(request, PermissionDenied(reason), status=403, context={"csrf_failed": True})


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _client_error(request, exception, status=404)


@csrf_exempt
def api_not_found(request: HttpRequest) -> HttpResponse:
    """Any other path under the API's base URL: the API's JSON 404 for every method. Also under
    DEBUG (make run), where Django shows its HTML debug page instead of calling handler404. An
    endpoint's path with a trailing slash is named without it (no redirect: a POST's body would be
    lost)."""
    endpoint = request.path.rstrip("/")
    if endpoint != request.path and _is_api_endpoint(endpoint):
        message = f"Not found: the endpoint is {endpoint}, without the trailing slash"
        return JsonResponse(ErrorAnswer(404, ErrorCode.NOT_FOUND, message).body, status=404)
    return page_not_found(request, Http404())


def _is_api_endpoint(path: str) -> bool:
    try:
        return resolve(path).func is not api_not_found
    except Resolver404:
        return False


def _client_error(
    request: HttpRequest, exception: Exception, *, status: int, context: dict | None = None
) -> HttpResponse:
    """Django's handlers for the client errors it answers itself (a body or host it cannot read, a
    permission refused, no such page), in place of its own: those check the CSRF token again, which
    reads the request body again, and a body Django could not read (a form in another charset than
    UTF-8) raised once more, as a 500. The API's paths answer as its views do."""
    if request.path.startswith("/api/"):
        answer = error_answer(exception)
        return JsonResponse(answer.body, status=answer.status, headers=answer.headers)
    return render(request, f"{status}.html", context, status=status)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's handler for an exception no view answered (called while it is being handled).

    An outage of PostgreSQL or Redis is not a bug: 503 with Retry-After, worth retrying; the API's
    paths answer as its views do (api.errors.error_answer). The page is rendered as for a signed-out
    visitor without messages, since both are read from the session, which may be in the very
    database that is down."""
    exc = sys.exception()
    if request.path.startswith("/api/"):
        answer = SERVER_ERROR if exc is None else error_answer(exc)
        return JsonResponse(answer.body, status=answer.status, headers=answer.headers)
    outage = isinstance(exc, OUTAGES)
    context = {"user": AnonymousUser(), "messages": (), "outage": outage}
    response = render(request, "500.html", context, status=503 if outage else 500)
    if outage:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _health() -> dict[str, str]:
    """Each backing service's state: "ok", "eager" (no broker: tasks run in the web process) or
    "down". Answers within PROBE_SECONDS (plus a little), whatever hangs: the probes run at once."""
    started = {name: probe.start() for name, probe in PROBES.items()}
    deadline = monotonic() + PROBE_SECONDS
    results = {}
    for name, future in started.items():
        try:
            results[name] = future.result(timeout=max(deadline - monotonic(), 0))
        except Exception as error:
            logger.warning("health check %s failed: %r", name, error)
            results[name] = "down"
    if results["broker"] == "down":
        results["worker"] = "down"  # a worker that cannot get jobs does none
    return results


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers: 200 when every backing service answers and a Celery worker is alive,
    else 503 naming what is down."""
    results = _health()
    healthy = "down" not in results.values()
    return JsonResponse({"status": "ok" if healthy else "down", **results}, status=200 if healthy else 503)


# What each health check stands for, in the status page's words.
STATUS_SERVICES = {
    "database": ("Database", "Accounts, API keys and this month's counts"),
    "cache": ("Cache", "Rate limits, and images on their way to the workers"),
    "broker": ("Job queue", "Hands each image to a worker"),
    "worker": ("Image workers", "Optimize the images"),
}


@never_cache
def status(request: HttpRequest) -> HttpResponse:
    """The health checks for people. Always 200: a proxy may replace a 503's page with its own,
    which would hide this one just when it is needed."""
    results = _health()
    services = [
        {"name": name, "purpose": purpose, "state": results[key]} for key, (name, purpose) in STATUS_SERVICES.items()
    ]
    context = {
        "services": services,
        "healthy": "down" not in results.values(),
        "eager": "eager" in results.values(),
        "checked_at": timezone.now(),
    }
    return render(request, "pages/status.html", context)
