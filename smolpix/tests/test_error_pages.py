"""Site pages never show Django's bare error pages: they keep the site's look and say what to do."""

import pytest
from django import db
from django.test import Client
from redis.exceptions import ConnectionError as RedisConnectionError

pytestmark = pytest.mark.django_db


def test_an_unknown_page_is_a_branded_404(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body
    assert 'class="site-header"' in body


def test_a_crash_is_a_branded_500_without_internals(monkeypatch):
    def crash():
        raise RuntimeError("secret detail /etc/smolpix")

    monkeypatch.setattr("smolpix.views.plan_list", crash)
    client = Client(raise_request_exception=False)

    response = client.get("/pricing/")

    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong on our side" in body
    assert "secret detail" not in body


@pytest.mark.parametrize(
    "outage",
    [db.OperationalError("could not connect to server"), RedisConnectionError("Connection refused")],
    ids=["postgresql", "redis"],
)
def test_an_outage_is_a_branded_503_to_retry_not_a_500(monkeypatch, pro_account, outage):
    def unreachable():
        raise outage

    monkeypatch.setattr("smolpix.views.plan_list", unreachable)
    client = Client(raise_request_exception=False)
    client.force_login(pro_account.owner)  # who is signed in is not asked again: the session may be down too

    response = client.get("/pricing/")

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    body = response.content.decode()
    assert "We will be back in a minute" in body
    assert 'class="site-header"' in body
    assert "Log out" not in body
    assert "could not connect" not in body


def test_an_outage_outside_the_api_views_is_still_the_api_s_json_503_under_api(monkeypatch):
    # Met in a middleware, before or after the API view's own error handling: Django's handler
    # answers, in the API's language.
    def unreachable(request):
        raise db.InterfaceError("connection already closed")

    monkeypatch.setattr("smolpix.middleware._caller", unreachable)
    client = Client(raise_request_exception=False)

    response = client.get("/api/v1/usage")

    assert response.status_code == 503
    assert response.json() == {
        "error": "The service is briefly unavailable; please try again in a minute.",
        "code": "SERVICE_UNAVAILABLE",
    }
    assert response["Retry-After"] == "30"
