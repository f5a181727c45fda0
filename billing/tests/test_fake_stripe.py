"""The fake Stripe's browser side, which the browser tests rely on: its Checkout page pays the
session, delivers signed events to the live server's webhook and sends the browser back."""

import http.client
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import AccountFactory
from billing.models import StripeEvent
from billing.tests.fake_stripe import PRICE_PRO

# The live server commits for real; serialized rollback restores the seeded plans afterwards.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _request(method: str, url: str) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request(method, parts.path)
    return connection.getresponse()


def test_paying_on_the_checkout_page_delivers_the_events_and_returns_to_the_success_page(live_server, fake_stripe):
    account = AccountFactory()
    client = Client()
    client.force_login(account.owner)
    checkout_url = client.post(reverse("billing:checkout", args=["pro"]))["Location"]
    fake_stripe.webhook_url = live_server.url + reverse("billing:webhook")

    page = _request("GET", checkout_url)
    assert page.status == 200
    assert PRICE_PRO in page.read().decode()

    paid = _request("POST", checkout_url + "/pay")

    assert paid.status == 303
    (session_id,) = fake_stripe.checkout_sessions  # written where success_url says, as Stripe does
    assert paid.getheader("Location") == f"http://testserver{reverse('billing:success')}?session_id={session_id}"
    assert sorted(StripeEvent.objects.values_list("type", flat=True)) == [
        "checkout.session.completed",
        "customer.subscription.created",
    ]
    assert not StripeEvent.objects.filter(processed_at=None).exists()
    account.refresh_from_db()
    assert account.plan.code == "pro"


def test_the_portal_page_links_back(fake_stripe):
    account = AccountFactory(pro=True)
    client = Client()
    client.force_login(account.owner)
    client.post(reverse("billing:checkout", args=["agency"]))
    portal_url = client.post(reverse("billing:portal"))["Location"]

    page = _request("GET", portal_url)

    assert page.status == 200
    assert f'href="http://testserver{reverse("billing:home")}"' in page.read().decode()
