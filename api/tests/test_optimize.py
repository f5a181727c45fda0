"""POST /api/v1/optimize through the HTTP client and the real pipeline, images served by a loopback
origin (tasks run in this process; test_worker.py runs them in a real Celery worker)."""

import base64
import json

import numpy as np
import pytest
from celery._state import _set_task_join_will_block
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import encode_multipart
from PIL import Image

from api.optimize import AcceptedImages
from api.tests.checks import ENDPOINT, SERVER_ERROR_BODY, assert_error, assert_reference_response
from apikeys.keys import generate_key
from apikeys.tests.factories import ApiKeyFactory
from optimizer import imaging, pipeline
from optimizer.encoders import ALPHA_MEAN_TOLERANCE
from optimizer.formats import RequestedFormat
from optimizer.tests import images
from optimizer.tests.test_compression import image_target, recomputed_score
from optimizer.tests.test_fetch import LOOPBACK_SPELLINGS
from optimizer.tests.test_imaging import orientation_exif
from optimizer.tests.test_probe import png_claiming

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]

# --- authentication -----------------------------------------------------------------------


def test_without_a_key_is_401_before_anything_is_fetched(post, reachable_origin):
    url = reachable_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))

    response = post({"url": url}, key=None)

    assert response.status_code == 401
    assert response.json() == {"error": "Missing or invalid API key", "code": "UNAUTHORIZED"}
    assert reachable_origin.connections == 0


def test_an_unknown_key_is_401(post):
    assert_error(post({"url": "http://example.com/x.png"}, key="pk_live_" + "x" * 40), 401, "UNAUTHORIZED")


def test_a_free_plan_key_is_403(post, free_account):
    key = generate_key()
    ApiKeyFactory(account=free_account, key=key)

    body = assert_error(post({"url": "http://example.com/x.png"}, key=key), 403, "FORBIDDEN")

    assert body["error"] == "API access requires Pro plan or higher"


def test_an_agency_key_works(post, agency_account):
    key = generate_key()
    ApiKeyFactory(account=agency_account, key=key)

    response = post({"format": "webp"}, upload=images.encode(images.graphic(), "PNG"), key=key)

    assert response.status_code == 200


# --- success ------------------------------------------------------------------------------


def test_a_photo_url_is_optimized_with_the_reference_defaults(post, reachable_origin):
    source = images.encode(images.photo(2000, 150), "JPEG", quality=95)
    url = reachable_origin.serve("/photo.jpg", source)

    response = post({"url": url})

    assert response.status_code == 200
    body = response.json()
    assert_reference_response(body)
    assert (body["width"], body["height"]) == (1920, 144)  # maxWidth 1920 by default
    assert body["originalSize"] == len(source)
    assert body["savings"] > 0
    assert body["lossless"] is False
    assert body["notice"] is None
    assert response["Vary"] == "Accept"


@pytest.mark.parametrize("output", ["webp", "avif"])
@pytest.mark.parametrize("quality", [1, 100])
def test_each_output_format_at_the_lowest_and_highest_quality(post, reachable_origin, output, quality):
    url = reachable_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))

    response = post({"url": url, "format": output, "quality": quality, "smart": False})

    assert response.status_code == 200
    body = response.json()
    assert body["format"] == output
    assert_reference_response(body)


def test_auto_returns_the_smaller_format(post, reachable_origin):
    url = reachable_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))
    sizes = {
        output: post({"url": url, "format": output, "smart": False}).json()["optimizedSize"]
        for output in ("webp", "avif")
    }

    body = post({"url": url, "format": "auto", "smart": False}).json()

    assert body["optimizedSize"] == min(sizes.values())
    assert body["format"] == min(sizes, key=sizes.get)


