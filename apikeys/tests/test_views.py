"""The dashboard's API keys pages, through the HTTP client."""

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from apikeys.keys import KEY_PATTERN
from apikeys.models import ApiKey
from apikeys.services import MAX_ACTIVE_KEYS, api_key_create
from apikeys.tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("apikeys:list")


def keys_in(response) -> list[str]:
    return KEY_PATTERN.findall(response.content.decode())


def call_api(client: Client, key: str) -> int:
    return client.get(reverse("api-usage"), headers={"Authorization": f"Bearer {key}"}).status_code


def test_create_show_once_list_revoke_flow(signed_in_client, pro_account):
    # Create: post, then redirect to the list (post/redirect/get).
    response = signed_in_client.post(LIST_URL, {"name": "Production"})
    assert response.status_code == 302
    assert response.url == LIST_URL

    # The next display shows the full key, once, with a warning and a copy button, uncached, and
    # ready-to-run commands with the key in them (for this host).
    page = signed_in_client.get(LIST_URL)
    assert page.status_code == 200
    key, *in_commands = keys_in(page)
    body = page.content.decode()
    assert "Your new key “Production”" in body
    assert "it will not be shown again" in body
    assert f'data-copy="new-key-value-{ApiKey.objects.get().pk}"' in body
    assert in_commands == [key, key]
    assert f"export SMOLPIX_API_KEY='{key}'" in body
    assert "curl -X POST http://testserver/api/v1/optimize" in body
    assert "no-store" in page["Cache-Control"]
    api_key = ApiKey.objects.get(account=pro_account)

    # Reloading shows the key's name, prefix and times, never the key again.
    page = signed_in_client.get(LIST_URL)
    body = page.content.decode()
    assert keys_in(page) == []
    assert key[:16] not in body
    assert f"<code>{api_key.display_prefix}</code>" in body
    assert "Production" in body
    assert "Never" in body

    # The key works, and the list then says when it was last used.
    assert call_api(signed_in_client, key) == 200
    assert "Never" not in signed_in_client.get(LIST_URL).content.decode()

    # Revoke: a confirmation page first, which changes nothing.
    revoke_url = reverse("apikeys:revoke", args=[api_key.pk])
    confirmation = signed_in_client.get(revoke_url)
    assert confirmation.status_code == 200
    assert "Revoke this key?" in confirmation.content.decode()
    assert call_api(signed_in_client, key) == 200

    response = signed_in_client.post(revoke_url, follow=True)
    assert response.redirect_chain == [(LIST_URL, 302)]
    body = response.content.decode()
    assert f"Revoked “Production” ({api_key.display_prefix}): it no longer works." in body
    assert "No active keys yet" in body
    assert call_api(signed_in_client, key) == 401


def test_two_keys_created_before_the_page_is_shown_are_both_shown_once(signed_in_client):
    """Two tabs, or a form sent twice without JavaScript: the first key created was never shown,
    the second had taken its place (the account audit, 2026-12-07)."""
    for name in ("Tab A", "Tab B"):
        assert signed_in_client.post(LIST_URL, {"name": name}).status_code == 302

    page = signed_in_client.get(LIST_URL)

    body = page.content.decode()
    assert "Your new key “Tab A”" in body and "Your new key “Tab B”" in body
    shown = set(keys_in(page))
    assert len(shown) == 2 and all(call_api(signed_in_client, key) == 200 for key in shown)
    assert keys_in(signed_in_client.get(LIST_URL)) == []


def test_the_new_key_never_reaches_the_database(signed_in_client):
    signed_in_client.post(LIST_URL, {"name": "Production"})
    sessions = [session.get_decoded() for session in Session.objects.all()]

    [key] = set(keys_in(signed_in_client.get(LIST_URL)))

    assert sessions and all(key not in str(data) for data in sessions)
    assert all(key not in str(row) for row in ApiKey.objects.values_list())


def test_a_name_is_required(signed_in_client):
    response = signed_in_client.post(LIST_URL, {"name": "  "})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not ApiKey.objects.exists()


def test_a_sixth_key_is_refused_with_a_clear_message(signed_in_client, pro_account):
    ApiKeyFactory.create_batch(MAX_ACTIVE_KEYS, account=pro_account)

    page = signed_in_client.get(LIST_URL).content.decode()
    assert "You have 5 active keys, the most an account can have. Revoke one to create another." in page
    assert 'name="name"' not in page

    response = signed_in_client.post(LIST_URL, {"name": "one too many"})
    assert response.status_code == 200
    assert 'class="alert error" role="alert">You have 5 active keys' in response.content.decode()
    assert pro_account.api_keys.count() == MAX_ACTIVE_KEYS


def test_the_list_shows_only_the_accounts_active_keys(signed_in_client, pro_account):
    mine = ApiKeyFactory(account=pro_account, name="Mine")
    ApiKeyFactory(account=pro_account, name="Old one", revoked_at="2025-01-01T00:00:00Z")
    ApiKeyFactory(name="Someone else's")

    body = signed_in_client.get(LIST_URL).content.decode()

    assert "Mine" in body and mine.display_prefix in body
    assert "Old one" not in body and "Someone else" not in body
    assert "(1 of 5)" in body


def test_a_free_account_is_told_its_keys_need_an_upgrade(client, free_account):
    client.force_login(free_account.owner)

    body = client.get(LIST_URL).content.decode()

    assert "does not include API access" in body
    assert reverse("pricing") in body


def test_someone_elses_key_cannot_be_revoked(signed_in_client):
    other = ApiKeyFactory()
    revoke_url = reverse("apikeys:revoke", args=[other.pk])

    assert signed_in_client.get(revoke_url).status_code == 404
    assert signed_in_client.post(revoke_url).status_code == 404
    assert ApiKey.objects.get(pk=other.pk).is_active


def test_the_pages_need_a_signed_in_user(client):
    api_key = ApiKeyFactory()

    for url in (LIST_URL, reverse("apikeys:revoke", args=[api_key.pk])):
        response = client.post(url, {"name": "sneaky"})
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    assert ApiKey.objects.get().is_active
    assert ApiKey.objects.count() == 1


def test_every_form_is_protected_against_csrf(pro_account):
    client = Client(enforce_csrf_checks=True)
    client.force_login(pro_account.owner)
    api_key = ApiKeyFactory(account=pro_account)
    revoke_url = reverse("apikeys:revoke", args=[api_key.pk])

    assert "csrfmiddlewaretoken" in client.get(LIST_URL).content.decode()
    assert "csrfmiddlewaretoken" in client.get(revoke_url).content.decode()
    assert client.post(LIST_URL, {"name": "forged"}).status_code == 403
    assert client.post(revoke_url).status_code == 403
    assert ApiKey.objects.get().is_active


def test_the_dashboard_links_to_the_keys(signed_in_client):
    assert f'href="{LIST_URL}"' in signed_in_client.get(reverse("dashboard")).content.decode()


def test_the_keys_page_works_with_the_cache_out_of_reach(signed_in_client, pro_account, unreachable_redis):
    api_key_create(account=pro_account, name="ci")

    response = signed_in_client.get(reverse("apikeys:list"))

    assert response.status_code == 200
    assert "ci" in response.content.decode()
