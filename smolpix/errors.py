"""The domain's exceptions: what services and selectors raise instead of HTTP answers.

Each carries the facts a caller needs as attributes. The API turns each kind into its JSON body,
status and headers in one place (`api.errors`); the pages say the same in their own words. The
kinds that belong to one app live next to the service that raises them: `usage.services`
(`QuotaExceeded`), `usage.ratelimit` (`RateLimited`), `optimizer.fetch` and `optimizer.probe`
(the source refusals), `optimizer.services` (`OptimizationFailed`, `WorkerLost`, `NoCapacity`).
"""

from typing import Self


class SmolpixError(Exception):
    """Base of every exception the domain raises on purpose."""


class SourceRefused(SmolpixError):
    """The customer's image, or its URL, cannot be optimized. `message` is safe to show to the
    customer; `field` is the request field the source came in (`url` or `file`), once known."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def concerning(self, field: str) -> Self:
        """The same refusal, about the request field `field` (the code that finds the fault does
        not know how the source was sent)."""
        return type(self)(self.message, field=field)


class ServiceUnavailable(SmolpixError):
    """A backing service (database, cache, queue, workers) cannot be reached or is full: nothing
    the customer did wrong, worth retrying after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
