"""The customer's flows in a real browser: API keys, try it, the API explorer, upgrading."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from accounts.models import Account, PlanCode
from accounts.tests.factories import AccountFactory
from optimizer.tests.images import encode, graphic
from tests.browser.steps import sign_in, sign_up, verification_link
from usage.tests.factories import InFlightImageFactory, MonthlyUsageFactory

# The live server reads committed data: these tests use a transactional database. It runs in this
# process, so the tests that optimize run their Celery tasks here too (eager_tasks): no worker.
pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = Path(settings.BASE_DIR) / "static" / "img" / "examples"
PHOTO = EXAMPLES / "landscape.jpg"
CHART = EXAMPLES / "chart.png"


def test_sign_up_create_a_key_see_it_once_then_only_its_prefix_then_revoke_it(page, console_errors, eager_tasks):
    sign_up(page, "keys@example.com")

    page.get_by_role("link", name="Manage API keys").click()
    page.get_by_label("Name").fill("Production")
    page.get_by_role("button", name="Create key").click()

    key = page.get_by_label("API key").input_value()
    assert re.fullmatch(r"pk_live_[0-9A-Za-z]{38}", key)
    expect(page.get_by_role("button", name="Copy the key")).to_be_visible()  # once copy.js has run
    prefix = page.locator("td code").first.inner_text()
    assert prefix.endswith("…") and key.startswith(prefix.removesuffix("…"))

    page.reload()
    assert page.get_by_label("API key").count() == 0
    assert key not in page.content()
    assert page.locator("td code").first.inner_text() == prefix

    page.get_by_role("link", name="Revoke Production").click()
    page.get_by_role("button", name="Revoke key").click()
    assert page.get_by_text("No active keys yet").is_visible()
    assert page.get_by_text(f"Revoked “Production” ({prefix})").is_visible()
    assert console_errors == []


def test_try_it_shows_the_original_and_the_optimized_image_with_the_savings(page, console_errors, eager_tasks):
    sign_in(page, AccountFactory())
    page.get_by_role("link", name="Try it").click()
    page.wait_for_url("**/dashboard/try/")  # and its scripts have run

    page.locator('input[type="file"]').set_input_files(PHOTO)
    assert page.get_by_text(f"landscape.jpg — {PHOTO.stat().st_size / 1024:.1f} KB").is_visible()
    page.get_by_text("WebP", exact=True).click()  # the segmented control's label
    expect(page.get_by_label("WebP")).to_be_checked()
    page.get_by_role("button", name="Optimize image").click()

    original = page.get_by_role("img", name="The original image")
    optimized = page.get_by_role("img", name="The optimized image")
    original.wait_for(state="visible")
    assert optimized.is_visible()
    # The figure's caption names both now (without the script, the page shows the optimized alone).
    expect(page.locator("[data-compare-caption]")).to_have_text(
        "The original on the left, the optimized image on the right."
    )
    for image in (original, optimized):  # both decoded by the browser, not broken
        assert image.evaluate("image => image.complete && image.naturalWidth") == 960
    saved = int(page.locator('[data-stat="savingsPercent"]').inner_text())
    assert 0 < saved < 100
    assert page.locator('[data-stat="format"]').inner_text() == "WebP"
    download = page.get_by_role("link", name="Download the optimized image")
    assert download.get_attribute("download") == "landscape.webp"
    # The month's bar follows the count: 1 of the Free plan's 50 images (an SVG width, as drawn).
    assert page.locator("[data-quota-bar] svg").get_attribute("width") == "2%"

    # The comparison slider works from the keyboard.
    page.get_by_label(re.compile("^Comparison")).focus()
    page.keyboard.press("Home")
    assert page.locator("[data-compare]").evaluate("figure => figure.style.getPropertyValue('--position')") == "0%"
    assert console_errors == []


def test_try_it_shows_a_small_result_at_its_size_and_a_large_one_at_the_cards_width(
    page, console_errors, eager_tasks, tmp_path
):
    icon = tmp_path / "icon.png"
    icon.write_bytes(encode(graphic(48, 48), "PNG"))
    sign_in(page, AccountFactory())
    page.goto("/dashboard/try/")
    optimized = page.get_by_role("img", name="The optimized image")
    original = page.get_by_role("img", name="The original image")

    shown = {}
    for image in (icon, PHOTO):
        page.locator('input[type="file"]').set_input_files(image)
        page.get_by_role("button", name="Optimize image").click()
        width = "48" if image == icon else "960"
        expect(page.locator('[data-stat="dimensions"]')).to_contain_text(f"{width} \N{MULTIPLICATION SIGN}")
        original.wait_for(state="visible")
        shown[image.name] = optimized.bounding_box()
        assert original.bounding_box() == pytest.approx(shown[image.name], abs=0.5)  # lies exactly over it
    card = page.locator("[data-output]").bounding_box()

    # 48 px is shown at 12rem (room for both tags), not stretched to the card; 960 px fills the card.
    assert shown["icon.png"]["width"] == shown["icon.png"]["height"] == 192 < card["width"]
    assert shown["landscape.jpg"]["width"] == pytest.approx(card["width"], abs=0.5)
    assert console_errors == []


def test_try_it_says_nothing_was_saved_when_the_result_is_larger_then_shows_the_next_saving(
    page, console_errors, eager_tasks, tmp_path
):
    dot = tmp_path / "dot.gif"  # AVIF's container alone outweighs a 2x2 GIF
    dot.write_bytes(encode(Image.new("RGB", (2, 2), (200, 30, 30)), "GIF"))
    sign_in(page, AccountFactory())
    page.goto("/dashboard/try/")
    saving = page.locator('[data-stat="savingsPercent"]')
    nothing = page.locator('[data-stat="unsaved"]')

    page.locator('input[type="file"]').set_input_files(dot)
    page.get_by_text("AVIF", exact=True).click()
    page.get_by_role("button", name="Optimize image").click()
    expect(nothing).to_have_text(re.compile(r"^\(the result is \d+ bytes larger\)$"))
    expect(saving).to_be_hidden()

    page.locator('input[type="file"]').set_input_files(PHOTO)
    page.get_by_role("button", name="Optimize image").click()
    expect(saving).to_be_visible()
    expect(nothing).to_be_hidden()
    assert 0 < int(saving.inner_text()) < 100
    assert console_errors == []


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}], ids=["desktop", "phone"]
)
def test_try_it_explains_an_unsupported_file_where_it_is_seen(page, console_errors, eager_tasks, tmp_path, viewport):
    page.set_viewport_size(viewport)
    sign_in(page, AccountFactory())
    page.goto("/dashboard/try/")
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture")

    page.locator('input[type="file"]').set_input_files(text)
    page.get_by_role("button", name="Optimize image").click()

    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "not a supported image" in alert.inner_text()
    # On a phone the result card is below the form: the error takes the focus, which scrolls it into view.
    expect(alert).to_be_focused()
    expect(alert).to_be_in_viewport(ratio=1)
    # The browser's console reports the failed request (a 400); nothing else may go wrong.
    assert [error for error in console_errors if "400" not in error] == []


def test_try_it_refuses_a_file_over_the_limit_in_bytes_as_the_api_does(page, console_errors, settings, tmp_path):
    """It said "This file is 32.0 MB; the most we take is 32.0 MB." of a file a byte over 32 MiB."""
    settings.OPTIMIZER_MAX_SOURCE_BYTES = 1 << 20
    sign_in(page, AccountFactory())
    page.goto("/dashboard/try/")
    large = tmp_path / "large.png"
    large.write_bytes(bytes((1 << 20) + 1))

    page.locator('input[type="file"]').set_input_files(large)

    alert = page.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == "This file is 1,048,577 bytes; the most we take is 1,048,576 bytes (1 MiB)."
    assert console_errors == []


def test_try_it_takes_the_previous_result_away_when_the_next_image_fails(page, console_errors, eager_tasks, tmp_path):
    sign_in(page, AccountFactory())
    page.goto("/dashboard/try/")
    page.locator('input[type="file"]').set_input_files(PHOTO)
    page.get_by_role("button", name="Optimize image").click()
    download = page.get_by_role("link", name="Download the optimized image")
    download.wait_for()
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(CHART.read_bytes()[: CHART.stat().st_size // 2])

    page.locator('input[type="file"]').set_input_files(truncated)
    page.get_by_role("button", name="Optimize image").click()

    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("img", name="The optimized image")).to_be_hidden()
    expect(download).to_be_hidden()
    expect(page.locator('[data-stat="savingsPercent"]')).to_be_hidden()
    # The browser's console reports the failed request (a 400); nothing else may go wrong.
    assert [error for error in console_errors if "400" not in error] == []


@pytest.mark.parametrize(
    ("in_flight", "message", "upgrade"),
    [
        (1, "This month's last images are still being optimized; any that fail are given back.", False),
        (0, "You have used all 50 images of your Free plan this month.", True),
    ],
    ids=["last images in flight", "month used up"],
)
def test_try_it_offers_an_upgrade_only_when_the_months_images_are_used_up(
    page, console_errors, in_flight, message, upgrade
):
    account = AccountFactory()
    in_a_minute = timezone.now() + timedelta(minutes=1)
    usage = MonthlyUsageFactory(account=account, used=50)
    InFlightImageFactory.create_batch(in_flight, monthly_usage=usage, expires_at=in_a_minute)
    sign_in(page, account)
    page.goto("/dashboard/try/")

    page.locator('input[type="file"]').set_input_files(PHOTO)
    with page.expect_response("**/dashboard/try/") as answer:
        page.get_by_role("button", name="Optimize image").click()

    assert answer.value.request.headers["accept"] == "application/json"  # the script's path, not the form's
    assert answer.value.status == 429
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(message)
    expect(alert.get_by_role("link", name="Upgrade your plan")).to_have_count(1 if upgrade else 0)
    # The browser's console reports the refused request (a 429); nothing else may go wrong.
    assert [error for error in console_errors if "429" not in error] == []


def test_try_it_keeps_the_bar_within_a_limit_lowered_below_the_count(page, console_errors):
    account = AccountFactory(monthly_limit_override=1)  # lowered by staff after 2 images this month
    MonthlyUsageFactory(account=account, used=2)
    sign_in(page, account)
    page.goto("/dashboard/try/")
    expect(page.get_by_text("2 images used this month, over your limit of 1")).to_be_visible()

    page.locator('input[type="file"]').set_input_files(PHOTO)
    with page.expect_response("**/dashboard/try/") as answer:
        page.get_by_role("button", name="Optimize image").click()

    assert answer.value.headers["x-quota-used"] == "2"
    expect(page.get_by_role("alert")).to_contain_text(
        "Your account's limit this month is 1 image, and you have used 2."
    )
    bar = page.get_by_role("progressbar", name="Images used this month")
    assert (bar.get_attribute("aria-valuenow"), bar.get_attribute("aria-valuemax")) == ("1", "1")
    assert bar.locator("svg").get_attribute("width") == "100%"
    assert [error for error in console_errors if "429" not in error] == []


def test_try_it_says_image_or_images_as_the_count_of_an_unlimited_plan_changes(page, console_errors, eager_tasks):
    sign_in(page, AccountFactory(agency=True))
    page.goto("/dashboard/try/")
    allowance = page.locator("#allowance")
    expect(allowance).to_contain_text("0 images optimized this month")

    page.locator('input[type="file"]').set_input_files(PHOTO)
    for count, noun in ((1, "image"), (2, "images")):
        with page.expect_response("**/dashboard/try/"):
            page.get_by_role("button", name="Optimize image").click()
        expect(allowance).to_contain_text(f"{count} {noun} optimized this month")
    assert console_errors == []


@pytest.mark.parametrize("path", ["/docs/", "/api/explorer/"])
def test_the_docs_and_the_api_explorer_load_without_console_errors(page, console_errors, path):
    page.goto(path)

    if path == "/api/explorer/":
        page.locator(".opblock-post .opblock-summary-path", has_text="/api/v1/optimize").wait_for()
        assert page.get_by_role("link", name="Back to the API reference").is_visible()
    else:
        page.get_by_role("link", name="Open the API explorer").click()
        page.wait_for_url("**/api/explorer/")
        page.locator(".opblock").first.wait_for()
    assert console_errors == []


def test_upgrading_from_pricing_goes_through_checkout_and_the_webhook_changes_the_plan(
    page, console_errors, live_server, fake_stripe, eager_tasks
):
    fake_stripe.webhook_url = f"{live_server.url}/billing/webhook/"
    account = AccountFactory()
    sign_in(page, account)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Pricing").click()
    page.wait_for_load_state("load")
    assert console_errors == []  # ours; the fake Checkout page's missing favicon is not
    page.get_by_role("button", name="Choose Pro").click()
    page.wait_for_url(f"{fake_stripe.url}/checkout/**")
    assert page.get_by_text("price_fake_pro").is_visible()
    page.get_by_role("button", name="Pay").click()

    page.wait_for_url("**/billing/success/?session_id=cs_test_*")
    console_errors.clear()  # the fake Checkout page has no favicon: its 404 is not ours
    account.refresh_from_db()
    assert account.plan.code == PlanCode.PRO
    page.goto("/dashboard/")
    expect(page.get_by_role("region", name="Plan")).to_contain_text("Pro")
    assert console_errors == []


def test_a_plan_chosen_on_pricing_while_signed_out_survives_sign_up_and_verification_to_checkout(
    page, console_errors, live_server, fake_stripe, eager_tasks
):
    fake_stripe.webhook_url = f"{live_server.url}/billing/webhook/"
    page.goto("/pricing/")

    page.get_by_role("link", name="Choose Agency").click()
    expect(page.get_by_text("You chose the Agency plan.")).to_be_visible()
    page.get_by_label("Email").fill("agency@example.com")
    page.get_by_label("Password", exact=True).fill("a-long-unusual-pass")
    page.get_by_label("Password confirmation").fill("a-long-unusual-pass")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    expect(page.get_by_text("takes you on to the Agency plan you chose")).to_be_visible()

    # The link of the welcome e-mail, opened signed out (from a mail client): log in, then on.
    page.goto(verification_link("agency@example.com"))
    page.get_by_label("Email").fill("agency@example.com")
    page.get_by_label("Password").fill("a-long-unusual-pass")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/billing/checkout/agency/")
    expect(page.get_by_text("your e-mail address is verified")).to_be_visible()
    expect(page.get_by_role("heading", name="The Agency plan")).to_be_visible()
    assert console_errors == []
    page.get_by_role("button", name="Continue to secure checkout").click()
    page.wait_for_url(f"{fake_stripe.url}/checkout/**")
    assert page.get_by_text("price_fake_agency").is_visible()
    page.get_by_role("button", name="Pay").click()

    page.wait_for_url("**/billing/success/?session_id=cs_test_*")
    assert Account.objects.get(owner__email="agency@example.com").plan.code == PlanCode.AGENCY
