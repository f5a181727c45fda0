"""Account deletion and billing: the subscription cancelled in Stripe before anything is deleted, Stripe
down (nothing deleted), and Stripe's events arriving for the deleted customer afterwards. Stripe is the
local fake (fake_stripe)."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account, User
from accounts.services import account_delete
from accounts.tests.factories import PASSWORD, AccountFactory
from apikeys.tests.factories import full_key_for
from billing import services, stripe_client
from billing.models import BillingEmail, StripeEvent, Subscription, SubscriptionStatus
from billing.tests import fake_stripe as fake_stripe_module
from billing.tests.factories import SubscriptionFactory
from billing.tests.fake_stripe import PRICE_PRO

pytestmark = pytest.mark.django_db

CUSTOMER = "cus_leaving"


@pytest.fixture
def subscriber(client, fake_stripe) -> tuple[Account, dict]:
    """A signed-in Pro customer whose subscription Stripe holds, active, and an open Checkout of theirs
    (a tab left on Stripe's page)."""
    account = AccountFactory(pro=True, stripe_customer_id=CUSTOMER)
    held = fake_stripe.subscription_put(customer=CUSTOMER, price=PRICE_PRO, metadata={"account_id": str(account.pk)})
    SubscriptionFactory(account=account, stripe_subscription_id=held["id"])
    fake_stripe.checkout_sessions["cs_test_open"] = {"id": "cs_test_open", "customer": CUSTOMER, "status": "open"}
    client.force_login(account.owner)
    return account, held


def delete_account(client: Client):
    return client.post(reverse("account_delete"), {"password": PASSWORD, "confirm": "on"})


def text_of(response) -> str:
    return " ".join(response.content.decode().split())


# --- The Stripe boundary ------------------------------------------------------------------------------


def test_subscription_cancel_cancels_at_once_without_a_final_invoice_or_proration(fake_stripe):
    held = fake_stripe.subscription_put(customer=CUSTOMER, price=PRICE_PRO)

    stripe_client.subscription_cancel(subscription_id=held["id"])

    (request,) = fake_stripe.api_requests("DELETE", f"/v1/subscriptions/{held['id']}")
    assert request.params == {"invoice_now": "false", "prorate": "false"}
    assert fake_stripe.subscriptions[held["id"]]["status"] == "canceled"


@pytest.mark.parametrize("status", ["canceled", None], ids=["canceled already", "missing"])
def test_a_subscription_canceled_already_or_missing_in_stripe_counts_as_cancelled(fake_stripe, status):
    subscription_id = "sub_gone"
    if status:
        fake_stripe.subscription_put(customer=CUSTOMER, price=PRICE_PRO, subscription_id=subscription_id)
        fake_stripe.subscription_update(subscription_id, status=status)

    stripe_client.subscription_cancel(subscription_id=subscription_id)  # no exception

    assert len(fake_stripe.api_requests("DELETE", f"/v1/subscriptions/{subscription_id}")) == 1


@pytest.mark.parametrize("failing_status", [500, 401, 400])
def test_other_refusals_of_a_cancellation_are_stripe_unavailable(fake_stripe, failing_status):
    held = fake_stripe.subscription_put(customer=CUSTOMER, price=PRICE_PRO)
    fake_stripe.failing_status = failing_status

    with pytest.raises(stripe_client.StripeUnavailable):
        stripe_client.subscription_cancel(subscription_id=held["id"])


@pytest.mark.parametrize(
    ("failing_status", "level"),
    [(401, "ERROR"), (403, "ERROR"), (500, "WARNING")],
    ids=["wrong key", "no permission", "down"],
)
def test_a_refused_key_is_logged_as_an_error_for_the_operator(fake_stripe, caplog, failing_status, level):
    """A restricted key without Subscriptions write: "try again later" to the customer for good, so the
    operator must hear of it; an outage passes by itself."""
    held = fake_stripe.subscription_put(customer=CUSTOMER, price=PRICE_PRO)
    fake_stripe.failing_status = failing_status

    for call in (
        lambda: stripe_client.subscription_cancel(subscription_id=held["id"]),
        lambda: stripe_client.subscriptions_billable(customer_id=CUSTOMER),
    ):
        caplog.clear()
        with pytest.raises(stripe_client.StripeUnavailable):
            call()
        assert [record.levelname for record in caplog.records if record.name == "billing.stripe_client"] == [level]


# --- Deleting an account with a subscription ------------------------------------------------------------


def test_deleting_cancels_the_subscription_and_expires_open_checkouts_then_deletes(client, subscriber, fake_stripe):
    account, held = subscriber
    user_id = account.owner.pk

    response = delete_account(client)

    assert (response.status_code, response.url) == (302, reverse("account_deleted"))
    assert fake_stripe.subscriptions[held["id"]]["status"] == "canceled"
    assert len(fake_stripe.api_requests("DELETE", f"/v1/subscriptions/{held['id']}")) == 1
    assert fake_stripe.checkout_sessions["cs_test_open"]["status"] == "expired"
    assert not User.objects.filter(pk=user_id).exists()
    assert not Account.objects.filter(pk=account.pk).exists()
    assert not Subscription.objects.exists()
    assert "_auth_user_id" not in client.session


def test_an_account_whose_stripe_customer_is_gone_is_deleted_its_known_subscriptions_cancelled(
    client, subscriber, fake_stripe
):
    """Deleted in the Dashboard (or a wrong id set in the admin): Stripe's lists answer "No such
    customer", and the deletion was refused as if Stripe were down, every time (the review)."""
    account, held = subscriber
    fake_stripe.missing_customers.add(CUSTOMER)

    response = delete_account(client)

    assert (response.status_code, response.url) == (302, reverse("account_deleted"))
    assert len(fake_stripe.api_requests("DELETE", f"/v1/subscriptions/{held['id']}")) == 1
    assert not Account.objects.filter(pk=account.pk).exists()


def test_a_subscription_stripe_holds_that_no_event_told_us_of_yet_is_cancelled_too(client, subscriber, fake_stripe):
    """Paid moments before the deletion, its webhook event not processed yet: it would go on billing."""
    _, held = subscriber
    unknown = fake_stripe.subscription_put(customer=CUSTOMER, price=PRICE_PRO)
    elsewhere = fake_stripe.subscription_put(customer="cus_someone_else", price=PRICE_PRO)

    response = delete_account(client)

    assert response.status_code == 302
    assert fake_stripe.subscriptions[unknown["id"]]["status"] == "canceled"
    assert fake_stripe.subscriptions[held["id"]]["status"] == "canceled"
    assert fake_stripe.subscriptions[elsewhere["id"]]["status"] == "active"


def test_every_page_of_stripes_lists_is_read(client, subscriber, fake_stripe):
    """A list answers 100 at most: the 101st subscription or open Checkout would have gone on."""
    held = [fake_stripe.subscription_put(customer=CUSTOMER, price=PRICE_PRO) for _ in range(101)]
    for number in range(101):
        fake_stripe.checkout_sessions[f"cs_test_{number}"] = {
            "id": f"cs_test_{number}",
            "customer": CUSTOMER,
            "status": "open",
        }
    # Left alone: every page keeps the list's filters.
    fake_stripe.checkout_sessions["cs_test_paid"] = {"id": "cs_test_paid", "customer": CUSTOMER, "status": "complete"}
    fake_stripe.checkout_sessions["cs_test_theirs"] = {
        "id": "cs_test_theirs",
        "customer": "cus_other",
        "status": "open",
    }

    assert delete_account(client).status_code == 302

    assert all(fake_stripe.subscriptions[each["id"]]["status"] == "canceled" for each in held)
    sessions = fake_stripe.checkout_sessions
    assert all(sessions[f"cs_test_{number}"]["status"] == "expired" for number in range(101))
    assert (sessions["cs_test_paid"]["status"], sessions["cs_test_theirs"]["status"]) == ("complete", "open")
    assert len(fake_stripe.api_requests("GET", "/v1/subscriptions")) == 2


def test_the_page_names_the_subscription_it_cancels(client, subscriber):
    page = text_of(client.get(reverse("account_delete")))

    assert "Your Pro subscription is cancelled in Stripe at once: you will not be charged again." in page


def test_only_subscriptions_stripe_may_still_bill_are_cancelled(client, subscriber, fake_stripe):
    account, _ = subscriber
    SubscriptionFactory(account=account, stripe_subscription_id="sub_ended", status=SubscriptionStatus.CANCELED)

    delete_account(client)

    assert fake_stripe.api_requests("DELETE", "/v1/subscriptions/sub_ended") == []


def test_a_subscription_already_cancelled_in_stripe_does_not_stop_the_deletion(client, subscriber, fake_stripe):
    account, held = subscriber
    fake_stripe.subscription_update(held["id"], status="canceled")  # our row still says active

    response = delete_account(client)

    assert response.status_code == 302
    assert not User.objects.filter(pk=account.owner.pk).exists()


@pytest.mark.parametrize("failing_status", [500, 401])
def test_when_stripe_fails_nothing_is_deleted_and_the_page_says_to_try_again(
    client, subscriber, fake_stripe, failing_status
):
    account, _ = subscriber
    key = full_key_for(account)
    fake_stripe.failing_status = failing_status

    response = delete_account(client)

    assert response.status_code == 200
    assert "could not reach our payment provider to cancel your subscription, so nothing was deleted" in text_of(
        response
    )
    assert "Please try again in a few minutes." in text_of(response)
    assert User.objects.filter(pk=account.owner.pk).exists()
    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE
    assert client.get(reverse("dashboard")).status_code == 200  # still signed in
    api = Client().get(reverse("api-usage"), headers={"Authorization": f"Bearer {key}"})
    assert api.status_code == 200


def test_when_stripe_fails_on_the_cancellation_itself_nothing_is_deleted(client, subscriber, fake_stripe, monkeypatch):
    account, _ = subscriber
    answer = fake_stripe._api

    def refuse_cancellations(method, path, params, headers):
        if method == "DELETE":
            return 500, fake_stripe_module._error("api_error", "Failing on purpose.")
        return answer(method, path, params, headers)

    monkeypatch.setattr(fake_stripe, "_api", refuse_cancellations)

    response = delete_account(client)

    assert response.status_code == 200
    assert "nothing was deleted" in text_of(response)
    assert User.objects.filter(pk=account.owner.pk).exists()
    assert Subscription.objects.filter(account=account).exists()


# --- Afterwards -----------------------------------------------------------------------------------------


def test_stripes_later_events_for_the_deleted_customer_are_recorded_and_ignored(
    client, subscriber, fake_stripe, send_event
):
    account, held = subscriber
    account_id = account.pk
    delete_account(client)
    requests_before = len(fake_stripe.requests)
    # The address signs up again: the old customer's events must not reach the new account either.
    newcomer = AccountFactory(owner__email=account.owner.email)
    canceled = fake_stripe.subscriptions[held["id"]]
    events = [
        fake_stripe.event("customer.subscription.deleted", canceled),
        fake_stripe.event("invoice.paid", fake_stripe.invoice(canceled)),
        fake_stripe.event(
            "checkout.session.completed",
            {
                "id": "cs_test_late",
                "object": "checkout.session",
                "customer": CUSTOMER,
                "subscription": held["id"],
                "client_reference_id": str(account_id),
            },
        ),
    ]

    answers = [send_event(event).status_code for event in events]

    assert answers == [200, 200, 200]
    stored = StripeEvent.objects.order_by("pk")
    assert [(e.processed_at is not None, e.error, e.ignored) for e in stored] == [
        (True, "", f"No Smolpix account for customer {CUSTOMER}.")
    ] * 3
    assert len(fake_stripe.requests) == requests_before  # nothing asked of Stripe, nothing to retry
    newcomer.refresh_from_db()
    assert (newcomer.stripe_customer_id, newcomer.plan.code) == ("", "free")
    assert not Subscription.objects.exists()


def test_a_billing_email_queued_before_the_deletion_is_not_sent(fake_stripe, mailoutbox):
    account = AccountFactory(pro=True)
    email = BillingEmail.objects.create(account=account, kind=BillingEmail.Kind.PLAN_CHANGED, context={"plan": "Pro"})

    account_delete(user=account.owner)

    assert services.billing_email_send(email_id=email.pk) is False
    assert mailoutbox == []


def test_no_checkout_starts_for_an_account_deleted_meanwhile(fake_stripe):
    """A Checkout begun as its account was being deleted could be paid later, billing a customer
    whose account is gone: it is made under the account's lock, and not at all once it is gone."""
    account = AccountFactory(stripe_customer_id=CUSTOMER)
    Account.objects.filter(pk=account.pk).delete()

    with pytest.raises(services.BillingError, match="deleted"):
        services.checkout_session_create(
            account=account, plan_code="pro", success_url="https://a.example/ok", cancel_url="https://a.example/no"
        )

    assert fake_stripe.api_requests("POST", "/v1/checkout/sessions") == []


def test_no_stripe_customer_is_made_for_an_account_deleted_meanwhile(fake_stripe):
    account = AccountFactory()
    Account.objects.filter(pk=account.pk).delete()

    with pytest.raises(services.BillingError, match="deleted"):
        services.checkout_session_create(
            account=account, plan_code="pro", success_url="https://a.example/ok", cancel_url="https://a.example/no"
        )

    assert fake_stripe.requests == []


# --- Deleted by staff in the admin ----------------------------------------------------------------------


@pytest.fixture
def paid_moments_ago(fake_stripe) -> tuple[Account, dict]:
    """A customer whose Checkout Stripe has just turned into a subscription, its event not come yet (no
    row of ours: the admin lets it be deleted), and another Checkout of theirs still open."""
    account = AccountFactory(stripe_customer_id=CUSTOMER)
    held = fake_stripe.subscription_put(customer=CUSTOMER, price=PRICE_PRO)
    fake_stripe.checkout_sessions["cs_test_open"] = {"id": "cs_test_open", "customer": CUSTOMER, "status": "open"}
    return account, held


def admin_delete(admin_client, user: User, way: str):
    if way == "delete page":
        return admin_client.post(reverse("admin:accounts_user_delete", args=[user.pk]), {"post": "yes"})
    bulk_delete = {"action": "delete_selected", "_selected_action": [user.pk], "post": "yes"}
    return admin_client.post(reverse("admin:accounts_user_changelist"), bulk_delete)


@pytest.mark.parametrize("way", ["delete page", "bulk action"])
def test_staff_deleting_a_customer_end_its_billing_in_stripe_first(admin_client, paid_moments_ago, fake_stripe, way):
    """The admin deleted the rows alone: Stripe went on billing a customer with no account."""
    account, held = paid_moments_ago

    assert admin_delete(admin_client, account.owner, way).status_code == 302

    assert not User.objects.filter(pk=account.owner.pk).exists()
    assert fake_stripe.subscriptions[held["id"]]["status"] == "canceled"
    assert fake_stripe.checkout_sessions["cs_test_open"]["status"] == "expired"


@pytest.mark.parametrize("way", ["delete page", "bulk action"])
def test_when_stripe_fails_staff_delete_nothing_and_are_told(admin_client, paid_moments_ago, fake_stripe, way):
    account, _ = paid_moments_ago
    fake_stripe.failing_status = 500

    answer = admin_delete(admin_client, account.owner, way)

    assert User.objects.filter(pk=account.owner.pk).exists()
    assert Account.objects.filter(pk=account.pk).exists()
    page = text_of(admin_client.get(answer.url)) if answer.status_code == 302 else text_of(answer)
    assert "Nothing was deleted: Stripe could not be reached" in page
    assert "Successfully deleted" not in page
