"""Metering: the monthly quota (reserved before an optimization runs, refunded if it fails or its
process dies), the API request records, the quota e-mails and the pruning of old records."""

import logging
import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from time import monotonic

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Max, Q, QuerySet
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts.models import Account
from accounts.selectors import account_limit_in_sql, account_limits
from apikeys.models import ApiKey
from optimizer.jobs import RESULT_GRACE_SECONDS
from smolpix.emails import send_templated_email
from smolpix.errors import SmolpixError
from smolpix.outages import DATABASE_DOWN, REDIS_DOWN
from usage.models import InFlightImage, MonthlyUsage, RequestRecord
from usage.selectors import month_start, next_month_start
from usage.tasks import refund_quota, send_quota_notice

logger = logging.getLogger(__name__)

WARNING_PERCENT = 80
PRUNE_BATCH_SIZE = 5000
# What a request refused while the account's own requests hold its last images is told to wait:
# most optimizations end within a second or two, and those that fail give their images back. Short,
# so that clients retry (the official one waits up to 60 s, three times) rather than give up.
IN_FLIGHT_RETRY_SECONDS = 5
# How long past its expiry an image in flight is left before its image is given back: its request
# has surely ended by then (a request cannot hold an image longer than `_in_flight_seconds()`), so
# its process died. The margin covers clocks that differ a little between machines.
LAPSED_MARGIN_SECONDS = 60


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
    """One image of an account's monthly quota, taken before its optimization runs, and held in
    flight by an `InFlightImage` row. If the optimization fails, `quota_refund` gives it back, at
    most once; if it succeeds, `quota_charge` keeps it; if its process dies, the task
    usage.give_back_lapsed_images gives it back once the row has expired."""

    monthly_usage_id: int
    in_flight_image_id: int
    used: int  # the month's count, this reservation included
    limit: int | None  # None: unlimited


def _in_flight_seconds() -> int:
    """The longest a request can hold a reservation: fetching a URL's image, waiting for a worker,
    running in it, and the grace after the worker's time limit after which the web process gives up
    on it."""
    fetching = math.ceil(settings.OPTIMIZER_FETCH_TIMEOUT)
    return fetching + settings.OPTIMIZER_QUEUE_TIMEOUT + settings.CELERY_TASK_TIME_LIMIT + RESULT_GRACE_SECONDS


# Counts one image and checks the limit in one statement, so parallel requests can never take more
# than the limit between them: PostgreSQL locks the account's row for the month and re-checks the
# WHERE against the latest count (SQLite allows one writer at a time). No row comes back when the
# limit is reached.
_RESERVE_SQL = """
INSERT INTO usage_monthlyusage (account_id, month, used)
SELECT %(account)s, %(month)s, 1
    WHERE CAST(%(limit)s AS integer) IS NULL OR CAST(%(limit)s AS integer) > 0
ON CONFLICT (account_id, month) DO UPDATE SET used = usage_monthlyusage.used + 1
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
    params = {"account": account.pk, "month": connection.ops.adapt_datefield_value(month), "limit": limit}
    # The image and its row in flight are written together or not at all: a process dying between
    # them would leave an image charged that nothing gives back.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_RESERVE_SQL, params)
            row = cursor.fetchone()
        if row is not None:
            in_flight = InFlightImage.objects.create(
                monthly_usage_id=row[0], expires_at=now + timedelta(seconds=_in_flight_seconds())
            )
    if row is None:
        raise _refusal(account=account, month=month, limit=limit, now=now)
    monthly_usage_id, used = row
    return QuotaReservation(monthly_usage_id=monthly_usage_id, in_flight_image_id=in_flight.pk, used=used, limit=limit)


def _refusal(*, account: Account, month: date, limit: int, now: datetime) -> SmolpixError:
    """Why no image is left: the month's are used up, or the last ones are still in flight."""
    usage = _with_in_flight(MonthlyUsage.objects.filter(account=account, month=month), now=now).first()
    used, in_flight = (usage.used, usage.images_in_flight) if usage else (0, 0)
    if used - in_flight < limit:
        # Images held by requests still running, or one given back since the reservation was
        # refused (a separate statement): worth trying again in seconds, either way.
        settled_by = usage.settled_by if in_flight else now
        return QuotaHeldInFlight(used=used, in_flight=in_flight, limit=limit, settled_by=settled_by)
    return QuotaExceeded(used=used, limit=limit, resets_at=next_month_start(month))


