"""The billing pages and the pricing buttons, through the HTTP client, against the local fake Stripe."""

from datetime import timedelta
from urllib.parse import unquote

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import AccountFactory
from billing.tests.factories import SubscriptionFactory
from billing.tests.fake_stripe import PRICE_AGENCY

pytestmark = pytest.mark.django_db

NOT_CONFIGURED = "Billing is not configured on this server"
# Statuses in which a subscription grants nothing but Stripe may still bill it (past due: after the grace).
LIVE_WITHOUT_ACCESS = ["past_due", "unpaid", "paused", "incomplete"]


@pytest.fixture
def free_client(client, free_account):
    client.force_login(free_account.owner)
    return client


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _subscribed_client(client, *, status: str, stripe_customer_id: str = "cus_paying"):
    """Signed in as a Free account whose one subscription (Pro) has `status`; a past-due one is past its grace."""
    account = AccountFactory(stripe_customer_id=stripe_customer_id)
    past_due_since = timezone.now() - timedelta(days=30) if status == "past_due" else None
    SubscriptionFactory(account=account, status=status, past_due_since=past_due_since)
    client.force_login(account.owner)
    return client


# --- Pricing buttons ---------------------------------------------------------------------------------


def test_signed_out_visitors_choose_a_plan_by_signing_up_then_going_to_its_checkout(client, fake_stripe):
    body = client.get(reverse("pricing")).content.decode()

    assert f'href="{reverse("signup")}?next=/billing/checkout/pro/">Choose Pro<' in body
    assert f'href="{reverse("signup")}?next=/billing/checkout/agency/">Choose Agency<' in body
    assert "<form" not in body.split('id="plan-pro"', 1)[1]  # no Checkout without an account


def test_signed_in_users_get_checkout_buttons_for_the_other_paid_plans(free_client, fake_stripe):
    body = free_client.get(reverse("pricing")).content.decode()

    for plan_code in ("pro", "agency"):
        assert f'<form method="post" action="{reverse("billing:checkout", args=[plan_code])}">' in body
    assert "csrfmiddlewaretoken" in body
    assert NOT_CONFIGURED not in body


def test_the_current_plan_is_marked_instead_of_sold(client, pro_account, fake_stripe):
    client.force_login(pro_account.owner)

    body = client.get(reverse("pricing")).content.decode()

    assert reverse("billing:checkout", args=["pro"]) not in body
    assert ">Your plan<" in body
    assert reverse("billing:checkout", args=["agency"]) in body


@pytest.mark.parametrize("status", ["active", *LIVE_WITHOUT_ACCESS])
def test_subscribers_are_sent_to_the_portal_instead_of_a_checkout_that_would_refuse(client, fake_stripe, status):
    account = AccountFactory(agency=True, stripe_customer_id="cus_paying")
    SubscriptionFactory(account=account, agency=True, status=status)
    client.force_login(account.owner)

    body = client.get(reverse("pricing")).content.decode()

    assert reverse("billing:checkout", args=["pro"]) not in body
    pro_card = body.split('id="plan-pro"', 1)[1].split("</section>", 1)[0]
    assert f'<form method="post" action="{reverse("billing:portal")}">' in pro_card
    assert ">Manage subscription<" in pro_card


def test_an_ended_subscription_leaves_the_checkout_buttons(client, fake_stripe):
    client = _subscribed_client(client, status="canceled")

    body = client.get(reverse("pricing")).content.decode()

    for plan_code in ("pro", "agency"):
        assert f'<form method="post" action="{reverse("billing:checkout", args=[plan_code])}">' in body
    assert "Manage subscription" not in body


def test_without_stripe_the_buttons_are_disabled_and_say_why(free_client):
    body = free_client.get(reverse("pricing")).content.decode()

    assert reverse("billing:checkout", args=["pro"]) not in body
    assert body.count("disabled") == 2
    assert NOT_CONFIGURED in body


# --- Checkout ----------------------------------------------------------------------------------------


