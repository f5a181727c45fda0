from datetime import timedelta
from io import StringIO
from smtplib import SMTPException

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from accounts import tasks
from accounts.models import Account, PlanCode, User
from accounts.selectors import account_limits
from accounts.services import (
    WELCOME_CATCH_UP_DAYS,
    account_create,
    account_set_overrides,
    account_set_plan,
    account_sign_up,
    password_reset_request,
    welcome_email_send,
    welcome_emails_catch_up,
)
from accounts.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_every_user_gets_a_free_account():
    user = User.objects.create_user("plain@example.com", "pw")

    assert user.account.plan.code == PlanCode.FREE


def test_superuser_gets_an_account_too():
    user = User.objects.create_superuser("boss@example.com", "pw")

    assert Account.objects.filter(owner=user).exists()


def test_account_create_on_a_plan():
    account = account_create(email="Agency@Example.com", password="pw-long-enough", plan_code=PlanCode.AGENCY)

    assert account.owner.email == "agency@example.com"
    assert account.plan.code == PlanCode.AGENCY
    assert account.owner.check_password("pw-long-enough")


@pytest.mark.parametrize(
    ("email", "plan_code", "message"),
    [
        ("not-an-email", PlanCode.FREE, "valid email"),
        ("ok@example.com", "platinum", "Unknown plan"),
    ],
)
def test_account_create_refuses_bad_input(email, plan_code, message):
    with pytest.raises(ValidationError, match=message):
        account_create(email=email, password=None, plan_code=plan_code)
    assert not User.objects.exists()


def test_account_create_refuses_a_duplicate():
    account_create(email="dup@example.com", password=None)

    with pytest.raises(ValidationError, match="already exists"):
        account_create(email="DUP@example.com", password=None)


@pytest.mark.parametrize(
    ("plan_code", "monthly", "rate", "api"),
    [(PlanCode.FREE, 50, 10, False), (PlanCode.PRO, 10_000, 60, True), (PlanCode.AGENCY, None, 120, True)],
)
def test_plan_limits_come_from_the_seeded_plans(plan_code, monthly, rate, api):
    account = account_set_plan(account=AccountFactory(), plan_code=plan_code)

    limits = account_limits(account=account)

    assert (limits.monthly_limit, limits.rate_limit_per_minute, limits.api_access) == (monthly, rate, api)


def test_overrides_take_precedence_and_none_clears_them():
    account = AccountFactory(pro=True)

    account_set_overrides(account=account, monthly_limit=0, rate_limit=1)
    assert account_limits(account=account).monthly_limit == 0
    assert account_limits(account=account).rate_limit_per_minute == 1

    account_set_overrides(account=account, monthly_limit=None)
    account.refresh_from_db()
    assert account_limits(account=account).monthly_limit == 10_000
    assert account_limits(account=account).rate_limit_per_minute == 1


@pytest.mark.parametrize("value", [-1, 2**31, 10**20])
def test_overrides_refuse_numbers_their_columns_cannot_hold(value):
    with pytest.raises(ValidationError):
        account_set_overrides(account=AccountFactory(), rate_limit=value)


def test_a_rate_limit_of_zero_is_refused_an_images_limit_of_zero_is_not():
    """0 requests a minute refused every request with a Retry-After that never helped; 0 images a
    month refuses until the next month, and says so."""
    account = AccountFactory(pro=True)

    with pytest.raises(ValidationError) as refused:
        account_set_overrides(account=account, monthly_limit=0, rate_limit=0)

    assert refused.value.message_dict == {"rate_limit_override": ["must be from 1 to 2,147,483,647."]}
    assert [error.code for error in refused.value.error_dict["rate_limit_override"]] == ["out_of_range"]

    account.refresh_from_db()
    assert (account.monthly_limit_override, account.rate_limit_override) == (None, None)
    account_set_overrides(account=account, monthly_limit=0)
    account.refresh_from_db()
    assert account.monthly_limit_override == 0


def test_welcome_email_is_sent_once():
    account = AccountFactory(owner__email="new@example.com", owner__welcomed=False)

    assert welcome_email_send(user_id=account.owner_id) is True
    assert welcome_email_send(user_id=account.owner_id) is False  # a retried or redelivered task

    [email] = mail.outbox
    assert email.to == ["new@example.com"]
    assert email.subject == "Welcome to Smolpix"
    assert "new@example.com" in email.body
    assert "on the Free plan" in email.body
    assert "http://127.0.0.1:8000/dashboard/" in email.body
    account.refresh_from_db()
    assert account.welcome_email_sent_at is not None


def test_welcome_email_is_not_marked_sent_when_the_mail_server_fails(settings):
    account = AccountFactory(owner__welcomed=False)
    # Nothing listens on the discard port: the SMTP connection is refused.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2

    with pytest.raises((SMTPException, OSError)):
        welcome_email_send(user_id=account.owner_id)

    account.refresh_from_db()
    assert account.welcome_email_sent_at is None
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert welcome_email_send(user_id=account.owner_id) is True  # the task's retry
    assert len(mail.outbox) == 1


