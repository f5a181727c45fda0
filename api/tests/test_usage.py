"""GET /api/v1/usage: the key's account, its plan, limits and this month's count."""

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.urls import reverse

from apikeys.tests.factories import full_key_for
from usage.services import quota_reserve
from usage.tests.factories import MonthlyUsageFactory

pytestmark = pytest.mark.django_db

JUNE_15 = datetime(2031, 6, 15, 12, 30, tzinfo=UTC)


def get_usage(client, account):
    return client.get(reverse("api-usage"), headers={"Authorization": f"Bearer {full_key_for(account)}"})


@time_machine.travel(JUNE_15, tick=False)
def test_usage_shows_the_plan_its_limits_and_this_months_count(client, pro_account):
    MonthlyUsageFactory(account=pro_account, month=date(2031, 5, 1), used=9_999)  # last month
    for _ in range(3):
        quota_reserve(account=pro_account)

    response = get_usage(client, pro_account)

    assert response.status_code == 200
    assert response.json() == {
        "plan": "pro",
        "monthlyLimit": 10000,
        "used": 3,
        "remaining": 9997,
        "month": "2031-06",
        "resetsAt": "2031-07-01T00:00:00Z",
        "rateLimitPerMinute": 60,
    }


@time_machine.travel(datetime(2031, 12, 31, 23, 59, tzinfo=UTC), tick=False)
def test_usage_resets_at_the_turn_of_the_year(client, agency_account):
    assert get_usage(client, agency_account).json()["resetsAt"] == "2032-01-01T00:00:00Z"


def test_usage_shows_unlimited_as_null_and_still_counts(client, agency_account):
    quota_reserve(account=agency_account)

    body = get_usage(client, agency_account).json()

    assert (body["plan"], body["monthlyLimit"], body["used"], body["remaining"]) == ("agency", None, 1, None)
    assert body["rateLimitPerMinute"] == 120


def test_usage_shows_the_accounts_overrides(client, pro_account):
    pro_account.monthly_limit_override = 25_000
    pro_account.rate_limit_override = 300
    pro_account.save()

    body = get_usage(client, pro_account).json()

    assert (body["monthlyLimit"], body["remaining"], body["rateLimitPerMinute"]) == (25000, 25000, 300)


def test_usage_never_shows_a_negative_remainder(client, pro_account):
    MonthlyUsageFactory(account=pro_account, used=12)
    pro_account.monthly_limit_override = 10
    pro_account.save()

    body = get_usage(client, pro_account).json()

    assert (body["used"], body["monthlyLimit"], body["remaining"]) == (12, 10, 0)


def test_usage_only_answers_get(client, pro_api_key):
    response = client.post(reverse("api-usage"), headers={"Authorization": f"Bearer {pro_api_key}"})

    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "text/plain"])
def test_usage_answers_json_whatever_accept_says_and_checks_the_key_first(client, pro_account, accept):
    """A browser's or a tool's Accept got 406, before the key was even checked."""
    key = {"Authorization": f"Bearer {full_key_for(pro_account)}"}

    answered = client.get(reverse("api-usage"), headers={**key, "Accept": accept})
    xml = client.get(reverse("api-usage") + "?format=xml", headers=key)
    keyless = client.get(reverse("api-usage"), headers={"Accept": accept})

    assert (answered.status_code, answered["Content-Type"], answered.json()["plan"]) == (200, "application/json", "pro")
    assert "X-Quota-Used" in answered
    assert (xml.status_code, xml.json()["plan"]) == (200, "pro")
    assert (keyless.status_code, keyless.json()["code"]) == (401, "UNAUTHORIZED")
