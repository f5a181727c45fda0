"""Sign-in throttling (django-axes, accounts/signin.py): per account and per client address, the
right password refused during a lockout (but not to a browser that signed in to the account before,
a known device, which its own failures lock), and every sign-in and lockout in the logs."""

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.core import mail, signing
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")
ATTACKER = "203.0.113.66"  # a client connecting directly: not one of our proxies


def sign_in(client, email: str, password: str, *, device: str | None = None, **extra):
    """A browser with no cookies but, if given, a device cookie (accounts.signin's known device)."""
    client.cookies.clear()
    if device is not None:
        client.cookies[settings.SIGN_IN_DEVICE_COOKIE] = device
    return client.post(LOGIN, {"username": email, "password": password}, **extra)


def device_of(response) -> str:
    """The device cookie a successful sign-in gave the browser."""
    return response.cookies[settings.SIGN_IN_DEVICE_COOKIE].value


def fail(client, email: str, times: int, **extra) -> None:
    for _ in range(times):
        sign_in(client, email, "wrong", **extra)


def signed_in(response) -> bool:
    return response.status_code == 302 and response.url == reverse("dashboard")


def test_five_wrong_passwords_lock_the_account_and_then_the_right_one_fails_too(client):
    UserFactory(email="victim@example.com")

    answers = [sign_in(client, "victim@example.com", "wrong", REMOTE_ADDR=ATTACKER).status_code for _ in range(5)]
    right = sign_in(client, "victim@example.com", PASSWORD)  # from another address, too

    assert answers == [200, 200, 200, 200, 429]
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session
    page = right.content.decode()
    assert "even the right password is refused" in page
    assert f'href="{reverse("password_reset")}"' in page


@pytest.mark.parametrize("page", ["login", "admin:login"])
def test_a_name_longer_than_an_address_is_refused_as_too_long_before_any_sign_in(client, page):
    """A 256-character name was a 500 on PostgreSQL: django-axes stored the failure in a column of
    255 (the account audit, 2026-12-07). It is told it is too long, and nothing is counted."""
    response = client.post(reverse(page), {"username": "a" * 251 + "@x.yz", "password": "wrong"})

    assert response.status_code == 200
    assert "Ensure this value has at most 254 characters (it has 256)." in response.content.decode()
    assert not AccessAttempt.objects.exists()


def test_the_account_is_counted_whatever_the_case_of_its_address(client):
    UserFactory(email="victim@example.com")
    for spelling in ("Victim@example.com", "VICTIM@EXAMPLE.COM", " victim@example.com", "victim@Example.com"):
        sign_in(client, spelling, "wrong", REMOTE_ADDR=ATTACKER)

    assert sign_in(client, "victim@example.com", "wrong", REMOTE_ADDR=ATTACKER).status_code == 429


def test_a_lockout_ends_fifteen_minutes_after_the_failure_that_caused_it(client):
    UserFactory(email="victim@example.com")
    fail(client, "victim@example.com", 5)

    with time_machine.travel(timezone.now() + timedelta(minutes=14)):
        assert sign_in(client, "victim@example.com", PASSWORD).status_code == 429  # tries meanwhile do not extend it
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert signed_in(sign_in(client, "victim@example.com", PASSWORD))


def test_other_accounts_still_sign_in_from_the_same_address(client):
    UserFactory(email="victim@example.com")
    colleague = UserFactory(email="colleague@example.com")
    fail(client, "victim@example.com", 5, REMOTE_ADDR=ATTACKER)

    assert signed_in(sign_in(client, colleague.email, PASSWORD, REMOTE_ADDR=ATTACKER))


def test_twenty_failures_from_one_address_lock_that_address_for_every_account(client):
    """Password spraying: one guess per account, from one address."""
    customer = UserFactory(email="customer@example.com")
    for number in range(20):
        sign_in(client, f"someone{number}@example.com", "Summer2024!", REMOTE_ADDR=ATTACKER)

    assert sign_in(client, customer.email, PASSWORD, REMOTE_ADDR=ATTACKER).status_code == 429
    assert signed_in(sign_in(client, customer.email, PASSWORD, REMOTE_ADDR="198.51.100.7"))


@pytest.mark.parametrize("header", ["HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED"])
def test_rotating_forwarding_headers_does_not_escape_the_address_limit(client, header):
    customer = UserFactory(email="customer@example.com")
    for number in range(20):
        value = f"for=192.0.2.{number}" if header == "HTTP_FORWARDED" else f"192.0.2.{number}"
        sign_in(client, f"someone{number}@example.com", "guess", REMOTE_ADDR=ATTACKER, **{header: value})

    assert sign_in(client, customer.email, PASSWORD, REMOTE_ADDR=ATTACKER).status_code == 429


