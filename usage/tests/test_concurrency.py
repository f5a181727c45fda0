"""The monthly quota under concurrency, at the service level. It rests on PostgreSQL's row locks
(INSERT … ON CONFLICT … DO UPDATE … WHERE), so it runs there; the endpoint has its own such test.
Also here, as it needs PostgreSQL: a request's connection broken by a restart meanwhile."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import OperationalError, connection, connections
from django.db.models import QuerySet
from django.utils import timezone

from accounts.tests.factories import AccountFactory
from usage.models import InFlightImage, MonthlyUsage
from usage.services import (
    QuotaExceeded,
    QuotaHeldInFlight,
    quota_charge,
    quota_give_back_lapsed,
    quota_notice_send,
    quota_refund,
    quota_reserve,
)
from usage.tests.factories import MonthlyUsageFactory

# At most this many connections at once: the PostgreSQL server is shared.
THREADS = 25

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (DATABASE_URL): SQLite has no row locks and its in-memory test database "
        "cannot be shared by threads",
    ),
    # Threads need committed rows, hence transactional tests; they flush the tables afterwards, and
    # serialized_rollback restores the plans the migrations seeded for the tests that follow.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def in_parallel(work, count: int) -> list:
    """Run work(i) for i in range(count) on THREADS threads, started together."""
    start_together = threading.Barrier(min(count, THREADS), timeout=60)

    def run(number: int):
        try:
            if number < THREADS:
                start_together.wait()
            return work(number)
        finally:
            connections.close_all()  # each thread has its own connection

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(run, range(count)))


def reserve(account) -> str:
    try:
        quota_reserve(account=account)
        return "reserved"
    except (QuotaExceeded, QuotaHeldInFlight):  # the reservations are never kept: all still in flight
        return "refused"


def test_200_parallel_reservations_with_20_remaining_let_exactly_20_through():
    account = AccountFactory(pro=True, monthly_limit_override=1000)
    MonthlyUsageFactory(account=account, used=980)

    outcomes = in_parallel(lambda number: reserve(account), 200)

    assert outcomes.count("reserved") == 20
    assert outcomes.count("refused") == 180
    assert MonthlyUsage.objects.get(account=account).used == 1000


def test_parallel_first_reservations_of_a_month_at_a_limit_of_one_let_one_through():
    account = AccountFactory(pro=True, monthly_limit_override=1)  # no row yet: they race to create it

    outcomes = in_parallel(lambda number: reserve(account), 50)

    assert outcomes.count("reserved") == 1
    assert MonthlyUsage.objects.get(account=account).used == 1


def test_parallel_charges_count_only_the_successes():
    account = AccountFactory(agency=True)

    def charge(number: int) -> None:
        try:
            with quota_charge(account=account):
                if number % 2:
                    raise ValueError("this optimization fails")
        except ValueError:
            pass

    in_parallel(charge, 100)

    assert MonthlyUsage.objects.get(account=account).used == 50


def test_images_held_by_failing_requests_in_flight_go_to_the_requests_that_retry():
    # The auditor's case: 2 of 5 images left, 8 parallel images of which half fail. A refusal
    # because of images in flight is retried; the month's refusal is final.
    account = AccountFactory(pro=True, monthly_limit_override=5)
    MonthlyUsageFactory(account=account, used=3)

    def optimize(number: int) -> str:
        while True:
            try:
                with quota_charge(account=account):
                    time.sleep(0.05)  # optimizing
                    if number % 2:
                        raise ValueError("a truncated JPEG")
                return "done"
            except QuotaHeldInFlight:
                time.sleep(0.02)
            except QuotaExceeded:
                return "refused"
            except ValueError:
                return "failed"

    outcomes = in_parallel(optimize, 8)

    assert outcomes.count("done") == 2
    assert MonthlyUsage.objects.get(account=account).used == 5
    assert not InFlightImage.objects.exists()


def test_late_refunds_racing_the_lapsed_task_give_each_image_back_once():
    account = AccountFactory(agency=True)
    MonthlyUsageFactory(account=account, used=10)  # kept: never given back
    reservations = [quota_reserve(account=account) for _ in range(40)]
    InFlightImage.objects.update(expires_at=timezone.now() - timedelta(hours=1))  # their processes "died"

    def give_back(number: int) -> int:
        if number % 2:
            return quota_give_back_lapsed()
        return int(quota_refund(reservation=reservations[number // 2]))

    given_back = in_parallel(give_back, 80)  # each late refund racing a run of the task

    assert sum(given_back) == 40
    assert MonthlyUsage.objects.get(account=account).used == 10
    assert not InFlightImage.objects.exists()


def test_a_quota_e_mail_sent_from_many_places_at_once_goes_out_once(settings):
    account = AccountFactory(pro=True, monthly_limit_override=10)
    usage = MonthlyUsageFactory(account=account, used=8)

    in_parallel(lambda number: quota_notice_send(monthly_usage_id=usage.pk), 20)

    assert len(mail.outbox) == 1


def test_a_quota_e_mail_due_again_for_a_raised_limit_goes_out_once_from_many_places_at_once(settings):
    account = AccountFactory(pro=True, monthly_limit_override=10)
    sent_for_the_old_limit = {"warning_sent_at": timezone.now(), "warning_sent_limit": 5}
    usage = MonthlyUsageFactory(account=account, used=8, **sent_for_the_old_limit)

    in_parallel(lambda number: quota_notice_send(monthly_usage_id=usage.pk), 20)

    assert len(mail.outbox) == 1
    assert MonthlyUsage.objects.get().warning_sent_limit == 10


def test_a_success_whose_connection_a_restart_broke_meanwhile_is_charged():
    """The audit's case: PostgreSQL restarted while the image was optimized, and was back before
    it was done. Keeping it met the request's broken connection and gave up; the lapsed task then
    gave the image back: a success free of charge."""
    account = AccountFactory(pro=True)

    with quota_charge(account=account):
        _terminate(connection.connection.info.backend_pid)  # what a restart does to every connection

    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        assert quota_give_back_lapsed() == 0
    assert MonthlyUsage.objects.get(account=account).used == 1


def test_a_success_whose_connection_a_restart_broke_is_left_to_lapse_if_the_database_stays_down(monkeypatch):
    account = AccountFactory(pro=True)

    def still_down(*args, **kwargs):
        raise OperationalError("connection refused")

    with quota_charge(account=account):
        _terminate(connection.connection.info.backend_pid)
        monkeypatch.setattr(connection, "connect", still_down)  # the second try's new connection
    monkeypatch.undo()

    assert MonthlyUsage.objects.get(account=account).used == 1  # until its row in flight lapses
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        assert quota_give_back_lapsed() == 1
    assert MonthlyUsage.objects.get(account=account).used == 0


def test_a_keep_that_waited_on_a_hung_database_is_not_tried_again(settings, monkeypatch):
    """A hung PostgreSQL costs the answer DATABASE_TIMEOUT once: a second try would wait as long again."""
    settings.DATABASE_TIMEOUT = 0.2
    account = AccountFactory(pro=True)
    tries = []

    def hung(*args, **kwargs):
        tries.append(args)
        time.sleep(settings.DATABASE_TIMEOUT)
        raise OperationalError("wait timeout expired")

    with quota_charge(account=account):
        monkeypatch.setattr(QuerySet, "delete", hung)  # the keep's DELETE
    monkeypatch.undo()

    assert len(tries) == 1


def _terminate(backend_pid: int) -> None:
    """End a PostgreSQL backend from another connection (this thread's is the one ended)."""

    def terminate() -> None:
        try:
            with connection.cursor() as cursor:  # the thread's own connection
                cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
        finally:
            connections.close_all()

    thread = threading.Thread(target=terminate)
    thread.start()
    thread.join()
