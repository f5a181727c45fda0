import pytest
from django.urls import reverse

from apikeys.keys import generate_key
from apikeys.models import ApiKey
from apikeys.tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:apikeys_apikey_changelist")


@pytest.fixture
def staff_client(admin_client):
    return admin_client


def test_staff_see_keys_with_their_prefix_never_the_secret_or_its_hash(staff_client):
    key = generate_key()
    api_key = ApiKeyFactory(key=key, name="Production", account__owner__email="shop@example.com")

    for url in (CHANGELIST_URL, reverse("admin:apikeys_apikey_change", args=[api_key.pk])):
        body = staff_client.get(url).content.decode()
        assert api_key.display_prefix in body
        assert "Production" in body and "shop@example.com" in body
        assert key[:16] not in body
        assert api_key.key_hash not in body


@pytest.mark.parametrize("lookup", ["key_hash__startswith", "key_hash", "key_hash__regex"])
@pytest.mark.parametrize("guess", ["right", "wrong"])
def test_the_list_does_not_filter_on_the_hash_a_guess_at_a_time(staff_client, lookup, guess):
    """Counting the rows `?key_hash__startswith=e` listed, a character at a time, read any key's
    hash (the account audit, 2026-12-07); the answer is now the same whatever the guess."""
    key_hash = ApiKeyFactory().key_hash
    value = key_hash if guess == "right" else key_hash[::-1]

    response = staff_client.get(CHANGELIST_URL, {lookup: value[:1] if lookup.endswith("startswith") else value})

    assert response.status_code == 400


def test_staff_revoke_keys_with_an_action(staff_client):
    to_revoke, to_keep = ApiKeyFactory(), ApiKeyFactory()

    response = staff_client.post(CHANGELIST_URL, {"action": "revoke", "_selected_action": [to_revoke.pk]}, follow=True)

    assert "Revoked 1 key(s)." in response.content.decode()
    assert not ApiKey.objects.get(pk=to_revoke.pk).is_active
    assert ApiKey.objects.get(pk=to_keep.pk).is_active


def test_staff_can_neither_add_nor_delete_keys(staff_client):
    api_key = ApiKeyFactory()

    assert staff_client.get(reverse("admin:apikeys_apikey_add")).status_code == 403
    assert staff_client.get(reverse("admin:apikeys_apikey_delete", args=[api_key.pk])).status_code == 403


def test_the_admin_is_for_staff_only(client, pro_account):
    client.force_login(pro_account.owner)

    response = client.get(CHANGELIST_URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
