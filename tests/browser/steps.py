"""What a person does in the browser again and again (sign up, sign in, create a key), and the
data behind the pages."""

import random
from datetime import timedelta

from django.utils import timezone

from accounts.models import Account
from accounts.tests.factories import PASSWORD
from apikeys.models import ApiKey
from usage.tests.factories import MonthlyUsageFactory, RequestRecordFactory


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
