"""Every main page at desktop and phone widths: nothing scrolls sideways, no table is wider than its
box, and the actions a customer came for are on screen without scrolling sideways."""

import pytest
from playwright.sync_api import expect

from apikeys.models import ApiKey
from tests.browser.steps import create_key, sign_in, sign_in_to_admin, sign_up
from usage.tests.factories import RequestRecordFactory

# The live server reads committed data: these tests use a transactional database.
pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1280, "height": 900}
PUBLIC_PAGES = [
    "/",
    "/pricing/",
    "/docs/",
    "/status/",
    "/accounts/signup/?next=/billing/checkout/pro/",
    "/accounts/login/",
]
CUSTOMER_PAGES = ["/dashboard/", "/dashboard/keys/", "/dashboard/try/", "/billing/", "/billing/checkout/agency/"]


def overflow(page) -> int:
    """How many pixels the page is wider than the window (0: no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def wide_tables(page) -> list[str]:
    """The tables whose content is wider than their box (a wrapper that scrolls sideways, or that
    cuts them off), each as its first row's cells and the two widths."""
    return page.evaluate(
        """() => [...document.querySelectorAll("table")].flatMap((table) => {
            const box = table.parentElement;
            const content = Math.max(table.scrollWidth, table.offsetWidth);
            const columns = [...table.rows[0].cells].map((cell) => cell.textContent.trim()).join(" | ");
            return content > box.clientWidth ? [`${columns}: ${content} px in ${box.clientWidth} px`] : [];
        })"""
    )


def assert_across(page, locator) -> None:
    """Every element `locator` finds is visible and lies within the window's width."""
    width = page.viewport_size["width"]
    assert locator.count() > 0
    for element in locator.all():
        expect(element).to_be_visible()
        box = element.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (element, box, width)


