"""The API's error contract, shared by every API view.

Every error body is JSON `{"error": "<human message>", "code": "<MACHINE_CODE>", ...}`; 400s name
the offending field in `field`. No traceback, path or internal address ever reaches a client:
anything unexpected is logged and answered with a plain 500 `SERVER_ERROR`.
"""

import logging
from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from smolpix.outages import OUTAGES, RETRY_AFTER_SECONDS

logger = logging.getLogger(__name__)


class ErrorCode(StrEnum):
    BAD_REQUEST = "BAD_REQUEST"
    INVALID_URL = "INVALID_URL"
    FETCH_FAILED = "FETCH_FAILED"
    UNSUPPORTED_IMAGE = "UNSUPPORTED_IMAGE"
    IMAGE_TOO_LARGE = "IMAGE_TOO_LARGE"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    LIMIT_REACHED = "LIMIT_REACHED"
    SERVER_ERROR = "SERVER_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


UNAUTHORIZED_MESSAGE = "Missing or invalid API key"
SERVER_ERROR_MESSAGE = "Internal server error during optimization"
SERVICE_UNAVAILABLE_MESSAGE = "The service is briefly unavailable; please try again in a minute."


class ApiError(Exception):
    """An error the API answers on purpose, with its status, code and any extra body fields."""

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode = ErrorCode.BAD_REQUEST,
        status_code: int = status.HTTP_400_BAD_REQUEST,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status_code = status_code
        self.headers = headers or {}
        self.extra = extra


def service_unavailable(*, retry_after: int = RETRY_AFTER_SECONDS) -> ApiError:
    """A 503 for a backing service (database, cache, queue, workers) that cannot be reached or is
    full: nothing the client did wrong, and worth retrying after `retry_after` seconds."""
    return ApiError(
        SERVICE_UNAVAILABLE_MESSAGE,
        code=ErrorCode.SERVICE_UNAVAILABLE,
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(retry_after)},
    )


def server_error_answer() -> ApiError:
    """The 500 for anything unexpected: no detail reaches the client (it is logged)."""
    return ApiError(
        SERVER_ERROR_MESSAGE, code=ErrorCode.SERVER_ERROR, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR
    )


def error_body(error: ApiError) -> dict[str, Any]:
    return {"error": error.message, "code": str(error.code), **error.extra}


def error_response(error: ApiError) -> Response:
    return Response(error_body(error), status=error.status_code, headers=error.headers)


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's EXCEPTION_HANDLER: turns every exception raised in an API view into the contract."""
    set_rollback()
    return error_response(_as_api_error(exc))


def _as_api_error(exc: Exception) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        # One body for every reason a key is refused, so a caller learns nothing from the difference.
        return ApiError(
            UNAUTHORIZED_MESSAGE,
            code=ErrorCode.UNAUTHORIZED,
            status_code=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )
    if isinstance(exc, exceptions.PermissionDenied | DjangoPermissionDenied):
        return ApiError(_detail(exc, "Forbidden"), code=ErrorCode.FORBIDDEN, status_code=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, OUTAGES):
        logger.warning("a backing service is unreachable during an API request", exc_info=exc)
        return service_unavailable()
    if isinstance(exc, SuspiciousOperation):
        # Django's own limits on request bodies (DATA_UPLOAD_MAX_MEMORY_SIZE and the field and
        # file counts), met while DRF reads the body.
        return ApiError(_OVERSIZED_BODY_MESSAGES.get(type(exc), "Bad request"))
    if isinstance(exc, exceptions.ParseError):
        return ApiError(f"Malformed request body: {_detail(exc, 'could not be parsed')}")
    if isinstance(exc, exceptions.ValidationError):
        field, message = _first_field_error(exc.detail)
        return ApiError(f"{field}: {message}", field=field) if field else ApiError(message)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return ApiError(
            "Send JSON (Content-Type: application/json) or a multipart/form-data upload.",
            status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    if isinstance(exc, exceptions.NotFound | Http404):
        return ApiError("Not found", code=ErrorCode.NOT_FOUND, status_code=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, exceptions.MethodNotAllowed):
        return ApiError(
            _detail(exc, "Method not allowed"),
            code=ErrorCode.METHOD_NOT_ALLOWED,
            status_code=status.HTTP_405_METHOD_NOT_ALLOWED,
        )
    if isinstance(exc, exceptions.NotAcceptable):
        return ApiError(_detail(exc, "Not acceptable"), status_code=status.HTTP_406_NOT_ACCEPTABLE)
    if isinstance(exc, exceptions.APIException) and exc.status_code < 500:
        return ApiError(_detail(exc, "Bad request"), status_code=exc.status_code)
    logger.exception("unexpected error in an API view", exc_info=exc)
    return server_error_answer()


_OVERSIZED_BODY_MESSAGES = {
    RequestDataTooBig: "The request body is too large: send the image as a multipart file, or its url.",
    TooManyFieldsSent: "The request has too many form fields.",
    TooManyFilesSent: "The request has too many files; send one, as file.",
}


def _detail(exc: Exception, default: str) -> str:
    detail = getattr(exc, "detail", None)
    return str(detail) if isinstance(detail, str) and detail else default


def _first_field_error(detail: Any, prefix: str = "") -> tuple[str, str]:
    """The first (field path, message) in a DRF validation detail, e.g. ("maxWidth", "Must be ≤ 16384.")."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else (f"{prefix}.{key}" if prefix else str(key))
            return _first_field_error(value, name)
    if isinstance(detail, list) and detail:
        return _first_field_error(detail[0], prefix)
    return prefix, str(detail)
