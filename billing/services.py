"""Billing's business rules: selling plans through Stripe Checkout and the customer portal, and keeping
every account's plan true to its Stripe subscriptions as their webhook events arrive."""

import logging
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import dateformat, timezone

from accounts.models import Account, Plan, PlanCode
from accounts.services import account_set_plan
from billing import stripe_client, tasks
from billing.models import ACCESS_STATUSES, BillingEmail, StripeEvent, Subscription, SubscriptionStatus
from billing.selectors import (
    ENDED_STATUSES,
    plan_price_id,
    price_plan_code,
    subscription_granting,
    subscription_live,
)
from smolpix.emails import send_templated_email

logger = logging.getLogger(__name__)

# Event types that can change a subscription. Every other type is stored and acknowledged, nothing more.
SUBSCRIPTION_EVENT_TYPES = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
    }
)
# A task's own retries last about three and a half hours (billing.tasks); an event still unprocessed
# after this long is tried again by the daily catch-up, as long as Stripe would still resend it.
STALE_EVENT_AFTER = timedelta(hours=6)
STALE_EVENT_GIVE_UP_AFTER = timedelta(days=3)
STRIPE_DOWN_MESSAGE = "We could not reach our payment provider. Please try again in a minute."
ACCOUNT_DELETED_MESSAGE = "This account has been deleted."


class BillingError(Exception):
    """A billing action that cannot go ahead; the message is written for the customer."""


# --- Selling: Checkout and the customer portal ---------------------------------------------------


def checkout_session_create(*, account: Account, plan_code: str, success_url: str, cancel_url: str) -> str:
    """Start Stripe Checkout for `plan_code` with the account's Stripe customer; returns its URL.

    The plan does not change here: only the webhook, once Stripe confirms the subscription, changes it.
    An earlier Checkout still open is expired first, and a customer with a subscription Stripe may still
    bill (ours, or one whose webhook event has not applied yet) gets none, so nobody pays for two.
    """
    price_id = plan_price_id(plan_code=plan_code)
    if not price_id:
        raise BillingError("Choose the Pro or the Agency plan.")
    subscription = subscription_live(account=account)
    if subscription is not None:
        # A second Checkout would start a second subscription, billed alongside this one even when it
        # grants nothing now (a past-due card Stripe retries); it is changed or settled in the portal.
        if subscription.grants_access(now=timezone.now()):
            raise BillingError(
                f"You already subscribe to {subscription.plan.name}: change or cancel it with “Manage subscription”."
            )
        raise BillingError(
            f"Your subscription is {subscription.get_status_display().lower()} and Stripe may still bill it: "
            "pay, resume or cancel it with “Manage subscription” before choosing a plan."
        )
    try:
        # In a transaction of its own, committed before the Checkout's: a customer Stripe made is kept
        # even when the Checkout call fails, and the next attempt uses it rather than make another.
        customer_id, created = stripe_customer_ensure(account=account)
        start = partial(
            _checkout_session_start, account=account, price_id=price_id, success_url=success_url, cancel_url=cancel_url
        )
        try:
            return start(customer_id=customer_id, created=created)
        except stripe_client.CustomerMissing:
            # Deleted in the Dashboard, or a wrong id set in the admin: it would fail forever.
            logger.warning(
                "Stripe has no customer %s of account %s: creating a new one in its place.", customer_id, account.pk
            )
            customer_id, created = stripe_customer_ensure(account=account, replacing=customer_id)
            return start(customer_id=customer_id, created=created)
    except stripe_client.StripeUnavailable as error:
        raise BillingError(STRIPE_DOWN_MESSAGE) from error