@pytest.mark.parametrize(("max_width", "expected"), [(100, (100, 75)), (1000, (256, 192))])
def test_max_width_shrinks_and_never_enlarges(post, reachable_origin, max_width, expected):
    url = reachable_origin.serve("/photo.png", images.encode(images.photo(256, 192), "PNG"))

    body = post({"url": url, "maxWidth": max_width}).json()

    assert (body["width"], body["height"]) == expected
    assert assert_reference_response(body).size == expected


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(lambda: images.encode(images.photo(), "JPEG", quality=90), id="JPEG"),
        pytest.param(lambda: images.encode(images.photo(), "PNG"), id="PNG"),
        pytest.param(lambda: images.encode(images.photo(), "GIF"), id="GIF"),
        pytest.param(lambda: images.encode(images.photo(), "WEBP", quality=90), id="WebP"),
        pytest.param(lambda: images.encode(images.photo(), "AVIF", quality=90), id="AVIF"),
        pytest.param(lambda: images.heic(256, 192), id="HEIC"),
        pytest.param(lambda: images.encode(images.photo(), "TIFF"), id="TIFF"),
        pytest.param(lambda: images.encode(images.photo(), "BMP"), id="BMP"),
    ],
)
def test_every_accepted_input_format(post, reachable_origin, source):
    url = reachable_origin.serve("/image", source())

    response = post({"url": url, "maxWidth": 128})

    assert response.status_code == 200, response.content
    assert (response.json()["width"], response.json()["height"]) == (128, 96)
    assert_reference_response(response.json())


@pytest.mark.parametrize("output", ["auto", "webp", "avif"])
def test_transparency_survives_every_output_format(post, reachable_origin, output):
    source = images.transparent()
    url = reachable_origin.serve("/logo.png", images.encode(source, "PNG"))

    body = post({"url": url, "format": output, "quality": 60}).json()

    decoded = assert_reference_response(body)
    assert decoded.mode == "RGBA"
    alpha = np.asarray(decoded.getchannel("A"), np.int16) - np.asarray(source.getchannel("A"), np.int16)
    assert np.abs(alpha).mean() <= ALPHA_MEAN_TOLERANCE
    assert output == "auto" or body["format"] == output
    assert body["notice"] is None


def test_cmyk_jpeg(post, reachable_origin):
    url = reachable_origin.serve("/print.jpg", images.encode(Image.new("CMYK", (64, 48), (0, 255, 255, 0)), "JPEG"))

    decoded = assert_reference_response(post({"url": url}).json()).convert("RGB")

    red, green, blue = decoded.getpixel((32, 24))
    assert red > 220 and green < 40 and blue < 40


def test_exif_orientation_6(post, reachable_origin):
    stored = Image.new("RGB", (80, 40), (255, 0, 0))
    stored.paste((0, 0, 255), (40, 0, 80, 40))
    url = reachable_origin.serve("/phone.jpg", images.encode(stored, "JPEG", quality=95, exif=orientation_exif(6)))

    decoded = assert_reference_response(post({"url": url, "format": "webp", "quality": 95}).json()).convert("RGB")

    assert decoded.size == (40, 80)
    assert decoded.getpixel((20, 10))[0] > 200  # red on top
    assert decoded.getpixel((20, 70))[2] > 200  # blue below


def test_16_bit_png(post, reachable_origin):
    url = reachable_origin.serve("/deep.png", images.png_16bit(64, 48))

    decoded = assert_reference_response(post({"url": url, "format": "webp", "quality": 100}).json()).convert("RGB")

    red, green, blue = decoded.getpixel((63, 24))
    assert red > 240 and abs(green - 0x12) < 8 and abs(blue - 0xFE) < 8


def test_never_grow(post, reachable_origin):
    source = images.encode(images.photo(), "WEBP", quality=5)
    url = reachable_origin.serve("/small.webp", source)

    body = post({"url": url, "format": "webp", "quality": 100, "smart": False}).json()

    assert base64.b64decode(body["data"]) == source
    assert (body["savings"], body["savingsPercent"], body["optimizedSize"]) == (0, 0, len(source))
    assert body["notice"] == pipeline.KEPT_SOURCE_NOTICE


def test_smart_sends_a_flat_graphic_lossless_when_that_is_smaller(post, reachable_origin):
    url = reachable_origin.serve("/chart.png", images.encode(images.graphic(), "PNG"))

    smart = post({"url": url, "format": "webp"}).json()
    plain = post({"url": url, "format": "webp", "smart": False}).json()

    assert smart["lossless"] is True and plain["lossless"] is False
    assert smart["optimizedSize"] < plain["optimizedSize"]
    assert assert_reference_response(smart).convert("RGB").tobytes() == images.graphic().tobytes()


def test_a_palette_is_not_called_lossless(post, reachable_origin):
    """400 flat colours come back as a palette of 256 (smart: the smallest at the target): lossless
    WebP of other pixels, so measured, and not lossless."""
    url = reachable_origin.serve("/cells.png", images.encode(images.cells(400), "PNG"))

    body = post({"url": url, "format": "webp"}).json()

    assert body["lossless"] is False
    assert 75 <= body["quality"]["score"] < 100