def test_checkout_redirects_to_a_stripe_session_for_the_plan(free_client, free_account, fake_stripe):
    response = free_client.post(reverse("billing:checkout", args=["agency"]))

    assert response.status_code == 303
    (session,) = fake_stripe.checkout_sessions.values()
    assert response["Location"] == session["url"]
    free_account.refresh_from_db()
    assert free_account.stripe_customer_id == session["customer"]
    assert fake_stripe.customers[session["customer"]]["metadata"] == {"account_id": str(free_account.pk)}
    (request,) = fake_stripe.api_requests("POST", "/v1/checkout/sessions")
    assert request.params["line_items"] == [{"price": PRICE_AGENCY, "quantity": "1"}]
    assert request.params["client_reference_id"] == str(free_account.pk)
    assert request.params["subscription_data"] == {"metadata": {"account_id": str(free_account.pk)}}
    assert request.params["success_url"] == "http://testserver/billing/success/?session_id={CHECKOUT_SESSION_ID}"
    assert request.params["cancel_url"] == "http://testserver" + reverse("billing:cancel")
    assert free_account.plan.code == "free"  # only the webhook changes the plan


def test_checkout_creates_the_stripe_customer_once(free_client, free_account, fake_stripe):
    free_client.post(reverse("billing:checkout", args=["pro"]))
    free_client.post(reverse("billing:checkout", args=["agency"]))

    assert len(fake_stripe.api_requests("POST", "/v1/customers")) == 1
    free_account.refresh_from_db()
    assert {s["customer"] for s in fake_stripe.checkout_sessions.values()} == {free_account.stripe_customer_id}


def test_a_new_checkout_expires_the_one_left_open_so_only_one_can_be_paid(free_client, fake_stripe):
    first = free_client.post(reverse("billing:checkout", args=["pro"]))["Location"]
    second = free_client.post(reverse("billing:checkout", args=["agency"]))["Location"]

    first_session, second_session = fake_stripe.checkout_sessions.values()
    assert (first_session["url"], second_session["url"]) == (first, second)
    assert (first_session["status"], second_session["status"]) == ("expired", "open")
    with pytest.raises(ValueError, match="expired"):
        fake_stripe.checkout_complete(first_session["id"])
    fake_stripe.checkout_complete(second_session["id"])
    assert len(fake_stripe.subscriptions) == 1


def test_checkout_is_refused_while_stripe_bills_a_subscription_whose_event_has_not_applied(
    free_client, free_account, fake_stripe
):
    # What the audit paid twice for: Pro paid while its events could not apply (no row here yet),
    # the billing page still offered the plans, and Agency's Checkout went through as well.
    free_client.post(reverse("billing:checkout", args=["pro"]))
    (session,) = fake_stripe.checkout_sessions.values()
    fake_stripe.checkout_complete(session["id"])  # no webhook_url: no event reaches Smolpix

    response = free_client.post(reverse("billing:checkout", args=["agency"]), follow=True)

    assert response.redirect_chain == [(reverse("billing:home"), 302)]
    assert _messages(response) == [
        "Stripe has a subscription of yours we are still setting up: if you paid moments ago, "
        "your plan changes in a minute. Change or cancel it with “Manage subscription”."
    ]
    assert len(fake_stripe.checkout_sessions) == 1
    free_account.refresh_from_db()
    (request,) = fake_stripe.api_requests("GET", "/v1/subscriptions")
    assert request.params["customer"] == free_account.stripe_customer_id


def test_checkout_does_not_ask_stripe_for_the_subscriptions_of_a_customer_it_creates(free_client, fake_stripe):
    free_client.post(reverse("billing:checkout", args=["pro"]))

    assert fake_stripe.api_requests("GET", "/v1/subscriptions") == []


def test_a_subscription_stripe_no_longer_bills_does_not_stop_a_checkout(free_client, free_account, fake_stripe):
    free_client.post(reverse("billing:checkout", args=["pro"]))
    free_account.refresh_from_db()
    for status in ("canceled", "incomplete_expired"):
        fake_stripe.subscription_put(customer=free_account.stripe_customer_id, price=PRICE_AGENCY, status=status)

    response = free_client.post(reverse("billing:checkout", args=["agency"]))

    assert response.status_code == 303
    assert len(fake_stripe.api_requests("GET", "/v1/subscriptions")) == 1


def test_checkout_reuses_a_customer_linked_before(free_client, free_account, fake_stripe):
    free_client.post(reverse("billing:checkout", args=["pro"]))
    fake_stripe.requests.clear()

    free_client.post(reverse("billing:checkout", args=["pro"]))

    assert fake_stripe.api_requests("POST", "/v1/customers") == []


