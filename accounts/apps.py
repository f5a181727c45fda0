from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401  (connects the receivers)


class AdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin, whose site asks staff for a second factor (INSTALLED_APPS names it)."""

    default = False
    default_site = "accounts.admin_site.SecondFactorAdminSite"
