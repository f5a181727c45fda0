"""What a person does in the browser again and again: sign up, sign in."""

import re

from django.core import mail

from accounts.models import Account
from accounts.tests.factories import PASSWORD

SIGN_UP_PASSWORD = "a-long-unusual-pass"


def sign_up(page, email: str) -> None:
    """Sign up, sign in and follow the link of the welcome e-mail: a verified account on the
    dashboard. The e-mail's task must run in this process (the eager_tasks fixture)."""
    page.goto("/")
    page.get_by_role("link", name="Sign up free").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(SIGN_UP_PASSWORD)
    page.get_by_label("Password confirmation").fill(SIGN_UP_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/accounts/signup/done/")
    log_in(page, email, SIGN_UP_PASSWORD)
    page.goto(verification_link(email))
    page.wait_for_url("**/dashboard/")


def verification_link(email: str) -> str:
    """The verification link of the latest e-mail to `email`."""
    [*_, message] = [
        message for message in mail.outbox if message.to == [email] and "/accounts/verify/" in message.body
    ]
    return re.search(r"https?://\S+/accounts/verify/\S+/", message.body).group(0)


def log_in(page, email: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/")


def sign_in(page, account: Account) -> None:
    log_in(page, account.owner.email, PASSWORD)
