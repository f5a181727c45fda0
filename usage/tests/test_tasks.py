"""The quota e-mails and the pruning of request records, with tasks run in this process."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Plan, PlanCode
from accounts.tests.factories import AccountFactory
from usage.models import InFlightImage, MonthlyUsage, RequestRecord
from usage.services import QuotaExceeded, QuotaNotice, quota_charge, quota_notice_send, quota_refund, quota_reserve
from usage.tasks import (
    catch_up_quota_notices,
    give_back_lapsed_images,
    prune_request_records,
    refund_quota,
    send_quota_notice,
)
from usage.tests.factories import MonthlyUsageFactory, RequestRecordFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]


@pytest.fixture
def ten_images(pro_account):
    pro_account.monthly_limit_override = 10
    pro_account.save()
    return pro_account


def charge(account, *, times: int, capture) -> None:
    for _ in range(times):
        with capture(execute=True), quota_charge(account=account):
            pass


def test_the_80_percent_e_mail_goes_out_once_when_the_eighth_of_ten_images_is_charged(
    ten_images, django_capture_on_commit_callbacks
):
    charge(ten_images, times=7, capture=django_capture_on_commit_callbacks)
    assert mail.outbox == []

    charge(ten_images, times=2, capture=django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [ten_images.owner.email]
    assert message.subject == "You have used 80 % of your Smolpix images this month"
    assert "used 8 of its 10 images this month (80 %)" in message.body
    assert "http://127.0.0.1:8000/dashboard/" in message.body


def test_the_100_percent_e_mail_goes_out_once_at_the_limit(ten_images, django_capture_on_commit_callbacks):
    charge(ten_images, times=10, capture=django_capture_on_commit_callbacks)

    assert [message.subject for message in mail.outbox] == [
        "You have used 80 % of your Smolpix images this month",
        "You have used all of your Smolpix images this month",
    ]
    assert "used all 10 of its images this month" in mail.outbox[1].body
    usage = MonthlyUsage.objects.get(account=ten_images)
    assert usage.warning_sent_at is not None
    assert usage.limit_reached_sent_at is not None


def test_a_failed_optimization_sends_no_e_mail(ten_images, django_capture_on_commit_callbacks):
    MonthlyUsageFactory(account=ten_images, used=7)

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        quota_charge(account=ten_images),
    ):
        raise RuntimeError("the optimization failed")

    assert mail.outbox == []
    assert MonthlyUsage.objects.get(account=ten_images).used == 7


def test_the_limit_e_mail_waits_for_the_images_in_flight_and_is_not_sent_if_one_fails(
    ten_images, django_capture_on_commit_callbacks
):
    MonthlyUsageFactory(account=ten_images, used=8, warning_sent_at=timezone.now(), warning_sent_limit=10)

    with pytest.raises(RuntimeError), quota_charge(account=ten_images):  # the 9th, in flight, then failing
        charge(ten_images, times=1, capture=django_capture_on_commit_callbacks)  # the 10th, a success
        assert mail.outbox == []
        raise RuntimeError("the optimization failed")

    assert mail.outbox == []
    assert MonthlyUsage.objects.get(account=ten_images).used == 9


def test_the_limit_e_mail_goes_out_when_the_last_image_in_flight_succeeds(
    ten_images, django_capture_on_commit_callbacks
):
    MonthlyUsageFactory(account=ten_images, used=8, warning_sent_at=timezone.now(), warning_sent_limit=10)

    with django_capture_on_commit_callbacks(execute=True), quota_charge(account=ten_images):  # the 9th
        charge(ten_images, times=1, capture=django_capture_on_commit_callbacks)  # the 10th, done first
        assert mail.outbox == []

    assert [message.subject for message in mail.outbox] == ["You have used all of your Smolpix images this month"]
    assert "used all 10 of its images this month" in mail.outbox[0].body


def test_a_refund_by_the_task_gives_the_image_back_once_and_ends_its_flight(ten_images):
    reservation = quota_reserve(account=ten_images)
    ids = {"in_flight_image_id": reservation.in_flight_image_id, "monthly_usage_id": reservation.monthly_usage_id}

    assert refund_quota.delay(**ids).get() is True
    assert refund_quota.delay(**ids).get() is False  # a message delivered twice
    assert quota_refund(reservation=reservation) is False

    assert MonthlyUsage.objects.get().used == 0
    assert not InFlightImage.objects.exists()


def test_a_refund_queued_before_images_in_flight_had_rows_still_gives_the_image_back(ten_images):
    usage = MonthlyUsageFactory(account=ten_images, used=3)

    refund_quota.delay(monthly_usage_id=usage.pk).get()  # such a message names the month only

    assert MonthlyUsage.objects.get().used == 2


def test_the_task_gives_back_the_images_of_requests_whose_process_died(ten_images, django_capture_on_commit_callbacks):
    charge(ten_images, times=1, capture=django_capture_on_commit_callbacks)
    quota_reserve(account=ten_images)  # died

    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        assert give_back_lapsed_images.delay().get() == 1

    assert MonthlyUsage.objects.get().used == 1


def test_falling_back_below_a_threshold_and_crossing_it_again_sends_nothing_new(
    ten_images, django_capture_on_commit_callbacks
):
    MonthlyUsageFactory(account=ten_images, used=7)
    charge(ten_images, times=1, capture=django_capture_on_commit_callbacks)
    quota_refund(reservation=quota_reserve(account=ten_images))  # a reservation at 9 that failed
    MonthlyUsage.objects.update(used=7)  # staff corrected the count by hand

    charge(ten_images, times=1, capture=django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 1


WARNING_SUBJECT = "You have used 80 % of your Smolpix images this month"
LIMIT_REACHED_SUBJECT = "You have used all of your Smolpix images this month"


def test_a_limit_raised_with_setquota_after_its_e_mails_sends_them_again_for_the_new_limit(
    pro_account, django_capture_on_commit_callbacks
):
    call_command("setquota", pro_account.owner.email, "--monthly-limit", "1")
    pro_account.refresh_from_db()  # as each request reads it
    charge(pro_account, times=1, capture=django_capture_on_commit_callbacks)
    assert [message.subject for message in mail.outbox] == [LIMIT_REACHED_SUBJECT]

    call_command("setquota", pro_account.owner.email, "--monthly-limit", "40")
    pro_account.refresh_from_db()
    MonthlyUsage.objects.update(used=28)
    charge(pro_account, times=3, capture=django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1  # 31 of 40
    charge(pro_account, times=1, capture=django_capture_on_commit_callbacks)
    assert mail.outbox[-1].subject == WARNING_SUBJECT
    assert "used 32 of its 40 images this month (80 %)" in mail.outbox[-1].body
    charge(pro_account, times=8, capture=django_capture_on_commit_callbacks)

    assert [message.subject for message in mail.outbox] == [
        LIMIT_REACHED_SUBJECT,
        WARNING_SUBJECT,
        LIMIT_REACHED_SUBJECT,
    ]
    assert "used all 40 of its images this month" in mail.outbox[-1].body
    usage = MonthlyUsage.objects.get()
    assert (usage.warning_sent_limit, usage.limit_reached_sent_limit) == (40, 40)


def test_an_upgrade_after_the_free_plans_e_mails_brings_those_of_the_new_plan(
    free_account, django_capture_on_commit_callbacks
):
    charge(free_account, times=50, capture=django_capture_on_commit_callbacks)
    assert [message.subject for message in mail.outbox] == [WARNING_SUBJECT, LIMIT_REACHED_SUBJECT]

    free_account.plan = Plan.objects.get(code=PlanCode.PRO)  # what the Stripe webhook does
    free_account.save()
    MonthlyUsage.objects.update(used=7_999)
    charge(free_account, times=1, capture=django_capture_on_commit_callbacks)
    MonthlyUsage.objects.update(used=9_999)
    charge(free_account, times=1, capture=django_capture_on_commit_callbacks)

    assert [message.subject for message in mail.outbox] == [WARNING_SUBJECT, LIMIT_REACHED_SUBJECT] * 2
    assert "used all 10,000 of its images this month" in mail.outbox[-1].body


def test_a_limit_lowered_below_the_count_sends_one_limit_e_mail_by_the_catch_up(
    pro_account, django_capture_on_commit_callbacks
):
    MonthlyUsage.objects.create(account=pro_account, month=MonthlyUsageFactory.month.function(), used=7_999)
    charge(pro_account, times=1, capture=django_capture_on_commit_callbacks)
    MonthlyUsage.objects.update(used=60)
    pro_account.monthly_limit_override = 50  # by staff, in the admin
    pro_account.save()

    with pytest.raises(QuotaExceeded):  # a refused request queues no e-mail
        charge(pro_account, times=1, capture=django_capture_on_commit_callbacks)
    assert catch_up_quota_notices.delay().get() == 1
    assert catch_up_quota_notices.delay().get() == 0

    assert [message.subject for message in mail.outbox] == [WARNING_SUBJECT, LIMIT_REACHED_SUBJECT]
    assert "used all 50 of its images this month" in mail.outbox[-1].body


def test_a_limit_changed_back_and_forth_sends_each_e_mail_once_per_change(ten_images):
    usage = MonthlyUsageFactory(account=ten_images, used=9)

    assert quota_notice_send(monthly_usage_id=usage.pk) is QuotaNotice.WARNING
    ten_images.monthly_limit_override = 9
    ten_images.save()
    assert quota_notice_send(monthly_usage_id=usage.pk) is QuotaNotice.LIMIT_REACHED
    assert quota_notice_send(monthly_usage_id=usage.pk) is None
    ten_images.monthly_limit_override = 10
    ten_images.save()
    assert quota_notice_send(monthly_usage_id=usage.pk) is QuotaNotice.WARNING
    assert quota_notice_send(monthly_usage_id=usage.pk) is None

    assert len(mail.outbox) == 3


def test_a_broker_that_cannot_take_the_e_mail_task_does_not_fail_the_charge(
    ten_images, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    MonthlyUsageFactory(account=ten_images, used=7)

    def broker_down(**kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(send_quota_notice, "delay", broker_down)
    charge(ten_images, times=1, capture=django_capture_on_commit_callbacks)

    assert MonthlyUsage.objects.get(account=ten_images).used == 8
    assert "broker unreachable" in caplog.text


def test_reaching_the_limit_without_the_warning_sends_only_the_limit_e_mail(pro_account):
    pro_account.monthly_limit_override = 1
    pro_account.save()
    usage = MonthlyUsageFactory(account=pro_account, used=1)

    assert send_quota_notice.delay(monthly_usage_id=usage.pk).get() == "limit_reached"
    assert send_quota_notice.delay(monthly_usage_id=usage.pk).get() is None

    assert [message.subject for message in mail.outbox] == ["You have used all of your Smolpix images this month"]


def test_while_a_deploy_rolls_an_e_mail_the_previous_release_sent_is_not_sent_again(ten_images):
    """The release before limits were recorded sends the 80 % e-mail with a time and no limit."""
    usage = MonthlyUsageFactory(account=ten_images, used=8, warning_sent_at=timezone.now())

    assert catch_up_quota_notices.delay().get() == 0
    assert quota_notice_send(monthly_usage_id=usage.pk) is None
    assert mail.outbox == []


def test_while_a_deploy_rolls_a_reset_by_the_previous_release_makes_the_e_mail_due_again(ten_images):
    """The release before limits were recorded resets a month's e-mails by their times alone."""
    MonthlyUsageFactory(account=ten_images, used=8, warning_sent_limit=10)

    assert catch_up_quota_notices.delay().get() == 1
    assert [message.subject for message in mail.outbox] == ["You have used 80 % of your Smolpix images this month"]
    assert MonthlyUsage.objects.get().warning_sent_limit == 10


