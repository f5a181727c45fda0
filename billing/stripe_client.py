"""The only code that talks to Stripe, through the official `stripe` library.

Callers get plain values (ids, URLs, `SubscriptionSnapshot`) and two exceptions, never Stripe
objects, so the rest of the app does not depend on the library's types. `STRIPE_API_BASE` points
the client at another server (stripe-mock, the tests' local fake).
"""

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from django.conf import settings

logger = logging.getLogger(__name__)

# Connect and read timeouts in seconds: a customer waits on checkout and portal redirects.
TIMEOUT = (5, 20)
MAX_NETWORK_RETRIES = 2
# An event's `created` past this (the end of year 9999) has no datetime.
LATEST_TIMESTAMP = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()) + 1


class StripeUnavailable(Exception):
    """Stripe could not be reached or refused the request; the message is for logs, not customers."""


class CustomerMissing(StripeUnavailable):
    """Stripe has no such customer (deleted in the Dashboard, or a wrong id set in the admin): asking
    again will not help. A StripeUnavailable, so that a caller not expecting it still stops safely."""


class InvalidWebhook(Exception):
    """A webhook whose signature is missing, wrong or too old, or whose body is not a Stripe event."""


# One answer for a wrong secret, a stale timestamp, a changed body or a secret not configured here.
WRONG_SIGNATURE = "The Stripe-Signature does not match this body and endpoint's secret, or is too old."


@dataclass(frozen=True)
class SubscriptionSnapshot:
    """What Smolpix needs to know about a subscription, as Stripe says it is now."""

    id: str
    customer_id: str
    status: str
    price_ids: tuple[str, ...]
    current_period_end: datetime | None
    cancel_at_period_end: bool


def _client() -> stripe.StripeClient:
    base_addresses = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses=base_addresses,
        max_network_retries=MAX_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=TIMEOUT),
    )


def customer_create(*, email: str, account_id: int) -> str:
    """Create the account's Stripe customer; its metadata carries the account id. Returns its id."""
    # The library gives every POST its own idempotency key, so its retries create one customer. Keys
    # derived from the account id would collide across databases sharing one Stripe test account.
    params = {"email": email, "metadata": {"account_id": str(account_id)}}
    return _call(lambda client: client.v1.customers.create(params=params)).id


