"""The error contract every API view shares (api.errors)."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import OperationalError
from django.http import Http404
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework import exceptions, serializers
from rest_framework.decorators import api_view
from rest_framework.test import APIRequestFactory

from optimizer.fetch import FetchFailed, InvalidUrl, SourceTooLarge
from optimizer.probe import ImageTooLarge, UnsupportedImage
from optimizer.services import NoCapacity, OptimizationFailed, WorkerLost
from smolpix import outages
from smolpix.errors import ServiceUnavailable
from usage.ratelimit import RateLimited, RateLimitState
from usage.services import QuotaExceeded

factory = APIRequestFactory()


def respond_with(exc: Exception):
    @api_view(["POST"])
    def view(request):
        raise exc

    return view(factory.post("/api/v1/anything", {}, format="json"))


class Options(serializers.Serializer):
    quality = serializers.IntegerField(min_value=1, max_value=100)


@pytest.mark.parametrize(
    ("refusal", "code"),
    [
        (InvalidUrl, "INVALID_URL"),
        (FetchFailed, "FETCH_FAILED"),
        (SourceTooLarge, "IMAGE_TOO_LARGE"),
        (UnsupportedImage, "UNSUPPORTED_IMAGE"),
        (ImageTooLarge, "IMAGE_TOO_LARGE"),
    ],
)
def test_a_refused_source_is_400_with_its_code_naming_its_field(refusal, code):
    response = respond_with(refusal("It will not do.").concerning("url"))

    assert response.status_code == 400
    assert response.data == {"error": "url: It will not do.", "code": code, "field": "url"}


def test_the_monthly_quota_is_429_with_the_count_and_the_wait_until_the_next_month():
    resets_at = timezone.now() + timedelta(hours=2)

    response = respond_with(QuotaExceeded(used=3, limit=3, resets_at=resets_at))

    assert response.status_code == 429
    assert response.data == {"error": "Monthly image limit reached", "code": "LIMIT_REACHED", "used": 3, "limit": 3}
    assert 7190 <= int(response["Retry-After"]) <= 7200


def test_the_rate_limit_is_429_with_the_minutes_count_and_the_wait():
    rate = RateLimitState(limit=60, used=61, resets_at=int(time.time()) + 20)

    response = respond_with(RateLimited(rate=rate))

    assert response.status_code == 429
    assert response.data == {"error": "Rate limit exceeded", "code": "LIMIT_REACHED", "used": 61, "limit": 60}
    assert 19 <= int(response["Retry-After"]) <= 20


@pytest.mark.parametrize(
    "exc",
    [ServiceUnavailable("redis is down", retry_after=12), NoCapacity("every worker is busy", retry_after=12)],
)
def test_an_unavailable_service_is_503_to_retry(exc):
    response = respond_with(exc)

    assert response.status_code == 503
    assert response.data == {
        "error": "The service is briefly unavailable; please try again after the seconds in Retry-After.",
        "code": "SERVICE_UNAVAILABLE",
    }
    assert response["Retry-After"] == "12"


@pytest.mark.parametrize("exc", [OptimizationFailed("job 1 failed"), WorkerLost("job 1: the worker stopped")])
def test_a_failed_optimization_is_a_plain_500(exc, caplog):
    response = respond_with(exc)

    assert response.status_code == 500
    assert response.data == {"error": "Internal server error during optimization", "code": "SERVER_ERROR"}
    assert "unexpected error" not in caplog.text  # the service logged what happened


@pytest.mark.parametrize("exc", [exceptions.NotAuthenticated(), exceptions.AuthenticationFailed("revoked key")])
def test_every_authentication_failure_has_the_same_401_body(exc):
    response = respond_with(exc)

    assert response.status_code == 401
    assert response.data == {"error": "Missing or invalid API key", "code": "UNAUTHORIZED"}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_permission_denied_is_403_forbidden_with_its_message():
    response = respond_with(exceptions.PermissionDenied("API access requires Pro plan or higher"))

    assert response.status_code == 403
    assert response.data == {"error": "API access requires Pro plan or higher", "code": "FORBIDDEN"}


def test_validation_errors_name_the_field():
    serializer = Options(data={"quality": 500})
    serializer.is_valid()

    response = respond_with(exceptions.ValidationError(serializer.errors))

    assert response.status_code == 400
    assert response.data["code"] == "BAD_REQUEST"
    assert response.data["field"] == "quality"
    assert response.data["error"].startswith("quality: ")


def test_malformed_json_is_400_bad_request():
    @api_view(["POST"])
    def view(request):
        return request.data

    request = factory.post("/api/v1/anything", b'{"url": ', content_type="application/json")
    response = view(request)

    assert response.status_code == 400
    assert response.data["code"] == "BAD_REQUEST"
    assert response.data["error"].startswith("Malformed request body")


def test_an_outage_s_traceback_is_logged_once_a_minute_not_for_every_request(caplog, monkeypatch):
    """A PostgreSQL outage of 20 s wrote 1,748 tracebacks, 10 MB of the log."""
    clock = [1000.0]
    monkeypatch.setattr(outages, "_tracebacks", {})
    monkeypatch.setattr(outages.time, "monotonic", lambda: clock[0])

    for seconds in (0, 30, 59, 61):
        clock[0] = 1000.0 + seconds
        assert respond_with(OperationalError("connection refused")).status_code == 503

    lines = [record for record in caplog.records if "backing service is unreachable" in record.getMessage()]
    assert [record.exc_info is not None for record in lines] == [True, False, False, True]
    assert all("OperationalError" in record.getMessage() for record in lines)


@pytest.mark.django_db
def test_a_page_met_by_an_outage_logs_its_traceback_once_a_minute_too(caplog, monkeypatch):
    monkeypatch.setattr(outages, "_tracebacks", {})

    def database_down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("smolpix.views.plan_list", database_down)
    for _ in range(3):
        assert Client(raise_request_exception=False).get(reverse("pricing")).status_code == 503

    lines = [record for record in caplog.records if record.name == "django.request"]
    assert [record.exc_info is not None for record in lines] == [True, False, False]


@pytest.mark.django_db
def test_an_answer_is_logged_once_with_its_request_id_not_again_by_django(caplog):
    """django.request repeated every 4xx and 5xx once the request's id was gone (an ERROR for each
    503 of an outage)."""
    assert Client().post("/api/v1/no-such-endpoint").status_code == 404

    assert [record.name for record in caplog.records if record.name.startswith("django")] == []
    assert any(record.getMessage() == "request" for record in caplog.records)


def test_not_found_and_method_not_allowed_keep_their_statuses():
    assert respond_with(Http404()).status_code == 404
    assert respond_with(exceptions.MethodNotAllowed("GET")).data["code"] == "METHOD_NOT_ALLOWED"


def test_an_unexpected_exception_is_a_plain_500_without_internals(caplog):
    response = respond_with(RuntimeError("secret path /etc/smolpix and 10.0.0.7"))

    assert response.status_code == 500
    assert response.data == {"error": "Internal server error during optimization", "code": "SERVER_ERROR"}
    assert "unexpected error in an API view" in caplog.text


@pytest.mark.django_db
def test_a_crash_outside_the_views_under_api_is_answered_by_the_same_mapping(monkeypatch):
    # Met in a middleware, outside the API view's own error handling: Django's handler answers.
    def crash(request):
        raise RuntimeError("secret path /etc/smolpix")

    monkeypatch.setattr("smolpix.middleware._caller", crash)

    response = Client(raise_request_exception=False).get("/api/v1/usage")

    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error during optimization", "code": "SERVER_ERROR"}


@pytest.mark.django_db
def test_a_raw_image_body_is_415_with_how_to_send_it(client, pro_api_key):
    # Tinify's way: curl --data-binary @photo.jpg -H "Content-Type: image/jpeg".
    photo = (settings.BASE_DIR / "static" / "img" / "examples" / "landscape.jpg").read_bytes()

    response = client.post(
        reverse("api-optimize"), photo, content_type="image/jpeg", headers={"Authorization": f"Bearer {pro_api_key}"}
    )

    assert response.status_code == 415
    assert response.json()["code"] == "BAD_REQUEST"
    assert "multipart/form-data upload in a field named file (curl -F file=@photo.jpg)" in response.json()["error"]