def test_unlimited_plans_get_no_quota_e_mails(agency_account, django_capture_on_commit_callbacks):
    MonthlyUsageFactory(account=agency_account, used=1_000_000)

    charge(agency_account, times=1, capture=django_capture_on_commit_callbacks)

    assert quota_notice_send(monthly_usage_id=MonthlyUsage.objects.get().pk) is None
    assert mail.outbox == []


def test_last_months_news_is_not_sent(pro_account):
    usage = MonthlyUsageFactory(account=pro_account, month=date(2000, 1, 1), used=10_000)

    assert quota_notice_send(monthly_usage_id=usage.pk) is None
    assert mail.outbox == []


def test_an_e_mail_that_could_not_be_sent_is_sent_by_the_retry(ten_images, monkeypatch):
    usage = MonthlyUsageFactory(account=ten_images, used=8)
    monkeypatch.setattr("smolpix.emails.send_mail", lambda *args, **kwargs: (_ for _ in ()).throw(OSError("down")))

    with pytest.raises(OSError):
        quota_notice_send(monthly_usage_id=usage.pk)
    assert MonthlyUsage.objects.get().warning_sent_at is None
    assert MonthlyUsage.objects.get().warning_sent_limit is None

    monkeypatch.undo()
    assert quota_notice_send(monthly_usage_id=usage.pk) is QuotaNotice.WARNING
    assert len(mail.outbox) == 1


