"""What a person does in the browser again and again (sign up, sign in, create a key), and the
data behind the pages."""

import random
import re
from datetime import timedelta

from django.core import mail
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Account
from accounts.services import staff_second_factor_reset
from accounts.tests.factories import PASSWORD
from apikeys.models import ApiKey
from usage.tests.factories import MonthlyUsageFactory, RequestRecordFactory

SIGN_UP_PASSWORD = "a-long-unusual-pass"


def sign_up(page, email: str, *, verify: bool = True) -> None:
    """Sign up, sign in and (`verify`) follow the link of the welcome e-mail: a verified account on the
    dashboard. The e-mail's task must run in this process (the eager_tasks fixture)."""
    page.goto("/")
    page.get_by_role("link", name="Sign up free").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(SIGN_UP_PASSWORD)
    page.get_by_label("Password confirmation").fill(SIGN_UP_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/accounts/signup/done/")
    log_in(page, email, SIGN_UP_PASSWORD)
    if verify:
        page.goto(verification_link(email))
        page.wait_for_url("**/dashboard/")


def verification_link(email: str) -> str:
    """The verification link of the latest e-mail to `email`."""
    [*_, message] = [
        message for message in mail.outbox if message.to == [email] and "/accounts/verify/" in message.body
    ]
    return re.search(r"https?://\S+/accounts/verify/\S+", message.body).group(0)


def log_in(page, email: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/")


def sign_in(page, account: Account) -> None:
    log_in(page, account.owner.email, PASSWORD)


def admin_log_in(page, email: str) -> None:
    """The admin's sign-in page, its first step: the address and the password (PASSWORD)."""
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def admin_second_factor(page, device: TOTPDevice) -> None:
    """The admin's sign-in page, once it asks for a code: the password again and the code that the
    authenticator app holding `device` shows now."""
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("OTP Device").select_option(label="Authenticator app")
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    page.get_by_label("OTP Token").fill(f"{code:06d}")
    page.get_by_role("button", name="Log in").click()


def sign_in_to_admin(page, account: Account) -> None:
    """Sign a staff member in to the admin, with a second factor made for it here."""
    staff_second_factor_reset(user=account.owner)
    admin_log_in(page, account.owner.email)
    admin_second_factor(page, account.owner.totpdevice_set.get())
    page.wait_for_url("**/admin/")


def create_key(page, name: str) -> str:
    """Create a key on the keys page; the full key, as its panel shows it once."""
    page.goto("/dashboard/keys/")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create key").click()
    return page.get_by_label("API key").input_value()


def api_traffic(account: Account, *, keys: list[ApiKey]) -> None:
    """A month of API requests, busier on weekdays, with a few refused ones."""
    rng = random.Random(3)
    now = timezone.now()
    optimized = 0
    for days_ago in range(29, -1, -1):
        day = now - timedelta(days=days_ago)
        for _ in range(rng.randint(2, 6) if day.weekday() >= 5 else rng.randint(8, 18)):
            status = rng.choices([200, 400, 429], weights=[92, 5, 3])[0]
            source = rng.randint(80_000, 2_400_000)
            RequestRecordFactory(
                account=account,
                api_key=rng.choice(keys),
                created_at=day - timedelta(minutes=rng.randint(0, 600)),
                status=status,
                bytes_in=source if status == 200 else 0,
                bytes_out=source * rng.randint(8, 30) // 100 if status == 200 else 0,
                output_format=rng.choice(["webp", "avif"]) if status == 200 else "",
                duration_ms=rng.randint(180, 1400),
            )
            optimized += status == 200 and day.month == now.month
    MonthlyUsageFactory(account=account, used=optimized)
