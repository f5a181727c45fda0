from datetime import timedelta

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.admin import NotDeletedByHand
from accounts.models import Account
from usage.models import MonthlyUsage, RequestRecord

BUSIEST_ACCOUNTS = 10
BUSIEST_SINCE = timedelta(days=7)


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"
    RANGES = {"2xx": (200, 299), "4xx": (400, 499), "429": (429, 429), "5xx": (500, 599)}

    def lookups(self, request, model_admin):
        return [
            ("2xx", "Succeeded (2xx)"),
            ("4xx", "Refused (4xx)"),
            ("429", "Over a limit (429)"),
            ("5xx", "Server error (5xx)"),
        ]

    def queryset(self, request, queryset):
        if self.value() in self.RANGES:
            return queryset.filter(status__range=self.RANGES[self.value()])
        return queryset


class AccountFilter(admin.SimpleListFilter):
    """Offers the accounts with the most requests in the last week, and whichever account is chosen
    (an account's admin page links here); any other is found by searching its e-mail. Listing
    every account would not scale."""

    title = "account"
    parameter_name = "account"

    def lookups(self, request, model_admin):
        busiest = (
            RequestRecord.objects.filter(created_at__gte=timezone.now() - BUSIEST_SINCE)
            .values("account")
            .annotate(requests=Count("pk"))
            .order_by("-requests")[:BUSIEST_ACCOUNTS]
        )
        ids = [row["account"] for row in busiest]
        if (self.value() or "").isdigit():
            ids.append(int(self.value()))
        accounts = Account.objects.filter(pk__in=ids).select_related("owner").order_by("owner__email")
        return [(str(account.pk), account.owner.email) for account in accounts]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(account_id=self.value())
        return queryset


@admin.register(RequestRecord)
class RequestRecordAdmin(NotDeletedByHand):
    """What the API answered, request by request (pruned after REQUEST_RECORD_RETENTION_DAYS).
    Read-only: records are evidence."""

    list_display = (
        "created_at",
        "account",
        "key_prefix",
        "endpoint",
        "status",
        "bytes_in",
        "bytes_out",
        "output_format",
        "duration_ms",
    )
    list_filter = (StatusFilter, "created_at", AccountFilter)
    list_select_related = ("account__owner", "api_key")
    search_fields = ("account__owner__email", "^api_key__prefix", "endpoint")
    show_full_result_count = False  # no COUNT(*) over the whole table on every page

    @admin.display(description="key", ordering="api_key__prefix")
    def key_prefix(self, record: RequestRecord) -> str:
        return record.api_key.display_prefix if record.api_key else "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RequestRecord | None = None) -> bool:
        return False


@admin.register(MonthlyUsage)
class MonthlyUsageAdmin(NotDeletedByHand):
    """Each account's count, month by month. Read-only here: reset this month's count from the
    account's page (an action), where the limits are too."""

    list_display = (
        "account",
        "month",
        "used",
        "warning_sent_at",
        "warning_sent_limit",
        "limit_reached_sent_at",
        "limit_reached_sent_limit",
    )
    list_filter = ("month",)
    search_fields = ("account__owner__email",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[MonthlyUsage]:
        return super().get_queryset(request).select_related("account__owner")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: MonthlyUsage | None = None) -> bool:
        return False