def measure_every_page(browser, live_server, customer, width: int, measure) -> dict:
    """`measure(page)` on each main page at `width`, signed out, then signed in as `customer`."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 844})
    page = context.new_page()
    found = {}
    for path in PUBLIC_PAGES:
        page.goto(path)
        found[path] = measure(page)
    sign_in(page, customer)
    for path in [*CUSTOMER_PAGES, "/pricing/", "/docs/", "/api/explorer/"]:
        page.goto(path)
        page.wait_for_load_state("networkidle")  # the explorer draws itself after loading
        found[f"{path} signed in"] = measure(page)
    context.close()
    return found


@pytest.mark.parametrize("width", [1280, 430, 390, 360])
def test_no_page_scrolls_sideways(browser, live_server, customer, fake_stripe, width):
    wide = measure_every_page(browser, live_server, customer, width, overflow)

    assert {path: pixels for path, pixels in wide.items() if pixels > 0} == {}


# The pages that print the customer's address, as a new customer sees them before confirming it. The
# address has no hyphen: browsers break lines after one.
LONG_ADDRESS_PAGES = ["/accounts/signup/done/", "/accounts/verify/", "/dashboard/", "/billing/", "/accounts/delete/"]


def test_no_page_scrolls_sideways_with_a_long_address(browser, live_server, eager_tasks, fake_stripe):
    address = "christopher.alexander.montgomery.whitfield@mediaagencyworldwide.example.com"
    context = browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 844})
    page = context.new_page()
    sign_up(page, address, verify=False)
    wide = {}
    for path in LONG_ADDRESS_PAGES:
        page.goto(path)
        wide[path] = overflow(page)
    page.goto("/accounts/verify/")
    page.get_by_role("button", name="Send the link again").click()
    expect(page.get_by_text(f"We sent a new link to {address}.")).to_be_visible()
    wide["/accounts/verify/ sent again"] = overflow(page)

    assert {path: pixels for path, pixels in wide.items() if pixels > 0} == {}
    context.close()


# A key's name is the customer's own text, here one word as long as a name may be: browsers break
# lines only between words.
LONG_KEY_NAME = "w" * 100


@pytest.mark.parametrize("width", [1280, 360])
def test_no_page_scrolls_sideways_with_a_long_key_name(browser, live_server, customer, width):
    context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 844})
    page = context.new_page()
    sign_in(page, customer)
    create_key(page, LONG_KEY_NAME)
    # Once loaded (its stylesheet, copy.js): one run measured this page 977 px too wide without waiting.
    page.wait_for_load_state()
    wide = {"/dashboard/keys/ with the new key": overflow(page)}
    api_key = ApiKey.objects.get(name=LONG_KEY_NAME)
    RequestRecordFactory(account=customer, api_key=api_key)  # the dashboard's recent requests name it
    tables = {}
    for path in ["/dashboard/keys/", "/dashboard/", "/docs/", f"/dashboard/keys/{api_key.pk}/revoke/"]:
        page.goto(path)
        wide[path], tables[path] = overflow(page), wide_tables(page)
    page.goto("/dashboard/keys/")

    assert {path: pixels for path, pixels in wide.items() if pixels > 0} == {}
    assert {path: found for path, found in tables.items() if found} == {}
    assert_across(page, page.get_by_role("link", name="Revoke"))
    context.close()


# Not a table that scrolls sideways in its wrapper either (or is cut off by its card), down to 320 px.
@pytest.mark.parametrize("width", [390, 360, 320])
def test_every_table_fits_its_box_on_a_phone(browser, live_server, customer, fake_stripe, width):
    tables = measure_every_page(browser, live_server, customer, width, wide_tables)

    assert {path: found for path, found in tables.items() if found} == {}


@pytest.mark.parametrize("viewport", [DESKTOP, {"width": 390, "height": 844}], ids=["desktop", "phone"])
def test_the_key_actions_are_on_screen_without_sideways_scrolling(
    browser, live_server, customer, fake_stripe, viewport
):
    context = browser.new_context(base_url=live_server.url, viewport=viewport)
    page = context.new_page()

    page.goto("/pricing/")
    assert_across(page, page.get_by_role("link", name="Choose"))
    sign_in(page, customer)

    page.goto("/dashboard/keys/")
    assert_across(page, page.get_by_role("link", name="Revoke"))
    assert_across(page, page.locator('td[data-label="Last used"]'))
    page.goto("/dashboard/")
    assert_across(page, page.locator('td[data-label="Duration"]'))  # the recent requests' last column
    page.goto("/docs/")
    assert_across(page, page.locator("#panel-curl").get_by_role("button", name="Copy"))
    page.goto("/billing/checkout/agency/")
    assert_across(page, page.get_by_role("button", name="Continue to secure checkout"))
    page.goto("/dashboard/try/")
    optimize = page.get_by_role("button", name="Optimize image")
    assert_across(page, optimize)
    if viewport == DESKTOP:  # and without scrolling down, on a 1280x900 screen
        assert optimize.bounding_box()["y"] + optimize.bounding_box()["height"] <= viewport["height"]
    context.close()


def test_the_dashboard_chart_keeps_its_height_and_its_labels_on_a_phone(browser, live_server, customer):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, customer)

    chart = page.get_by_role("img", name="API requests, last 30 days")
    bar = chart.locator("rect").first
    today = page.locator(".chart-scale").get_by_text("Today")

    assert chart.bounding_box()["height"] >= 120
    assert bar.bounding_box()["width"] >= 5
    assert today.evaluate("label => parseFloat(getComputedStyle(label).fontSize)") >= 12
    context.close()


def test_the_docs_contents_leave_room_for_the_reference_on_a_phones_first_screen(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto("/docs/")

    contents = page.get_by_role("navigation", name="On this page")
    heading = page.get_by_role("heading", name="API reference", level=1)

    assert contents.bounding_box()["height"] < 300
    assert heading.bounding_box()["y"] < 844 / 2
    context.close()


def test_the_admin_account_list_fits_1280_px(browser, live_server, customer, staff):
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP)
    page = context.new_page()
    sign_in_to_admin(page, staff)
    page.goto("/admin/accounts/account/")

    visible = page.locator("#changelist .results").bounding_box()
    columns = page.locator("#result_list thead th")
    for column in columns.all():  # every column, the last one included, within the list's box
        box = column.bounding_box()
        assert box["x"] + box["width"] <= visible["x"] + visible["width"], column.inner_text()
    assert columns.all_inner_texts()[-1].lower() == "limit overrides"
    assert "250,000 images a month, 600 requests a minute" in page.locator("#result_list").inner_text()
    context.close()
