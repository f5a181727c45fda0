from django.contrib.admin import ModelAdmin
from django.contrib.admin.forms import AdminPasswordChangeForm
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.urls import reverse
from django_otp.admin import OTPAdminSite

from accounts.forms import AdminSignInForm
from accounts.signin import remembering_device
from accounts.views import PasswordChangeView


class SecondFactorAdminSite(OTPAdminSite):
    """The admin, open only to staff who signed in to it with a second factor: a code from their
    TOTP device or one of their backup codes (django-otp). A password alone opens nothing; staff
    signed in to the site without one are asked for it by the admin's own sign-in page."""

    login_form = AdminSignInForm
    login_template = "admin/second_factor_login.html"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)

    def login(self, request, extra_context=None):
        # Staff who sign in here have a known device too (accounts.signin): not locked out by others.
        return remembering_device(super().login)(request, extra_context)

    def password_change(self, request, extra_context=None):
        # As Django's, with the site's view: wrong current passwords count against its limit here too,
        # or the admin's page would be a way round it for a stolen session (accounts.views).
        request.current_app = self.name
        return PasswordChangeView.as_view(
            form_class=AdminPasswordChangeForm,
            success_url=reverse("admin:password_change_done", current_app=self.name),
            extra_context={**self.each_context(request), **(extra_context or {})},
        )(request)

    def register(self, model_or_iterable, admin_class=None, **options) -> None:
        # Every model's admin (ours, django-axes' and django-otp's) answers the query strings
        # Django's admin raised on as it answers other bad ones.
        admin_class = admin_class or ModelAdmin
        checked = type(admin_class.__name__, (CheckedQueryStrings, admin_class), {"__module__": admin_class.__module__})
        super().register(model_or_iterable, checked, **options)


class CheckedQueryStrings:
    """Query strings that gave staff a 500: an empty `_to_field` (Django looked up a field named
    ""), and a date out of Python's range in a list's filter: `?created_at__year=-1`, which raises
    only when the list's query runs, after Django's own check of the filters, or the last month of
    year 9999 in a date hierarchy (Django's end of the range overflows)."""

    def get_object(self, request, object_id, from_field=None):
        return super().get_object(request, object_id, from_field or None)

    def get_changelist(self, request, **kwargs):
        return CheckedChangeList


class CheckedChangeList(ChangeList):
    def __init__(self, *args, **kwargs) -> None:
        try:
            super().__init__(*args, **kwargs)  # builds the list's query and runs it
        except (ValueError, OverflowError) as error:
            # As Django does for the filters it refuses: the list again, saying they were wrong.
            raise IncorrectLookupParameters(error) from error
