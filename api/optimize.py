"""POST /api/v1/optimize: the view and its input and output serializers."""

import base64
import math
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.cache import patch_vary_headers
from django.utils.functional import lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from api.metering import MeteredApiView
from api.parsers import JsonObject, JSONParser, MultiPartParser
from api.schema import error_responses, image_bytes, usage_headers
from optimizer.fetch import MAX_URL_LENGTH, SourceTooLarge, declared_length
from optimizer.formats import OutputFormat, RequestedFormat
from optimizer.pipeline import QUALITY_METRIC, Optimized, OptimizeOptions
from optimizer.services import DEFAULT_OPTIONS, MAX_WIDTH_BOUNDS, QUALITY_BOUNDS, ImageSource, optimize_image
from smolpix import thread_wait

# The longest field name an error repeats whole.
MAX_SHOWN_NAME = 100
# Room for the other form fields and the multipart boundaries around an upload.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def max_body_bytes() -> int:
    """The largest request body the API accepts: the largest upload, in its multipart form."""
    return settings.OPTIMIZER_MAX_SOURCE_BYTES + MULTIPART_OVERHEAD_BYTES


# The figures of an image answer, in X-Smolpix-<name> headers (see _image_response).
IMAGE_HEADERS = [
    ("Original-Size", OpenApiTypes.INT, "Original file size in bytes"),
    ("Optimized-Size", OpenApiTypes.INT, "Optimized file size in bytes"),
    ("Savings", OpenApiTypes.INT, "Bytes saved"),
    ("Savings-Percent", OpenApiTypes.INT, "Percentage saved (0-100)"),
    ("Format", OpenApiTypes.STR, "`webp` or `avif`"),
    ("Width", OpenApiTypes.INT, "Output width in pixels"),
    ("Height", OpenApiTypes.INT, "Output height in pixels"),
    ("Lossless", OpenApiTypes.STR, "`true` or `false`"),
    ("Notice", OpenApiTypes.STR, "Why the result differs from what was asked, when it does"),
    ("Quality-Metric", OpenApiTypes.STR, "`ssimulacra2`, with `smart`"),
    ("Quality-Score", OpenApiTypes.NUMBER, "The measured SSIMULACRA2 score, with `smart`"),
]
# The API reference's own examples.
REFERENCE_EXAMPLE_REQUEST = {
    "url": "https://example.com/photo.jpg",
    "format": "auto",
    "quality": 80,
    "maxWidth": 1920,
    "smart": True,
}
REFERENCE_EXAMPLE_RESPONSE = {
    "success": True,
    "originalSize": 1234567,
    "optimizedSize": 234567,
    "savings": 1000000,
    "savingsPercent": 81,
    "format": "avif",
    "width": 1920,
    "height": 1080,
    "data": "AAAAIGZ0eXBhdmlmAAAAAGF2aWZtaWYx...",
    "contentType": "image/avif",
    "lossless": False,
    "notice": None,
    "quality": {"metric": "ssimulacra2", "score": 76.2},
}


FORM_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


class _FromForm:
    """Form fields arrive as strings; JSON values must already have the right type."""

    def _is_form(self) -> bool:
        return bool(self.context.get("form"))


@extend_schema_field(OpenApiTypes.NUMBER)  # its range from the field's validators
class WholeNumberField(_FromForm, serializers.IntegerField):
    """A number (the reference's type: in JSON, or a form field's text), made whole by `whole`
    (math.floor, say) once it is within the range: JavaScript's arithmetic gives 1707.5 for
    1366 * 1.25 and 56.99999999999999 for 0.57 * 100, which a client must not have to round for a
    request to pass."""

    def __init__(self, *, whole: Callable[[float], int], **kwargs: Any) -> None:
        self.whole = whole
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or (isinstance(data, str) and not self._is_form()):
            self.fail("invalid")
        if isinstance(data, str):
            data = self._number(data)
        if isinstance(data, float):
            if not math.isfinite(data):
                self.fail("invalid")
            for validator in self.validators:  # the range, on the number as sent
                validator(data)
            data = self.whole(data)
        return super().to_internal_value(data)

    def _number(self, text: str) -> int | float:
        """A form field's text as the number it writes (`80`, `56.99`, `1e2`): only as JSON writes
        numbers, in ASCII digits (Python's int() also takes `٨٠` and `8_0`)."""
        if not FORM_NUMBER.fullmatch(text):
            self.fail("invalid")
        try:
            return int(text)
        except ValueError:  # a fraction, an exponent, or more digits than int() converts
            return float(text)