def _checkout_session_start(
    *, account: Account, customer_id: str, created: bool, price_id: str, success_url: str, cancel_url: str
) -> str:
    # Under the account's lock, as account_billing_end: a deletion under way waits for this
    # Checkout and then expires it, or this one finds the account gone (else it could be paid for
    # a customer deleted meanwhile, and billed with nobody's account).
    with transaction.atomic():
        if Account.objects.select_for_update(of=("self",)).filter(pk=account.pk).first() is None:
            raise BillingError(ACCOUNT_DELETED_MESSAGE)
        stripe_client.checkout_sessions_expire_open(customer_id=customer_id)
        # Our rows come from webhook events: one paid moments ago (its event not applied yet, or
        # failing) is known to Stripe alone. Asked after the expiry, so no Session can still start
        # one; a customer created just now has none, so it is not asked.
        if not created and stripe_client.subscriptions_billable(customer_id=customer_id):
            raise BillingError(
                "Stripe has a subscription of yours we are still setting up: if you paid moments ago, "
                "your plan changes in a minute. Change or cancel it with “Manage subscription”."
            )
        return stripe_client.checkout_session_create(
            customer_id=customer_id,
            price_id=price_id,
            account_id=account.pk,
            success_url=success_url,
            cancel_url=cancel_url,
        )


def stripe_customer_ensure(*, account: Account, replacing: str = "") -> tuple[str, bool]:
    """The account's Stripe customer id, and whether it was created now: the first time, with the
    account id in its metadata, or in place of `replacing`, a customer Stripe no longer has. The
    account row stays locked meanwhile, so two browser tabs cannot create two customers, and a deletion
    under way either comes first (then this raises BillingError) or finds the customer saved. Commits
    at once when called outside a transaction, as Checkout does."""
    with transaction.atomic():
        locked = Account.objects.select_for_update(of=("self",)).select_related("owner").filter(pk=account.pk).first()
        if locked is None:
            raise BillingError(ACCOUNT_DELETED_MESSAGE)
        created = locked.stripe_customer_id in ("", replacing)
        if created:
            locked.stripe_customer_id = stripe_client.customer_create(email=locked.owner.email, account_id=locked.pk)
            locked.save(update_fields=["stripe_customer_id"])
    account.stripe_customer_id = locked.stripe_customer_id
    return account.stripe_customer_id, created


def portal_session_create(*, account: Account, return_url: str) -> str:
    """Open the Stripe customer portal for the account (change plan, update card, cancel); returns its URL."""
    if not account.stripe_customer_id:
        raise BillingError("You have no subscription to manage yet: choose a plan on the pricing page.")
    try:
        return stripe_client.portal_session_create(customer_id=account.stripe_customer_id, return_url=return_url)
    except stripe_client.CustomerMissing as error:
        # Stripe cancels a deleted customer's subscriptions: nothing is left there to manage.
        logger.warning("Stripe has no customer %s of account %s: no portal.", account.stripe_customer_id, account.pk)
        raise BillingError(
            "Our payment provider has no subscription of yours to manage: choose a plan on the pricing page. "
            "If you think you are still being billed, write to us."
        ) from error
    except stripe_client.StripeUnavailable as error:
        raise BillingError(STRIPE_DOWN_MESSAGE) from error


def account_billing_end(*, account: Account) -> int:
    """Stop everything Stripe could still charge the account for, before it is deleted: expire its
    Checkout Sessions still open (one paid later would start a subscription no account is linked to)
    and cancel at once every subscription Stripe may still bill (see stripe_client.subscription_cancel;
    one already gone counts as cancelled): ours, and the customer's that Stripe lists, one paid moments
    ago whose webhook event has not come yet included. Returns how many subscriptions were cancelled.
    Call it with the account locked, so that no webhook event applies meanwhile. Raises BillingError
    when Stripe could not be reached or refused: then nothing may be deleted (some of it may be cancelled)."""
    live = set(
        account.subscriptions.exclude(status__in=ENDED_STATUSES).values_list("stripe_subscription_id", flat=True)
    )
    try:
        if account.stripe_customer_id:
            _customer_billing_end(account=account, live=live)
        for subscription_id in sorted(live):
            stripe_client.subscription_cancel(subscription_id=subscription_id)
    except stripe_client.StripeUnavailable as error:
        raise BillingError(STRIPE_DOWN_MESSAGE) from error
    return len(live)


