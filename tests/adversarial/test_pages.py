"""Hostile requests to the site's pages (not the API: test_requests): whatever a client sends to
whatever page, in whatever encoding, signed in or not, with the CSRF cookie that makes Django read
the body for its token, under DEBUG (make run) or not, the answer is never a server error.
Property-based (Hypothesis)."""

from urllib.parse import quote_from_bytes

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]

PAGES = [
    "/",
    "/pricing/",
    "/accounts/signup/",
    "/accounts/login/",
    "/accounts/logout/",
    "/accounts/password_reset/",
    "/accounts/reset/MQ/set-password/",
    "/accounts/reset/%ff%fe/abc-def/",
    "/accounts/verify/",
    "/accounts/verify/%ff/",
    "/dashboard/",
    "/dashboard/keys/",
    "/dashboard/keys/1/revoke/",
    "/dashboard/keys/99999999999999999999/revoke/",
    "/dashboard/try/",
    "/billing/",
    "/billing/checkout/%FF/",
    "/no-such-page/",
]
CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-16",
    "application/x-www-form-urlencoded; charset=no-such-charset",
    "multipart/form-data",
    "multipart/form-data; boundary=x",
    "text/plain",
]
FIELD_NAMES = [b"email", b"password", b"password1", b"password2", b"name", b"url", b"quality", b"max_width", b"next",
               b"csrfmiddlewaretoken", b"new_password1", b"\xff"]  # fmt: skip
NASTY_VALUES = [b"", b"\x00", b"\xed\xa0\x80", b"9" * 5000, b"a@b", b"//evil.example", "٣".encode()]
VALUES = st.sampled_from(NASTY_VALUES) | st.binary(max_size=40)
FORMS = st.lists(st.tuples(st.sampled_from(FIELD_NAMES), VALUES), max_size=5).map(
    lambda pairs: "&".join(f"{quote_from_bytes(name)}={quote_from_bytes(value)}" for name, value in pairs).encode()
)


@hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    page=st.sampled_from(PAGES),
    signed_in=st.booleans(),
    body=FORMS | st.binary(max_size=200),
    content_type=st.sampled_from(CONTENT_TYPES),
    debug=st.booleans(),
)
@example(page="/no-such-page/", signed_in=False, body=b"email=a", content_type=CONTENT_TYPES[1], debug=False)
@example(page="/accounts/password_reset/", signed_in=False, body=b"email=a", content_type=CONTENT_TYPES[1], debug=False)
@example(page="/accounts/login/", signed_in=False, body=b"email=a", content_type=CONTENT_TYPES[1], debug=True)
def test_no_page_answers_a_hostile_post_with_a_server_error(
    settings, pro_account, page, signed_in, body, content_type, debug
):
    settings.DEBUG = debug
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.get("/accounts/login/")  # the CSRF cookie (signed in, the log-in page redirects: before then)
    if signed_in:
        client.force_login(pro_account.owner)

    response = client.generic("POST", page, body, content_type)

    assert response.status_code < 500, response.content[:500]