def test_checkout_is_refused_while_a_subscription_grants_a_plan(client, fake_stripe):
    account = AccountFactory(pro=True, stripe_customer_id="cus_paying")
    SubscriptionFactory(account=account)
    client.force_login(account.owner)

    page = client.get(reverse("billing:checkout", args=["agency"])).content.decode()
    response = client.post(reverse("billing:checkout", args=["agency"]), follow=True)

    assert "You subscribe to Pro" in page and "Continue to secure checkout" not in page
    assert response.redirect_chain == [(reverse("billing:home"), 302)]
    assert "You already subscribe to Pro" in _messages(response)[0]
    assert fake_stripe.requests == []


@pytest.mark.parametrize("status", LIVE_WITHOUT_ACCESS)
def test_checkout_is_refused_while_stripe_may_still_bill_a_subscription_granting_nothing(client, fake_stripe, status):
    # What double-billed a customer: past due beyond the grace, they bought Agency, then Stripe's retry
    # of the Pro card succeeded and both subscriptions were active.
    client = _subscribed_client(client, status=status)

    page = client.get(reverse("billing:checkout", args=["agency"])).content.decode()
    response = client.post(reverse("billing:checkout", args=["agency"]), follow=True)

    assert "Continue to secure checkout" not in page
    assert "Stripe may still bill it: pay, resume or cancel it with “Manage subscription” in Billing" in page
    assert response.redirect_chain == [(reverse("billing:home"), 302)]
    assert _messages(response) == [
        f"Your subscription is {status.replace('_', ' ')} and Stripe may still bill it: "
        "pay, resume or cancel it with “Manage subscription” before choosing a plan."
    ]
    assert fake_stripe.requests == []


@pytest.mark.parametrize("status", ["canceled", "incomplete_expired"])
def test_checkout_is_open_again_once_the_subscription_has_ended(client, fake_stripe, status):
    client = _subscribed_client(client, status=status, stripe_customer_id="")  # Checkout makes one in the fake

    page = client.get(reverse("billing:checkout", args=["agency"])).content.decode()
    response = client.post(reverse("billing:checkout", args=["agency"]))

    assert "Continue to secure checkout" in page
    assert response.status_code == 303
    (session,) = fake_stripe.checkout_sessions.values()
    assert response["Location"] == session["url"]


@pytest.mark.parametrize("plan_code", ["free", "platinum"])
def test_checkout_only_sells_paid_plans(free_client, fake_stripe, plan_code):
    response = free_client.post(reverse("billing:checkout", args=[plan_code]), follow=True)

    assert _messages(response) == ["Choose the Pro or the Agency plan."]
    assert fake_stripe.requests == []


def test_checkout_when_stripe_is_down_says_so(free_client, fake_stripe):
    fake_stripe.failing_status = 500

    response = free_client.post(reverse("billing:checkout", args=["pro"]), follow=True)

    assert response.status_code == 200
    assert "could not reach our payment provider" in _messages(response)[0]


def test_a_checkout_stripe_refuses_keeps_the_customer_it_made_for_the_next_attempt(
    free_client, free_account, fake_stripe
):
    # Each failed attempt used to leave a customer in Stripe that no account was linked to.
    fake_stripe.failing_requests[("POST", "/v1/checkout/sessions")] = 500

    for _ in range(2):
        response = free_client.post(reverse("billing:checkout", args=["pro"]), follow=True)
        assert _messages(response) == ["We could not reach our payment provider. Please try again in a minute."]

    (customer,) = fake_stripe.customers.values()
    free_account.refresh_from_db()
    assert free_account.stripe_customer_id == customer["id"]
    fake_stripe.failing_requests.clear()
    assert free_client.post(reverse("billing:checkout", args=["pro"])).status_code == 303
    (session,) = fake_stripe.checkout_sessions.values()
    assert (session["customer"], len(fake_stripe.customers)) == (customer["id"], 1)


def test_checkout_for_a_customer_stripe_no_longer_has_makes_a_new_one_in_its_place(client, fake_stripe, caplog):
    # Deleted in the Stripe Dashboard (or a wrong id set in the admin): it was "could not reach" forever.
    account = AccountFactory(stripe_customer_id="cus_deleted")
    client.force_login(account.owner)

    response = client.post(reverse("billing:checkout", args=["pro"]))

    assert response.status_code == 303
    (customer,) = fake_stripe.customers.values()
    (session,) = fake_stripe.checkout_sessions.values()
    account.refresh_from_db()
    assert account.stripe_customer_id == customer["id"] == session["customer"]
    assert customer["metadata"] == {"account_id": str(account.pk)}
    assert f"Stripe has no customer cus_deleted of account {account.pk}: creating a new one in its place." in [
        r.getMessage() for r in caplog.records if r.levelname == "WARNING"
    ]


