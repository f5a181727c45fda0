"""The admin's request records (filters by account, status and date) and monthly usage."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import AccountFactory
from apikeys.tests.factories import ApiKeyFactory
from usage.tests.factories import MonthlyUsageFactory, RequestRecordFactory

pytestmark = pytest.mark.django_db

RECORDS_URL = reverse("admin:usage_requestrecord_changelist")


def listed(admin_client, query: str = "") -> str:
    response = admin_client.get(RECORDS_URL + query)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def records():
    alice = AccountFactory(pro=True, owner__email="alice@example.com")
    bob = AccountFactory(pro=True, owner__email="bob@example.com")
    key = ApiKeyFactory(account=alice)
    now = timezone.now()
    return {
        "alice-ok": RequestRecordFactory(account=alice, api_key=key, endpoint="POST /api/v1/optimize?alice-ok"),
        "alice-limited": RequestRecordFactory(account=alice, status=429, endpoint="POST /api/v1/optimize?alice-429"),
        "alice-old": RequestRecordFactory(
            account=alice, created_at=now - timedelta(days=40), endpoint="POST /api/v1/optimize?alice-old"
        ),
        "bob-error": RequestRecordFactory(account=bob, status=500, endpoint="POST /api/v1/optimize?bob-500"),
        "key": key,
    }


def test_records_list_with_their_account_and_key(admin_client, records):
    body = listed(admin_client)

    for marker in ("alice-ok", "alice-429", "alice-old", "bob-500"):
        assert marker in body
    assert records["key"].display_prefix in body
    assert "alice@example.com" in body and "bob@example.com" in body


def test_records_filter_by_account(admin_client, records):
    body = listed(admin_client, f"?account={records['bob-error'].account_id}")

    assert "bob-500" in body
    assert "alice-ok" not in body


def test_the_account_filter_offers_the_busiest_accounts(admin_client, records):
    body = listed(admin_client)

    assert f'?account={records["alice-ok"].account_id}"' in body


@pytest.mark.parametrize(
    ("status", "shown", "hidden"),
    [("2xx", "alice-ok", "alice-429"), ("429", "alice-429", "alice-ok"), ("5xx", "bob-500", "alice-ok")],
)
def test_records_filter_by_status(admin_client, records, status, shown, hidden):
    body = listed(admin_client, f"?status={status}")

    assert shown in body
    assert hidden not in body


def test_records_filter_by_date(admin_client, records):
    past_week = urlencode({"created_at__gte": str(timezone.now() - timedelta(days=7))})  # as the filter links it

    body = listed(admin_client, f"?{past_week}")

    assert "Past 7 days" in body
    assert "alice-ok" in body
    assert "alice-old" not in body


def test_records_search_by_e_mail(admin_client, records):
    body = listed(admin_client, "?q=bob@example")

    assert "bob-500" in body and "alice-ok" not in body


def test_records_are_read_only(admin_client, records):
    record = records["alice-ok"]

    assert admin_client.get(reverse("admin:usage_requestrecord_add")).status_code == 403
    assert admin_client.get(reverse("admin:usage_requestrecord_delete", args=[record.pk])).status_code == 403
    response = admin_client.post(reverse("admin:usage_requestrecord_change", args=[record.pk]), {"status": "200"})
    assert response.status_code == 403


def test_monthly_usage_lists_each_accounts_months(admin_client):
    MonthlyUsageFactory(account__owner__email="carol@example.com", used=777)

    body = admin_client.get(reverse("admin:usage_monthlyusage_changelist")).content.decode()

    assert "carol@example.com" in body and "777" in body
