"""The API's error contract: the one place where an exception becomes an error answer.

Every error body is JSON `{"error": "<human message>", "code": "<MACHINE_CODE>", ...}`; 400s about
one field name it in `field`. The domain's exceptions (smolpix.errors) carry facts; `error_answer`
gives each its status, code, message and headers, and so does it for DRF's and Django's own. No
traceback, path or internal address ever reaches a client: anything unexpected is logged and
answered with a plain 500 `SERVER_ERROR`.
"""

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.http.multipartparser import MultiPartParserError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from api.authentication import WWW_AUTHENTICATE
from optimizer.fetch import FetchFailed, InvalidUrl, SourceTooLarge
from optimizer.probe import ImageTooLarge, UnsupportedImage
from optimizer.services import OptimizationFailed
from smolpix.errors import ServiceUnavailable, SmolpixError, SourceRefused
from smolpix.gunicorn_worker import RequestTooSlow
from smolpix.outages import OUTAGES, RETRY_AFTER_SECONDS, traceback_due
from usage.ratelimit import RateLimited
from usage.services import QuotaExceeded, QuotaHeldInFlight

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
RATE_LIMIT_MESSAGE = "Rate limit exceeded"
QUOTA_MESSAGE = "Monthly image limit reached"
# Worded apart from QUOTA_MESSAGE, which clients take as final until the 1st.
QUOTA_IN_FLIGHT_MESSAGE = (
    "This month's last images are held by your requests still being processed; those that fail give "
    "theirs back: retry after the seconds in Retry-After."
)
SERVER_ERROR_MESSAGE = "Internal server error during optimization"
SERVICE_UNAVAILABLE_MESSAGE = "The service is briefly unavailable; please try again after the seconds in Retry-After."
UNSUPPORTED_MEDIA_TYPE_MESSAGE = (
    "Send JSON (Content-Type: application/json) with a url, or the image as a multipart/form-data "
    "upload in a field named file (curl -F file=@photo.jpg): a raw image body is not accepted."
)

# The code of each way a source can be refused.
SOURCE_REFUSAL_CODES: dict[type[SourceRefused], ErrorCode] = {
    InvalidUrl: ErrorCode.INVALID_URL,
    FetchFailed: ErrorCode.FETCH_FAILED,
    SourceTooLarge: ErrorCode.IMAGE_TOO_LARGE,
    UnsupportedImage: ErrorCode.UNSUPPORTED_IMAGE,
    ImageTooLarge: ErrorCode.IMAGE_TOO_LARGE,
}


@dataclass(frozen=True)
class ErrorAnswer:
    """An error as the API answers it."""

    status: int
    code: ErrorCode
    message: str
    extra: dict[str, Any] = field(default_factory=dict)  # more body fields: `field`, `used`, `limit`
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def bad_request(
        cls, message: str, *, field: str | None = None, code: ErrorCode = ErrorCode.BAD_REQUEST
    ) -> "ErrorAnswer":
        """A 400; one about a request field names it, in `field` and before the message."""
        if field is None:
            return cls(status.HTTP_400_BAD_REQUEST, code, message)
        return cls(status.HTTP_400_BAD_REQUEST, code, f"{field}: {message}", extra={"field": field})

    @property
    def body(self) -> dict[str, Any]:
        return {"error": self.message, "code": str(self.code), **self.extra}

    def response(self) -> Response:
        return Response(self.body, status=self.status, headers=self.headers)


SERVER_ERROR = ErrorAnswer(status.HTTP_500_INTERNAL_SERVER_ERROR, ErrorCode.SERVER_ERROR, SERVER_ERROR_MESSAGE)


def service_unavailable(*, retry_after: int) -> ErrorAnswer:
    return ErrorAnswer(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        ErrorCode.SERVICE_UNAVAILABLE,
        SERVICE_UNAVAILABLE_MESSAGE,
        headers={"Retry-After": str(retry_after)},
    )


