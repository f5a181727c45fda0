"""Attacks on API keys at POST /api/v1/optimize: every refusal is the same 401, byte for byte,
before the request body is even read; keys never appear in any log output, whatever the request
leads to; and headers a client controls (X-Forwarded-For and friends) change nothing.

apikeys/tests/test_authentication.py checks the rules of Bearer authentication on GET
/api/v1/usage; this suite attacks the endpoint that does the work.
"""

import logging

import pytest
from django.db import connection

from accounts.tests.factories import AccountFactory
from api.tests.checks import ENDPOINT
from apikeys.keys import LOOKUP_PREFIX_LENGTH, generate_key
from apikeys.services import api_key_revoke
from apikeys.tests.factories import ApiKeyFactory, bad_checksum, unknown_key
from optimizer import pipeline
from optimizer.tests import images

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]


REFUSED_AUTHORIZATIONS = {
    "missing": None,
    "empty": "",
    "scheme only": "Bearer",
    "basic": "Basic cGtfbGl2ZV86",
    "lower-case bearer, unknown key": f"bearer {unknown_key()}",
    "unknown key": f"Bearer {unknown_key()}",
    "bad checksum": "Bearer pk_live_" + "Q" * 38,
    "sql in the key": "Bearer pk_live_' OR '1'='1' --",
    "wildcard": "Bearer pk_live_%",
    "null byte": "Bearer pk_live_\x00",
    "non-ascii": "Bearer pk_live_\u00e9\u00e9\u00e9",
    "8 KB": "Bearer " + "pk_live_" + "A" * 8192,
    "tab separated": f"Bearer\t{unknown_key()}",
}


@pytest.fixture
def refusals(client, pro_account):
    """Keys refused for reasons that need a row: revoked, and owned by a deactivated user."""
    revoked = generate_key()
    api_key_revoke(api_key=ApiKeyFactory(account=pro_account, key=revoked))
    inactive_owner = AccountFactory(pro=True)
    inactive_owner.owner.is_active = False
    inactive_owner.owner.save()
    deactivated = generate_key()
    ApiKeyFactory(account=inactive_owner, key=deactivated)
    return {
        **REFUSED_AUTHORIZATIONS,
        "revoked": f"Bearer {revoked}",
        "owner deactivated": f"Bearer {deactivated}",
    }


def _send(client, authorization: str | None, body: bytes = b'{"url": "http://a.example/x.png"}', query: str = ""):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    return client.generic("POST", ENDPOINT + query, body, "application/json", **headers)


def _fingerprint(response) -> tuple:
    """Everything a caller sees, but the id every response carries for the logs."""
    headers = sorted((name, value) for name, value in response.headers.items() if name != "X-Request-ID")
    return response.status_code, response.content, headers


def test_every_refused_key_gets_the_same_401_byte_for_byte(client, refusals):
    answers = {reason: _fingerprint(_send(client, authorization)) for reason, authorization in refusals.items()}

    reference = answers.pop("missing")
    assert reference[0] == 401
    assert reference[1] == b'{"error":"Missing or invalid API key","code":"UNAUTHORIZED"}'
    assert {reason: answer for reason, answer in answers.items() if answer != reference} == {}


def test_a_key_in_the_query_string_gets_the_same_401(client, pro_api_key):
    reference = _fingerprint(_send(client, None))

    assert _fingerprint(_send(client, f"Bearer {pro_api_key}", query=f"?key={pro_api_key}")) == reference


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b'{"url": ' + b"[" * 50_000], ids=["malformed", "array", "deeply nested"]
)
def test_authentication_comes_before_the_body_is_read(client, body):
    """A refused caller learns nothing about how the body would have been judged."""
    assert _fingerprint(_send(client, f"Bearer {unknown_key()}", body)) == _fingerprint(_send(client, None))


# --- Keys never in logs -------------------------------------------------------------------


@pytest.fixture
def every_log_line(caplog, capfd):
    """Everything logged at any level, SQL with its parameters included, and everything written to
    stdout or stderr meanwhile (Celery's own output, the console handler)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")  # Django's own configuration holds it at INFO
    connection.force_debug_cursor = True  # django.db.backends logs every query, as with DEBUG on
    yield lambda: caplog.text + "".join(capfd.readouterr())
    connection.force_debug_cursor = False


def test_keys_never_appear_in_any_log_output(
    post, every_log_line, reachable_origin, pro_api_key, free_account, monkeypatch
):
    free_key = generate_key()
    ApiKeyFactory(account=free_account, key=free_key)
    photo = reachable_origin.serve("/photo.png", images.encode(images.photo(), "PNG"))

    assert post({"url": photo, "maxWidth": 64}).status_code == 200
    assert post({"url": reachable_origin.url("/missing.png")}).status_code == 400
    assert post({"url": photo}, key=free_key).status_code == 403
    assert post({"url": photo}, key=bad_checksum(pro_api_key)).status_code == 401
    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "prepare", lambda *args, **kwargs: 1 / 0)
        assert post({"url": photo}).status_code == 500  # logged with its traceback

    output = every_log_line()
    assert "SELECT" in output and "ZeroDivisionError" in output  # the capture works...
    for key in (pro_api_key, free_key):
        assert key not in output  # ...and holds no key,
        assert key[LOOKUP_PREFIX_LENGTH:] not in output  # nor a key's secret part


# --- Headers a client controls ------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED", "HTTP_X_FORWARDED_HOST", "HTTP_CLIENT_IP"],
)
def test_claiming_to_be_local_earns_no_trust(client, header):
    """No header makes a request internal: it still needs a key."""
    value = "for=127.0.0.1" if header == "HTTP_FORWARDED" else "127.0.0.1"

    response = client.post(ENDPOINT, b"{}", content_type="application/json", **{header: value})

    assert response.status_code == 401


@pytest.mark.parametrize("header", ["HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED"])
@pytest.mark.usefixtures("frozen_clock")  # all its requests in one rate-limit minute
def test_rotating_forwarding_headers_does_not_escape_the_rate_limit_or_the_quota(post, pro_account, header):
    """Limits belong to the account, whatever address the request claims to come from."""
    pro_account.rate_limit_override = 2
    pro_account.monthly_limit_override = 3
    pro_account.save()
    upload = images.encode(images.graphic(32, 24), "PNG")

    rate = [post({"smart": "false"}, upload=upload, **{header: f"203.0.113.{n}"}) for n in range(3)]
    pro_account.rate_limit_override = 100
    pro_account.save()
    quota = [post({"smart": "false"}, upload=upload, **{header: f"198.51.100.{n}"}) for n in range(2)]

    assert [response.status_code for response in rate] == [200, 200, 429]
    assert [response.status_code for response in quota] == [200, 429]
    assert quota[1].json() == {"error": "Monthly image limit reached", "code": "LIMIT_REACHED", "used": 3, "limit": 3}
