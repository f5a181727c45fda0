"""What every /api/v1/ view does around its own work: authenticate the key, count the request
against the account's rate limit, put the usage headers on the answer and record the request.

Every API view derives from `MeteredApiView`; the view itself only does its operation, and tells
the metering what it learned (`metering.quota_used`, `metering.note_image(...)`); an error tells
it what it carries (`Metering.note_error`).
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Account
from accounts.selectors import AccountLimits, account_limits
from api.authentication import ApiKeyAuthentication, HasApiAccess
from apikeys.models import ApiKey
from smolpix.outages import DATABASE_DOWN
from usage.ratelimit import RateLimited, RateLimitState, rate_limit_hit
from usage.selectors import month_start, quota_used
from usage.services import QuotaExceeded, QuotaHeldInFlight, request_record_create

logger = logging.getLogger(__name__)


def quota_headers(*, used: int, limit: int | None) -> dict[str, str]:
    """The month's count and limit (None: unlimited), as every answer about an account states them:
    the API's, and the try-it page's."""
    return {"X-Quota-Used": str(used), "X-Quota-Limit": "unlimited" if limit is None else str(limit)}


@dataclass
class Metering:
    """One API request of a known account (its key was valid)."""

    api_key: ApiKey
    limits: AccountLimits
    rate: RateLimitState | None = None  # None: not counted (the cache was unreachable)
    quota_used: int | None = None  # this month's images, once known (None: the database was down)
    bytes_in: int = 0
    bytes_out: int = 0
    output_format: str = ""

    @property
    def account(self) -> Account:
        return self.api_key.account

    def note_image(self, *, bytes_in: int, bytes_out: int, output_format: str) -> None:
        """Record the sizes of the source and optimized images and the format returned."""
        self.bytes_in, self.bytes_out, self.output_format = bytes_in, bytes_out, output_format

    def note_error(self, exc: Exception) -> None:
        """Learn what the headers of an error answer need: the counts a refusal carries, else this
        month's count, read again."""
        if isinstance(exc, RateLimited):
            self.rate = exc.rate
        if isinstance(exc, QuotaExceeded | QuotaHeldInFlight):
            self.quota_used = exc.used
        self.read_quota_used()

    def read_quota_used(self) -> None:
        """Learn this month's count for the headers, if the answer's work did not: read it (it
        consumes nothing)."""
        if self.quota_used is not None:
            return
        try:
            self.quota_used = quota_used(account=self.account, month=month_start(timezone.now()))
        except DATABASE_DOWN:
            # The answer is decided (an outage's 503, a refused image refunded, an OPTIONS): it goes
            # out, without the count it cannot tell.
            logger.warning("database unreachable: quota headers left out for account %s", self.account.pk)

    def headers(self) -> dict[str, str]:
        headers = {"X-RateLimit-Limit": str(self.limits.rate_limit_per_minute)}
        if self.quota_used is not None:
            headers.update(quota_headers(used=self.quota_used, limit=self.limits.monthly_limit))
        if self.rate is not None:  # without a count there is nothing true to say about the minute
            headers["X-RateLimit-Remaining"] = str(self.rate.remaining)
            headers["X-RateLimit-Reset"] = str(self.rate.resets_at)
        return headers


class MeteredApiView(APIView):
    """Base of every /api/v1/ view.

    - A valid key is required (401) on a plan with API access (403): `request.auth` is the ApiKey.
    - Every request with a valid key counts towards its account's per-minute rate limit, refused
      ones included; over it, the answer is 429 with Retry-After and the view does not run (403
      still, for a plan without API access).
    - Every answer to a valid key, errors included, carries X-RateLimit-Limit/-Remaining/-Reset and
      X-Quota-Used/-Limit (a request without a valid key has no account to speak of). A view that
      succeeds sets `metering.quota_used` from what its work learned; for an error, the count is
      learned within DRF's exception handling (`handle_exception`), so nothing is read from the
      database once the answer is decided.
    - Every such request is recorded (usage.models.RequestRecord) once it is answered.
    """

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiAccess]
    metering: Metering | None = None

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # Every answer is JSON whatever Accept says (optimize's images are answered outside DRF's
        # renderers): a 406 would come before the key is even checked.
        return super().perform_content_negotiation(request, force=True)

    def options(self, request: Request, *args, **kwargs) -> Response:
        """The methods the path allows, in the Allow header, and the usage headers of every answer
        to a valid key: not DRF's description of the view (its docstring, parsers and renderers),
        which the API reference does not promise."""
        self.metering.read_quota_used()
        return Response(status=status.HTTP_204_NO_CONTENT)

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        arrived_at, started = timezone.now(), time.perf_counter()
        self.metering = None
        response = super().dispatch(request, *args, **kwargs)
        if self.metering is not None:
            duration_ms = round((time.perf_counter() - started) * 1000)
            self._record(request, response, arrived_at=arrived_at, duration_ms=duration_ms)
        return response

    def check_permissions(self, request: Request) -> None:
        # Runs right after authentication: the rate limit is counted before the plan is checked,
        # so that every answer to a valid key, a 403 included, has the account's headers.
        if isinstance(request.auth, ApiKey):
            self.metering = Metering(api_key=request.auth, limits=account_limits(account=request.auth.account))
            try:
                self.metering.rate = rate_limit_hit(account=self.metering.account)
            except RateLimited as refused:
                if self.metering.limits.api_access:
                    raise
                # Without API access the answer is the 403 below however fast the key calls: a 429
                # would tell a client to wait for what waiting never brings.
                self.metering.rate = refused.rate
        super().check_permissions(request)

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        if self.metering is not None:
            self.metering.note_error(exc)
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response: HttpResponseBase, *args, **kwargs) -> HttpResponseBase:
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.metering is not None:
            for name, value in self.metering.headers().items():
                response[name] = value
        return response

    def _record(
        self, request: HttpRequest, response: HttpResponseBase, *, arrived_at: datetime, duration_ms: int
    ) -> None:
        metering = self.metering
        try:
            request_record_create(
                account=metering.account,
                api_key=metering.api_key,
                created_at=arrived_at,
                endpoint=f"{request.method} {request.path}",
                status=response.status_code,
                duration_ms=duration_ms,
                bytes_in=metering.bytes_in,
                bytes_out=metering.bytes_out,
                output_format=metering.output_format,
            )
        except Exception:
            # The answer is already decided (and a quota possibly charged): a missing record is
            # the lesser harm.
            logger.exception("could not record API request of account %s", metering.account.pk)
