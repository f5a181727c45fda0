from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import OperationalError, connection
from django.db.models import QuerySet
from django.utils import timezone

from usage import services
from usage.models import InFlightImage, MonthlyUsage
from usage.selectors import month_start
from usage.services import (
    QuotaExceeded,
    QuotaHeldInFlight,
    quota_charge,
    quota_give_back_lapsed,
    quota_refund,
    quota_reserve,
    usage_reset,
)
from usage.tests.factories import MonthlyUsageFactory

pytestmark = pytest.mark.django_db


def used(account, month=None) -> int:
    rows = MonthlyUsage.objects.filter(account=account, **({"month": month} if month else {}))
    return sum(rows.values_list("used", flat=True))


def charge(account) -> int:
    """One image optimized for `account`; the month's count with it."""
    with quota_charge(account=account) as reservation:
        pass
    return reservation.used


def test_the_first_reservation_of_a_month_creates_its_count(pro_account):
    reservation = quota_reserve(account=pro_account)

    assert (reservation.used, reservation.limit) == (1, 10_000)
    assert used(pro_account) == 1


def test_reservations_count_up_to_the_limit_and_no_further(pro_account):
    pro_account.monthly_limit_override = 3
    pro_account.save()

    counts = [charge(pro_account) for _ in range(3)]
    with pytest.raises(QuotaExceeded) as refused:
        quota_reserve(account=pro_account)

    assert counts == [1, 2, 3]
    assert (refused.value.used, refused.value.limit) == (3, 3)
    assert used(pro_account) == 3


def test_reservations_in_flight_count_against_the_limit_but_their_refusal_is_temporary(pro_account):
    pro_account.monthly_limit_override = 3
    pro_account.save()
    charge(pro_account)

    in_flight = [quota_reserve(account=pro_account) for _ in range(2)]
    with pytest.raises(QuotaHeldInFlight) as refused:
        quota_reserve(account=pro_account)

    assert [reservation.used for reservation in in_flight] == [2, 3]
    assert (refused.value.used, refused.value.in_flight, refused.value.limit) == (3, 2, 3)
    assert 1 <= refused.value.retry_after <= 5
    assert used(pro_account) == 3


def test_an_image_given_back_by_a_failure_in_flight_goes_to_the_next_request(pro_account):
    pro_account.monthly_limit_override = 1
    pro_account.save()
    failing = quota_reserve(account=pro_account)
    with pytest.raises(QuotaHeldInFlight):
        quota_reserve(account=pro_account)

    quota_refund(reservation=failing)

    assert charge(pro_account) == 1
    with pytest.raises(QuotaExceeded):
        quota_reserve(account=pro_account)


def test_an_image_given_back_between_the_refusal_and_its_reason_is_told_to_retry_at_once(pro_account, monkeypatch):
    """The refused reservation and the reading of why are two statements: a failing request in
    flight may give its image back between them. That is no month's end."""
    pro_account.monthly_limit_override = 1
    pro_account.save()
    failing = quota_reserve(account=pro_account)
    refusal = services._refusal

    def given_back_meanwhile(**kwargs):
        quota_refund(reservation=failing)
        return refusal(**kwargs)

    monkeypatch.setattr(services, "_refusal", given_back_meanwhile)
    with pytest.raises(QuotaHeldInFlight) as refused:
        quota_reserve(account=pro_account)

    assert (refused.value.used, refused.value.in_flight, refused.value.retry_after) == (0, 0, 1)
    monkeypatch.undo()
    assert charge(pro_account) == 1


def test_a_reservation_kept_is_no_longer_in_flight(pro_account):
    pro_account.monthly_limit_override = 1
    pro_account.save()

    charge(pro_account)

    assert used(pro_account) == 1
    assert not InFlightImage.objects.exists()
    with pytest.raises(QuotaExceeded):
        quota_reserve(account=pro_account)


