from datetime import datetime, timedelta

from django.conf import settings
from django.db import models

from accounts.models import Account, Plan


class SubscriptionStatus(models.TextChoices):
    """Stripe's subscription statuses (stored as Stripe sends them, even ones added later)."""

    INCOMPLETE = "incomplete", "Incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete, expired"
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    CANCELED = "canceled", "Canceled"
    UNPAID = "unpaid", "Unpaid"
    PAUSED = "paused", "Paused"


ACCESS_STATUSES = {SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING}


class Subscription(models.Model):
    """Smolpix's copy of a Stripe subscription, refreshed from Stripe whenever one of its events arrives.

    Stripe is the source of truth; staff read these rows and never edit them.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="subscriptions")
    stripe_subscription_id = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=32, choices=SubscriptionStatus.choices)
    price_id = models.CharField(max_length=255, blank=True)
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="+", help_text="From the price id."
    )
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    past_due_since = models.DateTimeField(
        null=True, blank=True, help_text="When Smolpix learned the subscription was past due; starts the grace period."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.stripe_subscription_id

    @property
    def grace_ends_at(self) -> datetime | None:
        if self.status != SubscriptionStatus.PAST_DUE or self.past_due_since is None:
            return None
        return self.past_due_since + timedelta(days=settings.BILLING_PAST_DUE_GRACE_DAYS)

    def grants_access(self, *, now: datetime) -> bool:
        """Active and trialing subscriptions grant their plan; a past-due one keeps it through the
        grace period; every other status (canceled, unpaid, incomplete...) grants nothing."""
        if self.status in ACCESS_STATUSES:
            return True
        grace_ends_at = self.grace_ends_at
        return grace_ends_at is not None and now < grace_ends_at


class StripeEvent(models.Model):
    """A verified webhook event, stored once by its Stripe id: replays find it and change nothing."""

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    created = models.DateTimeField(help_text="When Stripe created the event.")
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the last processing attempt failed.")
    ignored = models.CharField(
        max_length=255, blank=True, help_text="Why processing changed nothing (e.g. no Smolpix account for it)."
    )

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id}"


class BillingEmail(models.Model):
    """An e-mail about billing to an account's owner: written with the change that causes it and sent
    by a Celery task at most once (the row remembers when it went out)."""

    class Kind(models.TextChoices):
        PAYMENT_FAILED = "payment_failed", "Payment failed"
        PLAN_CHANGED = "plan_changed", "Plan changed"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="billing_emails")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    event = models.ForeignKey(StripeEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="emails")
    context = models.JSONField(default=dict, blank=True, help_text="Values the e-mail's template shows.")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.account}"