def test_welcome_email_for_a_user_deleted_meanwhile_is_skipped():
    user = User.objects.create_user("gone@example.com", "pw")
    user_id = user.pk
    user.delete()

    assert welcome_email_send(user_id=user_id) is False
    assert mail.outbox == []


def test_welcome_emails_that_did_not_go_out_are_caught_up_once(eager_tasks):
    # Redis was down when these signed up, so their welcome e-mail was never queued.
    missed = [AccountFactory(owner__email=f"missed{number}@example.com", owner__welcomed=False) for number in range(2)]
    AccountFactory(owner__email="welcomed@example.com", welcome_email_sent_at=timezone.now())
    with time_machine.travel(timezone.now() - timedelta(days=WELCOME_CATCH_UP_DAYS, hours=1)):
        AccountFactory(owner__email="long-ago@example.com", owner__welcomed=False)  # too late for a welcome now

    assert welcome_emails_catch_up() == 2
    assert welcome_emails_catch_up() == 0

    assert sorted(email.to[0] for email in mail.outbox) == ["missed0@example.com", "missed1@example.com"]
    for account in missed:
        account.refresh_from_db()
        assert account.welcome_email_sent_at is not None


def test_a_welcome_caught_up_late_still_leads_on_to_the_plan_chosen_at_sign_up(eager_tasks):
    checkout = reverse("billing:checkout", args=["pro"])
    AccountFactory(
        owner__email="late@example.com", owner__welcomed=False, owner__email_verified=False, sign_up_next_path=checkout
    )

    assert welcome_emails_catch_up() == 1

    [welcome] = mail.outbox
    assert "/accounts/verify/" in welcome.body
    assert f"/?next={checkout}" in welcome.body


# --- Every way of making a user goes through account_create / account_open -------------------


def test_createsuperuser_makes_a_verified_staff_user_with_its_account(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-unusual-pass")

    call_command("createsuperuser", "--noinput", "--email", "Root@Example.com", stdout=StringIO())

    user = User.objects.get(email="root@example.com")
    assert user.is_staff and user.is_superuser and user.email_verified
    assert user.account.plan.code == PlanCode.FREE


def test_a_user_added_in_the_admin_comes_with_its_account(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "added@example.com",
            "usable_password": "true",
            "password1": "a-long-pass-9",
            "password2": "a-long-pass-9",
        },
    )

    assert response.status_code == 302
    user = User.objects.get(email="added@example.com")
    assert user.account.plan.code == PlanCode.FREE
    assert user.email_verified and user.check_password("a-long-pass-9")


def test_the_admin_keeps_an_address_as_account_create_does(admin_client):
    AccountFactory(owner__email="alice@example.com")
    password = {"usable_password": "true", "password1": "a-long-pass-9", "password2": "a-long-pass-9"}
    add = reverse("admin:accounts_user_add")

    taken = admin_client.post(add, {"email": "ALICE@Example.com", **password})
    added = admin_client.post(add, {"email": " Carol@Example.com ", **password})
    carol = User.objects.get(email="carol@example.com")
    changed = admin_client.post(
        reverse("admin:accounts_user_change", args=[carol.pk]),
        {"email": "Alice@EXAMPLE.com", "is_active": "on", "date_joined_0": "2026-01-01", "date_joined_1": "00:00"},
    )

    assert taken.status_code == changed.status_code == 200  # the form again, with its error
    assert "already exists" in taken.content.decode() and "already exists" in changed.content.decode()
    assert added.status_code == 302
    assert sorted(User.objects.exclude(is_staff=True).values_list("email", flat=True)) == [
        "alice@example.com",
        "carol@example.com",
    ]


def test_account_create_queues_the_welcome_email_once_committed(django_capture_on_commit_callbacks, eager_tasks):
    with django_capture_on_commit_callbacks() as callbacks:
        account_create(email="queued@example.com", password="pw")
    assert mail.outbox == []

    for callback in callbacks:
        callback()
    assert [email.subject for email in mail.outbox] == ["Welcome to Smolpix"]


def broker_down(*args, **kwargs):
    raise OperationalError("Error 111 connecting to the broker")


# Real commits: Django runs robust on_commit hooks itself (the capturing fixture ignores robust).
committed = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@committed
@pytest.mark.parametrize("existing", [False, True], ids=["new address", "existing address"])
def test_a_sign_up_while_the_broker_is_down_still_answers_and_logs_the_lost_email(existing, monkeypatch, caplog):
    if existing:
        account_create(email="down@example.com", password="pw")

    monkeypatch.setattr(tasks.send_welcome_email, "delay", broker_down)
    monkeypatch.setattr(tasks.send_sign_up_notice, "delay", broker_down)
    account_sign_up(email="down@example.com", password="a long new password")

    assert User.objects.filter(email="down@example.com").count() == 1
    assert "Error 111 connecting to the broker" in caplog.text


@committed
@pytest.mark.parametrize("existing", [False, True], ids=["unknown address", "existing address"])
def test_a_password_reset_while_the_broker_is_down_answers_as_usual(existing, monkeypatch, caplog):
    if existing:
        account_create(email="reset@example.com", password="pw")
    monkeypatch.setattr(tasks.send_password_reset_email, "delay", broker_down)
    password_reset_request(email="reset@example.com")

    assert "Error 111 connecting to the broker" in caplog.text
