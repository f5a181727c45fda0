"""The OpenAPI schema at /api/schema/ and the API agree.

Every answer the schema documents (operation, status, content type) is produced here by a real
request through the real views and pipeline, and both the request and the answer are validated
against the served schema with openapi-core. Requests the API refuses as malformed must be refused
by the schema too, and those it accepts must be valid for it (multipart bodies are checked against
their schema directly: openapi-core reads every form field as the string it is, and drops those the
schema does not name).
"""

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse
from openapi_core import OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS31Validator

from apikeys.keys import generate_key
from apikeys.tests.factories import ApiKeyFactory
from optimizer.services import NoCapacity
from optimizer.smart import QualityTarget
from optimizer.tests import images

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]

OPTIMIZE, USAGE = "/api/v1/optimize", "/api/v1/usage"
JSON, FORM = "application/json", "multipart/form-data"
ORIGIN = "ORIGIN"  # in a case's URL: the loopback origin serving PHOTO at /photo.jpg


@dataclass(frozen=True)
class Case:
    """One request, the answer it must get, and whether the schema accepts the request."""

    path: str
    method: str
    status: int
    answer_type: str | None = JSON  # None: no body
    json: dict | None = None
    form: dict | None = None  # multipart/form-data, typed as the schema has it; {"file": bytes} becomes an upload
    raw: tuple[str, bytes] | None = None  # (content type, body)
    accept: str | None = None
    key: str = "pro"  # "pro", "free" or "none"
    code: str | None = None  # the error code expected
    schema_accepts_request: bool = True
    settings: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)  # overrides on the Pro account
    fault: tuple[str, Exception] | None = None  # what raises what while the request is served

    def body(self, origin_url: str) -> tuple[str, bytes]:
        """The content type and the bytes sent, with ORIGIN in a URL standing for the test origin."""
        if self.json is not None:
            return JSON, json.dumps(_at(origin_url, self.json)).encode()
        if self.form is not None:
            form = {
                name: SimpleUploadedFile("image", value) if isinstance(value, bytes) else str(value).lower()
                for name, value in _at(origin_url, self.form).items()
            }
            return MULTIPART_CONTENT, encode_multipart(BOUNDARY, form)
        if self.raw is not None:
            return self.raw
        return JSON, b""


def _at(origin_url: str, fields: dict) -> dict:
    if "url" not in fields:
        return fields
    return {**fields, "url": fields["url"].replace(ORIGIN, origin_url)}


def malformed(**body: dict) -> Case:
    """An optimize request the API refuses as a BAD_REQUEST, and the schema refuses too."""
    return Case(OPTIMIZE, "post", 400, code="BAD_REQUEST", schema_accepts_request=False, **body)


