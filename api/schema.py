"""What every API view's OpenAPI description shares: the error body and its answers, the usage
headers, how the key is sent, and the request bodies' rules.

The schema at /api/schema/ is generated from the API views by drf-spectacular; views describe
their errors with `error_responses(...)`, so every error documented is the contract's
`{"error", "code", ...}` body, and each example is what `api.errors` answers to an exception.
"""

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, serializers

from api.authentication import NO_API_ACCESS_MESSAGE
from api.errors import ErrorCode, error_answer
from optimizer.probe import UnsupportedImage, sniff
from optimizer.services import QUALITY_BOUNDS, OptimizationFailed
from smolpix.errors import ServiceUnavailable
from usage.ratelimit import RateLimited, RateLimitState
from usage.services import QuotaExceeded

ERROR_CODES = [code.value for code in ErrorCode]


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A message for people.")
    code = serializers.ChoiceField(choices=ERROR_CODES, help_text="A code for programs.")
    field = serializers.CharField(required=False, help_text="The request field at fault, on 400s about one field.")
    used = serializers.IntegerField(required=False, help_text="On LIMIT_REACHED: requests or images used.")
    limit = serializers.IntegerField(required=False, help_text="On LIMIT_REACHED: the limit in force.")

    class Meta:
        ref_name = "Error"


def _example(name: str, exc: Exception) -> OpenApiExample:
    """An example body: the mapping's answer to `exc`, so documentation and answers cannot drift."""
    return OpenApiExample(name, value=error_answer(exc).body, response_only=True)


def _not_an_image() -> UnsupportedImage:
    """What the pipeline says of a file that is no image (an SVG)."""
    try:
        sniff(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    except UnsupportedImage as refused:
        return refused
    raise AssertionError("an SVG passed for an image")


def _over_the_maximum(maximum: int) -> str:
    """What DRF says of a number over an integer field's maximum."""
    return serializers.IntegerField.default_error_messages["max_value"].format(max_value=maximum)


# What the example refusals of a limit carry besides their counts (not part of the body).
_NEXT_MONTH = datetime(2025, 7, 1, tzinfo=UTC)

# Each status an API view may answer with an error: what it means, and what its body looks like.
ERRORS: dict[int, tuple[str, list[OpenApiExample]]] = {
    400: (
        "The request or the image is at fault: `BAD_REQUEST` (a field is missing or invalid; `field` "
        "names it), `INVALID_URL`, `FETCH_FAILED`, `UNSUPPORTED_IMAGE` or `IMAGE_TOO_LARGE`.",
        [
            _example(
                "Invalid field",
                exceptions.ValidationError({"quality": [_over_the_maximum(QUALITY_BOUNDS.max)]}),
            ),
            _example("Unsupported image", _not_an_image().concerning("url")),
        ],
    ),
    401: (
        "Missing or invalid API key (the same answer for every reason).",
        [_example("Unauthorized", exceptions.NotAuthenticated())],
    ),
    403: (
        "The key's plan has no API access (Free).",
        [_example("Forbidden", exceptions.PermissionDenied(NO_API_ACCESS_MESSAGE))],
    ),
    415: (
        "The body is neither JSON nor multipart/form-data (raw image bytes, a form-encoded body).",
        [_example("Unsupported media type", exceptions.UnsupportedMediaType("image/jpeg"))],
    ),
    429: (
        "`LIMIT_REACHED`: the per-minute rate limit or the monthly image limit is reached, with `used` "
        "and `limit`. Wait `Retry-After` seconds.",
        [
            _example("Rate limit", RateLimited(rate=RateLimitState(limit=60, used=61, resets_at=0))),
            _example("Monthly limit", QuotaExceeded(used=10_000, limit=10_000, resets_at=_NEXT_MONTH)),
        ],
    ),
    500: (
        "The optimization failed on our side. Nothing is charged; you may retry.",
        [_example("Server error", OptimizationFailed("the worker crashed"))],
    ),
    503: (
        "`SERVICE_UNAVAILABLE`: a backing service (database, cache, queue) is out of reach, or no worker "
        "took the image in time. Nothing is charged; retry after `Retry-After` seconds.",
        [_example("Service unavailable", ServiceUnavailable("the workers are busy", retry_after=10))],
    ),
}


def image_bytes(media_type: str) -> dict[str, Any]:
    """A body of raw image bytes, as OpenAPI 3.1 describes one: by its media type (a string of
    format `binary` was 3.0's way; 3.1's validators refuse bytes as a string)."""
    return {"contentMediaType": media_type}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The documented error answers for these statuses, for `extend_schema(responses=...)`."""
    return {
        status: OpenApiResponse(ErrorSerializer, description=ERRORS[status][0], examples=ERRORS[status][1])
        for status in statuses
    }


# The usage headers on every answer to a valid key (api.metering): all but the 401, which has no
# account to speak of; and Retry-After on a 429 or 503.
WITH_A_VALID_KEY = [status for status in (200, *ERRORS) if status != 401]
USAGE_HEADERS = [
    ("X-RateLimit-Limit", OpenApiTypes.INT, "Requests allowed per minute.", WITH_A_VALID_KEY),
    ("X-RateLimit-Remaining", OpenApiTypes.INT, "Requests left in the current minute.", WITH_A_VALID_KEY),
    ("X-RateLimit-Reset", OpenApiTypes.INT, "Unix time at which the minute's count starts again.", WITH_A_VALID_KEY),
    ("X-Quota-Used", OpenApiTypes.INT, "Images optimized this month.", WITH_A_VALID_KEY),
    ("X-Quota-Limit", OpenApiTypes.STR, "Images allowed this month, or `unlimited`.", WITH_A_VALID_KEY),
    ("Retry-After", OpenApiTypes.INT, "Seconds to wait before retrying.", [429, 503]),
]


def usage_headers() -> list[OpenApiParameter]:
    """The usage headers, as response parameters for `extend_schema(parameters=...)`."""
    return [
        OpenApiParameter(name, kind, OpenApiParameter.HEADER, response=statuses, description=description)
        for name, kind, description, statuses in USAGE_HEADERS
    ]


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """API key authentication, `Authorization: Bearer pk_live_…`. drf-spectacular finds this
    extension by its target class: every API view imports this module for its error answers."""

    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "pk_live_…",
            "description": "An API key from your dashboard, sent as `Authorization: Bearer pk_live_…`. "
            "Never put a key in a URL: such requests are refused.",
        }


class RequestBodyOfKnownFields(OpenApiSerializerExtension):
    """The optimize request bodies, JSON and multipart alike: a field the API does not know is
    refused (OptimizeInputSerializer.to_internal_value), so the schema admits no other
    (`additionalProperties: false`). That a form carries exactly one of `url` and `file`
    (OptimizeInputSerializer.validate) its description says: a `oneOf` of the two left clients
    generated from the schema (openapi-python-client) with an untyped body they could not send."""

    target_class = "api.optimize.OptimizeInputSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        return schema