@pytest.mark.parametrize("source", [images.photo(), images.transparent()], ids=["photo", "transparent"])
def test_smart_answers_carry_the_measured_quality_score(post, reachable_origin, source):
    data = images.encode(source, "PNG")
    url = reachable_origin.serve("/image.png", data)

    body = post({"url": url, "quality": 80}).json()

    assert_reference_response(body)
    assert body["quality"]["metric"] == "ssimulacra2"
    prepared = imaging.prepare(data, max_width=1920, max_pixels=10_000_000)
    recomputed = recomputed_score(prepared, base64.b64decode(body["data"]))
    assert body["quality"]["score"] == pytest.approx(recomputed, abs=0.051)  # rounded to 0.1
    assert recomputed >= image_target(prepared, 80).score


def test_without_smart_nothing_is_measured(post, reachable_origin):
    url = reachable_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))

    body = post({"url": url, "smart": False}).json()
    raw = post({"url": url, "smart": False}, accept="image/webp")

    assert body["quality"] is None
    assert "X-Smolpix-Quality-Score" not in raw


def test_image_answers_carry_the_quality_score_in_headers(post, reachable_origin):
    url = reachable_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))

    body = post({"url": url, "format": "webp"}).json()
    raw = post({"url": url}, accept="image/webp")

    assert raw["X-Smolpix-Quality-Metric"] == "ssimulacra2"
    assert float(raw["X-Smolpix-Quality-Score"]) == pytest.approx(body["quality"]["score"], abs=0.051)


# --- uploads ------------------------------------------------------------------------------


def test_an_uploaded_file_with_form_fields(post):
    response = post(
        {"format": "avif", "quality": "50", "maxWidth": "100", "smart": "false"},
        upload=images.encode(images.photo(), "PNG"),
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["format"], body["width"], body["height"]) == ("avif", 100, 75)
    assert_reference_response(body)


def test_fractional_numbers_are_made_whole_quality_to_the_nearest_width_down(post, reachable_origin):
    """What JavaScript computes (1366 * 1.25, 0.57 * 100) is a number the reference accepts."""
    url = reachable_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))
    options = {"url": url, "format": "webp", "smart": False}

    fractional = post({**options, "quality": 0.57 * 100, "maxWidth": 199.9}).json()
    whole = post({**options, "quality": 57, "maxWidth": 199}).json()

    assert (fractional["width"], fractional["height"]) == (199, 149)
    assert fractional["data"] == whole["data"]


def test_an_upload_whose_media_type_is_not_in_lower_case(client, pro_api_key):
    boundary = "BoUnDaRy-Of-Mixed-Case"
    form = encode_multipart(boundary, {"file": SimpleUploadedFile("image", images.encode(images.graphic(), "PNG"))})

    response = client.post(
        ENDPOINT,
        form,
        content_type=f"Multipart/Form-Data; boundary={boundary}",
        HTTP_AUTHORIZATION=f"Bearer {pro_api_key}",
    )

    assert response.status_code == 200, response.content


def test_an_empty_form_field_counts_as_not_sent(post):
    """As a browser sends a field left blank (DRF's reading of form input)."""
    upload = images.encode(images.graphic(), "PNG")

    blank = post({"format": "", "quality": "", "maxWidth": "", "smart": ""}, upload=upload)

    assert blank.status_code == 200, blank.content
    assert blank.json()["data"] == post(upload=upload).json()["data"]


def test_an_upload_without_options_gets_the_defaults_smart_included(post):
    body = post(upload=images.encode(images.graphic(), "PNG")).json()

    assert body["lossless"] is True  # smart stayed on although the form did not mention it
    assert_reference_response(body)


