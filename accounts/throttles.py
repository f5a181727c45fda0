"""Limits on the pages that send e-mail, create accounts or check a password, per client address,
e-mail address or user, counted by django-ratelimit in the default cache (Redis: every process shares the counts)."""

import logging
from dataclasses import dataclass

from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited

from smolpix.outages import REDIS_DOWN

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Throttle:
    group: str
    rate: str  # django-ratelimit's notation: "3/h" is three an hour


SIGN_UPS_PER_CLIENT = Throttle("sign-up:client", "10/h")
# Sign-ups with one address, new or not: past it the owner is not told again (account_sign_up).
SIGN_UPS_PER_ADDRESS = Throttle("sign-up:address", "3/h")
PASSWORD_RESETS_PER_ADDRESS = Throttle("password-reset:address", "3/h")
PASSWORD_RESETS_PER_CLIENT = Throttle("password-reset:client", "10/h")
VERIFICATION_EMAILS_PER_USER = Throttle("verification-email:user", "3/h")
# Over 4, the 5th wrong one, signs out: django-ratelimit limits past the count, and the check before a
# guess does not count it (accounts.views.PasswordChangeView): at most 5 guesses an hour.
WRONG_CURRENT_PASSWORDS_PER_USER = Throttle("password-change:wrong-current-password:user", "4/h")


def throttled(request: HttpRequest, *limits: tuple[Throttle, str], count: bool = True) -> bool:
    """Count one attempt against each (throttle, key), unless `count` is false, and say whether any
    is over its rate. When the cache cannot count (Redis down) the attempt goes through, logged: the
    e-mail it leads to needs Redis (the Celery broker) to leave anyway, and refusing would lock
    everyone out."""
    try:
        counts = [
            is_ratelimited(
                request, group=throttle.group, key=lambda group, request: key, rate=throttle.rate, increment=count
            )
            for throttle, key in limits
        ]
    except REDIS_DOWN:
        logger.warning("cache unavailable: %s not throttled", ", ".join(throttle.group for throttle, _ in limits))
        return False
    return any(counts)
