import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["landing", "pricing", "docs", "signup", "login", "password_reset"])
def test_public_pages_render(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 200
    assert b"<main" in response.content


def test_pricing_shows_every_plan_with_its_price(client):
    body = client.get(reverse("pricing")).content.decode()

    for text in ("Free", "$0", "Pro", "$49", "Agency", "$149", "10,000", "Unlimited"):
        assert text in body


def test_docs_carry_the_reference_examples(client):
    body = client.get(reverse("docs")).content.decode()

    assert "/api/v1/optimize" in body
    for fragment in ("maxWidth", "savingsPercent", "LIMIT_REACHED", "curl -X POST", "import requests", "curl_init"):
        assert fragment in body


def test_docs_describe_the_usage_endpoint_and_headers(client):
    body = client.get(reverse("docs")).content.decode()

    for fragment in ("/api/v1/usage", "resetsAt", "X-RateLimit-Remaining", "X-Quota-Limit", "Retry-After"):
        assert fragment in body


def test_pages_load_no_third_party_assets(client):
    for name in ("landing", "pricing", "docs"):
        body = client.get(reverse(name)).content.decode()
        assert "https://cdn" not in body
        assert 'src="http' not in body
        assert 'href="http' not in body.replace('href="https://smolpix.co', "")