# --- Accept: raw image bytes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected_format"),
    [
        ("image/webp", "webp"),
        ("image/avif", "avif"),
        ("image/*", None),
        ("image/webp, application/json;q=0.5", "webp"),
        ("image/*, image/avif;q=0", "webp"),  # the most specific range wins: AVIF refused
        ("image/webp;q=0, image/*", "avif"),
    ],
)
def test_accepting_an_image_returns_the_bytes_with_the_figures_in_headers(
    post, reachable_origin, accept, expected_format
):
    source = images.encode(images.photo(), "PNG")
    url = reachable_origin.serve("/photo.png", source)

    response = post({"url": url, "maxWidth": 200, "smart": False}, accept=accept)

    assert response.status_code == 200
    output = response["X-Smolpix-Format"]
    assert output == expected_format or (expected_format is None and output in ("webp", "avif"))
    assert response["Content-Type"] == f"image/{output}"
    assert images.decode(response.content).size == (200, 150)
    assert int(response["X-Smolpix-Original-Size"]) == len(source)
    assert int(response["X-Smolpix-Optimized-Size"]) == len(response.content)
    assert int(response["X-Smolpix-Savings"]) == len(source) - len(response.content)
    assert 0 <= int(response["X-Smolpix-Savings-Percent"]) <= 100
    assert (response["X-Smolpix-Width"], response["X-Smolpix-Height"]) == ("200", "150")
    assert response["Vary"] == "Accept"


@pytest.mark.parametrize(
    ("format", "accept"), [("avif", "image/webp"), ("webp", "image/avif, image/webp;q=0"), ("webp", "image/avif")]
)
def test_an_explicit_format_wins_over_the_accept_header_in_json_when_its_bytes_are_refused(
    post, reachable_origin, format, accept
):
    """The format asked for is the answer's; its bytes come as the body only if Accept takes them,
    else as JSON (never a 406). They came as the body whatever Accept said (the API audit)."""
    url = reachable_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))

    response = post({"url": url, "format": format, "smart": False}, accept=accept)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["format"] == format
    assert response["Vary"] == "Accept"


@pytest.mark.parametrize(
    ("accept", "narrowed"),
    [
        ("image/webp, image/avif;q=0.1, application/json;q=0.5", "webp"),  # AVIF taken, but not as the body
        ("image/webp, image/avif", "auto"),
        ("image/avif;q=0.5, application/json;q=0.5", "avif"),
        ("application/json, image/*;q=0.5", "auto"),  # no image as the body: JSON, in either format
    ],
)
def test_auto_is_narrowed_to_the_one_format_wanted_as_the_body(accept, narrowed):
    """One the client takes but likes less than JSON could win, and come as JSON (the review)."""
    assert AcceptedImages.from_header(accept).narrow(RequestedFormat.AUTO) is RequestedFormat(narrowed)


@pytest.mark.parametrize(
    "accept", ["application/json", "*/*", "application/json, image/*;q=0.5", "image/png", "image/*;q=0.9, */*"]
)
def test_json_unless_an_image_we_serve_is_preferred(post, reachable_origin, accept):
    url = reachable_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))

    response = post({"url": url}, accept=accept)

    assert response["Content-Type"] == "application/json"
    assert_reference_response(response.json())


def test_errors_stay_json_when_an_image_is_accepted(post):
    response = post({"url": "ftp://example.com/x.png"}, accept="image/webp")

    assert response["Content-Type"] == "application/json"
    assert_error(response, 400, "INVALID_URL", "url")


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"format": "webp"}, "url"),
        ({"url": 123}, "url"),
        ({"url": ""}, "url"),
        ({"url": ["http://example.com/x.png"]}, "url"),
        ({"url": "http://example.com/x.png", "format": "png"}, "format"),
        ({"url": "http://example.com/x.png", "format": 5}, "format"),
        ({"url": "http://example.com/x.png", "quality": 0}, "quality"),
        ({"url": "http://example.com/x.png", "quality": 101}, "quality"),
        ({"url": "http://example.com/x.png", "quality": "80"}, "quality"),
        ({"url": "http://example.com/x.png", "quality": 0.6}, "quality"),  # in range only once rounded
        ({"url": "http://example.com/x.png", "quality": 100.4}, "quality"),
        ({"url": "http://example.com/x.png", "maxWidth": 0.5}, "maxWidth"),
        ({"url": "http://example.com/x.png", "maxWidth": 16384.5}, "maxWidth"),
        ({"url": "http://example.com/x.png", "quality": True}, "quality"),
        ({"url": "http://example.com/x.png", "quality": None}, "quality"),
        ({"url": "http://example.com/x.png", "maxWidth": 0}, "maxWidth"),
        ({"url": "http://example.com/x.png", "maxWidth": 16385}, "maxWidth"),
        ({"url": "http://example.com/x.png", "maxWidth": "wide"}, "maxWidth"),
        ({"url": "http://example.com/x.png", "smart": "yes"}, "smart"),
        ({"url": "http://example.com/x.png", "smart": 1}, "smart"),
        ({"url": "http://example.com/x.png", "maxwidth": 100}, "maxwidth"),
        ({"url": "http://example.com/x.png", "file": "x"}, "file"),
    ],
)
def test_invalid_fields_are_400_bad_request_naming_the_field(post, body, field):
    assert_error(post(body), 400, "BAD_REQUEST", field)


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("quality", "\u0668\u0660"),  # 80 in Arabic-Indic digits, which Python's int() reads
        ("quality", "8_0"),
        ("quality", " 80"),
        ("maxWidth", "1e2.5"),
        ("maxWidth", "9" * 5000),  # too many digits for int(); as a float, infinite
        ("maxWidth", "nan"),
    ],
)
def test_a_form_number_is_written_as_json_writes_it(post, field, text):
    assert_error(post({field: text}, upload=images.encode(images.graphic(), "PNG")), 400, "BAD_REQUEST", field)


