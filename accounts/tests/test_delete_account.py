"""A customer deletes its own account (`/accounts/delete/`), through the HTTP client. The billing side
(a subscription cancelled in Stripe first, Stripe down, webhooks arriving afterwards) is tested in
billing/tests/test_delete_account_billing.py."""

import logging
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Account, User
from accounts.services import AccountDeletionRefused, account_delete
from accounts.tests.factories import PASSWORD, AccountFactory, UserFactory
from apikeys.models import ApiKey
from apikeys.tests.factories import ApiKeyFactory, full_key_for
from usage.models import MonthlyUsage, RequestRecord
from usage.tests.factories import MonthlyUsageFactory, RequestRecordFactory

pytestmark = pytest.mark.django_db

DELETE_URL = reverse("account_delete")
UNAUTHORIZED = {"error": "Missing or invalid API key", "code": "UNAUTHORIZED"}
SIGN_UP = {"password1": "a-long-unusual-pass", "password2": "a-long-unusual-pass"}


def delete_account(client: Client, password: str = PASSWORD, *, confirm: bool = True):
    data = {"password": password, **({"confirm": "on"} if confirm else {})}
    return client.post(DELETE_URL, data)


def text_of(response) -> str:
    """The page's HTML with its line breaks and indents as single spaces, as a reader sees the text."""
    return " ".join(response.content.decode().split())


def signed_in(client: Client) -> bool:
    return client.get(reverse("dashboard")).status_code == 200


@pytest.fixture
def customer(client) -> Account:
    """A signed-in Pro customer with a key, this month's usage and a request record."""
    account = AccountFactory(pro=True)
    key = ApiKeyFactory(account=account)
    MonthlyUsageFactory(account=account, used=3)
    RequestRecordFactory(account=account, api_key=key)
    client.force_login(account.owner)
    return account


def test_the_dashboard_links_to_the_page_which_says_what_happens(client, customer, fake_stripe):
    dashboard = client.get(reverse("dashboard")).content.decode()
    page = client.get(DELETE_URL)

    assert f'href="{DELETE_URL}"' in dashboard
    assert page.status_code == 200
    text = text_of(page)
    for promise in (
        "You have no paid subscription",
        "Every API key of the account (1 active) stops working at once",
        "usage and request records",
        "you can sign up with it later",
        "your invoices and payments, in Stripe",
        "the records of the payment events Stripe sent us",
    ):
        assert promise in text
    assert 'name="password"' in text and 'autocomplete="current-password"' in text
    assert 'name="confirm"' in text and "csrfmiddlewaretoken" in text


def test_deleting_without_a_subscription_deletes_everything_and_signs_out(client, customer, fake_stripe, caplog):
    user_id, account_id, email = customer.owner.pk, customer.pk, customer.owner.email
    caplog.set_level(logging.INFO, logger="accounts.services")

    response = delete_account(client)

    assert (response.status_code, response.url) == (302, reverse("account_deleted"))
    assert not User.objects.filter(pk=user_id).exists()
    assert not Account.objects.filter(pk=account_id).exists()
    assert not ApiKey.objects.filter(account_id=account_id).exists()
    assert not MonthlyUsage.objects.filter(account_id=account_id).exists()
    assert not RequestRecord.objects.filter(account_id=account_id).exists()
    assert fake_stripe.requests == []  # nothing to tell Stripe about
    assert "_auth_user_id" not in client.session
    assert not signed_in(client)
    done = client.get(response.url)
    assert done.status_code == 200
    assert "Your account is deleted" in text_of(done)
    (line,) = [record for record in caplog.records if record.getMessage() == "account deleted"]
    assert line.fields == {
        "user_id": user_id,
        "account_id": account_id,
        "stripe_customer_id": "",
        "subscriptions_cancelled": 0,
    }
    assert email not in str(line.fields)


def test_a_wrong_password_deletes_nothing_and_asks_again(client, customer):
    response = delete_account(client, "not-my-password")

    assert response.status_code == 200
    assert "Your password was entered incorrectly" in response.content.decode()
    assert re.search(r'<input type="password" name="password"[^>]* autofocus', response.content.decode())
    assert User.objects.filter(pk=customer.owner.pk).exists()
    assert ApiKey.objects.filter(account=customer).exists()
    assert signed_in(client)


def test_without_the_confirmation_nothing_is_deleted(client, customer):
    response = delete_account(client, confirm=False)

    assert response.status_code == 200
    assert "Tick this box to confirm" in response.content.decode()
    assert re.search(r'<input type="checkbox" name="confirm"[^>]* autofocus', response.content.decode())
    assert User.objects.filter(pk=customer.owner.pk).exists()


def test_a_session_alone_is_not_enough_no_password_no_deletion(client, customer):
    response = client.post(DELETE_URL, {"confirm": "on"})

    assert response.status_code == 200
    assert User.objects.filter(pk=customer.owner.pk).exists()


def test_the_form_needs_its_csrf_token(customer):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(customer.owner)

    response = delete_account(browser)

    assert response.status_code == 403
    assert User.objects.filter(pk=customer.owner.pk).exists()


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(DELETE_URL)

    assert (response.status_code, response.url) == (302, f"{reverse('login')}?next={DELETE_URL}")
    assert client.post(DELETE_URL, {"password": PASSWORD, "confirm": "on"}).status_code == 302


