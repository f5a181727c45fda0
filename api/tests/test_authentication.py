"""Bearer authentication and API access, through the HTTP client on GET /api/v1/usage."""

import logging

import pytest
from django.urls import reverse

from apikeys.keys import generate_key
from apikeys.models import ApiKey
from apikeys.services import api_key_revoke
from apikeys.tests.factories import ApiKeyFactory, bad_checksum, unknown_key

pytestmark = pytest.mark.django_db

UNAUTHORIZED = {"error": "Missing or invalid API key", "code": "UNAUTHORIZED"}
USAGE_URL = reverse("api-usage")


def get_usage(client, authorization: str | None = None, query: str = ""):
    headers = {"Authorization": authorization} if authorization is not None else {}
    return client.get(USAGE_URL + query, headers=headers)


def assert_unauthorized(response) -> None:
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing header"),
        pytest.param("", id="empty header"),
        pytest.param("Basic dXNlcjpwYXNz", id="wrong scheme"),
        pytest.param("Token {key}", id="token scheme"),
        pytest.param("{key}", id="no scheme"),
        pytest.param("Bearer", id="no key"),
        pytest.param("Bearer {key} {key}", id="two keys"),
        pytest.param("Bearer not-a-key", id="malformed"),
        pytest.param("Bearer {key}x", id="too long"),
        pytest.param("Bearer {bad_checksum}", id="bad checksum"),
        pytest.param("Bearer {unknown}", id="unknown key"),
    ],
)
def test_every_refused_key_gets_the_same_401(client, pro_api_key, authorization):
    if authorization is not None:
        authorization = authorization.format(
            key=pro_api_key, bad_checksum=bad_checksum(pro_api_key), unknown=unknown_key()
        )

    assert_unauthorized(get_usage(client, authorization))


def test_a_revoked_key_gets_the_same_401(client, pro_api_key):
    assert get_usage(client, f"Bearer {pro_api_key}").status_code == 200

    api_key_revoke(api_key=ApiKey.objects.get())

    assert_unauthorized(get_usage(client, f"Bearer {pro_api_key}"))


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("?api_key={key}", id="the key"),
        pytest.param("?key={other}", id="another key"),
        pytest.param("?token=pk_live_abc", id="anything like a key"),
        pytest.param("?k=pk%5Flive%5F{key_rest}", id="percent-encoded"),
        pytest.param("?{key}", id="bare"),
    ],
)
def test_a_key_in_the_query_string_is_refused_even_with_a_valid_header(client, pro_api_key, query):
    query = query.format(key=pro_api_key, other=generate_key(), key_rest=pro_api_key[8:])

    assert_unauthorized(get_usage(client, f"Bearer {pro_api_key}", query))


def test_other_query_parameters_are_fine(client, pro_api_key):
    assert get_usage(client, f"Bearer {pro_api_key}", "?verbose=1").status_code == 200


def test_a_free_plan_key_is_forbidden(client, free_account):
    key = generate_key()
    ApiKeyFactory(account=free_account, key=key)

    response = get_usage(client, f"Bearer {key}")

    assert response.status_code == 403
    assert response.json() == {"error": "API access requires Pro plan or higher", "code": "FORBIDDEN"}


@pytest.mark.parametrize("account_fixture", ["pro_account", "agency_account"])
def test_pro_and_agency_keys_are_accepted(client, request, account_fixture):
    account = request.getfixturevalue(account_fixture)
    key = generate_key()
    ApiKeyFactory(account=account, key=key)

    response = get_usage(client, f"Bearer {key}")

    assert response.status_code == 200
    assert response.json()["plan"] == account.plan.code


def test_the_scheme_is_case_insensitive(client, pro_api_key):
    assert get_usage(client, f"bearer {pro_api_key}").status_code == 200


def test_a_session_is_no_substitute_for_a_key(signed_in_client):
    assert_unauthorized(get_usage(signed_in_client))


def test_last_used_is_written_once_a_minute_not_on_every_request(client, pro_api_key, django_assert_num_queries):
    authorization = f"Bearer {pro_api_key}"

    # The key with its account, plan and owner in one query, then the time of use; and the usage
    # endpoint's own two: this month's count and the request record.
    with django_assert_num_queries(4):
        assert get_usage(client, authorization).status_code == 200
    first_use = ApiKey.objects.get().last_used_at
    with django_assert_num_queries(3):
        assert get_usage(client, authorization).status_code == 200

    assert first_use is not None
    assert ApiKey.objects.get().last_used_at == first_use


def test_keys_never_reach_the_logs(client, pro_api_key, caplog):
    caplog.set_level(logging.DEBUG)

    get_usage(client, f"Bearer {pro_api_key}")
    get_usage(client, f"Bearer {bad_checksum(pro_api_key)}")
    get_usage(client, f"Bearer {unknown_key()}")
    get_usage(client, f"Bearer {pro_api_key}", f"?api_key={pro_api_key}")
    api_key_revoke(api_key=ApiKey.objects.get())
    get_usage(client, f"Bearer {pro_api_key}")

    assert [record.getMessage() for record in caplog.records].count("request") == 5  # the requests were logged...
    assert "pk_live_" not in caplog.text  # ...without their keys