def _with_in_flight(months: QuerySet[MonthlyUsage], *, now: datetime) -> QuerySet[MonthlyUsage]:
    """`months`, each with `images_in_flight`, its images held by requests still running (not those of
    requests whose process died: their rows have expired), and `settled_by`, when the last of those
    requests has surely ended."""
    running = Q(in_flight_images__expires_at__gt=now)
    return months.annotate(
        images_in_flight=Count("in_flight_images", filter=running),
        settled_by=Max("in_flight_images__expires_at", filter=running),
    )


def quota_refund(*, reservation: QuotaReservation) -> bool:
    """Give a reserved image back. Returns False, and changes nothing, if it was already given back
    (or kept)."""
    return quota_give_back(
        in_flight_image_id=reservation.in_flight_image_id, monthly_usage_id=reservation.monthly_usage_id
    )


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


def _quota_keep(reservation: QuotaReservation) -> bool:
    """Keep a reserved image for good; returns whether a quota e-mail is due."""
    started = monotonic()
    try:
        return _keep(reservation)
    except DATABASE_DOWN:
        if _waited_in_vain(since=started) or connection.in_atomic_block:
            return _left_to_lapse(reservation)
    # PostgreSQL ended the request's connection while the image was optimized (a restart, seconds
    # in a worker), and may be back by now: once more, on a new connection (outside a transaction,
    # which closing it would end: quota_charge's callers hold none).
    connection.close()
    try:
        return _keep(reservation)
    except DATABASE_DOWN:
        return _left_to_lapse(reservation)


def _waited_in_vain(*, since: float) -> bool:
    """Whether what failed took the database's whole timeout (DATABASE_TIMEOUT): a hung server, on
    which a second try would wait as long again. A connection the server ended fails at once."""
    timeout = settings.DATABASE_TIMEOUT
    return bool(timeout) and monotonic() - since >= timeout


def _left_to_lapse(reservation: QuotaReservation) -> bool:
    # If its row in flight could not be deleted, the task usage.give_back_lapsed_images gives the
    # image back once the row has expired: a success free of charge, rather than any risk of
    # charging for a failure. The hourly catch-up sends an e-mail that is due.
    logger.warning("database unreachable: image in flight %s kept, or left to lapse", reservation.in_flight_image_id)
    return False


def _keep(reservation: QuotaReservation) -> bool:
    InFlightImage.objects.filter(pk=reservation.in_flight_image_id).delete()
    if reservation.limit is None:
        return False  # no limit, no quota e-mails: the count need not be read
    months = MonthlyUsage.objects.filter(pk=reservation.monthly_usage_id)
    usage = _with_in_flight(months, now=timezone.now()).first()
    if usage is None:
        return False  # the month's row is gone with its account
    return _due_notice(usage=usage, used=_done(usage), limit=reservation.limit) is not None


def _done(usage: MonthlyUsage) -> int:
    """The month's images charged for good (`usage` comes `_with_in_flight`): those of requests
    still running may yet come back."""
    return usage.used - usage.images_in_flight


def _refund_now_or_later(reservation: QuotaReservation) -> None:
    """Refund a failed image; with the database out of reach (the very reason the work may have
    failed), a task retries the refund until it is back. Failing that too, its row in flight lapses
    and usage.give_back_lapsed_images gives the image back. A failed image is never charged."""
    try:
        quota_refund(reservation=reservation)
    except DATABASE_DOWN:
        image = reservation.in_flight_image_id
        if refund_quota.app.conf.task_always_eager:
            # No broker to queue the refund on, and no beat to give lapsed images back (make run).
            logger.error("database unreachable: image in flight %s not given back", image)
            return
        logger.warning("database unreachable: refund of image in flight %s queued", image)
        try:
            refund_quota.apply_async(
                kwargs={"in_flight_image_id": image, "monthly_usage_id": reservation.monthly_usage_id}, countdown=2
            )
        except REDIS_DOWN:
            logger.warning("database and broker unreachable: image in flight %s left to lapse", image)