def _shown(name: str) -> str:
    """A field's name as an error names it: a name of megabytes is not sent back twice."""
    return name if len(name) <= MAX_SHOWN_NAME else f"{name[:MAX_SHOWN_NAME]}…"


class StrictBooleanField(_FromForm, serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool) and not self._is_form():
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


REQUESTED_FORMATS = [choice.value for choice in RequestedFormat]
OUTPUT_FORMATS = [output.value for output in OutputFormat]


def _url_help() -> str:
    *others, last = [str(port) for port in sorted(settings.OPTIMIZER_ALLOWED_PORTS)]
    ports = f"{', '.join(others)} or {last}" if others else last
    return f"URL of the image to optimize: http or https, on port {ports}, on the public internet."


# Lazy: the ports are this deployment's (OPTIMIZER_ALLOWED_PORTS), read when the schema is drawn.
URL_HELP = lazy(_url_help, str)()
FILE_HELP = "The image itself (JPEG, PNG, GIF, WebP, AVIF/HEIC, TIFF or BMP), instead of a URL."


class OptimizeInputSerializer(serializers.Serializer):
    url = StrictCharField(required=False, trim_whitespace=False, help_text=URL_HELP)
    file = serializers.FileField(required=False, allow_empty_file=False, help_text=FILE_HELP)
    format = serializers.ChoiceField(
        choices=REQUESTED_FORMATS,
        default=DEFAULT_OPTIONS.format.value,
        help_text="Output format: `auto` returns whichever of WebP and AVIF is smaller.",
    )
    quality = WholeNumberField(
        whole=lambda quality: math.floor(quality + 0.5),  # the nearest
        min_value=QUALITY_BOUNDS.min,
        max_value=QUALITY_BOUNDS.max,
        default=DEFAULT_OPTIONS.quality,
        help_text=f"Compression quality ({QUALITY_BOUNDS.min}-{QUALITY_BOUNDS.max}); a fraction is rounded.",
    )
    maxWidth = WholeNumberField(  # the API's names are camelCase
        whole=math.floor,  # the widest whole width within it
        min_value=MAX_WIDTH_BOUNDS.min,
        max_value=MAX_WIDTH_BOUNDS.max,
        default=DEFAULT_OPTIONS.max_width,
        help_text=(
            "Maximum width in pixels (a fraction is rounded down); the aspect ratio is kept and images are "
            "never enlarged."
        ),
    )
    smart = StrictBooleanField(
        default=DEFAULT_OPTIONS.smart, help_text="Use smart compression based on the image's content."
    )

    default_error_messages = {"invalid": "Send a JSON object."}

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None:  # a body of `null`: answered as any other JSON that is no object
            raise serializers.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [self.error_messages["invalid"]]})
        return super().validate_empty_values(data)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # A form or a JSON object may repeat a field (two files: the last was optimized).
        if isinstance(data, QueryDict):
            repeated = sorted(name for name in data if len(data.getlist(name)) > 1)
        else:
            repeated = data.repeated if isinstance(data, JsonObject) else []
        if repeated:
            raise serializers.ValidationError({_shown(repeated[0]): ["Sent more than once; send it once."]})
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({_shown(unknown[0]): ["Unknown field."]})
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "url" in attrs and "file" in attrs:
            raise serializers.ValidationError({"file": ["Send either url or file, not both."]})
        if "url" not in attrs and "file" not in attrs:
            raise serializers.ValidationError({"url": ["This field is required (or upload the image as file)."]})
        return attrs


# The bodies as the schema documents them (OptimizeInputSerializer parses every body); their
# docstrings are the schema's descriptions.
class OptimizeJsonRequest(OptimizeInputSerializer):
    """The image's `url` and the options. Any other field is refused."""

    url = StrictCharField(max_length=MAX_URL_LENGTH, help_text=URL_HELP)
    file = None

    class Meta:
        ref_name = "OptimizeJson"


