"""What a person does in the browser again and again: sign up, sign in."""

from accounts.models import Account
from accounts.tests.factories import PASSWORD


def sign_up(page, email: str) -> None:
    page.goto("/")
    page.get_by_role("link", name="Sign up free").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill("a-long-unusual-pass")
    page.get_by_label("Password confirmation").fill("a-long-unusual-pass")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/dashboard/")


def sign_in(page, account: Account) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(account.owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/")
