from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Account
from accounts.selectors import account_limits
from usage.models import MonthlyUsage, RequestRecord


def month_start(moment: datetime) -> date:
    """The calendar month (UTC) that `moment` falls in, as its first day."""
    return moment.astimezone(UTC).date().replace(day=1)


def next_month_start(month: date) -> datetime:
    """Midnight UTC on the first day of the month after `month`: when its quota resets."""
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime(following.year, following.month, 1, tzinfo=UTC)


def quota_used(*, account: Account, month: date) -> int:
    """Images the account optimized in `month`."""
    return MonthlyUsage.objects.filter(account=account, month=month).values_list("used", flat=True).first() or 0


@dataclass(frozen=True)
class MonthUsage:
    month: date
    used: int
    limit: int | None  # None: unlimited
    resets_at: datetime

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.used, 0)

    @property
    def exceeded(self) -> bool:
        """More images used than the limit allows: a limit lowered below the month's count."""
        return self.limit is not None and self.used > self.limit

    @property
    def within_limit(self) -> int | None:
        """The count as a progress bar up to the limit shows it: never past its end."""
        return None if self.limit is None else min(self.used, self.limit)

    @property
    def percent(self) -> int:
        """How much of the limit is used, 0-100 (0 when unlimited)."""
        if self.limit is None:
            return 0
        if self.limit == 0:
            return 100
        return min(100, self.used * 100 // self.limit)


def usage_this_month(*, account: Account) -> MonthUsage:
    month = month_start(timezone.now())
    return MonthUsage(
        month=month,
        used=quota_used(account=account, month=month),
        limit=account_limits(account=account).monthly_limit,
        resets_at=next_month_start(month),
    )


@dataclass(frozen=True)
class DailyCount:
    day: date
    requests: int
    failed: int  # answered with a 4xx or 5xx

    @property
    def succeeded(self) -> int:
        return self.requests - self.failed


def usage_daily_counts(*, account: Account, days: int = 30) -> list[DailyCount]:
    """The account's API requests on each of the last `days` days (UTC), today included, oldest
    first; days without requests count zero."""
    today = timezone.now().astimezone(UTC).date()
    first_day = today - timedelta(days=days - 1)
    rows = (
        RequestRecord.objects.filter(
            account=account, created_at__gte=datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
        )
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day")
        .annotate(requests=Count("pk"), failed=Count("pk", filter=Q(status__gte=400)))
        .order_by("day")
    )
    by_day = {row["day"]: row for row in rows}
    counts = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        row = by_day.get(day, {"requests": 0, "failed": 0})
        counts.append(DailyCount(day=day, requests=row["requests"], failed=row["failed"]))
    return counts


def request_record_recent(*, account: Account, limit: int = 10) -> list[RequestRecord]:
    """The account's latest API requests, newest first, with their keys."""
    return list(
        RequestRecord.objects.filter(account=account).select_related("api_key").order_by("-created_at", "-pk")[:limit]
    )


def account_annotate_month_used(*, accounts: QuerySet[Account]) -> QuerySet[Account]:
    """`accounts`, each with `month_used`: its images this month (UTC), in the same query."""
    this_month = MonthlyUsage.objects.filter(account=OuterRef("pk"), month=month_start(timezone.now()))
    return accounts.annotate(month_used=Subquery(this_month.values("used")[:1], output_field=IntegerField()))
