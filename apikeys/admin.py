from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin import NotDeletedByHand, SecretsNotFiltered
from apikeys.models import ApiKey
from apikeys.services import api_key_revoke


class RevokedFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(NotDeletedByHand, SecretsNotFiltered):
    """Keys are created by their customers (or `createapikey`), who alone see them once; staff can
    only look at them and revoke them. The hash is never shown, nor filtered on."""

    secrets = ("key_hash",)

    list_display = ("key_prefix", "name", "account", "created_at", "last_used_at", "revoked_at")
    list_filter = (RevokedFilter,)
    list_select_related = ("account__owner",)
    search_fields = ("name", "account__owner__email", "^prefix")
    fields = ("key_prefix", "name", "account", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description="key", ordering="prefix")
    def key_prefix(self, api_key: ApiKey) -> str:
        return api_key.display_prefix

    @admin.action(description="Revoke the selected keys (immediate and permanent)", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = [api_key_revoke(api_key=api_key) for api_key in queryset.filter(revoked_at__isnull=True)]
        self.message_user(request, f"Revoked {len(revoked)} key(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a key is shown once to whoever creates it: the customer, not staff
