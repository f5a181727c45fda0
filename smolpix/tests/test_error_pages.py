"""Site pages never show Django's bare error pages: they keep the site's look and say what to do."""

import pytest
from django.test import Client

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
