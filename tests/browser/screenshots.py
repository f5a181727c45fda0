"""`make screenshots`: the product's pages at desktop and phone widths, into screenshots/.

Not part of the suite (the file name does not start with test_); `make screenshots` runs it with
pytest so it gets the live server and the browser of tests/browser/conftest.py. A visitor sees the
public pages; a Pro customer with two API keys and a month of API traffic signs in, creates a key,
and the try-it page refuses a file that is no image, then optimizes the landing page's example
photograph; staff see the admin's accounts and plans.
"""

from pathlib import Path

import pytest
from django.conf import settings

from accounts.models import Plan, PlanCode
from tests.browser.steps import create_key, sign_in, sign_in_to_admin

pytestmark = pytest.mark.django_db(transaction=True)

OUTPUT = Path(settings.BASE_DIR) / "screenshots"
DEVICES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
PHOTO = Path(settings.BASE_DIR) / "static" / "img" / "examples" / "landscape.jpg"


PUBLIC_PAGES = [
    ("landing", "/"),
    ("pricing", "/pricing/"),
    ("docs", "/docs/"),
    ("status", "/status/"),
    ("sign-up-with-a-plan", "/accounts/signup/?next=/billing/checkout/pro/"),
    ("log-in", "/accounts/login/"),
]


@pytest.mark.parametrize("device", DEVICES)
def test_take_screenshots(browser, live_server, customer, staff, fake_stripe, tmp_path, device):
    OUTPUT.mkdir(exist_ok=True)
    context = browser.new_context(base_url=live_server.url, viewport=DEVICES[device])
    context.set_default_timeout(30_000)
    page = context.new_page()

    def shoot(name: str) -> None:
        page.wait_for_load_state("networkidle")
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # lazy images load
        page.wait_for_load_state("networkidle")
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=OUTPUT / f"{name}-{device}.png", full_page=True)

    for name, path in PUBLIC_PAGES:
        page.goto(path)
        shoot(name)

    sign_in(page, customer)
    shoot("dashboard")
    page.goto("/dashboard/keys/")
    shoot("api-keys")
    create_key(page, "Staging server")
    shoot("api-keys-new-key")
    page.goto("/docs/")
    shoot("docs-signed-in")
    page.goto("/billing/")
    shoot("billing")
    page.goto("/billing/checkout/agency/")
    shoot("billing-checkout")
    page.goto("/api/explorer/")
    page.locator(".opblock").first.wait_for()
    shoot("api-explorer")
    page.goto("/dashboard/try/")
    shoot("try-it-empty")
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("this is not a picture")
    page.locator('input[type="file"]').set_input_files(not_an_image)
    page.get_by_role("button", name="Optimize image").click()
    page.get_by_role("alert").wait_for()
    shoot("try-it-error")
    page.locator('input[type="file"]').set_input_files(PHOTO)
    page.get_by_role("button", name="Optimize image").click()
    page.locator("[data-original]").wait_for(state="visible")
    shoot("try-it")
    context.close()

    context = browser.new_context(base_url=live_server.url, viewport=DEVICES[device])
    page = context.new_page()
    sign_in_to_admin(page, staff)
    for name, path in [
        ("admin-accounts", "/admin/accounts/account/"),
        ("admin-plans", "/admin/accounts/plan/"),
        ("admin-plan", f"/admin/accounts/plan/{Plan.objects.get(code=PlanCode.PRO).pk}/change/"),
    ]:
        page.goto(path)
        shoot(name)
    context.close()