def test_a_form_number_may_have_a_fraction_or_an_exponent(post):
    options = {"quality": "56.99", "maxWidth": "1e2", "smart": "false"}

    response = post(options, upload=images.encode(images.photo(), "PNG"))

    assert (response.status_code, response.json()["width"]) == (200, 100)


def test_a_field_sent_twice_is_refused_in_json_and_in_a_form(client, pro_api_key):
    """Either would otherwise be answered with one of the two values, silently."""
    auth = {"HTTP_AUTHORIZATION": f"Bearer {pro_api_key}"}
    json_twice = b'{"url": "http://example.com/x.png", "quality": 500, "quality": 50}'
    form_twice = {"file": SimpleUploadedFile("image", images.encode(images.graphic(), "PNG")), "quality": ["50", "60"]}

    for response in (
        client.post(ENDPOINT, json_twice, content_type="application/json", **auth),
        client.post(ENDPOINT, form_twice, **auth),
    ):
        body = assert_error(response, 400, "BAD_REQUEST", "quality")
        assert body["error"] == "quality: Sent more than once; send it once."


def test_an_unknown_field_of_megabytes_is_not_sent_back_whole(client, pro_api_key):
    name = "x" * 1_000_000
    body = json.dumps({"url": "http://example.com/x.png", name: 1})

    response = client.post(ENDPOINT, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {pro_api_key}")

    assert assert_error(response, 400, "BAD_REQUEST")["field"] == "x" * 100 + "…"
    assert len(response.content) < 1000


def test_options_in_the_query_string_are_refused_not_ignored(client, pro_api_key):
    response = client.post(
        f"{ENDPOINT}?format=avif&maxWidth=100",
        json.dumps({"url": "http://example.com/x.png"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {pro_api_key}",
    )

    body = assert_error(response, 400, "BAD_REQUEST", "format")
    assert body["error"] == "format: Send it in the body, not in the query string."


def test_url_and_file_together_are_refused(post):
    response = post({"url": "http://example.com/x.png"}, upload=images.encode(images.graphic(), "PNG"))

    assert_error(response, 400, "BAD_REQUEST", "file")


def test_an_empty_upload_is_refused(post):
    assert_error(post(upload=b""), 400, "BAD_REQUEST", "file")


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b'{"url": ', "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"url=x", "application/x-www-form-urlencoded", 415),
    ],
)
def test_bodies_that_are_not_a_json_object_or_a_form_upload(client, pro_api_key, raw, content_type, status):
    response = client.post(ENDPOINT, raw, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {pro_api_key}")

    assert_error(response, status, "BAD_REQUEST")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x.png",
        "file:///etc/passwd",
        "http:///x.png",
        "http://example.com:25/",
        "http://example.com/" + "x" * 2040,
    ],
)
def test_bad_urls_are_invalid_url(post, url):
    assert_error(post({"url": url}), 400, "INVALID_URL", "url")


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "127.1", "0", "localhost", "[::1]", "[::ffff:127.0.0.1]"])
def test_local_addresses_are_invalid_url_and_never_connected_to(post, origin, settings, host):
    settings.OPTIMIZER_ALLOWED_PORTS = [origin.port]  # only the address check stands in the way
    assert host in LOOPBACK_SPELLINGS

    body = assert_error(post({"url": origin.url("/photo.png", host=host)}), 400, "INVALID_URL", "url")

    assert origin.connections == 0
    assert "127.0.0.1" not in body["error"] and "::1" not in body["error"]


