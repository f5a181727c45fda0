"""`make screenshots`: the product's pages at desktop and phone widths, into screenshots/.

Not part of the suite (the file name does not start with test_); `make screenshots` runs it with
pytest so it gets the live server and the browser of tests/browser/conftest.py. A Pro customer
with two API keys and a month of API traffic signs in, and the try-it page optimizes the landing
page's example photograph.
"""

import random
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.tests.factories import AccountFactory
from apikeys.services import api_key_create
from tests.browser.steps import sign_in
from usage.tests.factories import MonthlyUsageFactory, RequestRecordFactory

pytestmark = pytest.mark.django_db(transaction=True)

OUTPUT = Path(settings.BASE_DIR) / "screenshots"
DEVICES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
EMAIL = "ada@example.com"
PHOTO = Path(settings.BASE_DIR) / "static" / "img" / "examples" / "landscape.jpg"


@pytest.fixture
def customer(eager_tasks):  # the live server runs in this process, and its Celery tasks with it
    account = AccountFactory(pro=True, owner__email=EMAIL)
    production, _ = api_key_create(account=account, name="Production")
    ci, _ = api_key_create(account=account, name="CI pipeline")
    _traffic(account, keys=[production, ci])
    return account


def _traffic(account, *, keys) -> None:
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


@pytest.mark.parametrize("device", DEVICES)
def test_take_screenshots(browser, live_server, customer, device):
    OUTPUT.mkdir(exist_ok=True)
    context = browser.new_context(base_url=live_server.url, viewport=DEVICES[device])
    context.set_default_timeout(30_000)
    page = context.new_page()

    def shoot(name: str) -> None:
        page.wait_for_load_state("networkidle")
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=OUTPUT / f"{name}-{device}.png", full_page=True)

    for name, path in [("landing", "/"), ("pricing", "/pricing/"), ("docs", "/docs/")]:
        page.goto(path)
        shoot(name)

    sign_in(page, customer)
    shoot("dashboard")
    page.goto("/dashboard/keys/")
    shoot("api-keys")
    page.goto("/api/explorer/")
    page.locator(".opblock").first.wait_for()
    shoot("api-explorer")
    page.goto("/dashboard/try/")
    shoot("try-it-empty")
    page.locator('input[type="file"]').set_input_files(PHOTO)
    page.get_by_role("button", name="Optimize image").click()
    page.locator("[data-original]").wait_for(state="visible")
    shoot("try-it")
    context.close()
