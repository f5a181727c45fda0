"""The API's errors as exceptions: one class per kind of answer, all under `SmolpixError`.

Each carries what the API said: the HTTP status, the machine `code`, the human `message`, the whole
JSON `body` and, where the server sent one, `retry_after` (seconds, also from a Retry-After date).
"""

from __future__ import annotations

import re
import time
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

# The 429 answers share a code; their messages tell them apart (see the API's README).
QUOTA_MESSAGE = "Monthly image limit reached"
QUOTA_IN_FLIGHT_MESSAGE = (
    "This month's last images are held by your requests still being processed; those that fail give "
    "theirs back: retry after the seconds in Retry-After."
)


# What comes before a URL's host: its scheme, and a user name and password ("user:secret@"), if any.
_CREDENTIALS = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)?[^/?#]*@")


def without_credentials(url: str) -> str:
    """`url` as it may be shown: without the user name and password it may carry."""
    return _CREDENTIALS.sub(r"\1", url)


class MissingApiKey(ValueError):
    """No API key was given, nor found in $SMOLPIX_API_KEY."""


class InvalidApiKey(ValueError):
    """The API key (given, or in $SMOLPIX_API_KEY) has characters no key has: not printable ASCII
    (a mistyped or mis-pasted key), which could not even be sent in a header."""


class InvalidBaseUrl(ValueError):
    """The base URL (given, or in $SMOLPIX_BASE_URL) is not an http(s) address with a host (and no
    query or fragment)."""


class SmolpixError(Exception):
    """Anything the API refused or failed to do, or a server that could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        body: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status  # None: no answer came (ConnectionFailed)
        self.code = code
        self.body = body or {}
        self.retry_after = retry_after

    def __str__(self) -> str:
        prefix = " ".join(str(part) for part in (self.status, self.code) if part is not None)
        return f"{prefix}: {self.message}" if prefix else self.message


class ConnectionFailed(SmolpixError):
    """The server could not be reached, or the connection broke, after the retries."""


class NotSent(SmolpixError):
    """The request was waiting to be sent (for the rate limit's next minute, or a Retry-After) when
    `AsyncClient.stop_waiting` was called: it never reached the server."""


class Unauthorized(SmolpixError):
    """401: the API key is missing, malformed, unknown or revoked."""


class PlanRequired(SmolpixError):
    """403: the account's plan has no API access (Pro or Agency needed)."""


class LimitReached(SmolpixError):
    """429 LIMIT_REACHED: `used` of `limit` (requests this minute, or images this month)."""

    @property
    def used(self) -> int | None:
        return self.body.get("used")

    @property
    def limit(self) -> int | None:
        return self.body.get("limit")


class RateLimited(LimitReached):
    """429: more requests this minute than the plan allows; `retry_after` says when to try again."""


class QuotaHeldInFlight(RateLimited):
    """429: the month's last images are held by the account's requests still running, which give
    theirs back if they fail. Retried after each `retry_after` (a few seconds) for as long as a
    request may run on the server (`Retries.max_in_flight_wait`); raised only past that. A
    `RateLimited` too, so code that catches that catches this."""


class QuotaExceeded(LimitReached):
    """429: the month's images are used up; never retried (`retry_after` is the start of next month)."""


class InvalidRequest(SmolpixError):
    """400 (and other refusals of the request itself): `field` names the parameter at fault."""

    @property
    def field(self) -> str | None:
        return self.body.get("field")


class FetchFailed(InvalidRequest):
    """400 FETCH_FAILED: the server could not download the image at `url`."""


class UnsupportedImage(InvalidRequest):
    """400 UNSUPPORTED_IMAGE: not a JPEG, PNG, GIF, WebP, AVIF/HEIC, TIFF or BMP image, or damaged."""


class ImageTooLarge(InvalidRequest):
    """400 IMAGE_TOO_LARGE: too many bytes or pixels."""


class ServerError(SmolpixError):
    """500 (or another 5xx): the optimization failed on the server; nothing was charged."""


class ServiceUnavailable(ServerError):
    """503: a backing service of the API is briefly down; worth retrying after `retry_after`."""


_LIMITS_BY_MESSAGE: dict[str, type[LimitReached]] = {
    QUOTA_MESSAGE: QuotaExceeded,
    QUOTA_IN_FLIGHT_MESSAGE: QuotaHeldInFlight,
}
_BY_CODE: dict[str, type[SmolpixError]] = {
    "FETCH_FAILED": FetchFailed,
    "UNSUPPORTED_IMAGE": UnsupportedImage,
    "IMAGE_TOO_LARGE": ImageTooLarge,
}


def error_from_response(response: httpx.Response) -> SmolpixError:
    """The exception for an answer that is not a success."""
    body = _json_object(response)
    status = response.status_code
    code = body.get("code")
    message = body.get("error") or response.reason_phrase or f"HTTP {status}"
    if status == 404:  # the client asks only for the API's own paths: the base URL is wrong
        url = without_credentials(str(response.url))
        message = f"{message}: {url} is not the Smolpix API's; is the base URL right?"
    if response.is_redirect:  # not followed: a POST would be sent again, or as a GET
        url = without_credentials(str(response.url.join(response.headers["Location"])))
        message = f"{message}: redirected to {url}; is the base URL right?"
    return _error_class(status, code, message)(
        message, status=status, code=code, body=body, retry_after=retry_after(response)
    )


def _error_class(status: int, code: str | None, message: str) -> type[SmolpixError]:
    if status == 401:
        return Unauthorized
    if status == 403:
        return PlanRequired
    if status == 429:
        return _LIMITS_BY_MESSAGE.get(message, RateLimited)
    if status == 503:
        return ServiceUnavailable
    if status >= 500:
        return ServerError
    if code in _BY_CODE:
        return _BY_CODE[code]
    if code in ("BAD_REQUEST", "INVALID_URL"):
        return InvalidRequest
    return SmolpixError  # 404, 405...: a wrong base URL or an API this client does not know


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds; None when it is absent or neither seconds nor a date.

    The API sends whole seconds; a proxy or load balancer in front of it may send an HTTP-date
    (RFC 9110), which counts from the answer's Date, so that a skewed local clock does not matter
    (from this clock's now without one), and is 0 once past."""
    header = response.headers.get("Retry-After")
    seconds = whole_number(header)
    if seconds is not None:
        return float(seconds)
    retry_at = http_date(header)
    if retry_at is None:
        return None
    sent_at = http_date(response.headers.get("Date"))
    return max(0.0, retry_at - (time.time() if sent_at is None else sent_at))


def http_date(header: str | None) -> float | None:
    """A header's HTTP-date ("Wed, 21 Oct 2026 07:28:00 GMT") as a Unix time; None when it is absent
    or not a date (Python 3.9 raises TypeError for what does not parse, later ones ValueError)."""
    try:
        moment = parsedate_to_datetime((header or "").strip())
    except (TypeError, ValueError, OverflowError):
        return None
    if moment.tzinfo is None:  # the forms without a zone (asctime's, "-0000"): HTTP-dates are in UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def whole_number(header: str | None) -> int | None:
    """A header's value as a whole number; None when it is absent or not ASCII digits alone:
    str.isdigit() also accepts "²" (a Latin-1 byte a proxy may send), which int() refuses."""
    value = (header or "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:  # a proxy's HTML page, an empty body
        return {}
    return body if isinstance(body, dict) else {}
