"""The Stripe boundary, against the local fake Stripe server (the real `stripe` library over HTTP)."""

import json
import time
from datetime import UTC, datetime

import pytest

from billing import stripe_client
from billing.tests.fake_stripe import PRICE_AGENCY, PRICE_PRO, SECRET_KEY, WEBHOOK_SECRET, sign


def test_customer_create_carries_the_account_id(fake_stripe):
    customer_id = stripe_client.customer_create(email="a@example.com", account_id=42)

    (request,) = fake_stripe.api_requests("POST", "/v1/customers")
    assert request.params == {"email": "a@example.com", "metadata": {"account_id": "42"}}
    assert request.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert customer_id in fake_stripe.customers


def test_checkout_session_create_sends_a_subscription_checkout_for_the_price(fake_stripe):
    customer_id = stripe_client.customer_create(email="a@example.com", account_id=7)

    url = stripe_client.checkout_session_create(
        customer_id=customer_id,
        price_id=PRICE_PRO,
        account_id=7,
        success_url="http://testserver/billing/success/",
        cancel_url="http://testserver/billing/cancel/",
    )

    (request,) = fake_stripe.api_requests("POST", "/v1/checkout/sessions")
    assert request.params == {
        "mode": "subscription",
        "customer": customer_id,
        "client_reference_id": "7",
        "line_items": [{"price": PRICE_PRO, "quantity": "1"}],
        "subscription_data": {"metadata": {"account_id": "7"}},
        "success_url": "http://testserver/billing/success/",
        "cancel_url": "http://testserver/billing/cancel/",
    }
    assert url.startswith(f"{fake_stripe.url}/checkout/cs_test_")


def test_portal_session_create(fake_stripe):
    customer_id = stripe_client.customer_create(email="a@example.com", account_id=7)

    url = stripe_client.portal_session_create(customer_id=customer_id, return_url="http://testserver/billing/")

    (request,) = fake_stripe.api_requests("POST", "/v1/billing_portal/sessions")
    assert request.params == {"customer": customer_id, "return_url": "http://testserver/billing/"}
    assert url.startswith(f"{fake_stripe.url}/portal/bps_")


def test_subscription_retrieve_reads_price_status_and_period_from_the_items(fake_stripe):
    held = fake_stripe.subscription_put(customer="cus_1", price=PRICE_AGENCY, status="past_due")
    fake_stripe.subscription_update(held["id"], cancel_at_period_end=True)

    snapshot = stripe_client.subscription_retrieve(subscription_id=held["id"])

    period_end = held["items"]["data"][0]["current_period_end"]
    assert snapshot == stripe_client.SubscriptionSnapshot(
        id=held["id"],
        customer_id="cus_1",
        status="past_due",
        price_ids=(PRICE_AGENCY,),
        current_period_end=datetime.fromtimestamp(period_end, tz=UTC),
        cancel_at_period_end=True,
    )


@pytest.mark.parametrize("failing_status", [500, 404, 401])
def test_stripe_errors_become_stripe_unavailable(fake_stripe, failing_status):
    fake_stripe.failing_status = failing_status

    with pytest.raises(stripe_client.StripeUnavailable):
        stripe_client.customer_create(email="a@example.com", account_id=1)


def test_a_missing_subscription_is_stripe_unavailable(fake_stripe):
    with pytest.raises(stripe_client.StripeUnavailable, match="No such subscription"):
        stripe_client.subscription_retrieve(subscription_id="sub_missing")


def test_a_customer_stripe_does_not_have_is_told_apart_from_stripe_being_unreachable(fake_stripe):
    with pytest.raises(stripe_client.CustomerMissing, match="No such customer: 'cus_deleted'"):
        stripe_client.portal_session_create(customer_id="cus_deleted", return_url="https://a.example/billing/")

    fake_stripe.failing_status = 500
    with pytest.raises(stripe_client.StripeUnavailable) as raised:
        stripe_client.portal_session_create(customer_id="cus_deleted", return_url="https://a.example/billing/")
    assert not isinstance(raised.value, stripe_client.CustomerMissing)


