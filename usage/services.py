"""Metering: the monthly quota (reserved before an optimization runs, refunded if it fails), the
API request records, the quota e-mails and the pruning of old records."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Account
from accounts.selectors import account_limit_in_sql, account_limits
from apikeys.models import ApiKey
from smolpix.emails import send_templated_email
from smolpix.errors import SmolpixError
from smolpix.outages import DATABASE_DOWN, REDIS_DOWN
from usage.models import MonthlyUsage, RequestRecord
from usage.selectors import month_start, next_month_start, quota_used
from usage.tasks import refund_quota, send_quota_notice

logger = logging.getLogger(__name__)

WARNING_PERCENT = 80
PRUNE_BATCH_SIZE = 5000


class QuotaExceeded(SmolpixError):
    """The account has used its images for this month; the count starts again at `resets_at`."""

    def __init__(self, *, used: int, limit: int, resets_at: datetime) -> None:
        super().__init__(f"monthly limit reached: {used} of {limit}")
        self.used = used
        self.limit = limit
        self.resets_at = resets_at

    @property
    def retry_after(self) -> int:
        """Seconds until the count starts again."""
        return max(int((self.resets_at - timezone.now()).total_seconds()), 1)


@dataclass
class QuotaReservation:
    """One image of an account's monthly quota, taken before its optimization runs. If the
    optimization fails, `quota_refund` gives it back, at most once."""

    monthly_usage_id: int
    used: int  # the month's count, this reservation included
    limit: int | None  # None: unlimited
    notice_due: bool  # an e-mail threshold is reached and its e-mail was not sent yet
    refunded: bool = False


# Counts one image and checks the limit in one statement, so parallel requests can never take more
# than the limit between them: PostgreSQL locks the account's row for the month and re-checks the
# WHERE against the latest count (SQLite allows one writer at a time). No row comes back when the
# limit is reached. Parameters: account id, month, then the limit four times (NULL: unlimited).
# (The e-mail times are returned as they are: SQLite 3.40 gets `RETURNING column IS NULL` wrong.)
_RESERVE_SQL = """
INSERT INTO usage_monthlyusage (account_id, month, used)
SELECT %s, %s, 1 WHERE CAST(%s AS integer) IS NULL OR CAST(%s AS integer) > 0
ON CONFLICT (account_id, month) DO UPDATE SET used = usage_monthlyusage.used + 1
    WHERE CAST(%s AS integer) IS NULL OR usage_monthlyusage.used < CAST(%s AS integer)
RETURNING id, used, warning_sent_at, limit_reached_sent_at
"""


def quota_reserve(*, account: Account) -> QuotaReservation:
    """Take one image of the account's quota for this month (UTC), or raise QuotaExceeded.

    Unlimited plans are counted too. Call it outside any transaction: inside one, the account's
    row would stay locked, and its other requests waiting, until the transaction ends.
    """
    limit = account_limits(account=account).monthly_limit
    month = month_start(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(_RESERVE_SQL, [account.pk, connection.ops.adapt_datefield_value(month), *[limit] * 4])
        row = cursor.fetchone()
    if row is None:
        used = quota_used(account=account, month=month)
        raise QuotaExceeded(used=used, limit=limit, resets_at=next_month_start(month))
    monthly_usage_id, used, warning_sent_at, limit_reached_sent_at = row
    notice = _due_notice(
        used=used,
        limit=limit,
        warning_sent=warning_sent_at is not None,
        limit_reached_sent=limit_reached_sent_at is not None,
    )
    return QuotaReservation(monthly_usage_id=monthly_usage_id, used=used, limit=limit, notice_due=notice is not None)


def quota_refund(*, reservation: QuotaReservation) -> bool:
    """Give a reserved image back. Returns False, and changes nothing, if it was already refunded."""
    if reservation.refunded:
        return False
    quota_give_back(monthly_usage_id=reservation.monthly_usage_id)
    reservation.refunded = True
    return True


@contextmanager
def quota_charge(*, account: Account) -> Iterator[QuotaReservation]:
    """Charge one image for the work done in the `with` block: reserved before it (QuotaExceeded if
    none is left), refunded if the block raises, and kept, with the quota e-mails sent when a
    threshold is reached, if it completes. A failed optimization is never charged."""
    reservation = quota_reserve(account=account)
    try:
        yield reservation
    except BaseException:
        _refund_now_or_later(reservation)
        raise
    if reservation.notice_due:

        def send_notice() -> None:
            send_quota_notice.delay(monthly_usage_id=reservation.monthly_usage_id)

        # robust: a broker that cannot take the task is logged; the optimization stays a success.
        transaction.on_commit(send_notice, robust=True)


def _refund_now_or_later(reservation: QuotaReservation) -> None:
    """Refund a failed image; with the database out of reach (the very reason the work may have
    failed), a task retries the refund until it is back. A failed image is never charged."""
    try:
        quota_refund(reservation=reservation)
    except DATABASE_DOWN:
        if refund_quota.app.conf.task_always_eager:
            logger.error("database unreachable: image of usage row %s not refunded", reservation.monthly_usage_id)
            return
        logger.warning("database unreachable: refund of usage row %s queued", reservation.monthly_usage_id)
        try:
            refund_quota.apply_async(kwargs={"monthly_usage_id": reservation.monthly_usage_id}, countdown=2)
        except REDIS_DOWN:
            logger.error(
                "database and broker unreachable: image of usage row %s not refunded", reservation.monthly_usage_id
            )


def quota_give_back(*, monthly_usage_id: int) -> None:
    """One image back to a month's count (by a refund, or later by the task usage.refund_quota)."""
    # used > 0: staff may have reset the month's count since the reservation.
    MonthlyUsage.objects.filter(pk=monthly_usage_id, used__gt=0).update(used=F("used") - 1)


