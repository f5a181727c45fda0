"""Site pages never show Django's bare error pages: they keep the site's look and say what to do."""

import json

import pytest
from django import db
from django.core.exceptions import PermissionDenied
from django.test import Client
from redis.exceptions import ConnectionError as RedisConnectionError

from smolpix.views import CSRF_FAILED_MESSAGE, csrf_failure

pytestmark = pytest.mark.django_db


def test_an_unknown_page_is_a_branded_404(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body
    assert 'class="site-header"' in body


# Under DEBUG (make run) Django answers an unresolved path with its HTML debug page, not handler404.
@pytest.mark.parametrize("debug", [False, True], ids=["serve", "run"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize(
    "path", ["/api/v1/no-such-endpoint", "/api/v1/no-such-endpoint/", "/api/v1/", "/api/v1", "/api/v2/usage", "/api/"]
)
def test_an_unknown_api_path_is_the_api_s_json_404(settings, debug, method, path):
    settings.DEBUG = debug
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)

    response = client.generic(method, path)

    assert response.status_code == 404
    assert response.json() == {"error": "Not found", "code": "NOT_FOUND"}


@pytest.mark.parametrize("debug", [False, True], ids=["serve", "run"])
@pytest.mark.parametrize("endpoint", ["/api/v1/optimize", "/api/v1/usage"])
def test_an_endpoint_with_a_trailing_slash_is_a_404_naming_the_endpoint(settings, debug, endpoint):
    """Not a redirect: a client would send its POST again without the body."""
    settings.DEBUG = debug

    response = Client(raise_request_exception=False).post(endpoint + "/", {})

    assert response.status_code == 404
    assert response.json() == {
        "error": f"Not found: the endpoint is {endpoint}, without the trailing slash",
        "code": "NOT_FOUND",
    }


def test_the_api_s_catch_all_leaves_its_endpoints_and_the_slash_redirects_of_other_pages(client):
    assert client.get("/api/v1/usage").status_code == 401
    assert client.get("/api/schema").status_code == 301
    assert client.get("/api/explorer").status_code == 301
    assert client.get("/api/schema/").status_code == 200


# A form body in another charset than UTF-8 (Django refuses it: BadRequest), and a multipart body
# without a boundary. Django's own error handlers checked the CSRF token, read the body again and
# raised again: a 500.
UNREADABLE_BODIES = [
    (b"email=a", "application/x-www-form-urlencoded; charset=utf-16"),
    (b"email=a", "multipart/form-data"),
]


@pytest.mark.parametrize(("body", "content_type"), UNREADABLE_BODIES, ids=["utf-16 form", "no boundary"])
@pytest.mark.parametrize(
    ("path", "status", "heading"),
    [("/accounts/password_reset/", 400, "We could not read that request"), ("/no-such-page/", 404, "Page not found")],
)
def test_a_body_that_cannot_be_read_is_a_branded_4xx_not_a_500(body, content_type, path, status, heading):
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.get("/accounts/login/")  # the CSRF cookie, so that the token is looked for in the body

    response = client.generic("POST", path, body, content_type)

    assert response.status_code == status
    page = response.content.decode()
    assert heading in page
    assert 'class="site-header"' in page


# Under DEBUG (make run) Django answers its BadRequest with its debug page, which read the refused
# form body again to show it, raised again and gave a bare 500.
@pytest.mark.parametrize("path", ["/accounts/password_reset/", "/accounts/login/"])
def test_a_form_in_another_charset_is_a_400_under_debug_too(settings, path):
    settings.DEBUG = True
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.get("/accounts/login/")

    response = client.generic("POST", path, *UNREADABLE_BODIES[0])

    assert response.status_code == 400
    assert "must be UTF-8 encoded" in response.content.decode()


HOST_REFUSED = "This server does not answer for the host named in the request's Host header."


def test_a_host_the_site_does_not_serve_is_a_400_in_each_one_s_language(settings):
    settings.ALLOWED_HOSTS = ["smolpix.example"]
    client = Client(raise_request_exception=False, HTTP_HOST="evil.example")

    page, api = client.get("/pricing/"), client.get("/api/v1/usage")

    assert page.status_code == 400
    assert "We could not read that request" in page.content.decode()
    assert api.status_code == 400
    assert api.json() == {"error": HOST_REFUSED, "code": "BAD_REQUEST"}


# Under DEBUG (make run) Django answers a host it does not serve with its HTML debug page.
def test_an_api_request_for_a_host_the_site_does_not_serve_is_json_under_debug_too(settings):
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = ["smolpix.example"]
    client = Client(raise_request_exception=False, HTTP_HOST="evil.example")

    api = client.post("/api/v1/optimize", {"url": "https://example.com/a.png"}, content_type="application/json")

    assert api.status_code == 400
    assert api.json() == {"error": HOST_REFUSED, "code": "BAD_REQUEST"}


def test_a_permission_refused_is_a_branded_403_and_the_api_s_json_403(monkeypatch):
    def refuse(*args):
        raise PermissionDenied

    monkeypatch.setattr("smolpix.views.plan_list", refuse)
    monkeypatch.setattr("smolpix.middleware._caller", refuse)  # met outside the API view's own handling
    client = Client(raise_request_exception=False)

    page, api = client.get("/pricing/"), client.get("/api/v1/usage")

    assert page.status_code == 403
    assert "You cannot open this page" in page.content.decode()
    assert api.status_code == 403
    assert api.json() == {"error": "Forbidden", "code": "FORBIDDEN"}


@pytest.mark.parametrize("debug", [False, True], ids=["serve", "run"])
def test_a_form_without_its_csrf_token_is_a_branded_403_that_says_to_reload(settings, debug):
    settings.DEBUG = debug
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    client.cookies.clear()  # as a browser that refuses cookies, or a form left open for too long

    response = client.post("/accounts/login/", {"username": "ada@example.com", "password": "secret"})

    assert response.status_code == 403
    page = response.content.decode()
    assert "This form has expired" in page
    assert "Reload the page and try again" in page
    assert 'class="site-header"' in page
    assert "CSRF verification failed" not in page
    assert "<style" not in page  # the Content-Security-Policy refuses inline styles


def test_a_csrf_failure_of_a_page_s_script_is_json_saying_to_reload(client, django_user_model):
    """Try it's script posts with Accept: application/json and shows the answer's `error`."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_user(email="ada@example.com", password="x"))

    response = client.post("/dashboard/try/", {"url": "https://example.com/a.png"}, HTTP_ACCEPT="application/json")

    assert response.status_code == 403
    assert response.json() == {"error": CSRF_FAILED_MESSAGE, "code": "FORBIDDEN"}


def test_a_csrf_failure_under_the_api_is_the_api_s_json_403(rf):
    response = csrf_failure(rf.post("/api/v1/optimize"), reason="CSRF cookie not set.")

    assert response.status_code == 403
    assert json.loads(response.content) == {"error": "Forbidden", "code": "FORBIDDEN"}


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
        "error": "The service is briefly unavailable; please try again after the seconds in Retry-After.",
        "code": "SERVICE_UNAVAILABLE",
    }
    assert response["Retry-After"] == "30"
