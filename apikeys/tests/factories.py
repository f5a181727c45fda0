import factory
from factory.django import DjangoModelFactory

from accounts.tests.factories import AccountFactory
from apikeys.keys import checksum, generate_key, hash_key, lookup_prefix
from apikeys.models import ApiKey


class ApiKeyFactory(DjangoModelFactory):
    """A stored key. Pass `key=generate_key()` to know the full key the row stands for."""

    class Meta:
        model = ApiKey

    class Params:
        key = factory.LazyFunction(generate_key)

    account = factory.SubFactory(AccountFactory, pro=True)
    name = factory.Sequence(lambda n: f"Key {n}")
    prefix = factory.LazyAttribute(lambda o: lookup_prefix(o.key))
    key_hash = factory.LazyAttribute(lambda o: hash_key(o.key))


def full_key_for(account) -> str:
    """Store a new key for `account` and return the full key (`pk_live_…`) it stands for."""
    key = generate_key()
    ApiKeyFactory(account=account, key=key)
    return key


def bad_checksum(key: str) -> str:
    """`key` with its last character changed (never to itself): the typo its checksum catches."""
    return key[:-1] + ("A" if key[-1] != "A" else "B")


def unknown_key() -> str:
    """A well-formed key (correct checksum) that no row stands for."""
    body = "pk_live_" + "Z" * 32
    return body + checksum(body)