def _died(account, settings, *, limit: int) -> datetime:
    """An image reserved for `account` (of `limit` a month) by a request whose process then died:
    never kept nor refunded. In flight for 100 s from the time returned."""
    settings.OPTIMIZER_FETCH_TIMEOUT = 0.5  # counted as a whole second
    settings.OPTIMIZER_QUEUE_TIMEOUT, settings.CELERY_TASK_TIME_LIMIT = 9, 60  # with a 30 s grace: 100 s
    account.monthly_limit_override = limit
    account.save()
    start = datetime(2031, 5, 10, 12, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        quota_reserve(account=account)
    return start


def test_a_reservation_whose_request_crashed_is_held_in_flight_until_its_time_is_up(pro_account, settings):
    start = _died(pro_account, settings, limit=1)
    with time_machine.travel(start + timedelta(seconds=98), tick=False):
        with pytest.raises(QuotaHeldInFlight) as soon:
            quota_reserve(account=pro_account)
        assert soon.value.retry_after == 2  # by then the request has surely ended
    with time_machine.travel(start + timedelta(seconds=100), tick=False), pytest.raises(QuotaExceeded) as over:
        quota_reserve(account=pro_account)

    assert (over.value.used, over.value.limit) == (1, 1)


def test_a_new_reservation_does_not_count_crashed_ones_in_flight(pro_account):
    pro_account.monthly_limit_override = 2
    pro_account.save()
    start = datetime(2031, 5, 10, 12, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        quota_reserve(account=pro_account)  # crashed
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        quota_reserve(account=pro_account)
        with pytest.raises(QuotaHeldInFlight) as refused:
            quota_reserve(account=pro_account)

    assert (refused.value.used, refused.value.in_flight) == (2, 1)


def test_a_crashed_reservation_is_not_held_in_flight_past_its_time_by_the_requests_after_it(pro_account, settings):
    """The audit's case: one count of images in flight, whose expiry every reservation pushed on,
    kept a crashed request's image "in flight" for as long as traffic went on, so the month used up
    was answered "held by your requests still running" instead of its end."""
    start = _died(pro_account, settings, limit=2)
    with time_machine.travel(start + timedelta(seconds=90), tick=False):
        charge(pro_account)
    with time_machine.travel(start + timedelta(seconds=120), tick=False), pytest.raises(QuotaExceeded) as over:
        quota_reserve(account=pro_account)

    assert (over.value.used, over.value.limit) == (2, 2)


def test_the_image_of_a_request_whose_process_died_is_given_back_a_minute_after_its_time(pro_account, settings):
    start = _died(pro_account, settings, limit=1)
    with time_machine.travel(start + timedelta(seconds=159), tick=False):
        assert quota_give_back_lapsed() == 0  # its request may still be answering, on a clock a little behind
    with time_machine.travel(start + timedelta(seconds=161), tick=False):
        assert quota_give_back_lapsed() == 1
        assert used(pro_account) == 0
        assert quota_give_back_lapsed() == 0
        assert charge(pro_account) == 1


def test_kept_and_refunded_images_are_not_given_back_again_by_the_lapsed_task(pro_account):
    charge(pro_account)
    with pytest.raises(RuntimeError), quota_charge(account=pro_account):
        raise RuntimeError("the optimization failed")

    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        assert quota_give_back_lapsed() == 0

    assert used(pro_account) == 1


def test_a_refund_after_the_lapsed_task_gave_the_image_back_gives_nothing(pro_account):
    charge(pro_account)
    late = quota_reserve(account=pro_account)
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        assert quota_give_back_lapsed() == 1

    assert quota_refund(reservation=late) is False
    assert used(pro_account) == 1


def test_a_success_whose_keeping_met_the_database_down_is_given_back_free_of_charge(pro_account, monkeypatch):
    def database_down(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    with quota_charge(account=pro_account):
        monkeypatch.setattr(QuerySet, "delete", database_down)  # the keep's DELETE
    monkeypatch.undo()
    assert used(pro_account) == 1

    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        assert quota_give_back_lapsed() == 1

    assert used(pro_account) == 0


def test_the_lapsed_task_gives_back_each_image_of_several_months_and_accounts(pro_account, agency_account, settings):
    settings.OPTIMIZER_FETCH_TIMEOUT, settings.OPTIMIZER_QUEUE_TIMEOUT, settings.CELERY_TASK_TIME_LIMIT = 10, 10, 60
    # with a 30 s grace: 110 s
    start = datetime(2031, 5, 31, 23, 59, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        for account in (pro_account, pro_account, agency_account):
            charge(account)
            quota_reserve(account=account)  # died
    with time_machine.travel(start + timedelta(seconds=120), tick=False):
        quota_reserve(account=pro_account)  # died too, in June
        charge(pro_account)
    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        assert quota_give_back_lapsed() == 4

    assert (used(pro_account, date(2031, 5, 1)), used(pro_account, date(2031, 6, 1))) == (2, 1)
    assert used(agency_account) == 1
    assert not InFlightImage.objects.exists()


def test_unlimited_plans_are_counted_too(agency_account):
    MonthlyUsageFactory(account=agency_account, used=1_000_000)

    reservation = quota_reserve(account=agency_account)

    assert (reservation.used, reservation.limit) == (1_000_001, None)


def test_a_limit_of_zero_refuses_the_first_image(pro_account):
    pro_account.monthly_limit_override = 0
    pro_account.save()

    with pytest.raises(QuotaExceeded) as refused:
        quota_reserve(account=pro_account)

    assert (refused.value.used, refused.value.limit) == (0, 0)
    assert not MonthlyUsage.objects.filter(account=pro_account).exists()


def test_a_limit_lowered_below_the_count_refuses_and_reports_the_count(pro_account):
    MonthlyUsageFactory(account=pro_account, used=40)
    pro_account.monthly_limit_override = 30
    pro_account.save()

    with pytest.raises(QuotaExceeded) as refused:
        quota_reserve(account=pro_account)

    assert (refused.value.used, refused.value.limit) == (40, 30)


def test_a_refund_gives_the_image_back_once(pro_account):
    quota_reserve(account=pro_account)
    reservation = quota_reserve(account=pro_account)

    assert quota_refund(reservation=reservation) is True
    assert quota_refund(reservation=reservation) is False
    assert used(pro_account) == 1


def test_a_refund_after_a_reset_does_not_go_below_zero(pro_account):
    reservation = quota_reserve(account=pro_account)
    usage_reset(account=pro_account)
    charge(pro_account)

    assert quota_refund(reservation=reservation) is False
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        assert quota_give_back_lapsed() == 0

    assert used(pro_account) == 1


def test_a_charge_is_kept_when_the_work_succeeds(pro_account):
    with quota_charge(account=pro_account) as reservation:
        assert InFlightImage.objects.filter(pk=reservation.in_flight_image_id).exists()

    assert used(pro_account) == 1
    assert not InFlightImage.objects.exists()


def test_a_charge_is_refunded_when_the_work_fails(pro_account):
    with pytest.raises(RuntimeError), quota_charge(account=pro_account) as reservation:
        raise RuntimeError("the worker crashed")

    assert quota_refund(reservation=reservation) is False  # given back already
    assert used(pro_account) == 0
    assert not InFlightImage.objects.exists()


def test_a_refused_charge_never_runs_the_work(pro_account):
    pro_account.monthly_limit_override = 0
    pro_account.save()
    ran = []

    with pytest.raises(QuotaExceeded), quota_charge(account=pro_account):
        ran.append(True)

    assert ran == []


def test_the_count_starts_again_at_midnight_utc_on_the_first(pro_account):
    pro_account.monthly_limit_override = 2
    pro_account.save()
    with time_machine.travel(datetime(2031, 1, 31, 23, 59, 59, tzinfo=UTC), tick=False):
        charge(pro_account)
        charge(pro_account)
        with pytest.raises(QuotaExceeded) as refused:
            quota_reserve(account=pro_account)
    with time_machine.travel(datetime(2031, 2, 1, 0, 0, 0, tzinfo=UTC), tick=False):
        february = quota_reserve(account=pro_account)

    assert refused.value.resets_at == datetime(2031, 2, 1, tzinfo=UTC)
    assert february.used == 1
    assert used(pro_account, date(2031, 1, 1)) == 2
    assert used(pro_account, date(2031, 2, 1)) == 1


def test_a_refund_goes_to_the_month_of_its_reservation(pro_account):
    with time_machine.travel(datetime(2031, 3, 31, 23, 59, 59, tzinfo=UTC), tick=False):
        reservation = quota_reserve(account=pro_account)
    with time_machine.travel(datetime(2031, 4, 1, 0, 0, 1, tzinfo=UTC), tick=False):
        quota_reserve(account=pro_account)
        quota_refund(reservation=reservation)

    assert used(pro_account, date(2031, 3, 1)) == 0
    assert used(pro_account, date(2031, 4, 1)) == 1


def test_reset_zeroes_only_this_month_and_allows_the_e_mails_again(pro_account):
    last_month = MonthlyUsageFactory(account=pro_account, month=date(2000, 1, 1), used=7)
    MonthlyUsageFactory(account=pro_account, used=9_000, warning_sent_at=datetime(2000, 1, 2, tzinfo=UTC))

    usage_reset(account=pro_account)

    this_month = MonthlyUsage.objects.exclude(pk=last_month.pk).get(account=pro_account)
    assert (this_month.used, this_month.warning_sent_at) == (0, None)
    last_month.refresh_from_db()
    assert last_month.used == 7


# The statements of the release before the rows in flight (usage/services.py), which its processes
# may still run against this schema while a deploy rolls from one machine to the next.
PREVIOUS_RESERVE_SQL = """
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
PREVIOUS_KEEP_SQL = """
UPDATE usage_monthlyusage SET in_flight = CASE WHEN in_flight > 0 THEN in_flight - 1 ELSE 0 END
WHERE id = %s
RETURNING used, in_flight, in_flight_until, warning_sent_at, limit_reached_sent_at
"""


def test_the_release_before_the_rows_in_flight_still_reserves_and_keeps_beside_this_one(pro_account):
    now = timezone.now()
    params = {
        "account": pro_account.pk,
        "month": connection.ops.adapt_datefield_value(month_start(now)),
        "limit": None,
        "now": connection.ops.adapt_datetimefield_value(now),
        "until": connection.ops.adapt_datetimefield_value(now + timedelta(seconds=100)),
    }
    ours = quota_reserve(account=pro_account)
    with connection.cursor() as cursor:
        cursor.execute(PREVIOUS_RESERVE_SQL, params)
        monthly_usage_id, used = cursor.fetchone()
        cursor.execute(PREVIOUS_KEEP_SQL, [monthly_usage_id])
        assert cursor.fetchone() is not None

    assert (monthly_usage_id, used) == (ours.monthly_usage_id, 2)
    assert quota_reserve(account=pro_account).used == 3


# What the previous release selects of every month's row (its model still had the old counter of
# images in flight), which its processes still run against this schema while a deploy rolls.
PREVIOUS_SELECT_SQL = """
SELECT id, account_id, month, used, in_flight, in_flight_until, warning_sent_at, limit_reached_sent_at
FROM usage_monthlyusage WHERE id = %s
"""


def test_the_previous_release_still_reads_the_rows_this_one_writes_while_a_deploy_rolls(pro_account):
    with quota_charge(account=pro_account) as reservation:
        pass  # the optimization succeeded: its image is kept

    with connection.cursor() as cursor:
        cursor.execute(PREVIOUS_SELECT_SQL, [reservation.monthly_usage_id])
        row = cursor.fetchone()

    assert row[3:6] == (1, 0, None)  # used; the old columns as the database fills them in
