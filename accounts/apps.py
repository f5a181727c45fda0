from axes import apps as axes_apps
from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django_otp.plugins.otp_static import apps as static_apps
from django_otp.plugins.otp_totp import apps as totp_apps


class AccountsConfig(AppConfig):
    default = True  # `accounts`' own config: this module holds other apps' too
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import checks, signals  # noqa: F401  (registers the checks, connects the receivers)


class AdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin, whose site asks staff for a second factor (INSTALLED_APPS names it)."""

    default = False
    default_site = "accounts.admin_site.SecondFactorAdminSite"


# The admin heads each app's section with its verbose_name; these three have none of their own.
# Their bases are imported as modules: a config class in this module's namespace not marked
# `default = False` is a candidate for `accounts`' own, and with two Django would use neither.
class SignInAttemptsConfig(axes_apps.AppConfig):
    """django-axes (sign-in limits): its attempts, lockouts and failures."""

    default = False
    verbose_name = "Sign-in attempts"


class AuthenticatorAppsConfig(totp_apps.DefaultConfig):
    default = False
    verbose_name = "Second factor: authenticator apps"


class BackupCodesConfig(static_apps.DefaultConfig):
    default = False
    verbose_name = "Second factor: backup codes"
