"""Browser tests: Debian's Chromium driven by Playwright against Django's live server.

Playwright never downloads a browser here: it launches /usr/bin/chromium (installed by
`make test` through scripts/system-packages.sh).
"""

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.apps import apps
from django.utils import timezone

from accounts.models import Account
from accounts.tests.factories import AccountFactory
from apikeys.models import ApiKey
from apikeys.services import api_key_create
from tests.browser.steps import api_traffic

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
seed_plans = importlib.import_module("accounts.migrations.0002_seed_plans").seed_plans


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in the test thread while the tests' own ORM calls
    # stay synchronous, so Django's async-safety guard stands aside, for this module only.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module", autouse=True)
def database_as_found(database_restored_afterwards) -> None:
    """Each module of these tests leaves the database as it found it (see the fixture)."""


@pytest.fixture(autouse=True)
def plans(transactional_db) -> None:
    # The live server needs committed data, so these tests flush the tables afterwards. Under
    # Playwright's event loop Django cannot restore a serialized snapshot (its connection handler is
    # context-local), so the plans are seeded again, exactly as the data migration does.
    seed_plans(apps, None)


class ConsoleErrors(list):
    """Console errors and uncaught page exceptions seen while a test ran."""


@pytest.fixture
def console_errors() -> ConsoleErrors:
    return ConsoleErrors()


@pytest.fixture
def page(browser, live_server, console_errors: ConsoleErrors) -> Iterator:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    yield page
    context.close()


@pytest.fixture
def customer(eager_tasks) -> Account:  # the live server runs in this process, and its Celery tasks with it
    """A Pro customer with two API keys, one of them used a minute ago, and a month of API traffic."""
    account = AccountFactory(pro=True, owner__email="ada@example.com")
    production, _ = api_key_create(account=account, name="Production")
    ci, _ = api_key_create(account=account, name="CI pipeline")
    ApiKey.objects.filter(pk=production.pk).update(last_used_at=timezone.now())
    api_traffic(account, keys=[production, ci])
    return account


@pytest.fixture
def staff() -> Account:
    """Staff, on an account with limits of its own (the admin's overrides column)."""
    return AccountFactory(
        agency=True,
        owner__email="operations.lead@example.com",
        owner__is_staff=True,
        owner__is_superuser=True,
        monthly_limit_override=250_000,
        rate_limit_override=600,
    )
