"""What every API view's OpenAPI description shares: the error body and its answers, the usage
headers, how the key is sent, and what a path answers to the methods its view does not document.

The schema at /api/schema/ is generated from the API views by drf-spectacular (with
`ApiSchemaGenerator`); views describe their errors with `error_responses(...)`, so every error
documented is the contract's `{"error", "code", ...}` body, and each example is what `api.errors`
answers to an exception.
"""

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import alpha_operation_sorter
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.authentication import NO_API_ACCESS_MESSAGE
from api.errors import ErrorCode, error_answer
from api.metering import MeteredApiView
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
    405: (
        "`METHOD_NOT_ALLOWED`: the path does not serve this method; `Allow` lists those it serves.",
        [],  # the example names the operation's method (_refusal)
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


# The usage headers on every answer to a valid key (api.metering), OPTIONS' 204 included: all but
# the 401, which has no account to speak of; and Retry-After on a 429 or 503.
WITH_A_VALID_KEY = [status for status in (200, 204, *ERRORS) if status != 401]
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
    (`additionalProperties: false`); and a body that may carry the image as `url` or as `file`
    must carry exactly one of them (OptimizeInputSerializer.validate)."""

    target_class = "api.optimize.OptimizeInputSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        sources = [name for name in ("url", "file") if name in schema["properties"]]
        if len(sources) > 1:
            schema["oneOf"] = [{"required": [name]} for name in sources]
        return schema


# The methods documented on every path: OpenAPI's operations but HEAD and TRACE, which
# drf-spectacular leaves out too (HEAD is GET without the body where GET is served; TRACE, and HEAD
# elsewhere, are refused as below).
DOCUMENTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
OTHER_METHODS_TAG = "Other methods"


class ApiSchemaGenerator(SchemaGenerator):
    """drf-spectacular's generator, documenting every method on every API path: those the view does
    not document itself (OPTIONS, and the methods it refuses) as `other_methods_view` describes them."""

    class endpoint_inspector_cls(EndpointEnumerator):
        def get_api_endpoints(self, patterns=None, prefix=""):
            endpoints = super().get_api_endpoints(patterns, prefix)
            documented = {(path, method) for path, _, method, _ in endpoints}
            views = {
                path: (path_regex, callback.cls)
                for path, path_regex, _, callback in endpoints
                if issubclass(callback.cls, MeteredApiView)
            }
            others = [
                (path, path_regex, method, other_methods_view(served))
                for path, (path_regex, served) in views.items()
                for method in DOCUMENTED_METHODS
                if (path, method) not in documented
            ]
            return sorted(endpoints + others, key=alpha_operation_sorter)  # as SORT_OPERATIONS' default


class _OperationsNamedByPath(AutoSchema):
    def get_operation_id(self) -> str:
        """`optimize_get`: the path's last segment, which names its own operation, and the method."""
        return f"{self.path.rstrip('/').rsplit('/', 1)[-1]}_{self.method.lower()}"


@functools.cache
def other_methods_view(served: type[MeteredApiView]) -> Callable:
    """A view never routed, documenting what `served` answers to OPTIONS and to the methods it
    does not serve; it is `served`'s own answers that the schema's tests check against this."""
    view = served()
    view.setup(None)  # as for a request: HEAD is served where GET is
    allowed = ", ".join(view.allowed_methods)
    refused = [method for method in DOCUMENTED_METHODS if method not in view.allowed_methods]
    documentation = type(
        f"{served.__name__}OtherMethods",
        (APIView,),
        {
            "authentication_classes": served.authentication_classes,
            "schema": _OperationsNamedByPath(),
            "options": _options(allowed),
            **{method.lower(): _refusal(method, allowed) for method in refused},
        },
    )
    return documentation.as_view()


def _allow_header(allowed: str, status: int) -> OpenApiParameter:
    return OpenApiParameter(
        "Allow",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=[status],
        enum=[allowed],
        description="The methods this path serves.",
    )


def _options(allowed: str) -> Callable:
    @extend_schema(
        summary="The methods this path serves",
        description=f"No body: the methods this path serves in `Allow` ({allowed}), and the usage headers "
        "of every answer to a valid key. It counts towards the rate limit like any request, not "
        "towards the month's images.",
        tags=[OTHER_METHODS_TAG],
        request=None,
        responses={204: OpenApiResponse(description="The methods in `Allow`."), **error_responses(401, 403, 429, 503)},
        parameters=[_allow_header(allowed, 204), *usage_headers()],
    )
    def options(self, request: Request, *args, **kwargs) -> Response:
        raise NotImplementedError("documentation only")

    return options


def _refusal(method: str, allowed: str) -> Callable:
    @extend_schema(
        summary=f"{method}: not allowed",
        description=f"This path serves {allowed} only: {method} is answered 405 `METHOD_NOT_ALLOWED`, "
        "once the key has been checked and counted as for any request.",
        tags=[OTHER_METHODS_TAG],
        request=None,
        responses={
            **error_responses(401, 403),
            405: OpenApiResponse(
                ErrorSerializer,
                description=ERRORS[405][0],
                examples=[_example("Method not allowed", exceptions.MethodNotAllowed(method))],
            ),
            **error_responses(429, 503),
        },
        parameters=[_allow_header(allowed, 405), *usage_headers()],
    )
    def refuse(self, request: Request, *args, **kwargs) -> Response:
        raise NotImplementedError("documentation only")

    return refuse