@transaction.atomic
def quota_give_back(*, in_flight_image_id: int | None, monthly_usage_id: int) -> bool:
    """Give back the image of a request that failed (by its refund, or later by the task
    usage.refund_quota), if its row in flight is still there: only the call that deletes the row
    gives the image back. Returns whether this call gave it back.

    `in_flight_image_id` None: a refund queued by a release before images in flight had rows (one
    may still be serving while a deploy rolls), naming the month only; its image was charged and
    not given back, so it is given back now."""
    if in_flight_image_id is not None and not InFlightImage.objects.filter(pk=in_flight_image_id).delete()[0]:
        return False
    _give_back_images(monthly_usage_id=monthly_usage_id, images=1)
    return True


def quota_give_back_lapsed() -> int:
    """Give back the images of the requests whose process died (a web worker killed mid-request, a
    deploy's SIGKILL, or a keep that met the database down): their rows in flight expired more than
    LAPSED_MARGIN_SECONDS ago. Run every minute by beat; returns how many images were given back.

    Each row is locked, deleted and its image given back in one transaction, skipping rows that a
    late refund holds: whoever deletes a row gives its image back, so none is given back twice."""
    cutoff = timezone.now() - timedelta(seconds=LAPSED_MARGIN_SECONDS)
    given_back = 0
    while True:
        with transaction.atomic():
            lapsed = InFlightImage.objects.filter(expires_at__lt=cutoff).select_for_update(skip_locked=True)
            rows = list(lapsed.order_by().values_list("pk", "monthly_usage_id")[:PRUNE_BATCH_SIZE])
            if not rows:
                return given_back
            InFlightImage.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
            # The months in one order, so that two runs at once (a slow one and the next) never deadlock.
            for monthly_usage_id, images in sorted(Counter(monthly_usage_id for _, monthly_usage_id in rows).items()):
                _give_back_images(monthly_usage_id=monthly_usage_id, images=images)
        given_back += len(rows)


def _give_back_images(*, monthly_usage_id: int, images: int) -> None:
    # Never below zero (a count corrected by hand, or a refund queued before the rows in flight).
    MonthlyUsage.objects.filter(pk=monthly_usage_id).update(used=Greatest(F("used") - images, 0))