class OptimizeUploadRequest(OptimizeInputSerializer):
    """The image uploaded in `file`, or its `url` (exactly one of the two), and the options, as
    form fields. Any other field is refused."""

    url = StrictCharField(required=False, max_length=MAX_URL_LENGTH, help_text=URL_HELP)

    class Meta:
        ref_name = "OptimizeUpload"


class QualityScoreSerializer(serializers.Serializer):
    metric = serializers.ChoiceField(choices=[QUALITY_METRIC], help_text="The perceptual metric: SSIMULACRA 2.1.")
    score = serializers.FloatField(
        help_text="100 means identical; 90 visually lossless, 70 high, 50 medium quality. With `smart` it "
        "reaches the target `quality` stands for (75 at quality 80), or at most 4 points less where that "
        "keeps the result smaller than the original (`notice` says so)."
    )

    class Meta:
        ref_name = "QualityScore"


class OptimizeOutputSerializer(serializers.Serializer):
    success = serializers.SerializerMethodField(help_text="Whether optimization succeeded: always true here.")
    originalSize = serializers.IntegerField(source="original_size", help_text="Original file size in bytes.")
    optimizedSize = serializers.IntegerField(source="optimized_size", help_text="Optimized file size in bytes.")
    savings = serializers.IntegerField(min_value=0, help_text="Bytes saved; never negative.")
    savingsPercent = serializers.IntegerField(
        source="savings_percent", min_value=0, max_value=100, help_text="Percentage saved (0-100)."
    )
    format = serializers.ChoiceField(choices=OUTPUT_FORMATS, help_text="The format returned: `webp` or `avif`.")
    width = serializers.IntegerField(help_text="Output width in pixels.")
    height = serializers.IntegerField(help_text="Output height in pixels.")
    data = serializers.SerializerMethodField(help_text="The optimized image, base64-encoded.")
    contentType = serializers.ChoiceField(
        source="format.content_type",
        choices=[output.content_type for output in OutputFormat],
        help_text="MIME type of `data`.",
    )
    lossless = serializers.BooleanField(
        help_text="Whether the image holds the pixels exactly (lossless WebP; a palette of 256 colours does not)."
    )
    notice = serializers.CharField(
        allow_null=True,
        help_text="Why the result differs from what was asked (e.g. lossless WebP for an image under 8x8 "
        "pixels, which cannot be measured).",
    )
    quality = QualityScoreSerializer(
        source="quality_score",
        allow_null=True,
        help_text="With `smart`: the measured perceptual quality of the returned image against the resized "
        "original. Null with `smart: false` (nothing is measured then), and where the metric cannot measure: "
        "images under 8x8 pixels (returned losslessly, or as AVIF at its top quality when only AVIF is asked "
        "for) or over 8 megapixels; `notice` then says why.",
    )

    class Meta:
        ref_name = "OptimizeResult"

    def get_success(self, result: Optimized) -> bool:
        return True

    def get_data(self, result: Optimized) -> str:
        return base64.b64encode(result.data).decode("ascii")


