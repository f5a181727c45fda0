"""Hostile requests to POST /api/v1/optimize: malformed and non-object JSON, bodies past Django's
limits, every wrong type for every field, unknown fields; and property-based tests (Hypothesis)
of the request validator and of the URL checker. No answer is ever a 500.
"""

import ipaddress
import json
import random
import socket

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image
from rest_framework.exceptions import ValidationError

from api.errors import api_exception_handler
from api.optimize import OptimizeInputSerializer
from api.tests.checks import ENDPOINT, assert_error
from optimizer import fetch
from optimizer.tests import images
from optimizer.tests.origin import Origin

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]

FIELDS = ("url", "format", "quality", "maxWidth", "smart")
GOOD = {"url": "http://images.example/photo.png", "format": "webp", "quality": 80, "maxWidth": 100, "smart": True}
# Every JSON type, and for each field the ones it accepts.
JSON_VALUES = {
    "null": None,
    "true": True,
    "zero": 0,
    "integer": 80,
    "negative": -1,
    "float": 80.5,
    "huge": 10**30,
    "string": "80",
    "empty string": "",
    "list": [80],
    "object": {"value": 80},
}
ACCEPTED_TYPES = {
    "url": {"string"},  # any string here; the URL checker judges it (INVALID_URL)
    "format": set(),  # only "auto", "webp", "avif"
    "quality": {"integer", "float"},  # a fraction is made whole
    "maxWidth": {"integer", "float"},
    "smart": {"true"},
}


@pytest.fixture
def raw_post(client, pro_api_key):
    def send(raw: bytes | str, content_type: str = "application/json"):
        # generic() sends the bytes as they are, whatever charset the content type names.
        return client.generic("POST", ENDPOINT, raw, content_type, HTTP_AUTHORIZATION=f"Bearer {pro_api_key}")

    return send


@pytest.fixture
def no_dns(monkeypatch):
    """Any name lookup fails, so a request that validates never leaves this machine."""

    def refuse(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "no DNS in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# --- Malformed bodies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"url": ',
        b'{"url": "http://a.example/x.png"',
        b'{"url": "http://a.example/x.png"} trailing',
        b"{'url': 'http://a.example/x.png'}",
        b'{"url": "http://a.example/x.png", }',
        b'{"url": "http://a.example/x.png" /* comment */}',
        b'{"url": "http://a.example/x.png", "quality": NaN}',
        b'{"url": "http://a.example/x.png", "quality": Infinity}',
        b'{"url": "http://a.example/x.png", "quality": ' + b"9" * 5000 + b"}",
        b'{"url": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"url": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}",
        b'{"url": "http://a.example/\xff.png"}',
        '{"url": "http://a.example/x.png"}'.encode("utf-16"),
        b"\x00\x00\x00{",
        b"\xef\xbb\xbf",
    ],
    ids=lambda raw: repr(raw[:40]),
)
def test_malformed_json_is_400_bad_request(raw_post, raw):
    assert_error(raw_post(raw), 400, "BAD_REQUEST")


@pytest.mark.parametrize("value", [[], [GOOD], "http://a.example/x.png", 80, 1.5, True, None, [[[]]]], ids=json.dumps)
def test_json_that_is_not_an_object_is_400(raw_post, value):
    body = assert_error(raw_post(json.dumps(value)), 400, "BAD_REQUEST")

    assert body["error"] == "Send a JSON object."


def test_an_integer_too_long_to_read_is_refused_in_the_clients_terms_not_pythons(raw_post):
    too_long = b'{"url": "http://a.example/x.png", "quality": ' + b"9" * 5000 + b"}"

    body = assert_error(raw_post(too_long), 400, "BAD_REQUEST")

    assert body["error"] == "Malformed request body: JSON parse error - an integer of 5,000 digits is too long"


