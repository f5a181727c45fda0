import hmac

from accounts.models import Account
from apikeys.keys import hash_key, is_well_formed, lookup_prefix
from apikeys.models import ApiKey

# Compared against when no row matches, so an unknown key costs the same work as a wrong one.
_NO_MATCH_HASH = "0" * 64


def api_key_list(*, account: Account) -> list[ApiKey]:
    """The account's active keys, newest first."""
    return list(ApiKey.objects.active().filter(account=account).order_by("-created_at", "-pk"))


def api_key_get(*, account: Account, pk: int) -> ApiKey:
    """One of the account's active keys. Raises ApiKey.DoesNotExist for another account's key."""
    return ApiKey.objects.active().get(account=account, pk=pk)


def api_key_verify(*, key: str) -> ApiKey | None:
    """The active key that `key` is, with its account, plan and owner loaded, or None.

    A malformed key or a bad checksum is refused without a database query; anything else costs one
    query and one constant-time comparison of hashes, whether or not a row matches.
    """
    if not is_well_formed(key):
        return None
    candidate = (
        ApiKey.objects.active()
        .select_related("account__plan", "account__owner")
        .filter(prefix=lookup_prefix(key), account__owner__is_active=True)
        .first()
    )
    matches = hmac.compare_digest(hash_key(key), candidate.key_hash if candidate else _NO_MATCH_HASH)
    return candidate if candidate and matches else None
