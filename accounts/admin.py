from collections import Counter

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import router, transaction
from django.db.models import Count, QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.db.models.deletion import Collector, ProtectedError, RestrictedError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.html import format_html
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Account, Plan, User
from accounts.selectors import account_limits
from accounts.services import account_open, user_delete
from billing.selectors import subscription_live
from billing.services import BillingError
from usage.selectors import account_annotate_month_used
from usage.services import usage_reset


class SecretsNotFiltered(admin.ModelAdmin):
    """An admin of rows holding what signs in (`secrets`: its fields or relations), which staff never
    see. The list filters on any field of the model's own from its query string: counting the rows
    `?key__startswith=…` lists, a guess at a time, reads the secret (Django's UserAdmin refuses
    `password` lookups likewise)."""

    secrets: tuple[str, ...] = ()

    def lookup_allowed(self, lookup: str, value, request=None) -> bool:
        return lookup.split(LOOKUP_SEP)[0] not in self.secrets and super().lookup_allowed(lookup, value, request)


class NotDeletedByHand(admin.ModelAdmin):
    """Rows staff do not delete by hand, but that go with their user when it is deleted: an account
    and what mirrors Stripe, API keys (revoked instead: a deleted key would leave no trace of who used
    the API), usage counts and request records (evidence, pruned nightly); and Stripe's events, the
    record. A user without its account got 500s on every page; a deleted subscription row let its
    customer buy a second one. (A model admin that refuses deletion outright makes Django refuse to
    delete any user that has such a row.)"""

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "show_delete": False})

    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None):
        raise PermissionDenied


class AccountInline(admin.StackedInline):
    model = Account
    can_delete = False
    fields = ("plan", "monthly_limit_override", "rate_limit_override", "stripe_customer_id")


class NormalizedEmail:
    """The address as account_create keeps it (trimmed, in lower case), so the unique check refuses
    an address that has an account in another case, and sign-in finds the user."""

    def clean_email(self) -> str:
        return User.objects.normalize_email(self.cleaned_data["email"])


LAST_STAFF = (
    "no active staff member would be left, and no one could sign in to the admin any more "
    "(make another staff member first, e.g. manage.py createaccount EMAIL --staff)"
)


def _last_active_staff(*users: User) -> list[User]:
    """Those of `users` who are active staff, if no active staff member would be left without them."""
    staff = [user for user in users if user.pk and user.is_staff and user.is_active]
    others = User.objects.filter(is_staff=True, is_active=True).exclude(pk__in=[user.pk for user in users])
    return [] if others.exists() else staff


# What only a superuser may change on a user: staff status opens the admin, the rest widens it.
SUPERUSER_GRANTS = ("is_staff", "is_superuser", "groups", "user_permissions")


SUPERUSERS_ONLY = "staff, whom only a superuser changes or deletes"
STRIPE_NOT_TOLD = (
    "Nothing was deleted: Stripe could not be reached (or refused our key) to expire the open Checkouts "
    "and cancel the subscriptions it may still bill. Try again in a few minutes."
)


def _may_manage(request: HttpRequest, user: User | None) -> bool:
    """Whether the signed-in staff member may change or delete `user`. A colleague's address and
    password are their way into the admin: staff who may change users could otherwise lock a
    superuser out, or send their password reset to an address of their own."""
    if user is None or request.user.is_superuser or user.pk == request.user.pk:
        return True
    return not (user.is_staff or user.is_superuser)  # a superuser without staff status is made staff again


def _deletion_summary(objs, request: HttpRequest, admin_site: admin.AdminSite):
    """What deleting the users `objs` deletes, as the admin's confirmation wants it (Django's
    get_deleted_objects), with the rows counted by model instead of listed: Django loads and lists
    every one, and a user's 100,000 request records took 17 s and a 13 MB page (a busy customer has
    millions)."""
    collector = Collector(using=router.db_for_write(User))
    try:
        collector.collect(list(objs))
    except ProtectedError as error:
        return [], {}, set(), [str(row) for row in error.protected_objects]
    except RestrictedError as error:
        return [], {}, set(), [str(row) for row in error.restricted_objects]
    counts = Counter({model: len(rows) for model, rows in collector.data.items()})
    for rows in collector.fast_deletes:  # left in the database: counted there
        counts[rows.model] += rows.count()
    counts = {model: count for model, count in counts.items() if count and not model._meta.auto_created}
    permissions_needed = {
        model._meta.verbose_name
        for model in counts
        if model in admin_site._registry and not admin_site._registry[model].has_delete_permission(request)
    }
    deleted = [
        *(f"User: {user}" for user in objs),
        [
            f"{model._meta.verbose_name_plural.capitalize()}: {count:,}"
            for model, count in counts.items()
            if model is not User
        ],
    ]
    return deleted, {model._meta.verbose_name_plural: count for model, count in counts.items()}, permissions_needed, []


