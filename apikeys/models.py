from django.db import models

from accounts.models import Account
from apikeys.keys import LOOKUP_PREFIX_LENGTH, display_prefix


class ApiKeyQuerySet(models.QuerySet):
    def active(self) -> "ApiKeyQuerySet":
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A key an account's code calls the API with. Only its lookup prefix and a keyed hash are
    stored: the key itself is shown once, at creation, and never again."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="What the customer uses the key for.")
    prefix = models.CharField(max_length=LOOKUP_PREFIX_LENGTH, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False, help_text="Within a minute.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix})"

    @property
    def display_prefix(self) -> str:
        return display_prefix(self.prefix)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