def usage_reset(*, account: Account) -> None:
    """Start the account's count for this month again from zero, its quota e-mails with it."""
    MonthlyUsage.objects.filter(account=account, month=month_start(timezone.now())).update(
        used=0, warning_sent_at=None, limit_reached_sent_at=None
    )


def request_record_create(
    *,
    account: Account,
    api_key: ApiKey | None,
    created_at: datetime,
    endpoint: str,
    status: int,
    duration_ms: int,
    bytes_in: int = 0,
    bytes_out: int = 0,
    output_format: str = "",
) -> RequestRecord:
    return RequestRecord.objects.create(
        account=account,
        api_key=api_key,
        created_at=created_at,
        endpoint=endpoint[: RequestRecord._meta.get_field("endpoint").max_length],
        status=status,
        duration_ms=duration_ms,
        bytes_in=bytes_in,
        bytes_out=bytes_out,
        output_format=output_format,
    )


def request_records_prune() -> int:
    """Delete the request records older than REQUEST_RECORD_RETENTION_DAYS; returns how many.
    Deletes in batches, so no statement holds the table for long."""
    cutoff = timezone.now() - timedelta(days=settings.REQUEST_RECORD_RETENTION_DAYS)
    deleted = 0
    while True:
        batch = list(
            RequestRecord.objects.filter(created_at__lt=cutoff)
            .order_by()
            .values_list("pk", flat=True)[:PRUNE_BATCH_SIZE]
        )
        if not batch:
            return deleted
        deleted += RequestRecord.objects.filter(pk__in=batch).delete()[0]


class QuotaNotice(StrEnum):
    WARNING = "warning"  # WARNING_PERCENT of the monthly limit used
    LIMIT_REACHED = "limit_reached"  # all of it

    @property
    def sent_field(self) -> str:
        return f"{self.value}_sent_at"


def _due_notice(*, used: int, limit: int | None, warning_sent: bool, limit_reached_sent: bool) -> QuotaNotice | None:
    if not limit:
        return None  # unlimited, or a limit of zero that nothing was ever counted against
    if used >= limit:
        return None if limit_reached_sent else QuotaNotice.LIMIT_REACHED
    if used * 100 >= limit * WARNING_PERCENT and not warning_sent:
        return QuotaNotice.WARNING
    return None


def quota_notice_send(*, monthly_usage_id: int) -> QuotaNotice | None:
    """E-mail the account's owner that 80 % or all of this month's images are used, if that is so
    and the e-mail was not sent yet this month; returns the notice sent, if any.

    Safe to run any number of times: each e-mail is claimed in the database before it is sent
    (released again if sending fails, for a retry). A crash between the claim and the sending
    loses that e-mail rather than risk sending it twice.
    """
    usage = MonthlyUsage.objects.select_related("account__owner", "account__plan").filter(pk=monthly_usage_id).first()
    if usage is None or usage.month != month_start(timezone.now()):
        return None  # the account is gone, or the month is over and the news with it
    limit = account_limits(account=usage.account).monthly_limit
    notice = _due_notice(
        used=usage.used,
        limit=limit,
        warning_sent=usage.warning_sent_at is not None,
        limit_reached_sent=usage.limit_reached_sent_at is not None,
    )
    if notice is None:
        return None
    now = timezone.now()
    unsent = MonthlyUsage.objects.filter(pk=usage.pk, **{f"{notice.sent_field}__isnull": True})
    if not unsent.update(**{notice.sent_field: now}):
        return None  # another run claimed it
    try:
        _send_quota_e_mail(usage=usage, limit=limit, notice=notice)
    except Exception:
        MonthlyUsage.objects.filter(pk=usage.pk, **{notice.sent_field: now}).update(**{notice.sent_field: None})
        raise
    if notice is QuotaNotice.LIMIT_REACHED:
        # Whoever reached the limit needs no warning that they are close to it any more.
        MonthlyUsage.objects.filter(pk=usage.pk, warning_sent_at__isnull=True).update(warning_sent_at=now)
    return notice


def quota_notices_catch_up() -> int:
    """Queue the quota e-mail of every account that reached 80 % or all of this month's images
    without its e-mail going out: a dispatch the broker refused, a task out of retries, a limit that
    staff lowered. (At the limit no further request can queue it.) Run hourly by beat; returns how
    many were queued. The candidates are a cheap superset: `quota_notice_send` decides exactly, and
    sends each e-mail at most once, however often it is queued."""
    candidates = (
        MonthlyUsage.objects.filter(month=month_start(timezone.now()), limit_reached_sent_at__isnull=True)
        .annotate(limit=account_limit_in_sql("monthly_limit", account="account__"))
        .filter(limit__gt=0, used__gte=F("limit") * WARNING_PERCENT / 100)
        .filter(Q(used__gte=F("limit")) | Q(warning_sent_at__isnull=True))
        .values_list("pk", flat=True)
    )
    monthly_usage_ids = list(candidates)
    for monthly_usage_id in monthly_usage_ids:
        send_quota_notice.delay(monthly_usage_id=monthly_usage_id)
    return len(monthly_usage_ids)


def _send_quota_e_mail(*, usage: MonthlyUsage, limit: int, notice: QuotaNotice) -> None:
    send_templated_email(
        to=usage.account.owner.email,
        template=f"quota_{notice.value}",
        context={
            "used": usage.used,
            "limit": limit,
            "percent": usage.used * 100 // limit,
            "plan": usage.account.plan,
            "resets_at": next_month_start(usage.month),
        },
    )
