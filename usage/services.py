"""Metering: the monthly quota (reserved before an optimization runs, refunded if it fails), the
API request records, the quota e-mails and the pruning of old records."""

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.utils import timezone

from accounts.models import Account
from accounts.selectors import account_limit_in_sql, account_limits
from apikeys.models import ApiKey
from optimizer.jobs import RESULT_GRACE_SECONDS
from smolpix.emails import send_templated_email
from smolpix.errors import SmolpixError
from smolpix.outages import DATABASE_DOWN, REDIS_DOWN
from usage.models import MonthlyUsage, RequestRecord
from usage.selectors import month_start, next_month_start
from usage.tasks import refund_quota, send_quota_notice

logger = logging.getLogger(__name__)

WARNING_PERCENT = 80
PRUNE_BATCH_SIZE = 5000
# What a request refused while the account's own requests hold its last images is told to wait:
# most optimizations end within a second or two, and those that fail give their images back. Short,
# so that clients retry (the official one waits up to 60 s, three times) rather than give up.
IN_FLIGHT_RETRY_SECONDS = 5


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


class QuotaHeldInFlight(SmolpixError):
    """The month's last images are taken, but not all of them for good: `in_flight` of the `used`
    are held by the account's requests still running, and those that fail give theirs back. Worth
    trying again in `retry_after` seconds; the month is not over."""

    def __init__(self, *, used: int, in_flight: int, limit: int, settled_by: datetime) -> None:
        super().__init__(f"monthly limit reached for now: {used} of {limit}, {in_flight} of them still running")
        self.used = used
        self.in_flight = in_flight
        self.limit = limit
        self.settled_by = settled_by  # when the requests holding them have surely ended

    @property
    def retry_after(self) -> int:
        left = math.ceil((self.settled_by - timezone.now()).total_seconds())
        return max(min(IN_FLIGHT_RETRY_SECONDS, left), 1)


@dataclass
class QuotaReservation:
    """One image of an account's monthly quota, taken before its optimization runs. If the
    optimization fails, `quota_refund` gives it back, at most once; if it succeeds, `quota_charge`
    keeps it."""

    monthly_usage_id: int
    used: int  # the month's count, this reservation included
    limit: int | None  # None: unlimited
    refunded: bool = False


def _in_flight_seconds() -> int:
    """The longest a request can hold a reservation: waiting for a worker, running in it, and the
    grace after the worker's time limit after which the web process gives up on it."""
    return settings.OPTIMIZER_QUEUE_TIMEOUT + settings.CELERY_TASK_TIME_LIMIT + RESULT_GRACE_SECONDS


# Counts one image and checks the limit in one statement, so parallel requests can never take more
# than the limit between them: PostgreSQL locks the account's row for the month and re-checks the
# WHERE against the latest count (SQLite allows one writer at a time). No row comes back when the
# limit is reached. The image is also counted as in flight until `until`, so that a refusal can
# tell images held by running requests from the month's end; a count whose time is past belongs
# to requests that crashed (their images stay charged) and starts again at this one.
_RESERVE_SQL = """
INSERT INTO usage_monthlyusage (account_id, month, used, in_flight, in_flight_until)
SELECT %(account)s, %(month)s, 1, 1, %(until)s
    WHERE CAST(%(limit)s AS integer) IS NULL OR CAST(%(limit)s AS integer) > 0
ON CONFLICT (account_id, month) DO UPDATE SET
    used = usage_monthlyusage.used + 1,
    in_flight = CASE WHEN usage_monthlyusage.in_flight_until > %(now)s THEN usage_monthlyusage.in_flight + 1 ELSE 1 END,
    in_flight_until = %(until)s
    WHERE CAST(%(limit)s AS integer) IS NULL OR usage_monthlyusage.used < CAST(%(limit)s AS integer)
RETURNING id, used
"""


def quota_reserve(*, account: Account) -> QuotaReservation:
    """Take one image of the account's quota for this month (UTC), or raise QuotaExceeded (the
    month's images are used up) or QuotaHeldInFlight (the last ones are held by the account's
    requests still running).

    Unlimited plans are counted too. Call it outside any transaction: inside one, the account's
    row would stay locked, and its other requests waiting, until the transaction ends.
    """
    limit = account_limits(account=account).monthly_limit
    now = timezone.now()
    month = month_start(now)
    params = {
        "account": account.pk,
        "month": connection.ops.adapt_datefield_value(month),
        "limit": limit,
        "now": connection.ops.adapt_datetimefield_value(now),
        "until": connection.ops.adapt_datetimefield_value(now + timedelta(seconds=_in_flight_seconds())),
    }
    with connection.cursor() as cursor:
        cursor.execute(_RESERVE_SQL, params)
        row = cursor.fetchone()
    if row is None:
        raise _refusal(account=account, month=month, limit=limit, now=now)
    monthly_usage_id, used = row
    return QuotaReservation(monthly_usage_id=monthly_usage_id, used=used, limit=limit)


def _refusal(*, account: Account, month: date, limit: int, now: datetime) -> SmolpixError:
    """Why no image is left: the month's are used up, or the last ones are still in flight."""
    usage = MonthlyUsage.objects.filter(account=account, month=month).first() or MonthlyUsage(used=0)
    in_flight = _live_in_flight(usage, now=now)
    if usage.used - in_flight < limit:
        # Images held by requests still running, or one given back since the reservation was
        # refused (a separate statement): worth trying again in seconds, either way.
        settled_by = usage.in_flight_until if in_flight else now
        return QuotaHeldInFlight(used=usage.used, in_flight=in_flight, limit=limit, settled_by=settled_by)
    return QuotaExceeded(used=usage.used, limit=limit, resets_at=next_month_start(month))


