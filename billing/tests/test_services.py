from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import PlanCode
from accounts.tests.factories import AccountFactory
from billing import services
from billing.models import BillingEmail, StripeEvent, SubscriptionStatus
from billing.selectors import subscription_current, subscription_granting
from billing.tests.factories import StripeEventFactory, SubscriptionFactory
from billing.tests.fake_stripe import PRICE_PRO

pytestmark = pytest.mark.django_db


def _days_ago(days: int):
    return timezone.now() - timedelta(days=days)


def _plan(account) -> str:
    account.refresh_from_db()
    return account.plan.code


# --- The grace period --------------------------------------------------------------------------------


def test_past_due_keeps_the_plan_until_the_grace_period_ends(settings):
    settings.BILLING_PAST_DUE_GRACE_DAYS = 7
    since = timezone.now() - timedelta(days=6)
    subscription = SubscriptionFactory(status=SubscriptionStatus.PAST_DUE, past_due_since=since)

    assert subscription.grace_ends_at == since + timedelta(days=7)
    assert subscription.grants_access(now=since + timedelta(days=7) - timedelta(seconds=1))
    assert not subscription.grants_access(now=since + timedelta(days=7))


def test_expiring_the_grace_moves_only_accounts_past_it_to_free(
    settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.BILLING_PAST_DUE_GRACE_DAYS = 7
    expired = SubscriptionFactory(agency=True, status=SubscriptionStatus.PAST_DUE, past_due_since=_days_ago(8))
    expired.account.plan = expired.plan
    expired.account.save()
    in_grace = SubscriptionFactory(status=SubscriptionStatus.PAST_DUE, past_due_since=_days_ago(2))
    active = SubscriptionFactory()

    with django_capture_on_commit_callbacks(execute=True):
        assert services.past_due_grace_expire() == 1

    assert _plan(expired.account) == PlanCode.FREE
    assert _plan(in_grace.account) == PlanCode.PRO
    assert _plan(active.account) == PlanCode.PRO
    (email,) = mailoutbox
    assert "from Agency to Free" in email.body
    assert services.past_due_grace_expire() == 0  # nothing left to do


# --- Which subscription decides --------------------------------------------------------------------------


def test_the_best_plan_among_granting_subscriptions_decides():
    pro = SubscriptionFactory()
    account = pro.account
    SubscriptionFactory(account=account, agency=True, status=SubscriptionStatus.CANCELED)
    assert subscription_granting(account=account) == pro

    agency = SubscriptionFactory(account=account, agency=True)

    assert subscription_granting(account=account) == agency
    assert services.account_plan_refresh(account=account) is True
    assert _plan(account) == PlanCode.AGENCY


def test_without_granting_subscriptions_the_billing_page_shows_the_latest_one():
    account = AccountFactory()
    SubscriptionFactory(account=account, status=SubscriptionStatus.CANCELED)
    latest = SubscriptionFactory(account=account, status=SubscriptionStatus.UNPAID)

    assert subscription_granting(account=account) is None
    assert subscription_current(account=account) == latest


def test_refreshing_an_unchanged_plan_queues_no_email():
    subscription = SubscriptionFactory()

    assert services.account_plan_refresh(account=subscription.account) is False
    assert not BillingEmail.objects.exists()


def test_accounts_without_subscriptions_are_left_alone_by_events_of_others(fake_stripe, send_event):
    # A plan staff set by hand changes only when a Stripe subscription of that account says so.
    comped = AccountFactory(agency=True)
    subscriber = AccountFactory(stripe_customer_id="cus_linked")
    held = fake_stripe.subscription_put(customer="cus_linked", price=PRICE_PRO)

    send_event(fake_stripe.event("customer.subscription.created", held))

    assert (_plan(comped), _plan(subscriber)) == (PlanCode.AGENCY, PlanCode.PRO)


# --- E-mails -------------------------------------------------------------------------------------------


def test_a_billing_email_is_sent_once_however_often_its_task_runs(mailoutbox):
    account = AccountFactory()
    email = BillingEmail.objects.create(
        account=account, kind=BillingEmail.Kind.PLAN_CHANGED, context={"previous_plan": "Free", "plan": "Pro"}
    )

    assert services.billing_email_send(email_id=email.pk) is True
    assert services.billing_email_send(email_id=email.pk) is False

    (message,) = mailoutbox
    assert message.to == [account.owner.email]
    assert message.subject == "Your Smolpix plan has changed"
    assert "from Free to Pro" in message.body
    assert "http://127.0.0.1:8000/billing/" in message.body
    email.refresh_from_db()
    assert email.sent_at is not None


def test_payment_failed_after_the_grace_says_the_account_is_on_free(mailoutbox):
    email = BillingEmail.objects.create(
        account=AccountFactory(), kind=BillingEmail.Kind.PAYMENT_FAILED, context={"plan": "Pro", "access_until": ""}
    )

    services.billing_email_send(email_id=email.pk)

    assert "on the Free plan until the payment succeeds" in mailoutbox[0].body
    assert "get Pro back" in mailoutbox[0].body


# --- Re-processing -------------------------------------------------------------------------------------


def test_reprocessing_applies_stored_events_again(fake_stripe, django_capture_on_commit_callbacks):
    account = AccountFactory(stripe_customer_id="cus_linked")
    held = fake_stripe.subscription_put(customer="cus_linked", price=PRICE_PRO)
    payload = fake_stripe.event("customer.subscription.updated", held)
    event = StripeEventFactory(
        stripe_id=payload["id"], type=payload["type"], payload=payload, processed_at=timezone.now(), error="old"
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert services.stripe_events_reprocess(events=StripeEvent.objects.filter(pk=event.pk)) == 1

    event.refresh_from_db()
    assert (event.processed_at is not None, event.error) == (True, "")
    assert _plan(account) == PlanCode.PRO


def test_the_daily_catch_up_applies_events_left_unprocessed_after_their_retries(
    fake_stripe, django_capture_on_commit_callbacks
):
    account = AccountFactory(stripe_customer_id="cus_linked")
    held = fake_stripe.subscription_put(customer="cus_linked", price=PRICE_PRO)
    payload = fake_stripe.event("customer.subscription.updated", held)
    stale = StripeEventFactory(stripe_id=payload["id"], type=payload["type"], payload=payload, error="Stripe down")
    recent, too_old = StripeEventFactory(), StripeEventFactory()
    processed = StripeEventFactory(processed_at=_days_ago(1))
    for event, hours in ((stale, 7), (recent, 1), (too_old, 24 * 4), (processed, 7)):
        StripeEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(hours=hours))

    with django_capture_on_commit_callbacks(execute=True):
        assert services.stripe_events_retry_stale() == 1

    stale.refresh_from_db()
    assert (stale.processed_at is not None, stale.error) == (True, "")
    assert _plan(account) == PlanCode.PRO
    assert StripeEvent.objects.filter(processed_at__isnull=True).count() == 2  # the recent and the too old