def test_the_fifth_wrong_password_signs_out_and_the_count_is_the_password_changes(client, customer, caplog):
    """Not a password-guessing oracle for a stolen session: the same limit as the password change's,
    one count for both pages."""
    user = customer.owner
    change = {"old_password": "guess-0", "new_password1": "another-long-pass-9", "new_password2": "another-long-pass-9"}
    assert client.post(reverse("password_change"), change).status_code == 200  # a first wrong guess there

    answers = [delete_account(client, f"guess-{number}").status_code for number in range(1, 4)]
    fifth = delete_account(client, "guess-4")

    assert answers == [200] * 3
    assert (fifth.status_code, fifth.url) == (302, reverse("login"))
    assert "_auth_user_id" not in client.session
    assert "so we signed you out and deleted nothing" in client.get(fifth.url).content.decode()
    client.force_login(user)  # signed in again, the right password is not even checked for the rest of the hour
    right = delete_account(client)
    assert (right.status_code, right.url) == (302, reverse("login"))
    assert User.objects.filter(pk=user.pk).exists()
    signed_out = [record.fields for record in caplog.records if record.getMessage() == "account deletion signed out"]
    assert signed_out == [{"email": user.email, "user_id": user.pk, "address": "127.0.0.1"}] * 2


@pytest.mark.parametrize(
    "role", [{"is_staff": True, "is_superuser": True}, {"is_staff": True}, {"is_superuser": True}], ids=str
)
def test_staff_and_superusers_cannot_delete_themselves_here(client, role):
    user = UserFactory(**role)
    client.force_login(user)

    page = client.get(DELETE_URL)
    response = delete_account(client)

    assert page.status_code == 200
    assert "another administrator deletes it in the admin" in text_of(page)
    assert 'name="password"' not in page.content.decode()
    assert response.status_code == 403
    assert User.objects.filter(pk=user.pk).exists()
    with pytest.raises(AccountDeletionRefused):
        account_delete(user=user)
    assert User.objects.filter(pk=user.pk).exists()


def test_every_other_session_of_the_user_stops_working(client, customer):
    laptop, phone = Client(), Client()
    laptop.force_login(customer.owner)
    phone.force_login(customer.owner)
    assert signed_in(laptop) and signed_in(phone)

    assert delete_account(client).status_code == 302

    for other in (laptop, phone):
        response = other.get(reverse("dashboard"))
        assert (response.status_code, response.url) == (302, f"{reverse('login')}?next={reverse('dashboard')}")
        assert other.get(reverse("apikeys:list")).status_code == 302


def test_the_accounts_api_keys_get_401_afterwards(client):
    account = AccountFactory(pro=True)
    key = full_key_for(account)
    api = Client()
    usage = reverse("api-usage")
    assert api.get(usage, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    client.force_login(account.owner)

    delete_account(client)

    response = api.get(usage, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


@pytest.mark.usefixtures("eager_tasks")  # the welcome e-mail is sent here, not by a worker
def test_the_address_can_sign_up_again(client, customer, django_capture_on_commit_callbacks, mailoutbox):
    email, old_id = customer.owner.email, customer.owner.pk
    delete_account(client)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("signup"), {"email": email, **SIGN_UP})

    assert response.status_code == 302
    user = User.objects.get(email=email)
    assert user.pk != old_id
    assert not user.email_verified  # a new account, which verifies its address as any sign-up does
    assert user.account.plan.code == "free" and not user.account.api_keys.exists()
    (message,) = mailoutbox
    assert message.to == [email] and "/accounts/verify/" in message.body  # not "you have an account already"


def test_the_deleted_page_sends_a_signed_in_visitor_to_the_dashboard(client, customer):
    response = client.get(reverse("account_deleted"))

    assert (response.status_code, response.url) == (302, reverse("dashboard"))


@pytest.mark.parametrize("with_stripe", [True, False])
def test_the_pages_speak_of_stripe_only_where_it_sells_plans(request, client, customer, with_stripe):
    if with_stripe:
        request.getfixturevalue("fake_stripe")

    before = client.get(DELETE_URL).content.decode()
    client.logout()
    after = client.get(reverse("account_deleted")).content.decode()

    assert ("in Stripe, our payment provider" in before) == with_stripe
    assert ("stay in Stripe." in after) == with_stripe


def test_request_records_are_deleted_in_batches(customer, monkeypatch):
    """An account's millions of them in one statement outlasted DATABASE_TIMEOUT on every try, after
    Stripe had cancelled the subscription."""
    monkeypatch.setattr("usage.services.PRUNE_BATCH_SIZE", 2)
    RequestRecordFactory.create_batch(5, account=customer)

    with CaptureQueriesContext(connection) as queries:
        account_delete(user=customer.owner)

    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('DELETE FROM "usage_requestrecord"')]
    assert len([sql for sql in deletes if '"usage_requestrecord"."id" IN' in sql]) == 3  # then the cascade finds none
    assert not RequestRecord.objects.exists()