def _customer_billing_end(*, account: Account, live: set[str]) -> None:
    """Expire the customer's open Checkouts and add what Stripe may still bill it for to `live`. A
    customer Stripe no longer has (deleted in the Dashboard, which cancels its subscriptions, or a
    wrong id set in the admin) has none of either: its deletion went on failing as if Stripe were down."""
    try:
        stripe_client.checkout_sessions_expire_open(customer_id=account.stripe_customer_id)
        live.update(stripe_client.subscriptions_billable(customer_id=account.stripe_customer_id))
    except stripe_client.CustomerMissing:
        logger.warning(
            "Stripe has no customer %s of account %s: nothing of it to end.", account.stripe_customer_id, account.pk
        )


# --- Webhook events ------------------------------------------------------------------------------


def stripe_event_receive(*, payload: dict[str, Any]) -> StripeEvent:
    """Store a verified event once by its id and hand it to a worker, unless it was processed already.

    A copy of an event that is stored but not processed yet (its worker failed, or is still busy) is
    handed over again; processing locks the event, so it still applies once.
    """
    event, _ = StripeEvent.objects.get_or_create(
        stripe_id=payload["id"],
        defaults={
            "type": payload["type"],
            "created": datetime.fromtimestamp(payload["created"], tz=UTC),
            "payload": payload,
        },
    )
    if event.processed_at is None:
        transaction.on_commit(partial(tasks.process_stripe_event.delay, event.pk))
    return event


def stripe_event_process(*, event_id: int) -> bool:
    """Apply a stored event in one transaction, at most once; returns whether it was applied now.

    The event row stays locked while it applies, so concurrent copies wait, then find it processed.
    A failure rolls the whole event back, is recorded on it and raised again (the task retries).
    """
    try:
        with transaction.atomic():
            event = StripeEvent.objects.select_for_update().get(pk=event_id)
            if event.processed_at is not None:
                return False
            applies = event.type in SUBSCRIPTION_EVENT_TYPES
            event.ignored = _subscription_event_apply(event) if applies else "Not a type Smolpix acts on."
            event.processed_at = timezone.now()
            event.error = ""
            event.save(update_fields=["processed_at", "error", "ignored"])
            return True
    except Exception as error:
        StripeEvent.objects.filter(pk=event_id).update(error=f"{type(error).__name__}: {error}")
        raise


@transaction.atomic
def stripe_events_reprocess(*, events: QuerySet[StripeEvent]) -> int:
    """Apply stored events again (the admin's action), e.g. once what made them fail is fixed. Applying
    an event asks Stripe for the subscription's state now, so doing it twice is harmless."""
    event_ids = list(events.values_list("pk", flat=True))
    StripeEvent.objects.filter(pk__in=event_ids).update(processed_at=None)
    for event_id in event_ids:
        # robust: a failure is recorded on the event and logged; without a worker (make run) the
        # event is applied in the admin's request, which answered 500, as it did with the broker down.
        # A lambda, not a partial: Django names a robust callback that failed by its __qualname__.
        transaction.on_commit(lambda event_id=event_id: tasks.process_stripe_event.delay(event_id), robust=True)
    return len(event_ids)


def stripe_events_retry_stale() -> int:
    """Hand over again the events still unprocessed STALE_EVENT_AFTER after they arrived (their task
    ran out of retries, or was lost), while Stripe would still resend them itself
    (STALE_EVENT_GIVE_UP_AFTER); older ones wait for staff. Run daily by beat; returns how many."""
    now = timezone.now()
    stale = StripeEvent.objects.filter(
        processed_at__isnull=True,
        received_at__lt=now - STALE_EVENT_AFTER,
        received_at__gte=now - STALE_EVENT_GIVE_UP_AFTER,
    )
    return stripe_events_reprocess(events=stale)