def _delete_selected_users(
    model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[User]
) -> HttpResponse | None:
    """Django's action, all or nothing: one user whose Stripe could not be told keeps them all."""
    try:
        with transaction.atomic():
            return delete_selected(model_admin, request, queryset)
    except BillingError:
        model_admin.message_user(request, STRIPE_NOT_TOLD, messages.ERROR)
        return None


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    class CreationForm(NormalizedEmail, AdminUserCreationForm):
        class Meta:
            model = User
            fields = ("email",)

    class ChangeForm(NormalizedEmail, UserChangeForm):
        class Meta:
            model = User
            fields = "__all__"

        def clean(self):
            cleaned = super().clean()
            stays_staff = self._kept("is_staff") and self._kept("is_active")
            if not stays_staff and _last_active_staff(self.instance):
                raise ValidationError(LAST_STAFF)
            return cleaned

        def _kept(self, name: str) -> bool:
            """The field's new value; its current one when it is not on the form (read-only)."""
            return self.cleaned_data.get(name) if name in self.fields else getattr(self.instance, name)

    add_form = CreationForm
    form = ChangeForm
    inlines = [AccountInline]
    ordering = ("email",)
    search_fields = ("email",)
    list_display = ("email", "is_staff", "is_active", "date_joined", "email_verified_at")
    list_filter = ("is_staff", "is_superuser", "is_active")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined", "email_verified_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),)

    def save_model(self, request: HttpRequest, obj: User, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
        else:  # a new user: with its account, by the service that makes every user (verified: staff made it)
            account_open(user=obj)

    def get_deleted_objects(self, objs, request: HttpRequest):
        deleted, counts, permissions_needed, protected = _deletion_summary(objs, request, self.admin_site)
        protected += [f"{user.email}: {LAST_STAFF}" for user in _last_active_staff(*objs)]  # the selection together
        protected += [f"{user.email}: {SUPERUSERS_ONLY}" for user in objs if not _may_manage(request, user)]
        for user in objs:
            if hasattr(user, "account") and (subscription := subscription_live(account=user.account)):
                protected.append(
                    f"{user.email}: a subscription Stripe may still bill ({subscription.status}): "
                    "cancel it in Stripe first, or Stripe goes on charging a customer we no longer have"
                )
        return deleted, counts, permissions_needed, protected

    # Deleted as customers delete themselves (user_delete): Stripe told first, request records in batches.
    def delete_model(self, request: HttpRequest, obj: User) -> None:
        user_delete(user=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            user_delete(user=user)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)  # in a transaction, rolled back
        except BillingError:
            self.message_user(request, STRIPE_NOT_TOLD, messages.ERROR)
            return HttpResponseRedirect(request.path)

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            actions["delete_selected"] = (_delete_selected_users, *actions["delete_selected"][1:])
        return actions

    def get_inlines(self, request, obj):
        # The account is created with the user; it can only be edited once it exists.
        return self.inlines if obj else []

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        # Only a superuser grants powers: staff who may change users would otherwise make anyone
        # staff (admin access), or themselves superusers, and with that delete a colleague's
        # second factor (see below).
        readonly = super().get_readonly_fields(request, obj)
        return readonly if request.user.is_superuser else (*readonly, *SUPERUSER_GRANTS)

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return super().has_change_permission(request, obj) and _may_manage(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return super().has_delete_permission(request, obj) and _may_manage(request, obj)


@admin.register(Account)
class AccountAdmin(NotDeletedByHand):
    # Four columns: beside the admin's navigation and the filter, the list must fit 1280 px
    # (when each account was created is on its page).
    list_display = ("owner", "plan", "month_usage", "overrides")
    list_filter = ("plan",)
    list_select_related = ("owner", "plan")
    search_fields = ("owner__email", "stripe_customer_id")
    fields = (
        "owner",
        "plan",
        "month_usage",
        "monthly_limit_override",
        "rate_limit_override",
        "stripe_customer_id",
        "created_at",
    )
    readonly_fields = ("owner", "month_usage", "created_at")
    actions = ["reset_month_usage"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        return account_annotate_month_used(accounts=super().get_queryset(request))

    @admin.display(description="images this month", ordering="month_used")
    def month_usage(self, account: Account) -> str:
        limit = account_limits(account=account).monthly_limit
        used = f"{account.month_used or 0:,}"
        records = reverse("admin:usage_requestrecord_changelist") + f"?account={account.pk}"
        if limit is None:
            return format_html('{} images, no limit · <a href="{}">request log</a>', used, records)
        return format_html('{} of {} images · <a href="{}">request log</a>', used, f"{limit:,}", records)

    @admin.display(description="limit overrides")
    def overrides(self, account: Account) -> str:
        overrides = []
        if account.monthly_limit_override is not None:
            overrides.append(f"{account.monthly_limit_override:,} images a month")
        if account.rate_limit_override is not None:
            overrides.append(f"{account.rate_limit_override:,} requests a minute")
        return ", ".join(overrides) or "—"

    @admin.action(description="Reset this month's image count of the selected accounts", permissions=["change"])
    def reset_month_usage(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        for account in queryset:
            usage_reset(account=account)
        self.message_user(request, f"Reset this month's count of {len(queryset)} account(s).", messages.SUCCESS)

    def has_add_permission(self, request) -> bool:
        return False  # accounts come with their users


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    """Not editable in the list: one click there would change every customer's limits. The change
    page says how many accounts a change reaches before it is saved."""

    list_display = ("name", "price", "monthly_limit", "rate_limit_per_minute", "api_access")

    @admin.display(description="price", ordering="price_cents")
    def price(self, plan: Plan) -> str:
        return f"${plan.price_cents / 100:,.2f} a month"

    def get_fieldsets(self, request: HttpRequest, obj: Plan | None = None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        accounts = obj.accounts.count()
        warning = (
            f"Saving changes the limits of every account on the {obj.name} plan at once: {accounts:,} "
            f"account{pluralize(accounts)} (except the limits an account overrides). The price is what "
            "the pricing page shows; Stripe charges its own price (STRIPE_PRICE_*): change both together."
        )
        return [(None, {**fieldsets[0][1], "description": warning})]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # code refers to the plans by their codes


class SecondFactorDeviceAdmin(SecretsNotFiltered):
    """Who has which second factor, whether it is confirmed and when it was last used, and nothing
    that signs in: not an authenticator app's key, not a backup code. Devices are made only by
    `manage.py secondfactor` (a key typed into this admin, or a backup code added here, would be
    one whoever typed it knows); a superuser deletes one to shut out a lost phone. Other staff
    cannot, whatever their permissions: it locks its owner out of the admin, superusers too."""

    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    list_filter = ("confirmed", "created_at", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("user__email",)
    fields = list_display

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser


# django-otp's own admins, registered by its apps, showed a device's key (its change page, its QR
# code page) and its backup codes to every staff member, and let them set either.
for device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(device_model):
        admin.site.unregister(device_model)


@admin.register(TOTPDevice)
class AuthenticatorAppAdmin(SecondFactorDeviceAdmin):
    secrets = ("key",)


@admin.register(StaticDevice)
class BackupCodesAdmin(SecondFactorDeviceAdmin):
    secrets = ("token_set",)
    list_display = (*SecondFactorDeviceAdmin.list_display, "codes_left")
    fields = list_display

    def get_queryset(self, request: HttpRequest) -> QuerySet[StaticDevice]:
        return super().get_queryset(request).annotate(codes_left=Count("token_set"))

    @admin.display(description="codes left", ordering="codes_left")
    def codes_left(self, device: StaticDevice) -> int:
        return device.codes_left