def test_checkout_without_stripe_configured_goes_nowhere(free_client):
    response = free_client.post(reverse("billing:checkout", args=["pro"]), follow=True)

    assert response.redirect_chain == [(reverse("billing:home"), 302)]
    assert NOT_CONFIGURED in _messages(response)[0]


def test_checkout_needs_a_signed_in_user(free_client, fake_stripe):
    url = reverse("billing:checkout", args=["pro"])

    for response in (Client().post(url), Client().get(url)):
        assert response["Location"] == f"{reverse('login')}?next={url}"
    assert fake_stripe.requests == []


def test_checkout_asks_to_confirm_the_plan_on_a_get_without_calling_stripe(free_client, fake_stripe):
    url = reverse("billing:checkout", args=["agency"])

    response = free_client.get(url)

    body = response.content.decode()
    assert response.status_code == 200
    assert "The Agency plan" in body and "$149" in body and "Unlimited images" in body
    assert '<form method="post">' in body and "Continue to secure checkout" in body
    assert fake_stripe.requests == []


def test_the_checkout_page_of_the_current_plan_sells_nothing(client, pro_account, fake_stripe):
    client.force_login(pro_account.owner)

    body = client.get(reverse("billing:checkout", args=["pro"])).content.decode()

    assert "You are on the Pro plan already." in body
    assert '<form method="post">' not in body


@pytest.mark.parametrize("plan_code", ["free", "platinum"])
def test_the_checkout_page_exists_for_paid_plans_only(free_client, fake_stripe, plan_code):
    assert free_client.get(reverse("billing:checkout", args=[plan_code])).status_code == 404


def test_the_checkout_page_without_stripe_configured_goes_to_billing(free_client):
    response = free_client.get(reverse("billing:checkout", args=["pro"]), follow=True)

    assert response.redirect_chain == [(reverse("billing:home"), 302)]
    assert NOT_CONFIGURED in _messages(response)[0]


def test_success_page_says_the_plan_updates_shortly(free_client):
    body = free_client.get(reverse("billing:success"), {"session_id": "cs_test_a1B2c3D4e5"}).content.decode()

    assert "will update shortly" in body
    assert "Free" in body


@pytest.mark.parametrize("query", [{}, {"session_id": ""}, {"session_id": "bogus"}, {"session_id": "cs_test_<b>"}])
def test_success_page_without_a_checkout_session_goes_to_billing(free_client, query):
    response = free_client.get(reverse("billing:success"), query)

    assert response.status_code == 302
    assert response["Location"] == reverse("billing:home")


def test_cancel_page(free_client):
    body = free_client.get(reverse("billing:cancel")).content.decode()

    assert "have not been charged" in body


# --- The billing page and the portal ----------------------------------------------------------------


def test_billing_page_shows_plan_status_renewal_and_the_portal_button(client, fake_stripe):
    account = AccountFactory(pro=True, stripe_customer_id="cus_paying")
    subscription = SubscriptionFactory(account=account)
    client.force_login(account.owner)

    body = client.get(reverse("billing:home")).content.decode()

    assert "Active" in body
    assert f"Next renewal: <strong>{subscription.current_period_end:%-d %B %Y}</strong>" in body
    assert f'action="{reverse("billing:portal")}"' in body
    assert NOT_CONFIGURED not in body


def test_billing_page_says_when_a_canceled_subscription_ends(client, fake_stripe):
    account = AccountFactory(pro=True, stripe_customer_id="cus_paying")
    subscription = SubscriptionFactory(account=account, cancel_at_period_end=True)
    client.force_login(account.owner)

    body = client.get(reverse("billing:home")).content.decode()

    assert f"Ends on <strong>{subscription.current_period_end:%-d %B %Y}</strong>" in body


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("past_due", "Your account is on the Free plan until the payment succeeds; update your card"),
        ("unpaid", "Stripe stopped retrying the card: your account is on the Free plan until the open invoice is paid"),
        ("paused", "This subscription is paused: your account is on the Free plan until you resume it"),
        ("incomplete", "The first payment of this subscription has not gone through: pay it"),
    ],
)
def test_billing_page_sends_a_subscription_stripe_may_still_bill_to_the_portal(client, fake_stripe, status, words):
    body = _subscribed_client(client, status=status).get(reverse("billing:home")).content.decode()

    assert words in body
    assert f'action="{reverse("billing:portal")}"' in body
    assert "no other plan can be bought until it is paid, resumed or canceled" in body
    assert "has ended" not in body
    assert "Choose a plan" not in body