@pytest.mark.parametrize("status", [404, 500])
def test_an_origin_error_is_fetch_failed(post, reachable_origin, status):
    url = reachable_origin.serve("/gone.png", b"", status=status)

    body = assert_error(post({"url": url}), 400, "FETCH_FAILED", "url")

    assert str(status) in body["error"]


def test_an_origin_that_hangs_is_fetch_failed(post, reachable_origin, settings):
    settings.OPTIMIZER_FETCH_TIMEOUT = 0.5
    url = reachable_origin.serve("/slow.png", b"x" * 1000, stall=True)

    assert_error(post({"url": url}), 400, "FETCH_FAILED", "url")


@pytest.mark.parametrize(
    "content",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
        b"%PDF-1.4\n1 0 obj<<>>endobj\n",
        b"%!PS-Adobe-3.0\n",
        b"<html><body>Not an image</body></html>",
    ],
)
def test_a_url_that_is_not_an_image_is_unsupported(post, reachable_origin, content):
    url = reachable_origin.serve("/not-an-image", content, headers={"Content-Type": "image/png"})

    assert_error(post({"url": url}), 400, "UNSUPPORTED_IMAGE", "url")


def test_an_upload_that_is_not_an_image_is_unsupported(post):
    assert_error(post(upload=b"hello, world"), 400, "UNSUPPORTED_IMAGE", "file")


def test_an_avif_coded_larger_than_its_header_declares_is_unsupported(post):
    data = images.with_ispe(images.encode(images.photo(256, 192), "AVIF"), 64, 48)

    body = assert_error(post(upload=data), 400, "UNSUPPORTED_IMAGE", "file")
    assert "coded frame is larger than the size its header declares" in body["error"]


def test_a_source_over_the_byte_cap_is_too_large(post, reachable_origin, settings):
    settings.OPTIMIZER_MAX_SOURCE_BYTES = 1000
    url = reachable_origin.serve("/big.png", images.encode(images.photo(), "PNG"))

    assert_error(post({"url": url}), 400, "IMAGE_TOO_LARGE", "url")
    assert_error(post(upload=b"x" * 1001), 400, "IMAGE_TOO_LARGE", "file")


def test_an_upload_declared_far_over_the_cap_is_refused_unread(client, pro_api_key, settings):
    settings.OPTIMIZER_MAX_SOURCE_BYTES = 1000

    response = client.generic(
        "POST",
        ENDPOINT,
        b"",
        # Given as such: the test client leaves an empty body's content type out.
        CONTENT_TYPE="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(10 * 2**20),
        HTTP_AUTHORIZATION=f"Bearer {pro_api_key}",
    )

    assert_error(response, 400, "IMAGE_TOO_LARGE", "file")


def test_an_image_with_too_many_pixels_is_too_large(post, reachable_origin):
    url = reachable_origin.serve("/bomb.png", png_claiming(30_000, 30_000))

    assert_error(post({"url": url}), 400, "IMAGE_TOO_LARGE", "url")


def test_a_crash_in_the_pipeline_is_a_plain_500_and_the_next_request_works(post, reachable_origin, monkeypatch):
    url = reachable_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))

    def crash(*args, **kwargs):
        raise RuntimeError("segfault-ish failure in /tmp/magick-123 talking to 10.0.0.7")

    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "prepare", crash)
        response = post({"url": url})

    assert response.status_code == 500
    assert response.json() == SERVER_ERROR_BODY
    assert post({"url": url}).status_code == 200


def test_a_process_wide_celery_flag_another_thread_left_set_poisons_nothing(post):
    # Eager tasks run from runserver's threads set and reset Celery's process-wide "waiting would
    # block" flag without a lock, and can leave it set: every later wait for a result failed (500).
    _set_task_join_will_block(True)
    try:
        responses = [post({"maxWidth": 64}, upload=images.encode(images.photo(), "PNG")) for _ in range(2)]
    finally:
        _set_task_join_will_block(False)

    assert [response.status_code for response in responses] == [200, 200]


def test_a_content_length_in_other_digits_is_a_client_error(post):
    response = post({"maxWidth": 64}, upload=images.encode(images.photo(), "PNG"), CONTENT_LENGTH="²")

    assert 400 <= response.status_code < 500
