from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin import NotDeletedByHand
from billing.models import BillingEmail, StripeEvent, Subscription
from billing.services import stripe_events_reprocess


class ReadOnlyAdmin(NotDeletedByHand):
    """Rows that mirror Stripe or record what happened: staff read them, Stripe's events write them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ("account", "plan", "status", "current_period_end", "cancel_at_period_end", "updated_at")
    list_filter = ("status", "plan")
    list_select_related = ("account__owner", "plan")
    search_fields = ("account__owner__email", "stripe_subscription_id", "account__stripe_customer_id")
    date_hierarchy = "updated_at"


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("stripe_id", "type", "created", "received_at", "processed_at", "short_error")
    list_filter = ("type", ("processed_at", admin.EmptyFieldListFilter))
    search_fields = ("stripe_id", "type")
    date_hierarchy = "received_at"
    actions = ["reprocess"]

    @admin.display(description="error, or why it changed nothing")
    def short_error(self, event: StripeEvent) -> str:
        return (event.error or (event.ignored and f"Ignored: {event.ignored}"))[:80]

    @admin.action(description="Re-process the selected events")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[StripeEvent]) -> None:
        count = stripe_events_reprocess(events=queryset)
        self.message_user(request, f"{count} event(s) handed over for processing again.", messages.SUCCESS)


@admin.register(BillingEmail)
class BillingEmailAdmin(ReadOnlyAdmin):
    list_display = ("account", "kind", "created_at", "sent_at")
    list_filter = ("kind",)
    list_select_related = ("account__owner",)
    search_fields = ("account__owner__email",)
