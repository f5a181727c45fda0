from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from accounts.models import Account
from accounts.tests.factories import AccountFactory
from usage.selectors import (
    MonthUsage,
    account_annotate_month_used,
    month_start,
    next_month_start,
    request_record_recent,
    usage_daily_counts,
    usage_this_month,
)
from usage.tests.factories import MonthlyUsageFactory, RequestRecordFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 3, 10, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "month"),
    [
        (datetime(2031, 3, 1, 0, 0, tzinfo=UTC), date(2031, 3, 1)),
        (datetime(2031, 2, 28, 23, 59, 59, tzinfo=UTC), date(2031, 2, 1)),
        # 23:30 in New York on Feb 28 is already March in UTC.
        (
            datetime(2031, 2, 28, 23, 30, tzinfo=ZoneInfo("America/New_York")),
            date(2031, 3, 1),
        ),
    ],
)
def test_a_moment_belongs_to_its_utc_month(moment, month):
    assert month_start(moment) == month


@pytest.mark.parametrize(
    ("month", "reset"),
    [(date(2031, 1, 1), datetime(2031, 2, 1, tzinfo=UTC)), (date(2031, 12, 1), datetime(2032, 1, 1, tzinfo=UTC))],
)
def test_a_month_resets_at_midnight_utc_on_the_next_first(month, reset):
    assert next_month_start(month) == reset


@pytest.mark.parametrize(
    ("used", "limit", "percent", "remaining"),
    [(0, 10, 0, 10), (8, 10, 80, 2), (12, 10, 100, 0), (5, None, 0, None), (0, 0, 100, 0)],
)
def test_month_usage_percent_and_remaining(used, limit, percent, remaining):
    usage = MonthUsage(month=date(2031, 3, 1), used=used, limit=limit, resets_at=NOW)

    assert (usage.percent, usage.remaining) == (percent, remaining)


@time_machine.travel(NOW, tick=False)
def test_usage_this_month_reads_this_months_count_and_the_limit_in_force(pro_account):
    MonthlyUsageFactory(account=pro_account, month=date(2031, 2, 1), used=500)
    MonthlyUsageFactory(account=pro_account, month=date(2031, 3, 1), used=7)
    pro_account.monthly_limit_override = 20
    pro_account.save()

    assert usage_this_month(account=pro_account) == MonthUsage(
        month=date(2031, 3, 1), used=7, limit=20, resets_at=datetime(2031, 4, 1, tzinfo=UTC)
    )


@time_machine.travel(NOW, tick=False)
def test_daily_counts_cover_30_utc_days_with_zeros(pro_account):
    first_day = datetime(2031, 2, 9, tzinfo=UTC)
    RequestRecordFactory(account=pro_account, created_at=first_day - timedelta(seconds=1))  # 31 days ago
    RequestRecordFactory(account=pro_account, created_at=first_day)
    RequestRecordFactory(account=pro_account, created_at=datetime(2031, 3, 9, 23, 59, 59, tzinfo=UTC))
    RequestRecordFactory(account=pro_account, created_at=datetime(2031, 3, 10, 0, 0, tzinfo=UTC), status=429)
    RequestRecordFactory(account=pro_account, created_at=NOW, status=500)
    RequestRecordFactory(account=AccountFactory(pro=True), created_at=NOW)  # someone else's

    counts = usage_daily_counts(account=pro_account)

    assert len(counts) == 30
    assert (counts[0].day, counts[-1].day) == (date(2031, 2, 9), date(2031, 3, 10))
    by_day = {count.day: (count.requests, count.failed) for count in counts if count.requests}
    assert by_day == {date(2031, 2, 9): (1, 0), date(2031, 3, 9): (1, 0), date(2031, 3, 10): (2, 2)}


def test_recent_requests_are_the_accounts_newest(pro_account, django_assert_num_queries):
    records = [
        RequestRecordFactory(account=pro_account, created_at=NOW + timedelta(minutes=minute)) for minute in range(12)
    ]
    RequestRecordFactory(account=AccountFactory(pro=True), created_at=NOW + timedelta(hours=1))

    with django_assert_num_queries(1):
        recent = request_record_recent(account=pro_account)
        [record.api_key for record in recent]

    assert recent == records[::-1][:10]


def test_accounts_come_with_this_months_count_in_one_query(django_assert_num_queries):
    busy, idle = AccountFactory(pro=True), AccountFactory(pro=True)
    MonthlyUsageFactory(account=busy, used=42)
    MonthlyUsageFactory(account=idle, month=date(2000, 1, 1), used=9)

    with django_assert_num_queries(1):
        month_used = {
            account.pk: account.month_used for account in account_annotate_month_used(accounts=Account.objects.all())
        }

    assert (month_used[busy.pk], month_used[idle.pk]) == (42, None)