def _subscription_event_apply(event: StripeEvent) -> str:
    """Returns why the event changed nothing, or "" when it applied."""
    reference = stripe_client.event_subscription_reference(event.payload)
    if reference is None:
        return "No subscription involved (a one-off payment, say)."
    account = _account_for_customer(customer_id=reference.customer_id, account_id=reference.account_id)
    if account is None:
        # Staff link a subscription made by hand in the Dashboard this way (README: re-process it).
        logger.info("Stripe event %s is about customer %s, no Smolpix account: ignored.", event, reference.customer_id)
        return f"No Smolpix account for customer {reference.customer_id}."
    subscription = subscription_sync(account=account, stripe_subscription_id=reference.subscription_id, event=event)
    # Only a failure still unpaid is news: a late or resent copy of one paid since must not alarm anyone.
    if event.type == "invoice.payment_failed" and subscription.status == SubscriptionStatus.PAST_DUE:
        keeps_plan = subscription.grants_access(now=timezone.now())
        email, created = BillingEmail.objects.get_or_create(
            event=event,
            kind=BillingEmail.Kind.PAYMENT_FAILED,
            defaults={
                "account": account,
                "context": {
                    "plan": subscription.plan.name,  # a past-due subscription always has one (subscription_sync)
                    "access_until": dateformat.format(subscription.grace_ends_at, "j F Y") if keeps_plan else "",
                    "account_plan": account.plan.name,
                },
            },
        )
        if created:
            _email_send_later(email)
    return ""


def _account_for_customer(*, customer_id: str, account_id: int | None) -> Account | None:
    """The account linked to a Stripe customer, locked until the transaction ends, so the events of
    one account apply one at a time. A customer not linked yet is linked to the account Smolpix named
    to Stripe (`client_reference_id`, subscription metadata) when that account has no customer yet."""
    accounts = Account.objects.select_for_update()
    account = accounts.filter(stripe_customer_id=customer_id).first()
    if account is None and account_id is not None:
        account = accounts.filter(pk=account_id, stripe_customer_id="").first()
        if account is not None:
            account.stripe_customer_id = customer_id
            account.save(update_fields=["stripe_customer_id"])
    return account


def subscription_sync(
    *, account: Account, stripe_subscription_id: str, event: StripeEvent | None = None
) -> Subscription:
    """Copy a subscription's state from Stripe now and give the account the plan it grants.

    Asking Stripe, rather than trusting the event's copy, is what makes late and reordered events
    harmless: whatever order they arrive in, each one applies the latest state. Call it with the
    account locked (see `_account_for_customer`).
    """
    snapshot = stripe_client.subscription_retrieve(subscription_id=stripe_subscription_id)
    if snapshot.customer_id != account.stripe_customer_id:
        raise ValueError(f"Subscription {snapshot.id} belongs to customer {snapshot.customer_id}, not to {account}.")
    price_id, plan_code = _plan_price(snapshot.price_ids)
    if plan_code is None and (snapshot.status in ACCESS_STATUSES or snapshot.status == SubscriptionStatus.PAST_DUE):
        # Never take a paying customer's plan away over a price nobody told Smolpix about.
        raise ValueError(f"Price {price_id!r} is neither STRIPE_PRICE_PRO nor STRIPE_PRICE_AGENCY.")

    subscription = Subscription.objects.filter(stripe_subscription_id=snapshot.id).first() or Subscription(
        account=account, stripe_subscription_id=snapshot.id
    )
    # One Smolpix did not know gave nothing: the account's plan is not Stripe's doing (staff's, say).
    gave_plan = subscription.pk is not None and _subscription_gives_plan(subscription, account=account)
    subscription.status = snapshot.status
    subscription.price_id = price_id
    subscription.plan = Plan.objects.get(code=plan_code) if plan_code else None
    subscription.current_period_end = snapshot.current_period_end
    subscription.cancel_at_period_end = snapshot.cancel_at_period_end
    if snapshot.status == SubscriptionStatus.PAST_DUE:
        subscription.past_due_since = subscription.past_due_since or timezone.now()
    else:
        subscription.past_due_since = None
    subscription.save()
    # A subscription known to give nothing already (ended, unpaid...) says nothing new about the plan:
    # its late or re-processed events leave alone a plan staff set by hand since.
    if gave_plan or subscription_granting(account=account) is not None:
        account_plan_refresh(account=account, event=event)
    return subscription