def test_a_notice_for_a_vanished_month_is_a_no_op():
    assert quota_notice_send(monthly_usage_id=123_456) is None


@time_machine.travel(datetime(2031, 6, 15, 3, 17, tzinfo=UTC), tick=False)
def test_pruning_deletes_the_records_past_the_retention_period(settings, pro_account, monkeypatch):
    settings.REQUEST_RECORD_RETENTION_DAYS = 90
    monkeypatch.setattr("usage.services.PRUNE_BATCH_SIZE", 2)  # several batches
    cutoff = timezone.now() - timedelta(days=90)
    old = RequestRecordFactory.create_batch(5, account=pro_account, created_at=cutoff - timedelta(seconds=1))
    kept = RequestRecordFactory.create_batch(2, account=pro_account, created_at=cutoff)

    assert prune_request_records.delay().get() == len(old)

    assert set(RequestRecord.objects.values_list("pk", flat=True)) == {record.pk for record in kept}


def test_the_hourly_catch_up_sends_the_e_mails_a_lost_dispatch_left_unsent(ten_images, agency_account):
    # Reached by requests whose e-mail task never ran (the broker refused it, or it ran out of retries).
    at_limit = MonthlyUsageFactory(account=ten_images, used=10)
    near_limit = MonthlyUsageFactory(account=AccountFactory(pro=True, monthly_limit_override=10), used=8)
    MonthlyUsageFactory(account=AccountFactory(pro=True, monthly_limit_override=10), used=7)  # not yet
    MonthlyUsageFactory(account=agency_account, used=1_000_000)  # unlimited
    MonthlyUsageFactory(account=ten_images, month=date(2000, 1, 1), used=10)  # a month gone by

    assert catch_up_quota_notices.delay().get() == 2

    assert sorted((message.to[0], message.subject) for message in mail.outbox) == sorted(
        [
            (at_limit.account.owner.email, "You have used all of your Smolpix images this month"),
            (near_limit.account.owner.email, "You have used 80 % of your Smolpix images this month"),
        ]
    )
    assert catch_up_quota_notices.delay().get() == 0  # nothing is sent twice
    assert len(mail.outbox) == 2


def test_the_catch_up_sends_the_limit_e_mail_after_the_warning(ten_images, django_capture_on_commit_callbacks):
    charge(ten_images, times=8, capture=django_capture_on_commit_callbacks)  # the warning goes out
    MonthlyUsage.objects.update(used=10)  # the 100 % e-mail's dispatch was lost

    assert catch_up_quota_notices.delay().get() == 1

    assert [message.subject for message in mail.outbox][-1] == "You have used all of your Smolpix images this month"
    assert catch_up_quota_notices.delay().get() == 0


def test_the_limit_e_mail_of_a_one_image_allowance_says_image(pro_account, django_capture_on_commit_callbacks):
    pro_account.monthly_limit_override = 1
    pro_account.save()

    charge(pro_account, times=1, capture=django_capture_on_commit_callbacks)

    assert [message.subject for message in mail.outbox] == ["You have used all of your Smolpix images this month"]
    assert "has used its 1 image this month." in mail.outbox[0].body
