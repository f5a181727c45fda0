"""Security headers on every response: a strict Content-Security-Policy next to the frame,
referrer and nosniff headers; and no page carries inline script or style the policy would refuse."""

import re

import pytest
from django.urls import reverse

from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PUBLIC = [
    "/",
    "/pricing/",
    "/docs/",
    "/status/",
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/signup/?next=/billing/checkout/agency/",
    "/accounts/signup/done/",
    "/accounts/password_reset/",
]
SIGNED_IN = [
    "/dashboard/",
    "/dashboard/keys/",
    "/dashboard/try/",
    "/billing/",
    "/billing/checkout/agency/",
    "/accounts/password_change/",
]
OTHER = ["/api/explorer/", "/admin/login/", "/healthz", "/api/v1/usage", "/no-such-page/"]


def test_every_response_carries_the_policy_and_the_other_security_headers(client, pro_account):
    client.force_login(pro_account.owner)

    for path in PUBLIC + SIGNED_IN + OTHER:
        response = client.get(path)
        csp = response["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp, path
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert response["X-Frame-Options"] == "DENY", path
        assert response["Referrer-Policy"] == "same-origin", path
        assert response["X-Content-Type-Options"] == "nosniff", path


def test_no_page_has_inline_script_or_style(client, pro_account, fake_stripe):
    pages = {path: client.get(path) for path in PUBLIC}  # signed out: signed in, sign-up is a redirect
    client.force_login(pro_account.owner)
    pages |= {path: client.get(path) for path in [*SIGNED_IN, "/api/explorer/"]}
    pages["the new key's panel"] = client.post(reverse("apikeys:list"), {"name": "CSP"}, follow=True)

    assert "export SMOLPIX_API_KEY=" in pages["the new key's panel"].content.decode()
    assert (
        "You chose the <strong>Agency</strong> plan."
        in pages["/accounts/signup/?next=/billing/checkout/agency/"].content.decode()
    )
    for path, response in pages.items():
        page = response.content.decode()
        assert response.status_code == 200 and "<main" in page, path  # the page itself, not a redirect
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert "<style" not in page and " style=" not in page, path
        assert not re.search(r"\son[a-z]+=", page), path  # onclick= and the like


def test_the_admin_has_no_inline_script_or_style_either(admin_client):
    UserFactory()
    for path in [
        reverse("admin:index"),
        reverse("admin:accounts_user_changelist"),
        reverse("admin:accounts_plan_changelist"),
    ]:
        page = admin_client.get(path).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", page), path
        assert "<style" not in page and " style=" not in page, path


def test_signed_in_pages_are_private_and_not_stored_public_ones_are_left_alone(client, pro_account):
    """One customer's usage, billing and keys: for no shared cache, nor a browser's after sign-out."""
    for path in PUBLIC[:3]:
        assert "private" not in client.get(path).get("Cache-Control", ""), path

    client.force_login(pro_account.owner)
    for path in SIGNED_IN:
        cache_control = {part.strip() for part in client.get(path)["Cache-Control"].split(",")}
        assert {"private", "no-store"} <= cache_control, path


@pytest.mark.parametrize("path", ["/api/v1/optimize", "/api/v1/usage?month=2026-12"])
def test_an_api_call_over_plain_http_is_refused_with_json_where_a_page_is_redirected(client, settings, path):
    """A 301 made clients resend the POST as a GET without its body, and answered them HTML."""
    settings.SECURE_SSL_REDIRECT = True

    response = client.post(path, {"url": "https://example.com/a.png"}, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"
    assert f"https://testserver{path}" in response.json()["error"]
    assert response["X-Content-Type-Options"] == "nosniff"
    for page in ("/pricing/", "/api/explorer/"):
        assert client.get(page).headers["Location"] == f"https://testserver{page}"
    assert client.post(path, secure=True).status_code == 401  # over HTTPS the call goes on


def test_healthz_says_how_long_its_answer_is(client, eager_tasks):
    response = client.get("/healthz")

    assert int(response["Content-Length"]) == len(response.content)