PHOTO = images.encode(images.photo(160, 120), "JPEG", quality=95)
CASES = {
    "json from a url": Case(OPTIMIZE, "post", 200, json={"url": "ORIGIN/photo.jpg", "quality": 70}),
    "upload": Case(OPTIMIZE, "post", 200, form={"file": PHOTO, "format": "webp", "maxWidth": 100, "smart": True}),
    "form from a url": Case(OPTIMIZE, "post", 200, form={"url": "ORIGIN/photo.jpg", "quality": 70}),
    # What JavaScript's arithmetic gives (0.57 * 100, 1366 * 1.25): numbers, made whole.
    "fractions in json": Case(
        OPTIMIZE, "post", 200, json={"url": "ORIGIN/photo.jpg", "quality": 56.99999999999999, "maxWidth": 99.5}
    ),
    "fractions in a form": Case(OPTIMIZE, "post", 200, form={"file": PHOTO, "quality": 56.5, "maxWidth": 99.5}),
    "not smart: quality null": Case(OPTIMIZE, "post", 200, form={"file": PHOTO, "smart": False}),
    "webp bytes": Case(OPTIMIZE, "post", 200, "image/webp", form={"file": PHOTO}, accept="image/webp"),
    "avif bytes": Case(OPTIMIZE, "post", 200, "image/avif", form={"file": PHOTO, "format": "avif"}, accept="image/*"),
    "quality out of range": malformed(json={"url": "ORIGIN/photo.jpg", "quality": 101}),
    "quality as a string": malformed(json={"url": "ORIGIN/photo.jpg", "quality": "80"}),
    "unknown format": malformed(json={"url": "ORIGIN/photo.jpg", "format": "png"}),
    "no url": malformed(json={"quality": 80}),
    "unknown json field": malformed(json={"url": "ORIGIN/photo.jpg", "colour": "red"}),
    # Exactly one of url and file: the form's description says so (a oneOf broke generated clients).
    "neither url nor file in a form": Case(OPTIMIZE, "post", 400, form={"quality": 80}, code="BAD_REQUEST"),
    "both url and file in a form": Case(
        OPTIMIZE, "post", 400, form={"url": "ORIGIN/photo.jpg", "file": PHOTO}, code="BAD_REQUEST"
    ),
    "unknown form field": malformed(form={"file": PHOTO, "colour": "red"}),
    "ftp url": Case(OPTIMIZE, "post", 400, json={"url": "ftp://example.com/a.png"}, code="INVALID_URL"),
    "url answering 404": Case(OPTIMIZE, "post", 400, json={"url": "ORIGIN/missing.png"}, code="FETCH_FAILED"),
    "not an image": Case(
        OPTIMIZE, "post", 400, form={"file": b"<svg xmlns='http://www.w3.org/2000/svg'/>"}, code="UNSUPPORTED_IMAGE"
    ),
    "upload too large": Case(
        OPTIMIZE,
        "post",
        400,
        form={"file": PHOTO},
        code="IMAGE_TOO_LARGE",
        settings={"OPTIMIZER_MAX_SOURCE_BYTES": 100},
    ),
    "optimize without a key": Case(
        OPTIMIZE,
        "post",
        401,
        json={"url": "ORIGIN/photo.jpg"},
        key="none",
        code="UNAUTHORIZED",
        schema_accepts_request=False,
    ),
    "optimize on the free plan": Case(
        OPTIMIZE, "post", 403, json={"url": "ORIGIN/photo.jpg"}, key="free", code="FORBIDDEN"
    ),
    "plain text body": Case(
        OPTIMIZE, "post", 415, raw=("text/plain", b"url=x"), code="BAD_REQUEST", schema_accepts_request=False
    ),
    "monthly limit reached": Case(
        OPTIMIZE, "post", 429, form={"file": PHOTO}, code="LIMIT_REACHED", limits={"monthly_limit_override": 0}
    ),
    "pipeline crash": Case(
        OPTIMIZE,
        "post",
        500,
        form={"file": PHOTO},
        code="SERVER_ERROR",
        fault=("optimizer.worker.optimize", RuntimeError("ImageMagick fell over")),
    ),
    "no worker takes the image": Case(
        OPTIMIZE,
        "post",
        503,
        form={"file": PHOTO},
        code="SERVICE_UNAVAILABLE",
        fault=("optimizer.services._run_job", NoCapacity("every worker is busy", retry_after=10)),
    ),
    "usage": Case(USAGE, "get", 200),
    "usage without a key": Case(USAGE, "get", 401, key="none", code="UNAUTHORIZED", schema_accepts_request=False),
    "usage on the free plan": Case(USAGE, "get", 403, key="free", code="FORBIDDEN"),
    "usage over the rate limit": Case(USAGE, "get", 429, code="LIMIT_REACHED", limits={"rate_limit_override": 0}),
    "usage with the database out of reach": Case(
        USAGE,
        "get",
        503,
        code="SERVICE_UNAVAILABLE",
        fault=("api.usage.usage_this_month", OperationalError("the database is gone")),
    ),
}
OTHER_METHODS = {OPTIMIZE: ["get", "put", "patch", "delete"], USAGE: ["post", "put", "patch", "delete"]}
ALLOWED = {OPTIMIZE: "POST, OPTIONS", USAGE: "GET, HEAD, OPTIONS"}


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get(reverse("api-schema"), {"format": "json"})
    assert response.status_code == 200
    return response.json()