def checkout_session_create(
    *, customer_id: str, price_id: str, account_id: int, success_url: str, cancel_url: str
) -> str:
    """Start a subscription Checkout for one price; returns the URL to send the customer to."""
    params = {
        "mode": "subscription",
        "customer": customer_id,
        "client_reference_id": str(account_id),
        "line_items": [{"price": price_id, "quantity": 1}],
        "subscription_data": {"metadata": {"account_id": str(account_id)}},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    return _call(lambda client: client.v1.checkout.sessions.create(params=params)).url


def checkout_sessions_expire_open(*, customer_id: str) -> int:
    """Expire the customer's Checkout Sessions still open (a tab left on Stripe's page), so that no
    earlier one can be paid besides a new one: each would start a subscription. Returns how many."""
    params = {"customer": customer_id, "status": "open", "limit": 100}
    # Every page (a list answers 100 at most), read before any is expired.
    session_ids = _call(
        lambda client: [session.id for session in client.v1.checkout.sessions.list(params=params).auto_paging_iter()]
    )
    for session_id in session_ids:
        _call(lambda client, session_id=session_id: client.v1.checkout.sessions.expire(session_id))
    return len(session_ids)


def portal_session_create(*, customer_id: str, return_url: str) -> str:
    """Open the customer portal (change plan, update card, cancel); returns its URL."""
    params = {"customer": customer_id, "return_url": return_url}
    return _call(lambda client: client.v1.billing_portal.sessions.create(params=params)).url


def subscription_retrieve(*, subscription_id: str) -> SubscriptionSnapshot:
    """The subscription as Stripe has it now (a canceled subscription is still retrievable)."""
    subscription = _call(lambda client: client.v1.subscriptions.retrieve(subscription_id)).to_dict()
    items = subscription["items"]["data"]
    # Since API version 2025-03-31 the billing period lives on the items, not the subscription.
    period_ends = [item["current_period_end"] for item in items if item.get("current_period_end")]
    return SubscriptionSnapshot(
        id=subscription["id"],
        customer_id=_id(subscription["customer"]),
        status=subscription["status"],
        price_ids=tuple(item["price"]["id"] for item in items),
        current_period_end=datetime.fromtimestamp(min(period_ends), tz=UTC) if period_ends else None,
        cancel_at_period_end=bool(subscription.get("cancel_at_period_end")),
    )


def subscriptions_billable(*, customer_id: str) -> list[str]:
    """The ids of the customer's subscriptions Stripe may still bill (those not canceled, Stripe's
    list without a status, but for an incomplete one that expired), whether or not a webhook event
    told us of them yet."""
    params = {"customer": customer_id, "limit": 100}
    subscriptions = _call(lambda client: list(client.v1.subscriptions.list(params=params).auto_paging_iter()))
    return [s.id for s in subscriptions if s.status != "incomplete_expired"]


def subscription_cancel(*, subscription_id: str) -> None:
    """Cancel a subscription at once: Stripe bills nothing more for it (no final invoice, no credit for
    the rest of the period; pending prorations are dropped). A subscription Stripe no longer has, or
    has cancelled already (Stripe answers `resource_missing` for both), counts as cancelled."""
    params = {"invoice_now": False, "prorate": False}
    try:
        _client().v1.subscriptions.cancel(subscription_id, params=params)
    except stripe.InvalidRequestError as error:
        if error.code != "resource_missing":
            raise _unavailable(error) from error
        logger.info("Subscription %s was cancelled or missing in Stripe already.", subscription_id)
    except stripe.StripeError as error:
        raise _unavailable(error) from error


def webhook_event_parse(*, payload: bytes, signature: str | None) -> dict[str, Any]:
    """Verify a webhook's `Stripe-Signature` against STRIPE_WEBHOOK_SECRET (with the library's
    default tolerance on its timestamp) and return the event as a plain dict."""
    if not signature:
        raise InvalidWebhook("No Stripe-Signature header.")
    if not settings.STRIPE_WEBHOOK_SECRET:
        # Only the operator can fix it; the sender is told no more than of a wrong signature.
        logger.error("STRIPE_WEBHOOK_SECRET is not set: every Stripe webhook is refused")
        raise InvalidWebhook(WRONG_SIGNATURE)
    try:
        # verify_header checks the timestamp only when given a tolerance (construct_event passes this one).
        stripe.WebhookSignature.verify_header(
            payload, signature, settings.STRIPE_WEBHOOK_SECRET, tolerance=stripe.Webhook.DEFAULT_TOLERANCE
        )
    except stripe.SignatureVerificationError as error:
        logger.warning("Stripe webhook refused: %s", error)  # the library's words, for the operator only
        raise InvalidWebhook(WRONG_SIGNATURE) from error
    try:
        event = json.loads(payload)
    except ValueError as error:
        raise InvalidWebhook("The body is not JSON.") from error
    if not isinstance(event, dict) or event.get("object") != "event":
        raise InvalidWebhook("The body is not a Stripe event.")
    if not (_is_text(event.get("id"), 255) and _is_text(event.get("type"), 100) and _is_time(event.get("created"))):
        raise InvalidWebhook("The event has no id, type or created time.")
    if not isinstance(event.get("data"), dict) or not isinstance(event["data"].get("object"), dict):
        raise InvalidWebhook("The event carries no object.")
    return event


def _is_text(value: Any, max_length: int) -> bool:
    """Text StripeEvent's column of `max_length` can hold."""
    return isinstance(value, str) and 0 < len(value) <= max_length


def _is_time(value: Any) -> bool:
    """Seconds since 1970 that a datetime can hold (up to the end of year 9999), not a boolean."""
    return type(value) is int and 0 <= value < LATEST_TIMESTAMP


@dataclass(frozen=True)
class SubscriptionReference:
    """Which subscription an event is about, whose customer it is, and the account id Smolpix gave
    Stripe for it (Checkout's `client_reference_id`, the subscription's metadata), when present."""

    subscription_id: str
    customer_id: str
    account_id: int | None


def event_subscription_reference(event: dict[str, Any]) -> SubscriptionReference | None:
    """The subscription a Checkout Session, subscription or invoice event is about; None when its
    object belongs to no subscription (a one-off payment), is of another kind, or has fields of
    shapes Stripe never sends (signed, still: they were errors the event was retried on for days)."""
    obj = event["data"]["object"]
    kind = obj.get("object")
    if kind == "checkout.session":
        subscription, account_id = obj.get("subscription"), obj.get("client_reference_id")
    elif kind == "subscription":
        subscription, account_id = obj.get("id"), _get(obj, "metadata", "account_id")
    elif kind == "invoice":
        # API versions since 2025-03-31 name the subscription under `parent`; older ones at the top.
        details = _get(obj, "parent", "subscription_details")
        subscription = _get(details, "subscription") or obj.get("subscription")
        account_id = _get(details, "metadata", "account_id")
    else:
        return None
    subscription_id, customer_id = _id(subscription), _id(obj.get("customer"))
    if not subscription_id or not customer_id:
        return None
    return SubscriptionReference(
        subscription_id=subscription_id, customer_id=customer_id, account_id=_account_id(account_id)
    )


def _get(obj: Any, *path: str) -> Any:
    """obj[path[0]][path[1]]…, or None where a step is missing or not an object."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _id(value: Any) -> str | None:
    """An expandable field's id, whether Stripe sent the id or the expanded object."""
    value = _get(value, "id") if isinstance(value, dict) else value
    return value if isinstance(value, str) else None


def _account_id(value: Any) -> int | None:
    """The account id Smolpix gave Stripe (as text), if it is one a row can have."""
    text = str(value or "")
    return int(text) if text.isascii() and text.isdigit() and int(text) < 2**63 else None


def _call(request):
    try:
        return request(_client())
    except stripe.StripeError as error:
        raise _unavailable(error) from error


def _unavailable(error: stripe.StripeError) -> StripeUnavailable:
    """Logged: a refused key as an ERROR, since only the operator can end it (retrying never will).
    A customer Stripe does not have is CustomerMissing."""
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        logger.error(
            "Stripe refused our key (STRIPE_SECRET_KEY wrong, or a restricted key without this "
            "permission: see the README's Billing with Stripe): %r",
            error,
        )
    else:
        logger.warning("Stripe request failed: %r", error)
    if isinstance(error, stripe.InvalidRequestError) and (error.code, error.param) == ("resource_missing", "customer"):
        return CustomerMissing(str(error))
    return StripeUnavailable(str(error))