def test_an_unknown_charset_is_read_as_utf_8(raw_post):
    assert_error(raw_post(b'{"url": "x"}', "application/json; charset=no-such-charset"), 400, "INVALID_URL", "url")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "image/png", "application/x-www-form-urlencoded"]
)
def test_other_content_types_are_415(raw_post, content_type):
    assert_error(raw_post(b"url=http://a.example/x.png", content_type), 415, "BAD_REQUEST")


# --- Sizes --------------------------------------------------------------------------------


def test_a_json_body_over_data_upload_max_memory_size_is_400(raw_post):
    body = json.dumps({"url": "http://a.example/" + "a" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE})

    body = assert_error(raw_post(body), 400, "BAD_REQUEST")

    assert "too large" in body["error"]


def test_a_json_body_over_the_upload_cap_is_too_large_a_body_not_an_image(raw_post, settings):
    """Only a multipart body carries an image: a JSON one past the upload cap is no upload."""
    settings.OPTIMIZER_MAX_SOURCE_BYTES = 1000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"url": "http://a.example/x.png", "pad": "a" * 200_000})

    body = assert_error(raw_post(body), 400, "BAD_REQUEST")

    assert "request body is too large" in body["error"]
    assert "field" not in body


def test_a_form_field_over_data_upload_max_memory_size_is_400(post):
    response = post(
        {"url": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}, upload=images.encode(images.graphic(), "PNG")
    )

    assert_error(response, 400, "BAD_REQUEST")


def test_too_many_form_fields_is_400(client, pro_api_key):
    form = {f"field{index}": "x" for index in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}

    response = client.post(ENDPOINT, form, HTTP_AUTHORIZATION=f"Bearer {pro_api_key}")

    assert_error(response, 400, "BAD_REQUEST")


def test_too_many_files_is_400(client, pro_api_key):
    files = [SimpleUploadedFile(f"{index}.png", b"x") for index in range(settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)]

    response = client.post(ENDPOINT, {"file": files}, HTTP_AUTHORIZATION=f"Bearer {pro_api_key}")

    assert_error(response, 400, "BAD_REQUEST")


@pytest.mark.parametrize("field", ["file", "quality"])
def test_a_form_field_sent_twice_is_400_naming_it(client, pro_api_key, field):
    photo = images.encode(images.photo(), "PNG")
    twice = {
        "file": [SimpleUploadedFile("a.png", photo), SimpleUploadedFile("b.png", photo)],
        "quality": ["80", "60"],
    }

    response = client.post(
        ENDPOINT,
        {"file": SimpleUploadedFile("a.png", photo), **{field: twice[field]}},
        HTTP_AUTHORIZATION=f"Bearer {pro_api_key}",
    )

    assert_error(response, 400, "BAD_REQUEST", field)


@pytest.mark.parametrize("side", [24, 1024])  # a file Django keeps in memory; one in a temporary file
def test_a_body_cut_inside_its_file_is_400_saying_so(raw_post, side):
    """Django drops a file whose part the body ends in, and the request read as one without a file."""
    noise = Image.frombytes("RGB", (side, side), random.Random(side).randbytes(side * side * 3))
    content_type, boundary = "multipart/form-data; boundary=cut-here", b"--cut-here"
    head = boundary + b'\r\nContent-Disposition: form-data; name="smart"\r\n\r\nfalse\r\n'
    head += boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
    body = head + images.encode(noise, "PNG")

    cut, whole = raw_post(body, content_type), raw_post(body + b"\r\n" + boundary + b"--\r\n", content_type)

    assert "ends inside the file" in assert_error(cut, 400, "BAD_REQUEST")["error"]
    assert whole.status_code == 200


