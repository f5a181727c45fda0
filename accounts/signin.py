"""Sign-in throttling with django-axes (settings: AXES_*). Axes counts failed sign-ins in the database
per lockout parameter (the account, the client's address) and locks when the largest count reaches
AXES_FAILURE_LIMIT; this module gives the address a limit of its own, and names the account the
way sign-in does (any case), so that `ME@example.com` and `me@example.com` share one count."""

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest

from accounts.models import User


def attempted_email(request: HttpRequest, credentials: dict | None) -> str:
    """The account a sign-in names, normalised as sign-in normalises it."""
    username = (credentials or {}).get("username") or request.POST.get("username")
    return User.objects.normalize_email(username)


class SignInAttempts(AxesDatabaseHandler):
    """Axes' database handler, with AXES_ADDRESS_FAILURE_LIMIT failures for one client address
    rather than AXES_FAILURE_LIMIT, the account's: an address's failures count in proportion."""

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        by_account, by_address = (
            attempts.aggregate(failures=Sum("failures_since_start"))["failures"] or 0
            for attempts in self.get_user_attempts(request, credentials)  # in AXES_LOCKOUT_PARAMETERS' order
        )
        return max(by_account, by_address * settings.AXES_FAILURE_LIMIT // settings.AXES_ADDRESS_FAILURE_LIMIT)