@transaction.atomic
def usage_reset(*, account: Account) -> None:
    """Start the account's count for this month again from zero, its quota e-mails with it. The
    images of its requests still running are no longer counted, so none of them is given back."""
    # The rows, then the count: the order in which refunds and usage.give_back_lapsed_images lock
    # them, so that none waits for the other. A refund's image is given back before the reset, or
    # not at all.
    month = month_start(timezone.now())
    InFlightImage.objects.filter(monthly_usage__account=account, monthly_usage__month=month).delete()
    MonthlyUsage.objects.filter(account=account, month=month).update(
        used=0, warning_sent_at=None, warning_sent_limit=None, limit_reached_sent_at=None, limit_reached_sent_limit=None
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

    @property
    def sent_limit_field(self) -> str:
        return f"{self.value}_sent_limit"

    # While a deploy rolls, the release before limits were recorded sends an e-mail without one
    # (taken as sent for the limit in force: not sent twice) and resets the time alone (due again).

    def sent_for(self, usage: MonthlyUsage, limit: int) -> bool:
        """Whether this e-mail was sent for `limit` this month (the same rule as `unsent`)."""
        sent_limit = getattr(usage, self.sent_limit_field)
        return getattr(usage, self.sent_field) is not None and sent_limit in (None, limit)

    def unsent(self, limit: int | F) -> Q:
        """The months whose e-mail was not sent for `limit` (the same rule as `sent_for`)."""
        other_limit = Q(**{f"{self.sent_limit_field}__isnull": False}) & ~Q(**{self.sent_limit_field: limit})
        return Q(**{f"{self.sent_field}__isnull": True}) | other_limit


def _due_notice(*, usage: MonthlyUsage, used: int, limit: int | None) -> QuotaNotice | None:
    """The e-mail due for `used` images of `limit`, unless it was sent for that limit already: one
    sent for an earlier limit this month (a plan or override changed since) does not count."""
    if not limit:
        return None  # unlimited, or a limit of zero that nothing was ever counted against
    if used >= limit:
        notice = QuotaNotice.LIMIT_REACHED
    elif used * 100 >= limit * WARNING_PERCENT:
        notice = QuotaNotice.WARNING
    else:
        return None
    return None if notice.sent_for(usage, limit) else notice


def quota_notice_send(*, monthly_usage_id: int) -> QuotaNotice | None:
    """E-mail the account's owner that 80 % or all of this month's images are used, if that is so
    and the e-mail was not sent yet for the monthly limit in force; returns the notice sent, if any.

    Safe to run any number of times: each e-mail is claimed in the database before it is sent
    (released again if sending fails, for a retry). A crash between the claim and the sending
    loses that e-mail rather than risk sending it twice.
    """
    months = MonthlyUsage.objects.select_related("account__owner", "account__plan").filter(pk=monthly_usage_id)
    usage = _with_in_flight(months, now=timezone.now()).first()
    if usage is None or usage.month != month_start(timezone.now()):
        return None  # the account is gone, or the month is over and the news with it
    limit = account_limits(account=usage.account).monthly_limit
    done = _done(usage)
    notice = _due_notice(usage=usage, used=done, limit=limit)
    if notice is None:
        return None
    now = timezone.now()
    if not _notice_claim(monthly_usage_id=usage.pk, notice=notice, limit=limit, now=now):
        return None  # another run claimed it
    try:
        _send_quota_e_mail(usage=usage, used=done, limit=limit, notice=notice)
    except Exception:
        # Back to what it was before the claim, so that the e-mail is due again.
        claimed = {notice.sent_field: now, notice.sent_limit_field: limit}
        MonthlyUsage.objects.filter(pk=usage.pk, **claimed).update(
            **{field: getattr(usage, field) for field in claimed}
        )
        raise
    if notice is QuotaNotice.LIMIT_REACHED:
        # Whoever reached the limit needs no warning that they are close to it any more.
        _notice_claim(monthly_usage_id=usage.pk, notice=QuotaNotice.WARNING, limit=limit, now=now)
    return notice


def _notice_claim(*, monthly_usage_id: int, notice: QuotaNotice, limit: int, now: datetime) -> bool:
    """Record `notice` as sent for `limit`, unless it was already: in one conditional UPDATE, so that
    of parallel runs only one claims it. Returns whether this call did."""
    unsent = MonthlyUsage.objects.filter(notice.unsent(limit), pk=monthly_usage_id)
    return bool(unsent.update(**{notice.sent_field: now, notice.sent_limit_field: limit}))


def quota_notices_catch_up() -> int:
    """Queue the quota e-mail of every account that reached 80 % or all of this month's images
    without its e-mail going out for the limit in force: a dispatch the broker refused, a task out
    of retries, a limit that staff lowered. (At the limit no further request can queue it.) Run
    hourly by beat; returns how many were queued. The candidates are a cheap superset (images in
    flight counted): `quota_notice_send` decides exactly, and sends each e-mail at most once per
    limit, however often it is queued."""
    limit_reached_unsent = QuotaNotice.LIMIT_REACHED.unsent(F("limit"))
    warning_unsent = QuotaNotice.WARNING.unsent(F("limit"))
    candidates = (
        MonthlyUsage.objects.filter(month=month_start(timezone.now()))
        .annotate(limit=account_limit_in_sql("monthly_limit", account="account__"))
        .filter(limit__gt=0, used__gte=F("limit") * WARNING_PERCENT / 100)
        .filter(Q(limit_reached_unsent, used__gte=F("limit")) | Q(warning_unsent, used__lt=F("limit")))
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