class OptimizeApi(MeteredApiView):
    """Optimize an image: fetch it from `url` (or take the uploaded `file`), resize it and return
    it as WebP or AVIF.

    Send JSON, or `multipart/form-data` with the image in `file` (or its `url`) and the same
    options as form fields; any other field is refused:

    - `url` (string, required unless `file` is sent, never with it): http or https, at most 2048
      characters, on a port the `url` field names, and on the public internet.
    - `format` (`auto`, `webp` or `avif`; default `auto`): `auto` returns whichever is smaller.
    - `quality` (integer 1-100; default 80).
    - `maxWidth` (integer 1-16384; default 1920): wider images are scaled down, keeping their
      aspect ratio; narrower ones are never enlarged.
    - `smart` (boolean; default true): content-aware compression: the smallest encoding found
      whose measured quality (SSIMULACRA2) reaches the target `quality` stands for, lossy or
      lossless, WebP or AVIF, and never larger than `smart: false` where that reaches it too.
      With `smart: false`, the encoder simply runs at `quality`.

    The answer is JSON with `success`, `originalSize`, `optimizedSize`, `savings`,
    `savingsPercent` (0-100), `format`, `width`, `height`, `data` (the image, base64) and
    `contentType`, plus `lossless`, `notice` (why the result differs from what was asked, or
    null) and `quality`: with `smart`, `{"metric": "ssimulacra2", "score": 76.2}`, the perceptual
    score of the returned image against your resized image (100 = identical; at quality 80 it is
    75 or more, or at least what a plain WebP at quality 80 of your image scores where that is
    less, and never below 71, which an answer kept smaller than the original may also go down to,
    with a notice), else null (also for images under 8x8 pixels, which come back lossless, or
    as AVIF at its top quality when only AVIF is asked for, and over 8 megapixels: `notice` says
    why). Transparent images are never returned opaque: WebP and
    AVIF both keep transparency, and every answer is decoded again to check it (should an encoder
    lose it, the answer is WebP, with a notice if AVIF was asked for). If the original is already
    in a suitable format and smaller than any re-encoding, its image is returned as it is, without
    its metadata (`savings` 0, or the bytes the metadata took).

    With `Accept: image/webp`, `image/avif` or `image/*` (preferred at least as much as JSON) the
    image bytes are the response body and the figures are in `X-Smolpix-*` headers, if the header
    takes the format returned (an explicit `format` it refuses comes as JSON). With `format: auto`,
    an Accept header preferring only one of WebP or AVIF to JSON picks that one.

    Errors are JSON `{"error", "code", "field"}`: 400 `BAD_REQUEST`, `INVALID_URL`, `FETCH_FAILED`,
    `UNSUPPORTED_IMAGE` or `IMAGE_TOO_LARGE`; 401 `UNAUTHORIZED`; 403 `FORBIDDEN`; 429
    `LIMIT_REACHED` with `used` and `limit` (over the per-minute rate limit, or the month's images
    used up); 500 `SERVER_ERROR`; 503 `SERVICE_UNAVAILABLE` (with `Retry-After`) while a backing
    service is unreachable: retry later. A method other than POST (or OPTIONS) is 405
    `METHOD_NOT_ALLOWED`.

    Each successful optimization counts one image towards the month's quota (UTC calendar
    month); failed ones are not counted. Every answer carries `X-RateLimit-Limit`,
    `X-RateLimit-Remaining`, `X-RateLimit-Reset`, `X-Quota-Used` and `X-Quota-Limit`, and a 429
    also `Retry-After` (seconds).
    """

    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        operation_id="optimize",
        summary="Optimize an image",
        tags=["Images"],
        request={"application/json": OptimizeJsonRequest, "multipart/form-data": OptimizeUploadRequest},
        responses={
            (200, "application/json"): OpenApiResponse(
                OptimizeOutputSerializer,
                description="The optimized image (base64 in `data`) and its figures.",
                examples=[OpenApiExample("Optimized", value=REFERENCE_EXAMPLE_RESPONSE, response_only=True)],
            ),
            (200, "image/webp"): OpenApiResponse(
                image_bytes("image/webp"), description="With `Accept: image/webp` or `image/*`: the image bytes."
            ),
            (200, "image/avif"): OpenApiResponse(
                image_bytes("image/avif"), description="With `Accept: image/avif` or `image/*`: the image bytes."
            ),
            **error_responses(400, 401, 403, 415, 429, 500, 503),
        },
        parameters=[
            OpenApiParameter(
                f"X-Smolpix-{name}",
                kind,
                OpenApiParameter.HEADER,
                response=[200],
                description=f"{description} (on image answers only).",
            )
            for name, kind, description in IMAGE_HEADERS
        ]
        + usage_headers(),
        examples=[OpenApiExample("From a URL", value=REFERENCE_EXAMPLE_REQUEST, request_only=True)],
    )
    def post(self, request: Request) -> HttpResponse:
        refuse_oversized_body(request)
        in_query = sorted(set(request.query_params) & set(OptimizeInputSerializer().fields))
        if in_query:  # else silently ignored, while an unknown field in the body is refused
            raise serializers.ValidationError({in_query[0]: ["Send it in the body, not in the query string."]})
        serializer = OptimizeInputSerializer(data=request.data, context={"form": isinstance(request.data, QueryDict)})
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        accepted = AcceptedImages.from_header(request.headers.get("Accept", ""))
        options = OptimizeOptions(
            format=accepted.narrow(RequestedFormat(fields["format"])),
            quality=fields["quality"],
            max_width=fields["maxWidth"],
            smart=fields["smart"],
        )
        upload = fields.get("file")
        source = ImageSource(upload=upload.read()) if upload else ImageSource(url=fields["url"])
        optimization = optimize_image(
            account=self.metering.account, source=source, options=options, already_waited=thread_wait.waited()
        )
        result = optimization.image
        self.metering.quota_used = optimization.quota_used
        self.metering.note_image(
            bytes_in=result.original_size, bytes_out=result.optimized_size, output_format=result.format.value
        )
        if accepted.wants(result.format):
            response = _image_response(result)
        else:
            response = Response(OptimizeOutputSerializer(result).data)
        patch_vary_headers(response, ["Accept"])
        return response


