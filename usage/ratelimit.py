"""The per-minute rate limit of an account, the one service the API and the try-it page count
requests with: django-ratelimit counts in the default cache (Redis in production), so all of the
account's keys and all server processes share one count."""

import logging
import time
from dataclasses import dataclass

from django_ratelimit.core import get_usage

from accounts.models import Account
from accounts.selectors import account_limits
from smolpix.errors import SmolpixError
from smolpix.outages import traceback_due

logger = logging.getLogger(__name__)

GROUP = "api"
COUNTED_RATE = "1/m"  # what django-ratelimit is told: the minute is its window, the limit ours


@dataclass(frozen=True)
class RateLimitState:
    limit: int  # requests per minute
    used: int  # requests in the current minute, this one (and any refused) included
    resets_at: int  # Unix time at which the count starts again

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def retry_after(self) -> int:
        """Seconds until the count starts again."""
        return max(self.resets_at - int(time.time()), 1)


class RateLimited(SmolpixError):
    """Over the account's per-minute rate limit: `rate` is the minute's count, this request included."""

    def __init__(self, *, rate: RateLimitState) -> None:
        super().__init__(f"rate limit exceeded: {rate.used} requests this minute, {rate.limit} allowed")
        self.rate = rate


def rate_limit_hit(*, account: Account) -> RateLimitState | None:
    """Count one request of `account` against its limit per minute and return the count, or raise
    RateLimited when it is over the limit.

    Returns None when the cache cannot count (Redis unreachable): the request is then let through
    ("fail open") with a logged warning. Refusing every customer's requests because the cache is
    down would turn a degraded service into an outage, and the monthly quota, which is what is
    paid for, is still enforced exactly by the database.
    """
    limit = account_limits(account=account).rate_limit_per_minute
    try:
        # Keyed by the account, for every method: django-ratelimit has no use for a request. Its
        # key holds the rate too: one rate whatever the limit, or a limit changed within a minute
        # (staff's, a new plan's) would start the minute's count again. Only the count is used.
        usage = get_usage(
            None, group=GROUP, key=lambda group, request: str(account.pk), rate=COUNTED_RATE, increment=True
        )
    except Exception as error:
        logger.warning(
            "cache unavailable: rate limit of account %s not enforced",
            account.pk,
            exc_info=error if traceback_due(error) else None,
        )
        return None
    if usage is None:  # counting failed inside django-ratelimit (RATELIMIT_FAIL_OPEN)
        logger.warning("cache could not count: rate limit of account %s not enforced", account.pk)
        return None
    # django-ratelimit's window includes its last second: the count starts again one second later.
    rate = RateLimitState(limit=limit, used=usage["count"], resets_at=int(time.time()) + usage["time_left"] + 1)
    if rate.exceeded:
        raise RateLimited(rate=rate)
    return rate