@pytest.fixture(scope="module")
def openapi(schema) -> OpenAPI:
    return OpenAPI.from_dict(schema)  # also validates the document against the OpenAPI 3 spec


def documented_answers(schema: dict) -> set[tuple[str, str, int, str | None]]:
    return {
        (path, method, int(status), content_type)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        for content_type in response.get("content") or [None]
    }


def form_schema_accepts(schema: dict, form: dict) -> bool:
    """Whether the documented multipart body admits these fields, typed as the schema has them."""
    body = schema["paths"][OPTIMIZE]["post"]["requestBody"]["content"][FORM]["schema"]
    fields = {name: "(the image)" if isinstance(value, bytes) else value for name, value in form.items()}
    return OAS31Validator({**body, "components": schema["components"]}).is_valid(fields)


def test_every_documented_answer_is_exercised_here_and_nothing_else(schema):
    exercised = {(case.path, case.method, case.status, case.answer_type) for case in CASES.values()}

    assert exercised == documented_answers(schema)


def test_every_operation_requires_the_bearer_key(schema):
    assert schema["components"]["securitySchemes"] == {
        "ApiKey": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "pk_live_…",
            "description": schema["components"]["securitySchemes"]["ApiKey"]["description"],
        }
    }
    for operations in schema["paths"].values():
        for operation in operations.values():
            assert operation["security"] == [{"ApiKey": []}]


def test_the_optimize_description_states_the_scores_the_search_keeps(schema):
    """What the schema promises of `quality` at the default quality: the search's target, lowered
    to what a plain WebP scores where that is less, and the floor (optimizer.smart)."""
    description = " ".join(schema["paths"][OPTIMIZE]["post"]["description"].split())
    target = QualityTarget.for_quality(80)

    assert f"at quality 80 it is {target.score:g} or more, or at least what a plain WebP at quality 80" in description
    assert f"and never below {target.floor:g}" in description
    assert "WebP and AVIF both keep transparency" in description
    assert "transparent" not in schema["components"]["schemas"]["OptimizeResult"]["properties"]["notice"]["description"]


@pytest.mark.parametrize("name", CASES)
def test_the_api_answers_as_documented(
    name, client, schema, openapi, origin, settings, monkeypatch, free_account, pro_account, pro_api_key
):
    case = CASES[name]
    for limit, value in case.limits.items():
        setattr(pro_account, limit, value)
    pro_account.save()
    settings.OPTIMIZER_ALLOW_PRIVATE_NETWORKS = True
    settings.OPTIMIZER_ALLOWED_PORTS = [origin.port]
    for setting, value in case.settings.items():
        setattr(settings, setting, value)
    if case.fault:
        target, error = case.fault
        monkeypatch.setattr(target, _raising(error))
    origin_url = origin.serve("/photo.jpg", PHOTO).removesuffix("/photo.jpg")
    headers = {"Accept": case.accept or JSON}
    if case.key != "none":
        headers["Authorization"] = f"Bearer {_free_key(free_account) if case.key == 'free' else pro_api_key}"
    content_type, body = case.body(origin_url)

    response = client.generic(case.method.upper(), case.path, body, content_type=content_type, headers=headers)

    assert response.status_code == case.status, response.content[:300]
    assert (response.get("Content-Type", "").split(";")[0] or None) == case.answer_type
    if case.code:
        assert response.json()["code"] == case.code
    request = MockRequest(
        "http://testserver", case.method, case.path, headers=headers, data=body, content_type=content_type
    )
    if case.form is not None:
        assert form_schema_accepts(schema, case.form) == case.schema_accepts_request
    elif case.schema_accepts_request:
        openapi.validate_request(request)
    else:
        with pytest.raises(OpenAPIError):
            openapi.validate_request(request)
    openapi.validate_response(
        request,
        MockResponse(
            response.content,
            status_code=response.status_code,
            headers=dict(response.items()),
            content_type=case.answer_type,
        ),
    )