def error_answer(exc: BaseException) -> ErrorAnswer:
    """The answer to `exc`, raised while serving an API request."""
    if isinstance(exc, SmolpixError):
        return _domain_answer(exc)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        # One body for every reason a key is refused, so a caller learns nothing from the difference.
        return ErrorAnswer(
            status.HTTP_401_UNAUTHORIZED,
            ErrorCode.UNAUTHORIZED,
            UNAUTHORIZED_MESSAGE,
            headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        )
    if isinstance(exc, exceptions.PermissionDenied | DjangoPermissionDenied):
        return ErrorAnswer(status.HTTP_403_FORBIDDEN, ErrorCode.FORBIDDEN, _detail(exc, "Forbidden"))
    if isinstance(exc, OUTAGES):
        return service_unavailable(retry_after=RETRY_AFTER_SECONDS)
    if isinstance(exc, RequestTooSlow):
        return ErrorAnswer(status.HTTP_408_REQUEST_TIMEOUT, ErrorCode.BAD_REQUEST, str(exc))
    if isinstance(exc, SuspiciousOperation | BadRequest | MultiPartParserError):
        # Django's own limits on request bodies (DATA_UPLOAD_MAX_MEMORY_SIZE and the field and
        # file counts), met while DRF reads the body; a host it does not serve; a body it cannot read.
        return ErrorAnswer.bad_request(_REFUSED_REQUEST_MESSAGES.get(type(exc), "Bad request"))
    if isinstance(exc, exceptions.ParseError):
        return ErrorAnswer.bad_request(f"Malformed request body: {_detail(exc, 'could not be parsed')}")
    if isinstance(exc, exceptions.ValidationError):
        field, message = _first_field_error(exc.detail)
        return ErrorAnswer.bad_request(message, field=field or None)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return ErrorAnswer(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, ErrorCode.BAD_REQUEST, UNSUPPORTED_MEDIA_TYPE_MESSAGE
        )
    if isinstance(exc, exceptions.NotFound | Http404):
        return ErrorAnswer(status.HTTP_404_NOT_FOUND, ErrorCode.NOT_FOUND, "Not found")
    if isinstance(exc, exceptions.MethodNotAllowed):
        return ErrorAnswer(
            status.HTTP_405_METHOD_NOT_ALLOWED, ErrorCode.METHOD_NOT_ALLOWED, _detail(exc, "Method not allowed")
        )
    if isinstance(exc, exceptions.NotAcceptable):
        return ErrorAnswer(status.HTTP_406_NOT_ACCEPTABLE, ErrorCode.BAD_REQUEST, _detail(exc, "Not acceptable"))
    if isinstance(exc, exceptions.APIException) and exc.status_code < 500:
        return ErrorAnswer(exc.status_code, ErrorCode.BAD_REQUEST, _detail(exc, "Bad request"))
    return SERVER_ERROR


# What the web server lacks that the request asks for (a transfer coding; an HTTP version): the
# client's to change, though HTTP numbers them 5xx.
LACKS = (status.HTTP_501_NOT_IMPLEMENTED, status.HTTP_505_HTTP_VERSION_NOT_SUPPORTED)


def protocol_error(status_code: int, reason: str, detail: str) -> ErrorAnswer:
    """The answer to a request the web server (gunicorn, or runserver) refuses itself, before
    Django sees it (a request line or headers too long or malformed, a broken chunked body): its
    status, with the server's reason and detail as the message (smolpix.refusals)."""
    if status_code >= 500 and status_code not in LACKS:
        return SERVER_ERROR
    code = ErrorCode.FORBIDDEN if status_code == status.HTTP_403_FORBIDDEN else ErrorCode.BAD_REQUEST
    return ErrorAnswer(status_code, code, f"{reason}: {detail}" if detail else reason)


def _domain_answer(exc: SmolpixError) -> ErrorAnswer:
    if isinstance(exc, SourceRefused):
        code = next(code for kind, code in SOURCE_REFUSAL_CODES.items() if isinstance(exc, kind))
        return ErrorAnswer.bad_request(exc.message, field=exc.field, code=code)
    if isinstance(exc, RateLimited):
        rate = exc.rate
        return _limit_reached(RATE_LIMIT_MESSAGE, used=rate.used, limit=rate.limit, retry_after=rate.retry_after)
    if isinstance(exc, QuotaExceeded):
        return _limit_reached(QUOTA_MESSAGE, used=exc.used, limit=exc.limit, retry_after=exc.retry_after)
    if isinstance(exc, QuotaHeldInFlight):
        return _limit_reached(QUOTA_IN_FLIGHT_MESSAGE, used=exc.used, limit=exc.limit, retry_after=exc.retry_after)
    if isinstance(exc, ServiceUnavailable):
        return service_unavailable(retry_after=exc.retry_after)
    return SERVER_ERROR  # OptimizationFailed: our side failed, and the service logged why


def _limit_reached(message: str, *, used: int, limit: int, retry_after: int) -> ErrorAnswer:
    return ErrorAnswer(
        status.HTTP_429_TOO_MANY_REQUESTS,
        ErrorCode.LIMIT_REACHED,
        message,
        extra={"used": used, "limit": limit},
        headers={"Retry-After": str(retry_after)},
    )


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's EXCEPTION_HANDLER: turns every exception raised in an API view into the contract."""
    set_rollback()
    if isinstance(exc, OUTAGES):
        logger.warning(
            "a backing service is unreachable during an API request: %s",
            type(exc).__name__,
            exc_info=exc if traceback_due(exc) else None,
        )
    answer = error_answer(exc)
    if answer is SERVER_ERROR and not isinstance(exc, OptimizationFailed):
        logger.exception("unexpected error in an API view", exc_info=exc)
    return answer.response()


_REFUSED_REQUEST_MESSAGES = {
    RequestDataTooBig: "The request body is too large: send the image as a multipart file, or its url.",
    TooManyFieldsSent: "The request has too many form fields.",
    TooManyFilesSent: "The request has too many files; send one, as file.",
    DisallowedHost: "This server does not answer for the host named in the request's Host header.",
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
