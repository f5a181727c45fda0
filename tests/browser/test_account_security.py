"""Accounts that resist abuse, in Chromium: verification before try-it, lockouts, the admin's second
factor, and a Content-Security-Policy that no page (nor the API explorer) violates."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from playwright.sync_api import expect

from accounts.models import User
from accounts.services import staff_second_factor_reset
from accounts.tests.factories import PASSWORD, AccountFactory, UserFactory
from tests.browser.steps import (
    SIGN_UP_PASSWORD,
    admin_log_in,
    admin_second_factor,
    create_key,
    log_in,
    sign_in,
    verification_link,
)

# The live server reads committed data: these tests use a transactional database.
pytestmark = pytest.mark.django_db(transaction=True)

PHOTO = Path(settings.BASE_DIR) / "static" / "img" / "examples" / "landscape.jpg"

# Every Content-Security-Policy violation the page reports, kept where the test can read it.
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.cspViolations.push(`${event.violatedDirective}: ${event.blockedURI || "inline"} (${where})`);
});
"""


def csp_violations(page) -> list[str]:
    return page.evaluate("window.cspViolations")


def test_a_new_account_can_try_it_only_after_following_the_link_in_its_email(page, console_errors, eager_tasks):
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill("newcomer@example.com")
    page.get_by_label("Password", exact=True).fill(SIGN_UP_PASSWORD)
    page.get_by_label("Password confirmation").fill(SIGN_UP_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    expect(page.get_by_text("newcomer@example.com")).to_be_visible()

    log_in(page, "newcomer@example.com", SIGN_UP_PASSWORD)
    expect(page.get_by_text("Confirm your e-mail address to use Try it")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Try it").click()
    page.wait_for_url("**/accounts/verify/?next=/dashboard/try/")
    assert page.get_by_role("button", name="Optimize image").count() == 0
    page.get_by_role("button", name="Send the link again").click()
    expect(page.get_by_text("We sent a new link to newcomer@example.com")).to_be_visible()

    page.goto(verification_link("newcomer@example.com"))  # the new link brings the newcomer back to try-it
    page.wait_for_url("**/dashboard/try/")
    expect(page.get_by_text("your e-mail address is verified")).to_be_visible()
    expect(page.get_by_role("button", name="Optimize image")).to_be_visible()
    assert User.objects.get(email="newcomer@example.com").email_verified
    assert console_errors == []


def test_repeated_wrong_passwords_lock_the_account_even_for_the_right_password(page):
    account = AccountFactory()

    for _ in range(5):
        page.goto("/accounts/login/")
        page.get_by_label("Email").fill(account.owner.email)
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Too many failed sign-ins")).to_be_visible()

    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(account.owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("even the right password is refused")).to_be_visible()
    page.get_by_role("link", name="reset your password").click()
    page.wait_for_url("**/accounts/password_reset/")


def test_a_double_click_sends_a_form_once(page, customer, eager_tasks):
    posts = []  # held until both clicks are in, as a server busy for a moment would
    page.route(
        "**/accounts/password_reset/",
        lambda route: posts.append(route) if route.request.method == "POST" else route.continue_(),
    )
    page.goto("/accounts/password_reset/")
    page.get_by_label("Email").fill(customer.owner.email)
    box = page.get_by_role("button", name="Send reset link").bounding_box()

    for _ in range(2):  # a person's double click, a moment apart
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_timeout(100)
    assert len(posts) == 1
    posts[0].continue_()
    page.wait_for_url("**/accounts/password_reset/done/")

    assert [message.to for message in mail.outbox] == [[customer.owner.email]]  # one of the hour's three


def test_a_form_shown_again_from_the_back_forward_cache_can_be_sent_again(page, customer):
    # The posts get 204 No Content: the browser stays on the page that sent them.
    page.route(
        "**/accounts/password_reset/",
        lambda route: route.fulfill(status=204) if route.request.method == "POST" else route.continue_(),
    )
    page.goto("/accounts/password_reset/")
    page.get_by_label("Email").fill(customer.owner.email)
    button = page.get_by_role("button", name="Send reset link")
    button.click()
    expect(button).to_be_disabled()

    # What the browser tells the page when it shows it again from its back-forward cache.
    page.evaluate("window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))")
    expect(button).to_be_enabled()
    with page.expect_request(lambda request: request.method == "POST"):
        button.click()


def test_others_wrong_passwords_lock_strangers_out_but_not_the_owners_browser(page, browser, live_server):
    account = AccountFactory()
    log_in(page, account.owner.email, PASSWORD)  # the owner's browser signed in before: a known device
    page.get_by_role("button", name="Log out").click()

    for who in ("attacker", "stranger"):
        other = browser.new_context(base_url=live_server.url).new_page()
        for password in ["not-the-password"] * 5 if who == "attacker" else [PASSWORD]:
            other.goto("/accounts/login/")
            other.get_by_label("Email").fill(account.owner.email)
            other.get_by_label("Password").fill(password)
            other.get_by_role("button", name="Log in").click()
        expect(other.get_by_role("heading", name="Too many failed sign-ins")).to_be_visible()
        other.context.close()

    log_in(page, account.owner.email, PASSWORD)
    expect(page.get_by_role("link", name="Change password")).to_be_visible()


def test_wrong_current_passwords_on_the_password_change_page_sign_the_session_out(page, customer):
    sign_in(page, customer)

    for _ in range(5):
        page.goto("/accounts/password_change/")
        page.get_by_label("Old password").fill("not-the-password")
        page.get_by_label("New password", exact=True).fill(SIGN_UP_PASSWORD)
        page.get_by_label("New password confirmation").fill(SIGN_UP_PASSWORD)
        page.get_by_role("button", name="Change password").click()

    page.wait_for_url("**/accounts/login/")
    expect(page.get_by_text("wrong too many times, so we signed you out")).to_be_visible()
    page.goto("/dashboard/")
    page.wait_for_url("**/accounts/login/?next=/dashboard/")


def test_the_admin_asks_staff_for_a_code_from_their_authenticator_app(page):
    staff = UserFactory(email="staff@example.com", is_staff=True)
    staff_second_factor_reset(user=staff)
    device = staff.totpdevice_set.get()
    page.add_init_script(RECORD_CSP_VIOLATIONS)

    admin_log_in(page, staff.email)
    expect(page.get_by_text("Please enter your OTP token")).to_be_visible()  # the password alone is not enough

    admin_second_factor(page, device)

    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    assert csp_violations(page) == []


# Every page, as each kind of visitor sees it, with the states its scripts draw.
SIGNED_OUT_PAGES = [
    "/",
    "/pricing/",
    "/docs/",
    "/status/",
    "/accounts/signup/",
    "/accounts/signup/?next=/billing/checkout/pro/",  # the plan chosen on pricing
    "/accounts/signup/done/",
    "/accounts/login/",
    "/accounts/password_reset/",
]
CUSTOMER_PAGES = [
    "/dashboard/",  # the 30-day chart and the recent requests
    "/dashboard/keys/",
    "/dashboard/try/",
    "/billing/",
    "/billing/checkout/agency/",  # the plan's confirmation page
    "/docs/",  # with the reader's newest key
    "/status/",
    "/api/explorer/",
]
UNVERIFIED_PAGES = ["/dashboard/", "/accounts/verify/"]


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}], ids=["desktop", "phone"]
)
def test_no_page_violates_the_content_security_policy_nor_what_its_scripts_do(
    page, console_errors, customer, fake_stripe, viewport
):
    page.set_viewport_size(viewport)
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    seen: dict[str, list[str]] = {}

    def visit(path: str, *, who: str) -> None:
        page.goto(path)
        page.wait_for_load_state("load")
        if path == "/api/explorer/":  # Swagger UI ran: it fetched the schema and drew the operations
            page.locator(".opblock-post .opblock-summary-path", has_text="/api/v1/optimize").click()
            expect(page.get_by_role("button", name="Try it out")).to_be_visible()
        seen[f"{who}: {path}"] = csp_violations(page)

    for path in SIGNED_OUT_PAGES:
        visit(path, who="signed out")
    sign_in(page, customer)
    for path in CUSTOMER_PAGES:
        visit(path, who="customer")

    # What the scripts draw: the copy buttons, the new key's panel, try-it's result and its slider.
    page.goto("/docs/")
    page.get_by_role("button", name="Copy").first.click()
    seen["docs: Copy"] = csp_violations(page)
    create_key(page, "CSP")
    page.get_by_role("button", name="Copy").first.click()
    seen["keys: the new key's panel"] = csp_violations(page)
    page.goto("/dashboard/try/")
    page.locator('input[type="file"]').set_input_files(PHOTO)
    page.get_by_role("button", name="Optimize image").click()
    page.get_by_role("img", name="The original image").wait_for(state="visible")
    page.get_by_label(re.compile("^Comparison")).focus()
    page.keyboard.press("Home")
    seen["try-it: the result and its slider"] = csp_violations(page)

    page.get_by_role("button", name="Log out").click()
    log_in(page, UserFactory(email="unverified@example.com", email_verified=False).email, PASSWORD)
    for path in UNVERIFIED_PAGES:
        visit(path, who="unverified")

    assert seen == {step: [] for step in seen}
    assert console_errors == []
