from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from accounts.models import Account, Plan, User


class AccountInline(admin.StackedInline):
    model = Account
    can_delete = False
    fields = ("plan", "monthly_limit_override", "rate_limit_override", "stripe_customer_id")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    class CreationForm(AdminUserCreationForm):
        class Meta:
            model = User
            fields = ("email",)

    class ChangeForm(UserChangeForm):
        class Meta:
            model = User
            fields = "__all__"

    add_form = CreationForm
    form = ChangeForm
    inlines = [AccountInline]
    ordering = ("email",)
    search_fields = ("email",)
    list_display = ("email", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),)

    def get_inlines(self, request, obj):
        # The account is created with the user; it can only be edited once it exists.
        return self.inlines if obj else []


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("owner", "plan", "monthly_limit_override", "rate_limit_override", "created_at")
    list_filter = ("plan",)
    list_select_related = ("owner", "plan")
    search_fields = ("owner__email", "stripe_customer_id")
    fields = ("owner", "plan", "monthly_limit_override", "rate_limit_override", "stripe_customer_id", "created_at")
    readonly_fields = ("owner", "created_at")

    def has_add_permission(self, request) -> bool:
        return False  # accounts come with their users


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "price_cents", "monthly_limit", "rate_limit_per_minute", "api_access")
    list_editable = ("monthly_limit", "rate_limit_per_minute", "api_access")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # code refers to the plans by their codes
