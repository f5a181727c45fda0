"""The dashboard's usage: this month's count, the 30-day chart and the recent requests."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from accounts.tests.factories import AccountFactory
from apikeys.tests.factories import ApiKeyFactory
from usage.tests.factories import MonthlyUsageFactory, RequestRecordFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 6, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def mid_june():
    with time_machine.travel(NOW, tick=False):
        yield


def dashboard(client, account) -> str:
    client.force_login(account.owner)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    return response.content.decode()


def test_this_months_usage_with_a_progress_bar(client, pro_account):
    MonthlyUsageFactory(account=pro_account, used=8_342)

    body = dashboard(client, pro_account)

    assert '8,342 <small class="muted">of 10,000</small>' in body
    assert 'role="progressbar"' in body
    assert 'aria-valuenow="8342"' in body and 'aria-valuemax="10000"' in body
    assert '<svg width="83%"' in body  # the bar's width: an SVG attribute, which the CSP allows
    assert "1,658 images left until July 1, 00:00 UTC." in body
    assert "Get more images" in body


def test_a_reached_limit_shows_a_full_bar(client, pro_account):
    MonthlyUsageFactory(account=pro_account, used=10_000)

    body = dashboard(client, pro_account)

    assert 'class="progress full"' in body
    assert "Limit reached: new optimizations are refused" in body


def test_a_one_image_allowance_says_image(client, free_account):
    free_account.monthly_limit_override = 1
    free_account.save()

    body = dashboard(client, free_account)

    assert "1 image left until July 1" in body
    assert "1 image a month, no API access." in body


def test_a_used_up_one_image_allowance_says_image(client, free_account):
    free_account.monthly_limit_override = 1
    free_account.save()
    MonthlyUsageFactory(account=free_account, used=1)

    body = dashboard(client, free_account)

    assert 'aria-valuetext="1 of 1 image (100 %)"' in body
    assert "Limit reached: new optimizations are refused" in body


def test_a_limit_lowered_below_the_count_says_it_is_exceeded_and_keeps_the_bar_within_its_end(client, free_account):
    free_account.monthly_limit_override = 0  # by staff, after 2 images this month
    free_account.save()
    MonthlyUsageFactory(account=free_account, used=2)

    body = dashboard(client, free_account)

    assert '2 <small class="muted">images, over the limit of 0</small>' in body
    assert 'aria-valuemax="0" aria-valuenow="0"' in body
    assert 'aria-valuetext="2 images, over the limit of 0"' in body
    assert '<svg width="100%"' in body
    assert "Over the limit: new optimizations are refused until July 1" in body
    assert "2 of 0" not in body


def test_an_unlimited_plan_shows_the_count_without_a_bar(client, agency_account):
    MonthlyUsageFactory(account=agency_account, used=123_456)

    body = dashboard(client, agency_account)

    assert "123,456" in body
    assert "images optimized in June — no limit on your plan" in body
    assert 'role="progressbar"' not in body


def test_one_image_of_an_unlimited_plan_says_image(client, agency_account):
    MonthlyUsageFactory(account=agency_account, used=1)

    body = dashboard(client, agency_account)

    assert "image optimized in June — no limit on your plan" in body


def test_the_30_day_chart_comes_with_a_table(client, pro_account):
    RequestRecordFactory.create_batch(3, account=pro_account, created_at=NOW - timedelta(days=2))
    RequestRecordFactory(account=pro_account, created_at=NOW - timedelta(days=2), status=429)
    RequestRecordFactory(account=pro_account, created_at=NOW - timedelta(days=30))  # before the 30 days

    body = dashboard(client, pro_account)

    assert "4 requests, 1 refused or failed" in body
    assert '<span class="legend" aria-hidden="true">' in body  # not read out as "…failed succeeded refused or failed"
    assert '<svg class="chart"' in body and 'role="img"' in body
    assert body.count('<rect class="ok"') == 1 and body.count('<rect class="failed"') == 1
    assert "the busiest day was June 13 with 4 requests" in body
    cells = '<td data-label="Requests">4</td><td data-label="Succeeded">3</td><td data-label="Refused or failed">1</td>'
    assert f'<time datetime="2031-06-13">Fri, Jun 13</time></th>{cells}' in body
    assert body.count('<tr><th scope="row">') == 30


def test_without_requests_there_is_no_chart(client, pro_account):
    body = dashboard(client, pro_account)

    assert "No API requests in the last 30 days." in body
    assert '<svg class="chart"' not in body


def test_recent_requests_are_listed_newest_first(client, pro_account):
    api_key = ApiKeyFactory(account=pro_account, name="CI pipeline")
    RequestRecordFactory(
        account=pro_account, api_key=api_key, created_at=NOW - timedelta(minutes=5), bytes_in=2_000_000
    )
    RequestRecordFactory(
        account=pro_account,
        api_key=api_key,
        created_at=NOW - timedelta(minutes=1),
        endpoint="GET /api/v1/usage",
        status=429,
        bytes_in=0,
        bytes_out=0,
        output_format="",
        duration_ms=3,
    )
    RequestRecordFactory(account=AccountFactory(pro=True), endpoint="POST /api/v1/someone-elses")

    body = dashboard(client, pro_account)

    assert body.index("GET /api/v1/usage") < body.index("POST /api/v1/optimize")
    assert "someone-elses" not in body
    assert f"<code>{api_key.display_prefix}</code> CI pipeline" in body
    assert "1.9\xa0MB → 29.3\xa0KB" in body
    assert '<span class="badge bad">429</span>' in body


def test_the_dashboard_queries_do_not_grow_with_the_requests(client, pro_account, django_assert_num_queries):
    client.force_login(pro_account.owner)
    api_key = ApiKeyFactory(account=pro_account)
    RequestRecordFactory.create_batch(12, account=pro_account, api_key=api_key)

    # The session, its user, the account with its plan; this month's count, the 30 days' counts,
    # the recent requests with their keys, the keys.
    with django_assert_num_queries(7):
        assert client.get(reverse("dashboard")).status_code == 200


def test_the_cards_count_the_active_keys_and_lead_to_try_it(client, pro_account):
    ApiKeyFactory(account=pro_account)
    ApiKeyFactory(account=pro_account, revoked_at=NOW)

    body = dashboard(client, pro_account)

    assert '<p class="stat">1 <small class="muted">active</small></p>' in body
    assert f'href="{reverse("try-it")}"' in body
    assert f'href="{reverse("billing:home")}"' in body