def test_image_answers_carry_only_documented_headers(client, schema, pro_api_key):
    documented = set(schema["paths"][OPTIMIZE]["post"]["responses"]["200"]["headers"])

    response = client.post(
        OPTIMIZE,
        {"file": SimpleUploadedFile("photo.jpg", PHOTO)},
        headers={"Authorization": f"Bearer {pro_api_key}", "Accept": "image/webp"},
    )

    assert response.status_code == 200
    sent = {name for name, _ in response.items() if name.startswith("X-Smolpix-")}
    assert sent and sent <= documented


def _raising(error: Exception):
    def fail(*args, **kwargs):
        raise error

    return fail


def _free_key(account) -> str:
    key = generate_key()
    ApiKeyFactory(account=account, key=key)
    return key


def test_the_usage_headers_are_documented_on_every_answer_to_a_valid_key_but_not_on_the_401(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                documented = set(response.get("headers", {}))
                assert ("X-Quota-Used" in documented) == (status != "401"), (path, method, status)
                assert ("Retry-After" in documented) == (status in ("429", "503")), (path, method, status)


def test_each_operation_names_the_405_of_the_methods_its_path_refuses(schema):
    """The refusals are described, not documented as operations of their own: a generated client
    would get a function for each that can only fail."""
    for path, served in ((OPTIMIZE, "post"), (USAGE, "get")):
        assert set(schema["paths"][path]) == {served}
        assert "405 `METHOD_NOT_ALLOWED`" in " ".join(schema["paths"][path][served]["description"].split())


@pytest.mark.parametrize(
    ("path", "method"), [(path, method) for path in OTHER_METHODS for method in OTHER_METHODS[path]]
)
def test_another_method_is_refused_with_the_allowed_ones_and_the_usage_headers(client, pro_api_key, path, method):
    response = client.generic(method.upper(), path, headers={"Authorization": f"Bearer {pro_api_key}"})

    assert response.status_code == 405
    assert response.json() == {"error": f'Method "{method.upper()}" not allowed.', "code": "METHOD_NOT_ALLOWED"}
    assert response["Allow"] == ALLOWED[path]
    assert {"X-RateLimit-Remaining", "X-Quota-Used", "X-Quota-Limit"} <= set(response.headers)


def test_the_request_bodies_refuse_unknown_fields_and_a_form_takes_a_url_or_a_file(schema):
    body = schema["paths"][OPTIMIZE]["post"]["requestBody"]["content"]
    upload = schema["components"]["schemas"][body[FORM]["schema"]["$ref"].rsplit("/", 1)[-1]]
    as_json = schema["components"]["schemas"][body[JSON]["schema"]["$ref"].rsplit("/", 1)[-1]]

    assert {"url", "file"} <= set(upload["properties"])
    assert "exactly one of the two" in " ".join(upload["description"].split())
    assert "oneOf" not in upload  # openapi-python-client made such a body `Any`, and could not send it
    assert upload["additionalProperties"] is False
    assert as_json["additionalProperties"] is False


@pytest.mark.parametrize(
    ("ports", "named"), [([80, 443], "80 or 443"), ([8443, 443, 80], "80, 443 or 8443"), ([443], "443")]
)
def test_the_url_field_names_the_ports_this_server_fetches_from(client, settings, ports, named):
    settings.OPTIMIZER_ALLOWED_PORTS = ports

    schema = client.get(reverse("api-schema"), {"format": "json"}).json()

    body = schema["paths"][OPTIMIZE]["post"]["requestBody"]["content"]
    for content_type in (JSON, FORM):
        request = schema["components"]["schemas"][body[content_type]["schema"]["$ref"].rsplit("/", 1)[-1]]
        assert f"http or https, on port {named}, on the public internet" in request["properties"]["url"]["description"]
