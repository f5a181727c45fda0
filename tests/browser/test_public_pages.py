import re

import pytest
from playwright.sync_api import expect

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


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}], ids=["desktop", "phone"]
)
def test_sign_up_shows_each_error_under_its_field_in_the_sites_error_colour(page, console_errors, viewport):
    page.set_viewport_size(viewport)
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill("not-an-address")
    page.get_by_label("Password", exact=True).fill("abc")
    page.get_by_label("Password confirmation").fill("abd")
    page.get_by_role("button", name="Create account").click()

    email, password = page.get_by_label("Email"), page.get_by_label("Password", exact=True)
    expect(email).to_have_accessible_description("Enter a valid email address.")
    expect(password).to_have_accessible_description(re.compile(r"^Your password can.t be too similar.*too short"))
    expect(page.get_by_label("Password confirmation")).to_have_accessible_description(
        re.compile("^Enter the same password as before.*didn.t match")
    )
    error, help_text = page.locator("#id_email_error"), page.locator("#id_password1_helptext")
    colour = "getComputedStyle(element).color"
    site_error_colour = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--bad')")
    assert site_error_colour.strip() == "#b42318"
    assert error.evaluate(f"element => {colour}") == "rgb(180, 35, 24)"  # the site's --bad, not the help's grey
    assert help_text.evaluate(f"element => {colour}") != "rgb(180, 35, 24)"
    assert email.evaluate("element => getComputedStyle(element).borderTopColor") == "rgb(180, 35, 24)"
    box, field = error.bounding_box(), email.bounding_box()
    assert field["y"] + field["height"] <= box["y"] < field["y"] + field["height"] + 40  # right under its input
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert console_errors == []


@pytest.mark.parametrize(
    ("path", "fill", "button", "first_error"),
    [
        # A valid address: the first field in error is the password, below it.
        ("/accounts/signup/", {"Email": "someone@example.com", "Password": "abc"}, "Create account", "Password"),
        # The address field has autofocus of its own, and gives it way.
        ("/accounts/login/", {"Email": "someone@example.com"}, "Log in", "Password"),
    ],
)
def test_a_refused_form_comes_back_with_its_first_field_in_error_focused(page, path, fill, button, first_error):
    page.goto(path)
    for label, value in fill.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name=button).click()

    expect(page.get_by_label(first_error, exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label(first_error, exact=True)).to_be_focused()