def refuse_oversized_body(request: HttpRequest) -> None:
    """Refuse an upload by its declared length, before reading (and spooling) it. Only a multipart
    body carries an upload: any other meets Django's own, smaller limit as it is read
    (DATA_UPLOAD_MAX_MEMORY_SIZE: "the request body is too large"), not the image's."""
    media_type = request.META.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        return
    declared = declared_length(request.META.get("CONTENT_LENGTH"))
    if declared is not None and declared > max_body_bytes():
        raise SourceTooLarge.over(settings.OPTIMIZER_MAX_SOURCE_BYTES).concerning("file")


class AcceptedImages:
    """What an Accept header says about getting image bytes instead of JSON."""

    def __init__(self, qualities: dict[str, float]) -> None:
        self._qualities = qualities

    @classmethod
    def from_header(cls, header: str) -> "AcceptedImages":
        qualities: dict[str, float] = {}
        for part in header.split(","):
            media_type, *parameters = (piece.strip() for piece in part.split(";"))
            quality = 1.0
            for parameter in parameters:
                name, _, value = parameter.partition("=")
                if name.strip().lower() == "q":
                    try:
                        quality = float(value)
                    except ValueError:
                        quality = 0.0
            if media_type:
                qualities[media_type.lower()] = quality
        return cls(qualities)

    def _quality(self, *ranges: str) -> float:
        """The quality of the first of `ranges` (most specific first) that the header names: the
        most specific range wins (RFC 9110), so `image/*, image/avif;q=0` refuses AVIF."""
        return next((self._qualities[media_range] for media_range in ranges if media_range in self._qualities), 0.0)

    def wants(self, output: OutputFormat) -> bool:
        """The image in `output` is asked for, and preferred at least as much as JSON. An answer in
        a format the client refuses (`format: avif` with `Accept: image/webp`) comes as JSON."""
        image = self._quality(output.content_type, "image/*")  # not */*: curl's default asks for JSON
        return image > 0 and image >= self._quality("application/json", "application/*", "*/*")

    def narrow(self, requested: RequestedFormat) -> RequestedFormat:
        """`auto` limited to the one image format the client wants as the body, if there is one: one
        it takes but likes less than JSON would come as JSON (`image/webp, image/avif;q=0.1,
        application/json;q=0.5` is WebP's bytes, where AVIF could win and come as JSON)."""
        wanted = [output for output in OutputFormat if self.wants(output)]
        return RequestedFormat(wanted[0].value) if requested is RequestedFormat.AUTO and len(wanted) == 1 else requested


def _image_response(result: Optimized) -> HttpResponse:
    figures = {
        "Original-Size": result.original_size,
        "Optimized-Size": result.optimized_size,
        "Savings": result.savings,
        "Savings-Percent": result.savings_percent,
        "Format": result.format.value,
        "Width": result.width,
        "Height": result.height,
        "Lossless": str(result.lossless).lower(),
    }
    if result.score is not None:
        figures["Quality-Metric"] = QUALITY_METRIC
        figures["Quality-Score"] = f"{result.score:.1f}"
    if result.notice:
        figures["Notice"] = result.notice
    response = HttpResponse(result.data, content_type=result.format.content_type)
    for name, value in figures.items():
        response[f"X-Smolpix-{name}"] = str(value)
    response["Content-Disposition"] = f'inline; filename="optimized.{result.format.value}"'
    return response