def test_behind_our_proxy_the_address_it_saw_is_counted_not_what_the_client_wrote(client, settings):
    """The proxy appends the address it saw; what the client wrote in the header comes before it."""
    settings.FORWARDED_ALLOW_IPS = ["10.0.0.5"]
    customer = UserFactory(email="customer@example.com")
    for number in range(20):
        forwarded = f"192.0.2.{number}, {ATTACKER}"  # client-written, then our proxy's
        sign_in(client, f"someone{number}@example.com", "guess", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=forwarded)

    via_proxy = {"REMOTE_ADDR": "10.0.0.5"}
    assert sign_in(client, customer.email, PASSWORD, HTTP_X_FORWARDED_FOR=ATTACKER, **via_proxy).status_code == 429
    assert signed_in(sign_in(client, customer.email, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7", **via_proxy))


def test_a_success_does_not_wipe_the_count(client):
    """Or an attacker with an account of their own would sign in to it between guesses."""
    UserFactory(email="victim@example.com")
    own = UserFactory(email="attacker@example.com")
    fail(client, "victim@example.com", 4, REMOTE_ADDR=ATTACKER)
    assert signed_in(sign_in(client, own.email, PASSWORD, REMOTE_ADDR=ATTACKER))

    assert sign_in(client, "victim@example.com", "wrong", REMOTE_ADDR=ATTACKER).status_code == 429


def test_a_password_reset_lifts_the_lockout(client, django_capture_on_commit_callbacks, eager_tasks):
    user = UserFactory(email="victim@example.com")
    fail(client, "victim@example.com", 5, REMOTE_ADDR=ATTACKER)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("password_reset"), {"email": user.email})
    link = next(line for line in mail.outbox[0].body.split() if "/accounts/reset/" in line)
    form_url = client.get(link.split("testserver", 1)[-1].split("8000", 1)[-1]).url
    client.post(form_url, {"new_password1": "brand-new-pass-42", "new_password2": "brand-new-pass-42"})

    assert signed_in(sign_in(client, user.email, "brand-new-pass-42"))


def test_sign_ins_failures_and_lockouts_are_logged_with_the_account_and_the_address(client, caplog):
    user = UserFactory(email="victim@example.com")

    sign_in(client, "victim@example.com", PASSWORD, REMOTE_ADDR="198.51.100.7")
    for _ in range(5):
        sign_in(client, "Victim@example.com", "wrong", REMOTE_ADDR=ATTACKER)

    logged = [(record.getMessage(), record.fields) for record in caplog.records if record.name == "smolpix.auth"]
    victim = {"email": "victim@example.com", "user_id": user.pk}
    assert logged == [
        ("sign-in", {**victim, "address": "198.51.100.7"}),
        *[("sign-in failed", {**victim, "address": ATTACKER})] * 4,
        ("sign-in locked out", {**victim, "address": ATTACKER}),  # axes hears of the 5th failure first
        ("sign-in failed", {**victim, "address": ATTACKER}),
    ]


def test_with_redis_unreachable_lockouts_still_hold(client, unreachable_redis):
    """Failures are counted in the database, which sign-in needs anyway: no cache involved."""
    UserFactory(email="victim@example.com")
    fail(client, "victim@example.com", 5, REMOTE_ADDR=ATTACKER)

    assert sign_in(client, "victim@example.com", PASSWORD).status_code == 429


def test_others_failures_do_not_lock_out_a_browser_that_signed_in_to_the_account_before(client):
    """Anyone can lock an account (5 wrong passwords from anywhere): not for its owner's own browser."""
    owner = UserFactory(email="victim@example.com")
    owners_browser = device_of(sign_in(client, owner.email, PASSWORD, REMOTE_ADDR="198.51.100.7"))
    for number in range(5):  # from 5 addresses
        sign_in(client, owner.email, "wrong", REMOTE_ADDR=f"203.0.113.{number}")

    assert sign_in(client, owner.email, PASSWORD, REMOTE_ADDR="198.51.100.8").status_code == 429  # a stranger
    assert signed_in(sign_in(client, owner.email, PASSWORD, device=owners_browser, REMOTE_ADDR="198.51.100.7"))
    assert signed_in(sign_in(client, "VICTIM@example.com", PASSWORD, device=owners_browser))  # any spelling


def test_a_known_device_is_locked_by_its_own_failures(client):
    owner = UserFactory(email="victim@example.com")
    owners_browser = device_of(sign_in(client, owner.email, PASSWORD))

    answers = [sign_in(client, owner.email, "wrong", device=owners_browser).status_code for _ in range(5)]

    assert answers == [200, 200, 200, 200, 429]
    assert sign_in(client, owner.email, PASSWORD, device=owners_browser).status_code == 429
    assert sign_in(client, owner.email, PASSWORD).status_code == 429  # and they count for the account too


def test_another_accounts_device_cookie_or_a_forged_one_does_not_escape_the_accounts_lockout(client):
    UserFactory(email="victim@example.com")
    attacker = UserFactory(email="attacker@example.com")
    attackers_browser = device_of(sign_in(client, attacker.email, PASSWORD))
    fail(client, "victim@example.com", 5, REMOTE_ADDR=ATTACKER)

    forged = [
        attackers_browser,  # names the attacker's own account
        attackers_browser[:-1] + ("A" if attackers_browser[-1] != "A" else "B"),  # tampered with
        signing.dumps({"account": "0" * 64, "device": "mine"}, salt="accounts.signin.device", key="guessed"),
        "victim@example.com",
    ]
    for cookie in forged:
        assert sign_in(client, "victim@example.com", PASSWORD, device=cookie).status_code == 429, cookie


def test_the_device_cookie_is_signed_http_only_long_lived_and_secure_over_https(client):
    owner = UserFactory(email="victim@example.com")

    over_http = sign_in(client, owner.email, PASSWORD).cookies[settings.SIGN_IN_DEVICE_COOKIE]
    over_https = sign_in(client, owner.email, PASSWORD, secure=True).cookies[settings.SIGN_IN_DEVICE_COOKIE]

    assert over_http["httponly"] and over_http["samesite"] == "Lax"
    assert over_http["max-age"] == 365 * 24 * 3600
    assert not over_http["secure"] and over_https["secure"]
    assert "victim" not in signing.b64_decode(over_http.value.split(":")[0].encode()).decode()  # not the address
    assert sign_in(client, owner.email, "wrong").cookies.get(settings.SIGN_IN_DEVICE_COOKIE) is None  # a failure: none