def test_the_wrong_api_key_is_refused_by_the_fake(fake_stripe, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_wrong"

    with pytest.raises(stripe_client.StripeUnavailable, match="Invalid API Key"):
        stripe_client.customer_create(email="a@example.com", account_id=1)


# --- Webhook signatures -----------------------------------------------------------------------------


def _payload(fake_stripe) -> bytes:
    return json.dumps(fake_stripe.event("customer.created", {"id": "cus_1", "object": "customer"})).encode()


def test_a_signed_event_parses(fake_stripe):
    payload = _payload(fake_stripe)

    event = stripe_client.webhook_event_parse(payload=payload, signature=sign(payload))

    assert event == json.loads(payload)


def test_a_missing_signature_is_refused(fake_stripe):
    for signature in (None, ""):
        with pytest.raises(stripe_client.InvalidWebhook, match=r"^No Stripe-Signature header\.$"):
            stripe_client.webhook_event_parse(payload=_payload(fake_stripe), signature=signature)


def _refused_as_wrongly_signed(caplog, *, payload: bytes, signature: str) -> str:
    """The library's reason, which only the log has: the sender gets WRONG_SIGNATURE, whatever it is."""
    with pytest.raises(stripe_client.InvalidWebhook) as refused:
        stripe_client.webhook_event_parse(payload=payload, signature=signature)
    assert str(refused.value) == stripe_client.WRONG_SIGNATURE
    return " ".join(record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("signature", "reason"),
    [("garbage", "Unable to extract timestamp"), ("t=1700000000", "No signatures found with expected scheme")],
)
def test_a_malformed_signature_is_refused(fake_stripe, caplog, signature, reason):
    assert reason in _refused_as_wrongly_signed(caplog, payload=_payload(fake_stripe), signature=signature)


def test_a_signature_with_another_secret_is_refused(fake_stripe, caplog):
    payload = _payload(fake_stripe)

    logged = _refused_as_wrongly_signed(caplog, payload=payload, signature=sign(payload, secret="whsec_other"))

    assert "No signatures found matching" in logged


def test_a_tampered_body_is_refused(fake_stripe, caplog):
    payload = _payload(fake_stripe)
    signature = sign(payload)

    logged = _refused_as_wrongly_signed(caplog, payload=payload.replace(b"cus_1", b"cus_2"), signature=signature)

    assert "No signatures found matching" in logged


def test_a_signature_older_than_the_tolerance_is_refused(fake_stripe, caplog):
    payload = _payload(fake_stripe)
    stale = int(time.time()) - 301  # the library's default tolerance is 300 s

    assert "tolerance" in _refused_as_wrongly_signed(caplog, payload=payload, signature=sign(payload, timestamp=stale))


def test_a_signature_within_the_tolerance_is_accepted(fake_stripe):
    payload = _payload(fake_stripe)

    stripe_client.webhook_event_parse(payload=payload, signature=sign(payload, timestamp=int(time.time()) - 240))


def test_without_a_webhook_secret_nothing_verifies(fake_stripe, settings, caplog):
    settings.STRIPE_WEBHOOK_SECRET = ""
    payload = _payload(fake_stripe)

    logged = _refused_as_wrongly_signed(caplog, payload=payload, signature=sign(payload, secret=WEBHOOK_SECRET))

    assert "STRIPE_WEBHOOK_SECRET is not set" in logged


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"object": "customer", "id": "cus_1"}',
        b'{"object": "event", "id": "evt_1"}',
        # Well-formed but beyond what an event row holds: the webhook answered 503, and Stripe resends.
        *(
            json.dumps(
                {
                    "object": "event",
                    "id": event_id,
                    "type": "customer.created",
                    "created": created,
                    "data": {"object": {}},
                }
            ).encode()
            for event_id, created in [("evt_1", 10**20), ("evt_1", -1), ("evt_1", True), ("", 1), ("e" * 256, 1)]
        ),
    ],
)
def test_a_signed_body_that_is_no_event_is_refused(fake_stripe, body):
    with pytest.raises(stripe_client.InvalidWebhook):
        stripe_client.webhook_event_parse(payload=body, signature=sign(body))


# --- Which subscription an event is about ------------------------------------------------------------


def test_reference_from_a_checkout_session(fake_stripe):
    session = {"object": "checkout.session", "customer": "cus_1", "subscription": "sub_1", "client_reference_id": "9"}

    reference = stripe_client.event_subscription_reference(fake_stripe.event("checkout.session.completed", session))

    assert reference == stripe_client.SubscriptionReference(subscription_id="sub_1", customer_id="cus_1", account_id=9)


def test_reference_from_a_subscription(fake_stripe):
    subscription = fake_stripe.subscription_put(customer="cus_1", price=PRICE_PRO, metadata={"account_id": "3"})

    event = fake_stripe.event("customer.subscription.updated", subscription)

    assert stripe_client.event_subscription_reference(event) == stripe_client.SubscriptionReference(
        subscription_id=subscription["id"], customer_id="cus_1", account_id=3
    )


def test_reference_from_an_invoice_in_the_current_and_the_older_api_shape(fake_stripe):
    subscription = fake_stripe.subscription_put(customer="cus_1", price=PRICE_PRO)
    current = fake_stripe.invoice(subscription)
    older = {"object": "invoice", "customer": "cus_1", "subscription": subscription["id"]}

    for invoice in (current, older):
        reference = stripe_client.event_subscription_reference(fake_stripe.event("invoice.paid", invoice))
        assert reference == stripe_client.SubscriptionReference(
            subscription_id=subscription["id"], customer_id="cus_1", account_id=None
        )


@pytest.mark.parametrize(
    "obj",
    [
        {"object": "checkout.session", "customer": "cus_1", "subscription": None, "mode": "payment"},
        {"object": "invoice", "customer": "cus_1", "parent": None},
        {"object": "customer", "id": "cus_1"},
        # Shapes Stripe never sends, signed all the same: no reference rather than an error.
        {"object": "subscription", "id": "sub_1", "customer": {"object": "customer"}},
        {"object": "subscription", "id": {"no": "id"}, "customer": "cus_1"},
        {"object": "invoice", "customer": "cus_1", "parent": ["subscription_details"]},
    ],
)
def test_no_reference_for_objects_without_a_subscription(fake_stripe, obj):
    assert stripe_client.event_subscription_reference(fake_stripe.event("whatever.happened", obj)) is None


@pytest.mark.parametrize(
    ("metadata", "account_id"),
    [({"account_id": "3"}, 3), ({"account_id": "²"}, None), ({"account_id": "9" * 20}, None), ("account_id=3", None)],
)
def test_an_account_id_is_read_only_where_it_is_one(fake_stripe, metadata, account_id):
    subscription = {"object": "subscription", "id": "sub_1", "customer": "cus_1", "metadata": metadata}

    reference = stripe_client.event_subscription_reference(
        fake_stripe.event("customer.subscription.updated", subscription)
    )

    assert reference == stripe_client.SubscriptionReference(
        subscription_id="sub_1", customer_id="cus_1", account_id=account_id
    )