def test_an_uploaded_file_is_not_held_to_the_form_limit(post, settings):
    """DATA_UPLOAD_MAX_MEMORY_SIZE bounds fields, not files: an image larger than it is optimized."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    image = images.encode(images.photo(), "PNG")
    assert len(image) > 1000

    assert post({"maxWidth": "64"}, upload=image).status_code == 200


# --- Every wrong type for every field, unknown fields --------------------------------------


@pytest.mark.usefixtures("no_dns")
@pytest.mark.parametrize(
    ("field", "kind"), [(field, kind) for field in FIELDS for kind in JSON_VALUES if kind not in ACCEPTED_TYPES[field]]
)
def test_every_wrong_type_for_every_field_is_400_naming_it(post, field, kind):
    body = {**GOOD, field: JSON_VALUES[kind]}

    assert_error(post(body), 400, "BAD_REQUEST", field)


@pytest.mark.parametrize(
    "field",
    ["URL", "Url", "max_width", "maxwidth", "callback", "webhook", "__proto__", "constructor", "", " url", "url "],
)
def test_unknown_fields_are_400_naming_them(post, field):
    assert_error(post({**GOOD, field: "x"}), 400, "BAD_REQUEST", field)


def test_unknown_form_fields_are_400_too(post):
    assert_error(post({"callback": "x"}, upload=images.encode(images.graphic(), "PNG")), 400, "BAD_REQUEST", "callback")


# --- Property: the request validator ------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
)
plausible_values = st.sampled_from(
    ["auto", "webp", "avif", "http://a.example/x.png", 1, 100, 101, 16384, 16385, 0, True, False]
)
request_bodies = st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=8), plausible_values | json_values, max_size=6
)


@given(body=request_bodies)
def test_the_validator_accepts_only_well_typed_bodies_and_names_a_field_otherwise(body):
    serializer = OptimizeInputSerializer(data=body, context={"form": False})

    if serializer.is_valid():
        fields = serializer.validated_data
        assert set(body) <= set(FIELDS)
        assert type(fields["url"]) is str
        assert fields["format"] in ("auto", "webp", "avif")
        assert type(fields["quality"]) is int and 1 <= fields["quality"] <= 100
        assert type(fields["maxWidth"]) is int and 1 <= fields["maxWidth"] <= 16384
        assert type(fields["smart"]) is bool
    else:
        response = api_exception_handler(ValidationError(serializer.errors), {})
        assert response.status_code == 400
        assert response.data["code"] == "BAD_REQUEST"
        assert response.data.get("field", "") in {*body, "url"}  # an unknown field "" is named by its message


@hypothesis_settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values | request_bodies)
def test_no_json_body_is_ever_a_server_error(raw_post, no_dns, body):
    response = raw_post(json.dumps(body))

    assert response.status_code == 400, response.content
    assert response.json()["code"] in ("BAD_REQUEST", "INVALID_URL", "FETCH_FAILED")


# --- Property: the URL checker ------------------------------------------------------------

IPV4_NON_PUBLIC = [network for network in fetch.NON_PUBLIC_NETWORKS if network.version == 4]


@st.composite
def ipv4_in(draw, networks) -> ipaddress.IPv4Address:
    network = draw(st.sampled_from(networks))
    return network[draw(st.integers(0, network.num_addresses - 1))]


@st.composite
def ipv4_spelling(draw, address: ipaddress.IPv4Address) -> str:
    """`address` as the C resolver reads it: dotted, one number, two or three parts, in decimal,
    octal or hexadecimal, each part spelled its own way."""
    octets = list(address.packed)
    parts_count = draw(st.sampled_from([1, 2, 3, 4]))
    if parts_count == 1:
        parts = [int(address)]
    elif parts_count == 2:
        parts = [octets[0], int.from_bytes(bytes(octets[1:]), "big")]
    elif parts_count == 3:
        parts = [octets[0], octets[1], int.from_bytes(bytes(octets[2:]), "big")]
    else:
        parts = octets
    spelled = []
    for part in parts:
        style = draw(st.sampled_from(["decimal", "octal", "hex", "HEX"]))
        spelled.append({"decimal": str(part), "octal": f"0{part:o}", "hex": f"0x{part:x}", "HEX": f"0X{part:X}"}[style])
    return ".".join(spelled)


def _ipv6_spellings(address: ipaddress.IPv4Address) -> list[str]:
    """`address` inside IPv6: mapped, compatible, NAT64 and 6to4."""
    packed = address.packed.hex()
    return [
        f"[::ffff:{address}]",
        f"[::ffff:{packed[:4]}:{packed[4:]}]",
        f"[::{address}]",
        f"[64:ff9b::{address}]",
        f"[2002:{packed[:4]}:{packed[4:]}::1]",
    ]


def _resolve(host: str) -> list[str]:
    target = fetch.parse_target(f"http://{host}/x.png", allowed_ports=frozenset({80}))
    return fetch.resolve(target, policy=fetch.FetchPolicy(max_bytes=1000, timeout=5.0), timeout=5.0)


@given(data=st.data())
def test_every_spelling_of_a_non_public_ipv4_address_is_refused(data):
    address = data.draw(ipv4_in(IPV4_NON_PUBLIC))
    host = data.draw(ipv4_spelling(address) | st.sampled_from(_ipv6_spellings(address)))

    with pytest.raises(fetch.InvalidUrl):
        _resolve(host)


@given(address=st.ip_addresses(v=4).filter(fetch.is_public_address), data=st.data())
def test_every_spelling_of_a_public_ipv4_address_resolves_to_it(address, data):
    """The control: the same spellings of public addresses pass, so the refusals above are the
    address's, not the spelling's."""
    assert _resolve(data.draw(ipv4_spelling(address))) == [str(address)]


@given(address=st.ip_addresses(v=6))
def test_an_ipv6_address_is_public_only_outside_every_non_public_range(address):
    inside = any(address in network for network in fetch.NON_PUBLIC_NETWORKS if network.version == 6)
    if fetch.is_public_address(address):
        assert address.is_global and not inside
    if address.ipv4_mapped or address.sixtofour or (address.packed[:12] == bytes(12)):
        assert not fetch.is_public_address(address)


LOOPBACK = ipaddress.ip_address("127.0.0.1")


@hypothesis_settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(host=ipv4_spelling(LOOPBACK) | st.sampled_from(["[::1]", "[::ffff:127.0.0.1]", "localhost", "0"]))
def test_no_spelling_of_this_machine_gets_a_connection(origin: Origin, host):
    policy = fetch.FetchPolicy(max_bytes=1000, timeout=5.0, allowed_ports=frozenset({origin.port}))

    with pytest.raises(fetch.InvalidUrl):
        fetch.fetch(origin.url("/x.png", host=host), policy=policy)
    assert origin.connections == 0


url_pieces = st.tuples(
    st.sampled_from(["http", "https", "HTTP", "ftp", "file", "gopher", "data", "javascript", "", "http:", "h\ttp"]),
    st.sampled_from(["://", ":", ":/", ":\\\\", "://\\", ":///"]),
    st.sampled_from(["", "user@", "user:pass@", "a.example@", "a.example\\@", "%40@", "@"]),
    st.sampled_from(
        ["a.example", "127.0.0.1", "[::1]", "0x7f.1", "", "a.example.", "xn--bcher-kva.example", "b\u00fccher.example"]
    ),
    st.sampled_from(["", ":80", ":443", ":8080", ":0", ":99999", ":-1", ":80\\@b.example"]),
    st.text(max_size=30),
)


@given(url=url_pieces.map("".join) | st.text(max_size=300))
def test_the_url_checker_returns_a_clean_http_target_or_invalid_url(url):
    allowed = frozenset({80, 443})
    try:
        target = fetch.parse_target(url, allowed_ports=allowed)
    except fetch.InvalidUrl:
        return
    assert target.scheme in ("http", "https")
    assert target.port in allowed
    assert target.host and "@" not in target.host
    assert not any(ord(character) <= 0x20 or ord(character) == 0x7F for character in target.url)
    assert len(url) <= fetch.MAX_URL_LENGTH
