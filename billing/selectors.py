from datetime import datetime

from django.conf import settings
from django.utils import timezone

from accounts.models import Account, Plan, PlanCode
from billing.models import Subscription, SubscriptionStatus

PAID_PLAN_CODES = (PlanCode.PRO, PlanCode.AGENCY)
# Stripe never bills nor revives a subscription in these statuses; in any other it may still collect
# (a past-due card retried, a paused subscription resumed, an incomplete first invoice paid).
ENDED_STATUSES = (SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED)


def billing_configured() -> bool:
    """Whether this server can sell plans through Stripe: an API key, the webhook secret and both prices."""
    return all(
        (
            settings.STRIPE_SECRET_KEY,
            settings.STRIPE_WEBHOOK_SECRET,
            settings.STRIPE_PRICE_PRO,
            settings.STRIPE_PRICE_AGENCY,
        )
    )


def paid_plan_get(*, plan_code: str) -> Plan:
    """The plan `plan_code` names if Checkout sells it. Raises Plan.DoesNotExist for Free and unknown codes."""
    return Plan.objects.get(code=plan_code, code__in=PAID_PLAN_CODES)


def plan_price_id(*, plan_code: str) -> str | None:
    """The Stripe price id that sells `plan_code`; None for Free and unknown codes."""
    return {PlanCode.PRO: settings.STRIPE_PRICE_PRO, PlanCode.AGENCY: settings.STRIPE_PRICE_AGENCY}.get(plan_code)


def price_plan_code(*, price_id: str) -> str | None:
    """The plan a Stripe price id sells; None for a price Smolpix does not know."""
    for plan_code in PAID_PLAN_CODES:
        if price_id and price_id == plan_price_id(plan_code=plan_code):
            return plan_code
    return None


def subscription_granting(*, account: Account, now: datetime | None = None) -> Subscription | None:
    """The subscription that decides the account's plan: of those granting access, the one with the
    best plan (an account normally has one; one made by hand in the Dashboard can be a second). None: Free."""
    now = now or timezone.now()
    granting = [s for s in account.subscriptions.select_related("plan") if s.plan and s.grants_access(now=now)]
    return max(granting, key=lambda s: s.plan.price_cents, default=None)


def subscription_live(*, account: Account) -> Subscription | None:
    """A subscription Stripe may still bill, preferring the one granting the plan; while there is one,
    Checkout is refused, as a new subscription would be billed alongside it. None: nothing left to bill."""
    live = account.subscriptions.exclude(status__in=ENDED_STATUSES).select_related("plan")
    return subscription_granting(account=account) or live.first()


def subscription_current(*, account: Account) -> Subscription | None:
    """The subscription the billing page shows: the live one (see `subscription_live`), else the most
    recently updated one (e.g. canceled); None when the account never subscribed."""
    return subscription_live(account=account) or account.subscriptions.select_related("plan").first()
