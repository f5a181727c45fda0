from datetime import UTC, date, datetime

import pytest
import time_machine

from usage.models import MonthlyUsage
from usage.services import QuotaExceeded, quota_charge, quota_refund, quota_reserve, usage_reset
from usage.tests.factories import MonthlyUsageFactory

pytestmark = pytest.mark.django_db


def used(account, month=None) -> int:
    rows = MonthlyUsage.objects.filter(account=account, **({"month": month} if month else {}))
    return sum(rows.values_list("used", flat=True))


def test_the_first_reservation_of_a_month_creates_its_count(pro_account):
    reservation = quota_reserve(account=pro_account)

    assert (reservation.used, reservation.limit) == (1, 10_000)
    assert used(pro_account) == 1


def test_reservations_count_up_to_the_limit_and_no_further(pro_account):
    pro_account.monthly_limit_override = 3
    pro_account.save()

    counts = [quota_reserve(account=pro_account).used for _ in range(3)]
    with pytest.raises(QuotaExceeded) as refused:
        quota_reserve(account=pro_account)

    assert counts == [1, 2, 3]
    assert (refused.value.used, refused.value.limit) == (3, 3)
    assert used(pro_account) == 3


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

    quota_refund(reservation=reservation)

    assert used(pro_account) == 0


def test_a_charge_is_kept_when_the_work_succeeds(pro_account):
    with quota_charge(account=pro_account) as reservation:
        pass

    assert reservation.refunded is False
    assert used(pro_account) == 1


def test_a_charge_is_refunded_when_the_work_fails(pro_account):
    with pytest.raises(RuntimeError), quota_charge(account=pro_account) as reservation:
        raise RuntimeError("the worker crashed")

    assert reservation.refunded is True
    assert used(pro_account) == 0


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
        quota_reserve(account=pro_account)
        quota_reserve(account=pro_account)
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
