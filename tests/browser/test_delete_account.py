"""A customer deletes its own account in Chromium: from the dashboard, the password typed again."""

import pytest
from playwright.sync_api import expect

from accounts.models import User
from accounts.tests.factories import PASSWORD, AccountFactory
from apikeys.models import ApiKey
from apikeys.services import api_key_create
from tests.browser.steps import sign_in
from tests.browser.test_account_security import RECORD_CSP_VIOLATIONS, csp_violations

# The live server reads committed data: these tests use a transactional database.
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_customer_deletes_its_account_from_the_dashboard_and_cannot_sign_in_any_more(page, console_errors):
    account = AccountFactory(owner__email="leaving@example.com")
    api_key_create(account=account, name="Production")
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    sign_in(page, account)

    page.get_by_role("link", name="Delete account").click()
    page.wait_for_url("**/accounts/delete/")
    expect(page.get_by_role("heading", name="Delete your account")).to_be_visible()
    expect(page.get_by_text("Every API key of the account (1 active) stops working at once")).to_be_visible()
    assert csp_violations(page) == []

    # A wrong password: the form again, with the error under the field, and nothing deleted.
    page.get_by_label("Your current password").fill("not-my-password")
    page.get_by_label("I understand").check()
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_text("Your password was entered incorrectly")).to_be_visible()
    assert page.get_by_label("Your current password").get_attribute("aria-invalid") == "true"
    assert User.objects.filter(email="leaving@example.com").exists()

    page.get_by_label("Your current password").fill(PASSWORD)
    page.get_by_label("I understand").check()
    page.get_by_role("button", name="Delete my account").click()
    page.wait_for_url("**/accounts/delete/done/")
    expect(page.get_by_role("heading", name="Your account is deleted")).to_be_visible()
    assert not User.objects.filter(email="leaving@example.com").exists()
    assert not ApiKey.objects.exists()

    page.goto("/dashboard/")  # signed out
    page.wait_for_url("**/accounts/login/?next=/dashboard/")
    page.get_by_label("Email").fill("leaving@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Please enter a correct email and password")).to_be_visible()
    assert csp_violations(page) == []
    assert console_errors == []
