"""What every API view's OpenAPI description shares: the error body and its answers, the usage
headers, and how the key is sent.

The schema at /api/schema/ is generated from the API views by drf-spectacular; views describe
their errors with `error_responses(...)`, so every error documented is the contract's
`{"error", "code", ...}` body of `api.errors`.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from api.errors import SERVER_ERROR_MESSAGE, UNAUTHORIZED_MESSAGE, ErrorCode

ERROR_CODES = [code.value for code in ErrorCode]


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A message for people.")
    code = serializers.ChoiceField(choices=ERROR_CODES, help_text="A code for programs.")
    field = serializers.CharField(required=False, help_text="The request field at fault, on 400s about one field.")
    used = serializers.IntegerField(required=False, help_text="On LIMIT_REACHED: requests or images used.")
    limit = serializers.IntegerField(required=False, help_text="On LIMIT_REACHED: the limit in force.")

    class Meta:
        ref_name = "Error"


def _example(name: str, body: dict) -> OpenApiExample:
    return OpenApiExample(name, value=body, response_only=True)


# Each status an API view may answer with an error: what it means, and what its body looks like.
ERRORS: dict[int, tuple[str, list[OpenApiExample]]] = {
    400: (
        "The request or the image is at fault: `BAD_REQUEST` (a field is missing or invalid; `field` "
        "names it), `INVALID_URL`, `FETCH_FAILED`, `UNSUPPORTED_IMAGE` or `IMAGE_TOO_LARGE`.",
        [
            _example(
                "Invalid field",
                {
                    "error": "quality: Ensure this value is less than or equal to 100.",
                    "code": ErrorCode.BAD_REQUEST.value,
                    "field": "quality",
                },
            ),
            _example(
                "Unsupported image",
                {
                    "error": "url: The file is not a supported image (JPEG, PNG, GIF, WebP, AVIF, HEIC, TIFF or BMP).",
                    "code": ErrorCode.UNSUPPORTED_IMAGE.value,
                    "field": "url",
                },
            ),
        ],
    ),
    401: (
        "Missing or invalid API key (the same answer for every reason).",
        [_example("Unauthorized", {"error": UNAUTHORIZED_MESSAGE, "code": ErrorCode.UNAUTHORIZED.value})],
    ),
    403: (
        "The key's plan has no API access (Free).",
        [_example("Forbidden", {"error": "API access requires Pro plan or higher", "code": ErrorCode.FORBIDDEN.value})],
    ),
    415: (
        "The body is neither JSON nor multipart/form-data.",
        [
            _example(
                "Unsupported media type",
                {
                    "error": "Send JSON (Content-Type: application/json) or a multipart/form-data upload.",
                    "code": ErrorCode.BAD_REQUEST.value,
                },
            )
        ],
    ),
    429: (
        "`LIMIT_REACHED`: the per-minute rate limit or the monthly image limit is reached, with `used` "
        "and `limit`. Wait `Retry-After` seconds.",
        [
            _example(
                "Rate limit",
                {"error": "Rate limit exceeded", "code": ErrorCode.LIMIT_REACHED.value, "used": 61, "limit": 60},
            ),
            _example(
                "Monthly limit",
                {
                    "error": "Monthly image limit reached",
                    "code": ErrorCode.LIMIT_REACHED.value,
                    "used": 10000,
                    "limit": 10000,
                },
            ),
        ],
    ),
    500: (
        "The optimization failed on our side. Nothing is charged; you may retry.",
        [_example("Server error", {"error": SERVER_ERROR_MESSAGE, "code": ErrorCode.SERVER_ERROR.value})],
    ),
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The documented error answers for these statuses, for `extend_schema(responses=...)`."""
    return {
        status: OpenApiResponse(ErrorSerializer, description=ERRORS[status][0], examples=ERRORS[status][1])
        for status in statuses
    }


# The usage headers on every answer to a valid key (api.metering), and Retry-After on a 429.
USAGE_HEADERS = [
    ("X-RateLimit-Limit", OpenApiTypes.INT, "Requests allowed per minute.", True),
    ("X-RateLimit-Remaining", OpenApiTypes.INT, "Requests left in the current minute.", True),
    ("X-RateLimit-Reset", OpenApiTypes.INT, "Unix time at which the minute's count starts again.", True),
    ("X-Quota-Used", OpenApiTypes.INT, "Images optimized this month.", True),
    ("X-Quota-Limit", OpenApiTypes.STR, "Images allowed this month, or `unlimited`.", True),
    ("Retry-After", OpenApiTypes.INT, "Seconds to wait before retrying.", [429]),
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
