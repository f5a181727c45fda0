import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control

from api.errors import ErrorAnswer
from apikeys.models import ApiKey
from smolpix.emails import request_site_url
from smolpix.logging import REQUEST_ID_HEADER, request_id, request_id_for
from smolpix.outages import DATABASE_DOWN
from smolpix.views import bad_request, healthz

logger = logging.getLogger("smolpix.request")


class RequestLogMiddleware:
    """Gives every request an id (a well-formed incoming `X-Request-ID`, or a new one), returns it in
    the `X-Request-ID` response header and writes one log line per request.

    First in MIDDLEWARE, so the line covers static files and every other middleware. The path is
    logged without its query string; of an API key, only its display prefix.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = request_id.set(request_id_for(request.headers.get(REQUEST_ID_HEADER)))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id.get()
            # This line says what django.request would again for every 4xx and 5xx, once the id is
            # gone (an ERROR for each 503 of an outage: 2,879 in a soak). A view's exception was
            # logged where it was raised, with its traceback.
            response._has_been_logged = True
            logger.info(
                "request",
                extra={
                    "fields": {
                        **_caller(request),
                        "method": request.method,
                        "path": request.path,
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                        "bytes": _body_size(response),
                    }
                },
            )
            return response
        finally:
            request_id.reset(token)


def _caller(request: HttpRequest) -> dict[str, int | str | None]:
    """Who made the request: the account and key prefix of an API key (DRF leaves the key in
    `request.auth` once it authenticated it) and the user (the key's owner, or a browser session's)."""
    api_key = getattr(request, "auth", None)
    if not isinstance(api_key, ApiKey):
        api_key = None
    return {
        "account_id": api_key.account_id if api_key else None,
        "key_prefix": api_key.display_prefix if api_key else None,
        "user_id": _user_id(request),
    }


def _user_id(request: HttpRequest) -> int | None:
    user = getattr(request, "user", None)  # absent for static files: whitenoise answers before auth
    try:
        return user.pk if user is not None and user.is_authenticated else None
    except DATABASE_DOWN:
        return None  # the session could not be read: the line is still written


def _body_size(response: HttpResponse) -> int | None:
    if response.streaming:  # whitenoise's files: the length is known, the body is not read here
        length = response.get("Content-Length")
        return int(length) if length else None
    return len(response.content)


# The API's calls; its schema and explorer are pages, redirected as any other.
API_CALLS = "/api/v1/"


class ApiOverHttpsOnlyMiddleware:
    """Answers an API call over plain HTTP (SECURE_SSL_REDIRECT) with the API's JSON 400 in place of
    SecurityMiddleware's 301 to HTTPS: a client follows a 301 with a GET without the body, and fails
    on an HTML answer it did not ask for, while its key has already crossed the network in clear,
    which the message tells it. Just before SecurityMiddleware, whose other headers it keeps."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        redirected = settings.SECURE_SSL_REDIRECT and not request.is_secure() and response.status_code == 301
        if not (redirected and request.path.startswith(API_CALLS)):
            return response
        message = (
            f"The API is served over HTTPS only: send this request to {response['Location']} "
            "(an API key sent over plain HTTP may have been read on the way: replace it on the keys page)"
        )
        refusal = JsonResponse(ErrorAnswer.bad_request(message).body, status=400)
        for header, value in response.items():
            if header not in ("Location", "Content-Type", "Content-Length"):
                refusal.headers.setdefault(header, value)
        return refusal


class HealthCheckMiddleware:
    """Answers `/healthz` whatever the Host header: a load balancer probes each machine by its
    address, which ALLOWED_HOSTS need not list (Django answered it 400, an HTML page, and so every
    machine looked down). Before anything that reads the host; the answer says only what is up."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            response = healthz(request)
            # CommonMiddleware, which sets it for every other answer, comes later.
            response["Content-Length"] = len(response.content)
            return response
        return self.get_response(request)


class ApiHostMiddleware:
    """Answers an API request for a host outside ALLOWED_HOSTS with the API's JSON 400, as
    handler400 does, also under DEBUG (make run), where Django shows its HTML debug page instead."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            try:
                request.get_host()
            except DisallowedHost as exc:
                return bad_request(request, exc)
        return self.get_response(request)


class SiteUrlMiddleware:
    """Remembers where the request reached us (scheme and host), for the links of the e-mails it
    leads to when SITE_URL is not set (smolpix.emails.site_url)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = request_site_url.set(_site_url(request))
        try:
            return self.get_response(request)
        finally:
            request_site_url.reset(token)


def _site_url(request: HttpRequest) -> str | None:
    try:
        return f"{request.scheme}://{request.get_host()}"
    except DisallowedHost:
        return None  # a host outside ALLOWED_HOSTS: CommonMiddleware answers 400


class ContentSecurityPolicyMiddleware:
    """Sends SECURE_CSP as the Content-Security-Policy header of every response that has none.

    Django 5.2 has no CSP support of its own, and one fixed policy needs no more than this (no
    nonces: no page has inline script or style). SECURE_CSP is shaped as Django 6.0's setting of the
    same name, so moving to Django 6.0 means removing this class and naming Django's middleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = "; ".join(" ".join([directive, *sources]) for directive, sources in settings.SECURE_CSP.items())

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        return response


class SignedInPagesArePrivate:
    """Marks what a signed-in session is answered `Cache-Control: private, no-store` unless the view
    said otherwise: usage, billing and keys are one customer's, for no shared cache to keep (Vary:
    Cookie alone relies on every cache honouring it) and for no browser to show after sign-out."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if _user_id(request) is not None and not response.has_header("Cache-Control"):
            patch_cache_control(response, private=True, no_store=True)
        return response