def _live_in_flight(usage: MonthlyUsage, *, now: datetime) -> int:
    """The month's images held by requests still running (not those of requests that crashed)."""
    return usage.in_flight if usage.in_flight_until is not None and usage.in_flight_until > now else 0


def quota_refund(*, reservation: QuotaReservation) -> bool:
    """Give a reserved image back. Returns False, and changes nothing, if it was already refunded."""
    if reservation.refunded:
        return False
    quota_give_back(monthly_usage_id=reservation.monthly_usage_id)
    reservation.refunded = True
    return True


@contextmanager
def quota_charge(*, account: Account) -> Iterator[QuotaReservation]:
    """Charge one image for the work done in the `with` block: reserved before it (QuotaExceeded or
    QuotaHeldInFlight if none is left), refunded if the block raises, and kept, with the quota
    e-mails sent when a threshold is reached, if it completes. A failed optimization is never charged."""
    reservation = quota_reserve(account=account)
    try:
        yield reservation
    except BaseException:
        _refund_now_or_later(reservation)
        raise
    if _quota_keep(reservation):

        def send_notice() -> None:
            send_quota_notice.delay(monthly_usage_id=reservation.monthly_usage_id)

        # robust: a broker that cannot take the task is logged; the optimization stays a success.
        transaction.on_commit(send_notice, robust=True)


# The image stays charged; it is just no longer in flight. Returns what the quota e-mails need.
# (The e-mail times are returned as they are: SQLite 3.40 gets `RETURNING column IS NULL` wrong.)
_KEEP_SQL = """
UPDATE usage_monthlyusage SET in_flight = CASE WHEN in_flight > 0 THEN in_flight - 1 ELSE 0 END
WHERE id = %s
RETURNING used, in_flight, in_flight_until, warning_sent_at, limit_reached_sent_at
"""


def _quota_keep(reservation: QuotaReservation) -> bool:
    """Keep a reserved image for good; returns whether a quota e-mail is due."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(_KEEP_SQL, [reservation.monthly_usage_id])
            row = cursor.fetchone()
    except DATABASE_DOWN:
        # Nothing is lost: the image is charged already, its in-flight mark lapses by itself, and
        # the hourly catch-up sends an e-mail that is due.
        logger.warning("database unreachable: image of usage row %s kept in flight", reservation.monthly_usage_id)
        return False
    if row is None:
        return False  # the month's row is gone with its account
    used, in_flight, in_flight_until, warning_sent_at, limit_reached_sent_at = row
    usage = MonthlyUsage(used=used, in_flight=in_flight, in_flight_until=_as_datetime(in_flight_until))
    notice = _due_notice(
        used=_done(usage),
        limit=reservation.limit,
        warning_sent=warning_sent_at is not None,
        limit_reached_sent=limit_reached_sent_at is not None,
    )
    return notice is not None


def _as_datetime(value: datetime | str | None) -> datetime | None:
    """`in_flight_until` as raw SQL returns it (SQLite: text), converted as the ORM would."""
    column = MonthlyUsage._meta.get_field("in_flight_until").get_col(MonthlyUsage._meta.db_table)
    for converter in connection.ops.get_db_converters(column):
        value = converter(value, column, connection)
    return value


def _done(usage: MonthlyUsage) -> int:
    """The month's images charged for good: those of requests still running may yet come back."""
    return usage.used - _live_in_flight(usage, now=timezone.now())


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
    """One image back to a month's count (by a refund, or later by the task usage.refund_quota),
    no longer in flight."""
    # used > 0: staff may have reset the month's count since the reservation. A refund late enough
    # to find the in-flight count started again may take another request's mark: that only changes
    # how a refusal is worded until it lapses, never how many images are charged.
    MonthlyUsage.objects.filter(pk=monthly_usage_id, used__gt=0).update(
        used=F("used") - 1, in_flight=Case(When(in_flight__gt=0, then=F("in_flight") - 1), default=Value(0))
    )


def usage_reset(*, account: Account) -> None:
    """Start the account's count for this month again from zero, its quota e-mails with it."""
    MonthlyUsage.objects.filter(account=account, month=month_start(timezone.now())).update(
        used=0, in_flight=0, warning_sent_at=None, limit_reached_sent_at=None
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
    return _delete_in_batches(RequestRecord.objects.filter(created_at__lt=cutoff))


def request_records_delete(*, account: Account) -> int:
    """Delete the account's request records (it is being deleted); returns how many. In batches: in
    one statement, an account with millions of them would outlast DATABASE_TIMEOUT every time."""
    return _delete_in_batches(RequestRecord.objects.filter(account=account))


def _delete_in_batches(records: QuerySet[RequestRecord]) -> int:
    deleted = 0
    while True:
        batch = list(records.order_by().values_list("pk", flat=True)[:PRUNE_BATCH_SIZE])
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
    done = _done(usage)
    notice = _due_notice(
        used=done,
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
        _send_quota_e_mail(usage=usage, used=done, limit=limit, notice=notice)
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


def _send_quota_e_mail(*, usage: MonthlyUsage, used: int, limit: int, notice: QuotaNotice) -> None:
    send_templated_email(
        to=usage.account.owner.email,
        template=f"quota_{notice.value}",
        context={
            "used": used,
            "limit": limit,
            "percent": used * 100 // limit,
            "plan": usage.account.plan,
            "resets_at": next_month_start(usage.month),
        },
    )
