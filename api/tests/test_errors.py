"""The error contract every API view shares (api.errors)."""

import pytest
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.decorators import api_view
from rest_framework.test import APIRequestFactory

from api.errors import ApiError, ErrorCode

factory = APIRequestFactory()


def respond_with(exc: Exception):
    @api_view(["POST"])
    def view(request):
        raise exc

    return view(factory.post("/api/v1/anything", {}, format="json"))


class Options(serializers.Serializer):
    quality = serializers.IntegerField(min_value=1, max_value=100)


def test_api_error_carries_its_code_status_and_extra_fields():
    response = respond_with(
        ApiError("Monthly image limit reached", code=ErrorCode.LIMIT_REACHED, status_code=429, used=3, limit=3)
    )

    assert response.status_code == 429
    assert response.data == {"error": "Monthly image limit reached", "code": "LIMIT_REACHED", "used": 3, "limit": 3}


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


def test_not_found_and_method_not_allowed_keep_their_statuses():
    assert respond_with(Http404()).status_code == 404
    assert respond_with(exceptions.MethodNotAllowed("GET")).data["code"] == "METHOD_NOT_ALLOWED"


def test_an_unexpected_exception_is_a_plain_500_without_internals(caplog):
    response = respond_with(RuntimeError("secret path /etc/smolpix and 10.0.0.7"))

    assert response.status_code == 500
    assert response.data == {"error": "Internal server error during optimization", "code": "SERVER_ERROR"}
    assert "unexpected error in an API view" in caplog.text