def test_billing_page_offers_the_plans_once_the_subscription_has_ended(client, fake_stripe):
    body = _subscribed_client(client, status="canceled").get(reverse("billing:home")).content.decode()

    assert "This subscription has ended." in body
    assert f'href="{reverse("pricing")}">Choose a plan<' in body


def test_billing_page_for_a_free_account_offers_the_plans(free_client, fake_stripe):
    body = free_client.get(reverse("billing:home")).content.decode()

    assert "No subscription" in body
    assert "50 images a month, no API access." in body
    assert f'href="{reverse("pricing")}">Choose a plan<' in body
    assert reverse("billing:portal") not in body


@pytest.mark.parametrize("page", ["landing", "pricing"])
def test_plans_shown_signed_out_without_stripe_configured_are_not_offered_for_sale(client, page):
    """They led to sign-up, whose pages and e-mail promised "Stripe's secure checkout" at the end,
    and then to the billing page saying billing is not configured."""
    body = client.get(reverse(page)).content.decode()

    assert reverse("billing:checkout", args=["pro"]) not in unquote(body)
    assert body.count(NOT_CONFIGURED) == 2  # Pro's card and Agency's
    assert 'href="/accounts/signup/">Start free<' in body


def test_billing_page_without_stripe_configured_says_so(free_client):
    body = free_client.get(reverse("billing:home")).content.decode()

    assert NOT_CONFIGURED in body
    assert "Staff can set your plan in the admin" in body
    assert reverse("billing:portal") not in body
    assert reverse("pricing") + '">Choose a plan' not in body


def test_billing_page_needs_a_signed_in_user(client):
    assert client.get(reverse("billing:home"))["Location"].startswith(reverse("login"))


def test_portal_redirects_to_a_stripe_portal_session_for_the_customer(client, fake_stripe):
    account = AccountFactory(pro=True)
    client.force_login(account.owner)
    client.post(reverse("billing:checkout", args=["pro"]))  # links a Stripe customer
    account.refresh_from_db()

    response = client.post(reverse("billing:portal"))

    assert response.status_code == 303
    (session,) = fake_stripe.portal_sessions.values()
    assert response["Location"] == session["url"]
    (request,) = fake_stripe.api_requests("POST", "/v1/billing_portal/sessions")
    assert request.params == {
        "customer": account.stripe_customer_id,
        "return_url": "http://testserver" + reverse("billing:home"),
    }


def test_opening_the_portal_address_goes_to_the_billing_page_and_opens_no_session(client, fake_stripe):
    """Its POST-only view answered a GET an empty 405, which browsers showed as their own error page."""
    client = _subscribed_client(client, status="active")

    response = client.get(reverse("billing:portal"))

    assert response.status_code == 302
    assert response["Location"] == reverse("billing:home")
    assert fake_stripe.requests == []


def test_portal_without_a_customer_says_so(free_client, fake_stripe):
    response = free_client.post(reverse("billing:portal"), follow=True)

    assert "no subscription to manage" in _messages(response)[0]
    assert fake_stripe.requests == []


def test_portal_for_a_customer_stripe_no_longer_has_says_there_is_nothing_to_manage(client, fake_stripe):
    account = AccountFactory(stripe_customer_id="cus_deleted")
    client.force_login(account.owner)

    response = client.post(reverse("billing:portal"), follow=True)

    assert response.redirect_chain == [(reverse("billing:home"), 302)]
    assert _messages(response) == [
        "Our payment provider has no subscription of yours to manage: choose a plan on the pricing page. "
        "If you think you are still being billed, write to us."
    ]


def test_portal_without_stripe_configured_goes_nowhere(client):
    account = AccountFactory(pro=True, stripe_customer_id="cus_paying")
    client.force_login(account.owner)

    response = client.post(reverse("billing:portal"), follow=True)

    assert NOT_CONFIGURED in _messages(response)[0]
