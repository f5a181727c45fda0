import pytest
from django.urls import reverse

from apikeys.keys import generate_key
from apikeys.tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db


def get_usage(client, account):
    key = generate_key()
    ApiKeyFactory(account=account, key=key)
    return client.get(reverse("api-usage"), headers={"Authorization": f"Bearer {key}"})


def test_usage_shows_the_plan_and_its_limits(client, pro_account):
    response = get_usage(client, pro_account)

    assert response.status_code == 200
    assert response.json() == {"plan": "pro", "monthlyLimit": 10000, "rateLimitPerMinute": 60}


def test_usage_shows_unlimited_as_null(client, agency_account):
    assert get_usage(client, agency_account).json() == {
        "plan": "agency",
        "monthlyLimit": None,
        "rateLimitPerMinute": 120,
    }


def test_usage_shows_the_accounts_overrides(client, pro_account):
    pro_account.monthly_limit_override = 25_000
    pro_account.rate_limit_override = 300
    pro_account.save()

    assert get_usage(client, pro_account).json() == {"plan": "pro", "monthlyLimit": 25000, "rateLimitPerMinute": 300}


def test_usage_only_answers_get(client, pro_api_key):
    response = client.post(reverse("api-usage"), headers={"Authorization": f"Bearer {pro_api_key}"})

    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"
