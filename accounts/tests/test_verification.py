"""E-mail verification: try-it and API keys wait for it; the link is signed, expires, belongs to
one account and is followed signed in; resending is throttled; sign-ups that never verify go."""

import importlib
import re
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.next_url import with_next
from accounts.services import UNVERIFIED_ACCOUNT_MAX_AGE, VERIFICATION_LINK_MAX_AGE, unverified_accounts_delete
from accounts.tasks import send_welcome_email
from accounts.tests.factories import AccountFactory, UserFactory
from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db

VERIFY_NEEDED = reverse("verify_email_needed")


@pytest.fixture
def newcomer(client) -> User:
    """A fresh sign-up, signed in, its welcome e-mail (with the link) in the outbox."""
    user = UserFactory(email="new@example.com", email_verified=False)
    client.force_login(user)
    return user


def verification_link(user: User) -> str:
    """The link in the user's welcome e-mail (its task run here)."""
    send_welcome_email.apply(args=[user.pk])
    return re.search(r"https?://[^/\s]+(/accounts/verify/\S+)", mail.outbox[-1].body).group(1)


def test_try_it_api_keys_and_checkout_wait_for_a_verified_address_then_come_back(client, newcomer, fake_stripe):
    checkout = reverse("billing:checkout", args=["pro"])
    for url in (reverse("try-it"), reverse("apikeys:list"), checkout, f"{checkout}?from=pricing"):
        response = client.get(url)
        assert (response.status_code, response.url) == (302, with_next(VERIFY_NEEDED, url))

    for url, data in ((reverse("apikeys:list"), {"name": "Production"}), (checkout, {})):
        response = client.post(url, data)
        assert (response.status_code, response.url) == (302, with_next(VERIFY_NEEDED, url))
    assert not ApiKey.objects.exists()
    assert fake_stripe.requests == []  # no Stripe customer, no Checkout: nothing paid for an unreachable address
    page = client.get(VERIFY_NEEDED).content.decode()
    assert "Check your e-mail" in page and "new@example.com" in page and "Send the link again" in page
    assert "Confirm your e-mail address" in client.get(reverse("dashboard")).content.decode()


def test_the_link_verifies_the_address_and_opens_try_it(client, newcomer):
    link = verification_link(newcomer)

    response = client.get(link)

    assert (response.status_code, response.url) == (302, reverse("dashboard"))
    newcomer.refresh_from_db()
    assert newcomer.email_verified
    assert client.get(reverse("try-it")).status_code == 200
    assert client.get(reverse("apikeys:list")).status_code == 200
    assert "Confirm your e-mail address" not in client.get(reverse("dashboard")).content.decode()


def test_the_link_asks_to_sign_in_first(client, newcomer):
    """A mailbox alone verifies nothing: whoever signed up with someone else's address cannot have
    the owner verify it for them by clicking."""
    link = verification_link(newcomer)
    client.logout()

    response = client.get(link)

    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    newcomer.refresh_from_db()
    assert not newcomer.email_verified


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/", "/\\evil.example/", "javascript:x"])
def test_a_link_goes_on_to_a_page_of_this_site_only(client, newcomer, next_url):
    link = verification_link(newcomer)

    response = client.get(link, {"next": next_url})

    assert (response.status_code, response.url) == (302, reverse("dashboard"))
    newcomer.refresh_from_db()
    assert newcomer.email_verified


def test_a_link_sent_again_goes_on_where_the_first_did(
    client, newcomer, eager_tasks, django_capture_on_commit_callbacks
):
    checkout = reverse("billing:checkout", args=["pro"])
    expired = client.get(reverse("verify_email", args=["expired"]), {"next": checkout})

    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(VERIFY_NEEDED, {"next": checkout})
    link = re.search(r"https?://[^/\s]+(/accounts/verify/\S+)", mail.outbox[-1].body).group(1)

    assert expired.status_code == 400
    assert f'<input type="hidden" name="next" value="{checkout}">' in expired.content.decode()
    assert sent.url == f"{VERIFY_NEEDED}?next={checkout}"
    assert link.endswith(f"/?next={checkout}")
    assert "the Pro plan you chose" in mail.outbox[-1].body
    assert (client.get(link).url) == checkout


def test_a_link_works_for_its_own_account_only(client, newcomer):
    link = verification_link(newcomer)
    other = UserFactory(email_verified=False)
    client.force_login(other)

    assert client.get(link).status_code == 400
    other.refresh_from_db()
    assert not other.email_verified


def test_an_expired_or_altered_link_does_not_verify(client, newcomer):
    link = verification_link(newcomer)

    assert client.get(link[:-3] + "abc/").status_code == 400
    with time_machine.travel(timezone.now() + VERIFICATION_LINK_MAX_AGE + timedelta(minutes=1)):
        response = client.get(link)
    assert response.status_code == 400
    assert "This link does not work" in response.content.decode()
    newcomer.refresh_from_db()
    assert not newcomer.email_verified


def test_the_link_is_sent_again_three_times_an_hour_at_most(
    client, newcomer, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        answers = [client.post(VERIFY_NEEDED, follow=True).content.decode() for _ in range(4)]

    assert len(mail.outbox) == 3
    assert all(email.subject == "Confirm your Smolpix e-mail address" for email in mail.outbox)
    assert "We sent a new link to new@example.com" in answers[2]
    assert "several links in the last hour" in answers[3]


def test_sign_ups_that_never_verify_are_deleted_after_a_week():
    with time_machine.travel(timezone.now() - UNVERIFIED_ACCOUNT_MAX_AGE - timedelta(hours=1)):
        abandoned = UserFactory(email_verified=False)
        verified = UserFactory()
        staff = UserFactory(email_verified=False, is_staff=True)
        paying = AccountFactory(owner__email_verified=False, stripe_customer_id="cus_1").owner
    recent = UserFactory(email_verified=False)

    assert unverified_accounts_delete() == 1

    assert not User.objects.filter(pk=abandoned.pk).exists()
    assert set(User.objects.values_list("pk", flat=True)) == {verified.pk, staff.pk, paying.pk, recent.pk}


def test_users_who_existed_before_verification_count_as_verified():
    migration = importlib.import_module("accounts.migrations.0004_user_email_verified_at")
    earlier = UserFactory(email_verified=False)

    migration.count_existing_users_as_verified(apps, None)

    earlier.refresh_from_db()
    assert earlier.email_verified_at == earlier.date_joined
