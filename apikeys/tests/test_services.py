import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError

from accounts.tests.factories import AccountFactory
from apikeys.keys import hash_key, lookup_prefix
from apikeys.models import ApiKey
from apikeys.selectors import api_key_get, api_key_list, api_key_verify
from apikeys.services import MAX_ACTIVE_KEYS, api_key_create, api_key_record_use, api_key_revoke
from apikeys.tests.factories import ApiKeyFactory, bad_checksum

pytestmark = pytest.mark.django_db


def test_create_returns_the_key_and_stores_only_its_prefix_and_hash(pro_account):
    api_key, key = api_key_create(account=pro_account, name="  Production  ")

    api_key.refresh_from_db()
    assert api_key.name == "Production"
    assert api_key.account == pro_account
    assert api_key.prefix == lookup_prefix(key)
    assert api_key.key_hash == hash_key(key)
    stored = [str(value) for value in ApiKey.objects.values_list().get(pk=api_key.pk)]
    assert not any(key in value for value in stored)
    assert api_key.is_active and api_key.last_used_at is None


@pytest.mark.parametrize(("name", "message"), [("   ", "Give the key a name"), ("x" * 101, "at most 100")])
def test_create_refuses_a_bad_name(pro_account, name, message):
    with pytest.raises(ValidationError, match=message):
        api_key_create(account=pro_account, name=name)
    assert not ApiKey.objects.exists()


def test_create_refuses_a_sixth_active_key(pro_account):
    for number in range(MAX_ACTIVE_KEYS):
        api_key_create(account=pro_account, name=f"key {number}")

    with pytest.raises(ValidationError, match="already have 5 active API keys") as refusal:
        api_key_create(account=pro_account, name="one too many")

    assert refusal.value.code == "too_many_keys"
    assert pro_account.api_keys.count() == MAX_ACTIVE_KEYS


def test_revoked_keys_do_not_count_towards_the_limit(pro_account):
    ApiKeyFactory.create_batch(MAX_ACTIVE_KEYS, account=pro_account)
    api_key_revoke(api_key=pro_account.api_keys.first())

    api_key_create(account=pro_account, name="replacement")

    assert pro_account.api_keys.active().count() == MAX_ACTIVE_KEYS


def test_the_limit_is_per_account(pro_account):
    ApiKeyFactory.create_batch(MAX_ACTIVE_KEYS, account=AccountFactory(pro=True))

    api_key_create(account=pro_account, name="mine")


def test_revoke_is_immediate_and_keeps_the_first_revocation_time(pro_account, pro_api_key):
    api_key = api_key_verify(key=pro_api_key)

    api_key_revoke(api_key=api_key)
    first_revocation = api_key.revoked_at
    api_key_revoke(api_key=api_key)

    assert first_revocation is not None
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at == first_revocation
    assert api_key_verify(key=pro_api_key) is None


def test_verify_finds_an_active_key_with_its_account_and_plan_in_one_query(
    pro_account, pro_api_key, django_assert_num_queries
):
    with django_assert_num_queries(1):
        api_key = api_key_verify(key=pro_api_key)
        assert api_key.account == pro_account
        assert api_key.account.plan.code == "pro"
        assert api_key.account.owner.account == pro_account


def test_verify_refuses_a_bad_checksum_without_a_query(pro_api_key, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert api_key_verify(key=bad_checksum(pro_api_key)) is None


def test_verify_refuses_an_unknown_key(pro_api_key):
    api_key = ApiKey.objects.get()
    api_key.key_hash = hash_key("pk_live_something-else")
    api_key.save()

    assert api_key_verify(key=pro_api_key) is None


def test_verify_refuses_every_key_once_the_hash_secret_changes(pro_api_key, settings):
    settings.API_KEY_HASH_SECRET = "rotated"

    assert api_key_verify(key=pro_api_key) is None


def test_verify_refuses_the_key_of_a_deactivated_user(pro_account, pro_api_key):
    pro_account.owner.is_active = False
    pro_account.owner.save()

    assert api_key_verify(key=pro_api_key) is None


def test_record_use_writes_at_most_once_a_minute(pro_api_key, django_assert_num_queries):
    api_key = api_key_verify(key=pro_api_key)

    with django_assert_num_queries(1):
        api_key_record_use(api_key=api_key)
    first_use = ApiKey.objects.get().last_used_at
    with django_assert_num_queries(0):
        api_key_record_use(api_key=api_key)

    assert first_use is not None
    assert ApiKey.objects.get().last_used_at == first_use


def test_record_use_skips_the_write_when_the_cache_is_down(pro_api_key, monkeypatch):
    api_key = api_key_verify(key=pro_api_key)

    def unreachable(*args, **kwargs):
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(cache, "add", unreachable)
    api_key_record_use(api_key=api_key)

    assert ApiKey.objects.get().last_used_at is None


def test_list_and_get_show_only_the_accounts_active_keys(pro_account):
    revoked = ApiKeyFactory(account=pro_account)
    api_key_revoke(api_key=revoked)
    older, newer = ApiKeyFactory(account=pro_account), ApiKeyFactory(account=pro_account)
    someone_elses = ApiKeyFactory()

    assert api_key_list(account=pro_account) == [newer, older]
    assert api_key_get(account=pro_account, pk=older.pk) == older
    for other in (revoked, someone_elses):
        with pytest.raises(ApiKey.DoesNotExist):
            api_key_get(account=pro_account, pk=other.pk)
