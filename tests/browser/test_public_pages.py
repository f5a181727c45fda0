import pytest

from accounts.models import User
from tests.browser.steps import sign_up

# The live server reads committed data: these tests use a transactional database.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("path", ["/", "/pricing/", "/docs/"])
def test_public_pages_load_without_console_errors(page, console_errors, path):
    response = page.goto(path)

    assert response.status == 200
    assert page.locator("h1").first.is_visible()
    assert console_errors == []


def test_docs_code_tabs_switch_with_the_keyboard(page):
    page.goto("/docs/")
    page.get_by_role("tab", name="cURL").focus()

    page.keyboard.press("ArrowRight")

    assert page.get_by_role("tab", name="Python").get_attribute("aria-selected") == "true"
    assert page.locator("#panel-python").is_visible()
    assert page.locator("#panel-curl").is_hidden()


def test_sign_up_lands_on_the_dashboard(page, eager_tasks):
    sign_up(page, "browser@example.com")

    assert page.get_by_role("heading", name="Dashboard").is_visible()
    assert User.objects.filter(email="browser@example.com").exists()


@pytest.mark.parametrize("path", ["/", "/docs/"])
def test_every_code_block_has_a_copy_button(page, path):
    page.goto(path)

    blocks = page.locator("pre")
    assert blocks.count() > 0
    assert page.locator(".code-block > pre").count() == blocks.count()
    assert page.locator(".code-block > .code-bar > button.copy-button").count() == blocks.count()