def _subscription_gives_plan(subscription: Subscription, *, account: Account) -> bool:
    """Whether a stored subscription gives the account its plan: it grants access, or it is past due
    beyond the grace and the account is still on its plan (before the hourly task moves it to Free).
    An unpaid, paused or incomplete one gave nothing: the account went to Free when it became so."""
    if subscription.grants_access(now=timezone.now()):
        return True
    return subscription.status == SubscriptionStatus.PAST_DUE and subscription.plan_id == account.plan_id


def _plan_price(price_ids: tuple[str, ...]) -> tuple[str, str | None]:
    """The subscription's price that sells a plan, and that plan; else its first price and None."""
    for price_id in price_ids:
        plan_code = price_plan_code(price_id=price_id)
        if plan_code:
            return price_id, plan_code
    return (price_ids[0] if price_ids else ""), None


def account_plan_refresh(*, account: Account, event: StripeEvent | None = None) -> bool:
    """Put the account on the plan its subscriptions grant now (Free when none does) and queue the
    plan-changed e-mail if that is a change. Returns whether the plan changed."""
    granting = subscription_granting(account=account)
    plan_code = granting.plan.code if granting else PlanCode.FREE
    previous_plan = account.plan
    if previous_plan.code == plan_code:
        return False
    account_set_plan(account=account, plan_code=plan_code)
    email = BillingEmail.objects.create(
        account=account,
        kind=BillingEmail.Kind.PLAN_CHANGED,
        event=event,
        context={"previous_plan": previous_plan.name, "plan": account.plan.name},
    )
    _email_send_later(email)
    return True


def past_due_grace_expire() -> int:
    """Move to Free the accounts whose past-due subscription outlived the grace period (no Stripe event
    marks that moment). Returns how many accounts changed plan."""
    cutoff = timezone.now() - timedelta(days=settings.BILLING_PAST_DUE_GRACE_DAYS)
    # Only accounts still on the plan of such a subscription: one staff set by hand since stays.
    account_ids = set(
        Subscription.objects.filter(
            status=SubscriptionStatus.PAST_DUE, past_due_since__lte=cutoff, account__plan=F("plan")
        ).values_list("account_id", flat=True)
    )
    changed = 0
    for account_id in account_ids:
        with transaction.atomic():
            account = Account.objects.select_for_update().get(pk=account_id)
            changed += account_plan_refresh(account=account)
    return changed


# --- E-mails -------------------------------------------------------------------------------------


def _email_send_later(email: BillingEmail) -> None:
    transaction.on_commit(partial(tasks.send_billing_email.delay, email.pk))


@transaction.atomic
def billing_email_send(*, email_id: int) -> bool:
    """Send a billing e-mail unless it went out already, so a retried or duplicated task sends it once.
    Returns whether it was sent now (not when its account was deleted meanwhile)."""
    email = (
        BillingEmail.objects.select_for_update(of=("self",))
        .select_related("account__owner")
        .filter(pk=email_id)
        .first()
    )
    # Gone with its account (deleted by its owner after the e-mail was queued): nobody to write to.
    if email is None or email.sent_at is not None:
        return False
    send_templated_email(to=email.account.owner.email, template=email.kind, context=email.context)
    email.sent_at = timezone.now()
    email.save(update_fields=["sent_at"])
    return True
