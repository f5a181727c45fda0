from django.db import models
from django.utils import timezone

from accounts.models import Account
from apikeys.models import ApiKey


class MonthlyUsage(models.Model):
    """The images an account optimized in one calendar month (UTC): the count its quota is checked
    against. Only `usage.services` writes `used`, always in one SQL statement."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="monthly_usage")
    month = models.DateField(help_text="The first day of the month (UTC).")
    used = models.PositiveIntegerField(
        default=0,
        help_text="Images charged this month: successful optimizations, and those still running (given back if "
        "they fail or their process dies).",
    )
    # Each quota e-mail is sent once per monthly limit: one sent for another limit (before a plan
    # change, an override or `setquota`) leaves the e-mail due again for the limit in force.
    warning_sent_at = models.DateTimeField(null=True, blank=True, help_text="When the 80 % e-mail was sent.")
    warning_sent_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="The monthly limit the 80 % e-mail was sent for."
    )
    limit_reached_sent_at = models.DateTimeField(null=True, blank=True, help_text="When the 100 % e-mail was sent.")
    limit_reached_sent_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="The monthly limit the 100 % e-mail was sent for."
    )

    class Meta:
        verbose_name = "monthly usage"
        verbose_name_plural = "monthly usage"
        ordering = ["-month", "account"]
        constraints = [models.UniqueConstraint(fields=["account", "month"], name="usage_one_row_per_account_month")]

    def __str__(self) -> str:
        return f"{self.account} {self.month:%Y-%m}: {self.used}"


class InFlightImage(models.Model):
    """One image of a month's count held by a request still running. The request deletes it when its
    optimization succeeds (the image stays charged) or fails (the image is given back). One still
    here past `expires_at` belongs to a request whose process died: the task
    usage.give_back_lapsed_images deletes it and gives its image back. Only the call that deletes
    the row may give its image back, so no image is given back twice."""

    monthly_usage = models.ForeignKey(MonthlyUsage, on_delete=models.CASCADE, related_name="in_flight_images")
    expires_at = models.DateTimeField(
        db_index=True, help_text="The longest its request can run; after it, the request has surely ended."
    )

    class Meta:
        verbose_name = "image in flight"
        verbose_name_plural = "images in flight"

    def __str__(self) -> str:
        return f"{self.monthly_usage}: in flight until {self.expires_at:%Y-%m-%d %H:%M:%S}"


class RequestRecord(models.Model):
    """One API request of an account, for its dashboard and for staff. Kept for
    REQUEST_RECORD_RETENTION_DAYS, then pruned."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="request_records")
    api_key = models.ForeignKey(
        ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="request_records"
    )
    created_at = models.DateTimeField(default=timezone.now, help_text="When the request arrived.")
    endpoint = models.CharField(max_length=100, help_text='Method and path, e.g. "POST /api/v1/optimize".')
    status = models.PositiveSmallIntegerField(help_text="The HTTP status answered.")
    bytes_in = models.PositiveBigIntegerField(default=0, help_text="Size of the source image; 0 when none was read.")
    bytes_out = models.PositiveBigIntegerField(default=0, help_text="Size of the optimized image; 0 when none.")
    output_format = models.CharField(max_length=10, blank=True, help_text="webp or avif; blank when none.")
    duration_ms = models.PositiveIntegerField(help_text="Time spent answering, in milliseconds.")

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # The dashboard: an account's recent requests and its daily counts.
            models.Index(fields=["account", "created_at"], name="usage_record_account_time"),
            # The admin's date filter and the pruning task.
            models.Index(fields=["created_at"], name="usage_record_time"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.status} at {self.created_at:%Y-%m-%d %H:%M:%S}"
