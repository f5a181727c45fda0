"""The web "try it" page through the HTTP client and the real pipeline (tasks run in this process)."""

import base64
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.defaultfilters import filesizeformat
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from api.tests.checks import assert_reference_response
from optimizer.tests import images
from usage.selectors import usage_this_month
from usage.tests.factories import InFlightImageFactory, MonthlyUsageFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]

TRY_IT = reverse("try-it")
JSON = {"HTTP_ACCEPT": "application/json"}
PHOTO = images.encode(images.photo(), "JPEG", quality=95)


@pytest.fixture
def free_client(client, free_account) -> Client:
    client.force_login(free_account.owner)
    return client


def form(**fields):
    return {"format": "auto", "quality": "80", "max_width": "1920", "smart": "on", **fields}


def upload(data: bytes = PHOTO, name: str = "photo.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def test_signed_out_visitors_are_sent_to_log_in(client):
    response = client.get(TRY_IT)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_page_has_a_labelled_form_with_the_api_defaults(free_client):
    body = free_client.get(TRY_IT).content.decode()

    for field in ("id_file", "id_url", "id_quality", "id_max_width", "id_smart"):
        assert f'for="{field}"' in body and f'id="{field}"' in body
    assert "<legend>Format</legend>" in body
    assert 'value="auto" checked' in body
    assert 'id="id_quality" min="1" max="100" value="80"' in body
    assert 'value="1920"' in body
    assert 'id="id_smart" checked' in body
    assert "csrfmiddlewaretoken" in body
    assert "0</strong> of 50 images used this month" in body
    # The upload limit as the API's errors write it (it said "32.0 MB"), and in bytes for the script.
    assert "up to 33,554,432 bytes (32 MiB)." in body and 'data-max-bytes="33554432"' in body


def test_an_upload_answers_the_apis_json(free_client):
    response = free_client.post(TRY_IT, form(file=upload(), format="webp", max_width="100"), **JSON)

    assert response.status_code == 200
    body = response.json()
    decoded = assert_reference_response(body)
    assert decoded.size[0] == 100
    assert body["format"] == "webp"
    assert body["originalSize"] == len(PHOTO)


def test_a_url_goes_through_the_fetcher(free_client, reachable_origin):
    url = reachable_origin.serve("/photo.jpg", PHOTO)

    response = free_client.post(TRY_IT, form(url=url, format="avif", smart=""), **JSON)

    assert response.status_code == 200
    assert response.json()["format"] == "avif"
    assert reachable_origin.connections == 1


def test_without_javascript_the_page_shows_the_result(free_client):
    response = free_client.post(TRY_IT, form(file=upload(), format="webp"))

    assert response.status_code == 200
    body = response.content.decode()
    assert 'src="data:image/webp;base64,' in body
    assert 'download="photo.webp"' in body  # after its source, as the page's script names it
    assert "The optimized image.</figcaption>" in body  # alone: the script shows the original beside it
    data = body.split('src="data:image/webp;base64,', 1)[1].split('"', 1)[0]
    assert images.decode(base64.b64decode(data)).format == "WEBP"


@pytest.mark.parametrize(
    ("path", "stem"), [("/photos/beach.2024.jpg", "beach.2024"), ("/photos/beach", "beach"), ("/", "optimized")]
)
def test_without_javascript_a_url_s_result_is_downloaded_after_its_name(free_client, reachable_origin, path, stem):
    url = reachable_origin.serve(path, PHOTO)

    body = free_client.post(TRY_IT, form(url=url, format="webp")).content.decode()

    assert f'download="{stem}.webp"' in body


TINY_GIF = images.encode(Image.new("RGB", (2, 2), (200, 30, 30)), "GIF")
LOSSLESS_GRAPHIC = images.encode(images.graphic(), "WEBP", lossless=True)


def test_without_javascript_a_result_larger_than_the_original_says_nothing_was_saved(free_client):
    """`savings` is never below 0: "Saved 0% (0 bytes)" hid that the result grew."""
    response = free_client.post(TRY_IT, form(file=upload(TINY_GIF, "dot.gif"), format="avif"))

    body = response.content.decode()
    optimized = base64.b64decode(body.split('src="data:image/avif;base64,', 1)[1].split('"', 1)[0])
    grown_by = len(optimized) - len(TINY_GIF)
    assert grown_by > 0  # AVIF's container alone outweighs a 2x2 GIF
    assert f'nothing <small data-stat="unsaved">(the result is {filesizeformat(grown_by)} larger)</small>' in body
    assert "<span data-some-saved hidden>" in body


def test_without_javascript_a_result_the_size_of_the_original_says_nothing_was_saved(free_client):
    response = free_client.post(TRY_IT, form(file=upload(LOSSLESS_GRAPHIC, "logo.webp"), format="webp"))

    body = response.content.decode()
    assert 'nothing <small data-stat="unsaved">(the same size)</small>' in body
    assert "<span data-some-saved hidden>" in body


def test_without_javascript_a_saving_is_shown_in_percent_and_bytes(free_client):
    response = free_client.post(TRY_IT, form(file=upload(), format="webp"))

    body = response.content.decode()
    assert '<div class="saved" data-saved>' in body
    assert "<span data-none-saved hidden>" in body


@pytest.mark.parametrize(
    ("fields", "code", "field", "message"),
    [
        ({}, "BAD_REQUEST", None, "Choose an image, drop one here, or paste its URL."),
        ({"url": "https://example.com/a.png", "file": "UPLOAD"}, "BAD_REQUEST", None, "not both"),
        ({"file": "TWO UPLOADS"}, "BAD_REQUEST", None, "Choose one image at a time."),
        ({"url": "ftp://example.com/a.png"}, "INVALID_URL", "url", "Only http and https URLs can be fetched."),
        ({"url": "http://127.0.0.1/a.png"}, "INVALID_URL", "url", "does not resolve to a public address"),
        ({"file": "SVG"}, "UNSUPPORTED_IMAGE", "file", "The file is not a supported image"),
        ({"file": "UPLOAD", "quality": "0"}, "BAD_REQUEST", "quality", "Quality: Ensure this value is greater"),
        ({"file": "UPLOAD", "max_width": "wide"}, "BAD_REQUEST", "maxWidth", "Max width: Enter a whole number."),
        ({"file": "UPLOAD", "format": "png"}, "BAD_REQUEST", "format", "Select a valid choice"),
    ],
)
def test_every_mistake_gets_a_clear_message(free_client, fields, code, field, message):
    files = {
        "UPLOAD": upload(),
        "TWO UPLOADS": [upload(), upload()],
        "SVG": upload(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "logo.svg"),
    }
    fields = {name: files.get(value, value) for name, value in fields.items()}

    response = free_client.post(TRY_IT, form(**fields), **JSON)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code
    assert body.get("field") == field
    assert message in body["error"]
    assert not body["error"].startswith(("url:", "file:"))


def test_a_file_over_the_size_limit_is_refused(free_client, settings):
    settings.OPTIMIZER_MAX_SOURCE_BYTES = 1000

    response = free_client.post(TRY_IT, form(file=upload()), **JSON)

    assert response.status_code == 400
    assert response.json()["code"] == "IMAGE_TOO_LARGE"
    assert "1,000-byte limit" in response.json()["error"]


def test_a_body_declared_over_the_limit_is_refused_before_it_is_read(free_client, settings):
    settings.OPTIMIZER_MAX_SOURCE_BYTES = 1000

    response = free_client.post(TRY_IT, form(file=upload(b"x" * 200_000)), **JSON)

    assert response.status_code == 400
    assert response.json()["code"] == "IMAGE_TOO_LARGE"


def test_without_javascript_errors_are_shown_on_the_page(free_client):
    response = free_client.post(TRY_IT, form(url="ftp://example.com/a.png"))

    assert response.status_code == 400
    body = response.content.decode()
    assert 'role="alert" tabindex="-1" data-error>Only http and https URLs can be fetched.' in body
    assert 'value="ftp://example.com/a.png"' in body


def test_a_crash_in_the_pipeline_is_a_plain_apology(free_client, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("ImageMagick fell over at /usr/lib/secret")

    monkeypatch.setattr("optimizer.worker.optimize", crash)

    response = free_client.post(TRY_IT, form(file=upload()), **JSON)

    assert response.status_code == 500
    assert response.json()["code"] == "SERVER_ERROR"
    assert "secret" not in response.content.decode()
    assert "not counted" in response.json()["error"]


def test_posting_needs_the_csrf_token(free_account):
    client = Client(enforce_csrf_checks=True)
    client.force_login(free_account.owner)

    response = client.post(TRY_IT, form(file=upload()), **JSON)

    assert response.status_code == 403


# --- the monthly allowance (the same quota service as the API) ----------------------------


def test_an_optimization_counts_against_the_monthly_allowance(free_client, free_account):
    response = free_client.post(TRY_IT, form(file=upload()), **JSON)

    assert response.status_code == 200
    assert usage_this_month(account=free_account).used == 1
    assert (response["X-Quota-Used"], response["X-Quota-Limit"]) == ("1", "50")


def test_a_failed_optimization_is_not_counted(free_client, free_account):
    response = free_client.post(TRY_IT, form(file=upload(b"not an image", "notes.png")), **JSON)

    assert response.status_code == 400
    assert usage_this_month(account=free_account).used == 0
    assert response["X-Quota-Used"] == "0"


def test_the_fifty_first_image_of_a_free_month_is_refused_with_a_way_forward(free_client, free_account):
    MonthlyUsageFactory(account=free_account, used=50)

    response = free_client.post(TRY_IT, form(file=upload()), **JSON)

    assert response.status_code == 429
    body = response.json()
    assert (body["code"], body["used"], body["limit"]) == ("LIMIT_REACHED", 50, 50)
    assert body["error"].startswith("You have used all 50 images of your Free plan this month.")
    assert "upgrade" in body["error"]
    assert body["upgrade"] is True  # the page's script links to the pricing page
    assert int(response["Retry-After"]) > 0
    assert usage_this_month(account=free_account).used == 50


def test_a_used_up_one_image_allowance_says_image(free_client, free_account):
    free_account.monthly_limit_override = 1
    free_account.save()
    MonthlyUsageFactory(account=free_account, used=1)

    assert "1</strong> of 1 image used this month" in free_client.get(TRY_IT).content.decode()
    response = free_client.post(TRY_IT, form(file=upload()), **JSON)

    assert response.status_code == 429
    assert response.json()["error"].startswith("You have used 1 image of your Free plan this month.")


def test_a_limit_lowered_below_the_count_is_said_to_be_exceeded(free_client, free_account):
    free_account.monthly_limit_override = 1  # by staff, after 2 images this month
    free_account.save()
    MonthlyUsageFactory(account=free_account, used=2)

    body = free_client.get(TRY_IT).content.decode()
    response = free_client.post(TRY_IT, form(file=upload()), **JSON)

    assert "2</strong> <span data-quota-noun>images</span> used this month, over your limit of 1" in body
    assert 'aria-valuemax="1" aria-valuenow="1"' in body
    assert response.status_code == 429
    assert response.json()["error"].startswith("Your account's limit this month is 1 image, and you have used 2.")


def test_the_last_image_of_the_month_still_in_flight_is_told_to_wait_seconds(free_client, free_account):
    in_a_minute = timezone.now() + timedelta(minutes=1)
    InFlightImageFactory(monthly_usage=MonthlyUsageFactory(account=free_account, used=50), expires_at=in_a_minute)

    response = free_client.post(TRY_IT, form(file=upload()), **JSON)

    assert response.status_code == 429
    # No "upgrade": a bigger plan is not what ends this wait, and the script offers none.
    assert response.json() == {
        "error": (
            "This month's last images are still being optimized; any that fail are given back. Try again in 5 seconds."
        ),
        "code": "LIMIT_REACHED",
        "used": 50,
        "limit": 50,
    }
    assert response["Retry-After"] == "5"


def test_without_javascript_the_limit_links_to_the_upgrade(free_client, free_account):
    MonthlyUsageFactory(account=free_account, used=50)

    response = free_client.post(TRY_IT, form(file=upload()))

    assert response.status_code == 429
    body = response.content.decode()
    assert "You have used all 50 images of your Free plan this month." in body
    assert f'<a href="{reverse("pricing")}">Upgrade your plan</a>' in body
    assert 'class="progress full"' in body


def test_without_javascript_the_last_images_in_flight_are_not_sent_to_upgrade(free_client, free_account):
    in_a_minute = timezone.now() + timedelta(minutes=1)
    InFlightImageFactory(monthly_usage=MonthlyUsageFactory(account=free_account, used=50), expires_at=in_a_minute)

    response = free_client.post(TRY_IT, form(file=upload()))

    assert response.status_code == 429
    body = response.content.decode()
    assert "This month&#x27;s last images are still being optimized; any that fail are given back." in body
    assert "Upgrade your plan" not in body


def test_an_unlimited_plan_is_counted_without_a_limit(client, agency_account):
    client.force_login(agency_account.owner)

    response = client.post(TRY_IT, form(file=upload()), **JSON)

    assert response.status_code == 200
    assert (response["X-Quota-Used"], response["X-Quota-Limit"]) == ("1", "unlimited")
    assert "1</strong> <span data-quota-noun>image</span> optimized this month" in client.get(TRY_IT).content.decode()


@pytest.mark.usefixtures("frozen_clock")  # all its requests in one rate-limit minute
def test_the_page_shares_the_accounts_per_minute_rate_limit(free_client, free_account):
    free_account.rate_limit_override = 2
    free_account.save(update_fields=["rate_limit_override"])
    for _ in range(2):
        assert free_client.post(TRY_IT, form(url="ftp://example.com/a.png"), **JSON).status_code == 400

    response = free_client.post(TRY_IT, form(file=upload()), **JSON)

    assert response.status_code == 429
    body = response.json()
    assert (body["code"], body["used"], body["limit"]) == ("LIMIT_REACHED", 3, 2)
    assert body["error"].startswith(
        "That is 3 requests this minute, refused ones included; your plan allows 2 a minute."
    )
    assert "upgrade" not in body  # over in a minute: the script offers no upgrade
    assert 0 < int(response["Retry-After"]) <= 60
    assert usage_this_month(account=free_account).used == 0
