import logging

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from apikeys.keys import generate_key, hash_key, lookup_prefix
from apikeys.models import ApiKey
from smolpix.outages import traceback_due

logger = logging.getLogger(__name__)

MAX_ACTIVE_KEYS = 5
LAST_USED_RESOLUTION_SECONDS = 60
NAME_MAX_LENGTH = ApiKey._meta.get_field("name").max_length


@transaction.atomic
def api_key_create(*, account: Account, name: str) -> tuple[ApiKey, str]:
    """Create a key for `account`; returns it with the full key, which is never available again.

    Raises ValidationError for a blank or too long name, or when the account already has
    MAX_ACTIVE_KEYS active keys (revoked keys do not count).
    """
    name = name.strip()
    if not name:
        raise ValidationError("Give the key a name, e.g. where it will be used.", code="name_required")
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError(f"The name can have at most {NAME_MAX_LENGTH} characters.", code="name_too_long")
    # Simultaneous creations for one account wait for each other here, so each counts the keys the
    # previous one left and the limit holds under concurrency.
    Account.objects.select_for_update().only("pk").get(pk=account.pk)
    if ApiKey.objects.active().filter(account=account).count() >= MAX_ACTIVE_KEYS:
        raise ValidationError(
            f"You already have {MAX_ACTIVE_KEYS} active API keys, the most an account can have. "
            "Revoke one to create another.",
            code="too_many_keys",
        )
    key = generate_key()
    api_key = ApiKey.objects.create(account=account, name=name, prefix=lookup_prefix(key), key_hash=hash_key(key))
    return api_key, key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke the key, immediately and for good. Revoking it again keeps the first revocation time."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


def api_key_record_use(*, api_key: ApiKey) -> None:
    """Record that the key was just used, writing at most once a minute per key: the API's hot path
    must not write to the database on every request."""
    try:
        first_use_this_minute = cache.add(
            f"apikeys:last-used:{api_key.prefix}", True, timeout=LAST_USED_RESOLUTION_SECONDS
        )
    except Exception as error:
        # The time of last use is informative only: an unreachable cache must not refuse API calls.
        logger.warning(
            "cache unavailable: last use of API key id %s not recorded",
            api_key.pk,
            exc_info=error if traceback_due(error) else None,
        )
        return
    if first_use_this_minute:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
