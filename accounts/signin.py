"""Sign-in throttling with django-axes (settings: AXES_*). Axes counts failed sign-ins in the database
per lockout parameter (the account, the client's address) and locks when the largest count reaches
AXES_FAILURE_LIMIT; this module gives the address a limit of its own, and names the account the
way sign-in does (any case), so that `ME@example.com` and `me@example.com` share one count.

A browser that signed in to an account before is a known device for it (OWASP's "device cookies"):
a signed cookie names the account (by a keyed hash of its address) and a random id of the device.
The account's lockout, which anyone can cause from anywhere, does not refuse a known device: its own
failures are counted instead, stored with the device's id in place of axes' user agent, and lock it
(that device, for that account) at AXES_FAILURE_LIMIT. The client address's limit holds for all."""

import secrets
from collections.abc import Callable
from functools import wraps

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.core import signing
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare, salted_hmac

from accounts.models import User

DEVICE_SALT = "accounts.signin.device"


def attempted_email(request: HttpRequest, credentials: dict | None) -> str:
    """The account a sign-in names, normalised as sign-in normalises it."""
    username = (credentials or {}).get("username") or request.POST.get("username")
    return User.objects.normalize_email(username)


def _account_digest(email: str) -> str:
    return salted_hmac(DEVICE_SALT, User.objects.normalize_email(email)).hexdigest()


def known_device(request: HttpRequest, credentials: dict | None) -> str | None:
    """What stands for the browser in axes' counts if its device cookie names the account this
    sign-in names; None for any other browser (no cookie, a forged or expired one, another account's)."""
    try:
        cookie = signing.loads(
            request.COOKIES.get(settings.SIGN_IN_DEVICE_COOKIE, ""),
            salt=DEVICE_SALT,
            max_age=settings.SIGN_IN_DEVICE_COOKIE_AGE,
        )
    except signing.BadSignature:
        return None
    if not constant_time_compare(cookie["account"], _account_digest(attempted_email(request, credentials))):
        return None
    return f"known device {cookie['device']}"


class SignInAttempts(AxesDatabaseHandler):
    """Axes' database handler, with AXES_ADDRESS_FAILURE_LIMIT failures for one client address
    rather than AXES_FAILURE_LIMIT, the account's: an address's failures count in proportion. A
    known device's failures for its account are its own (see the module's docstring)."""

    def user_login_failed(self, sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
        if request is not None:
            request.axes_user_agent = known_device(request, credentials) or request.axes_user_agent
        super().user_login_failed(sender, credentials, request, **kwargs)

    def user_logged_in(self, sender, request: HttpRequest, user: User, **kwargs) -> None:
        super().user_logged_in(sender, request, user, **kwargs)
        # Written to the response by remembering_device; a new id, so a new count, for each sign-in.
        request.sign_in_device_cookie = signing.dumps(
            {"account": _account_digest(user.email), "device": secrets.token_urlsafe(16)}, salt=DEVICE_SALT
        )

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        by_account, by_address = self.get_user_attempts(request, credentials)  # in AXES_LOCKOUT_PARAMETERS' order
        if device := known_device(request, credentials):
            by_account = by_account.filter(user_agent=device)
        account_failures, address_failures = (
            attempts.aggregate(failures=Sum("failures_since_start"))["failures"] or 0
            for attempts in (by_account, by_address)
        )
        return max(
            account_failures, address_failures * settings.AXES_FAILURE_LIMIT // settings.AXES_ADDRESS_FAILURE_LIMIT
        )


def remembering_device(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A sign-in view that gives the browser a device cookie when someone signs in through it."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if cookie := getattr(request, "sign_in_device_cookie", None):
            response.set_cookie(
                settings.SIGN_IN_DEVICE_COOKIE,
                cookie,
                max_age=settings.SIGN_IN_DEVICE_COOKIE_AGE,
                secure=request.is_secure(),
                httponly=True,
                samesite="Lax",
            )
        return response

    return wrapped
