"""A local stand-in for the part of Stripe's API Smolpix uses, so no test reaches the internet.

`FakeStripe` is a threaded HTTP server on 127.0.0.1 (a random port). The real `stripe` library talks
to it through STRIPE_API_BASE. It answers exactly what `billing/stripe_client.py` calls (customers,
Checkout Sessions, customer-portal sessions, retrieving a subscription) with Stripe's shapes and
error bodies, records every API request so tests can assert the parameters sent, and holds the
subscriptions that tests (or its checkout page) create.

Browser tests: the Checkout Session's `url` is a page on the fake with a "Pay" button. Paying
creates an active subscription, delivers signed `checkout.session.completed` and
`customer.subscription.created` events to `webhook_url` (set it to the live server's
`/billing/webhook/`), then redirects to the session's success URL, as Stripe does.

Fixture: `fake_stripe` configures Stripe's settings to use the fake and empties it for each test.
The root conftest registers this module as a plugin, so every test directory can use it. With a
broker configured, the webhook queues processing for a worker: make tasks eager
(`monkeypatch.setitem(celery_app.conf, "task_always_eager", True)`) or run one.
"""

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest

SECRET_KEY = "sk_test_fake_smolpix"
WEBHOOK_SECRET = "whsec_fake_smolpix"
PRICE_PRO = "price_fake_pro"
PRICE_AGENCY = "price_fake_agency"
API_VERSION = "2026-10-28.endive"
PERIOD_SECONDS = 30 * 24 * 3600
CHECKOUT_PAGE = """<!doctype html><title>Fake Stripe Checkout</title>
<h1>Fake Stripe Checkout</h1><p>Subscribe to <strong>{price}</strong></p>
<form method="post" action="{pay_url}"><button type="submit">Pay</button></form>
<p><a href="{cancel_url}">Back</a></p>"""
PORTAL_PAGE = """<!doctype html><title>Fake customer portal</title>
<h1>Fake customer portal</h1><p>Customer {customer}</p>
<p><a href="{return_url}">Return to Smolpix</a></p>"""


def sign(payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header exactly as Stripe computes it: HMAC-SHA256 of "<t>.<payload>"."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, Any]  # form parameters decoded into nested dicts and lists
    headers: dict[str, str]  # lower-case names


class FakeStripe:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.reset()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"fake": self}))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-stripe", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self) -> None:
        with self._lock:
            self.requests: list[RecordedRequest] = []
            self.customers: dict[str, dict] = {}
            self.checkout_sessions: dict[str, dict] = {}
            self.portal_sessions: dict[str, dict] = {}
            self.subscriptions: dict[str, dict] = {}
            self.failing_status: int | None = None  # set to e.g. 500 to make every API call fail
            # (method, path) -> status, e.g. {("POST", "/v1/checkout/sessions"): 500}: that call alone fails
            self.failing_requests: dict[tuple[str, str], int] = {}
            # Customers Stripe no longer has (deleted in the Dashboard): its lists refuse them, as Stripe does
            self.missing_customers: set[str] = set()
            self.webhook_url: str | None = None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- For tests ------------------------------------------------------------------------------

    def api_requests(self, method: str, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def subscription_put(
        self,
        *,
        customer: str,
        price: str,
        status: str = "active",
        subscription_id: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict:
        """Create a subscription as Stripe would hold it, or replace one (same id); returns a copy."""
        now = int(time.time())
        subscription_id = subscription_id or _new_id("sub")
        subscription = {
            "id": subscription_id,
            "object": "subscription",
            "customer": customer,
            "status": status,
            "cancel_at_period_end": False,
            "created": now,
            "metadata": metadata or {},
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": _new_id("si"),
                        "object": "subscription_item",
                        "price": {"id": price, "object": "price"},
                        "quantity": 1,
                        "current_period_start": now,
                        "current_period_end": now + PERIOD_SECONDS,
                    }
                ],
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={subscription_id}",
            },
        }
        with self._lock:
            self.subscriptions[subscription_id] = subscription
        return json.loads(json.dumps(subscription))

    def subscription_update(
        self, subscription_id: str, *, price: str | None = None, status: str | None = None, **fields: Any
    ) -> dict:
        """Change a held subscription (its price, status or other top-level fields); returns a copy."""
        with self._lock:
            subscription = self.subscriptions[subscription_id]
            if price is not None:
                subscription["items"]["data"][0]["price"] = {"id": price, "object": "price"}
            if status is not None:
                subscription["status"] = status
            subscription.update(fields)
            return json.loads(json.dumps(subscription))

    def event(self, event_type: str, obj: dict, *, created: int | None = None) -> dict:
        """A webhook event carrying `obj`, as Stripe renders it."""
        return {
            "id": _new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()) if created is None else created,
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": json.loads(json.dumps(obj))},
        }

    def invoice(self, subscription: dict) -> dict:
        """An invoice of `subscription`, in the current API's shape (subscription under `parent`)."""
        return {
            "id": _new_id("in"),
            "object": "invoice",
            "customer": subscription["customer"],
            "amount_due": 4900,
            "currency": "usd",
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": subscription["id"], "metadata": subscription["metadata"]},
            },
        }

    def checkout_complete(self, session_id: str) -> list[dict]:
        """Pay a Checkout Session: an active subscription for its price, and the events Stripe sends
        (delivered to `webhook_url` when set). Returns the events."""
        with self._lock:
            session = self.checkout_sessions[session_id]
            if session["status"] != "open":
                raise ValueError(f"Checkout Session {session_id} is {session['status']}: it cannot be paid.")
            subscription = self.subscription_put(
                customer=session["customer"],
                price=session["line_items"][0]["price"],
                metadata=session["subscription_data"].get("metadata", {}),
            )
            session.update(status="complete", payment_status="paid", subscription=subscription["id"])
            events = [
                self.event("checkout.session.completed", self._public(session)),
                self.event("customer.subscription.created", subscription),
            ]
        if self.webhook_url:
            for event in events:
                self.deliver(event)
        return events

    def deliver(self, event: dict, url: str | None = None) -> int:
        """POST a signed event to `url` (default `webhook_url`), as Stripe does; returns the status."""
        payload = json.dumps(event).encode()
        request = urllib.request.Request(  # noqa: S310 - a loopback URL the test chose
            url or self.webhook_url,
            data=payload,
            headers={"Content-Type": "application/json", "Stripe-Signature": sign(payload)},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    # --- The API --------------------------------------------------------------------------------

    def _api(self, method: str, path: str, params: dict, headers: dict[str, str]) -> tuple[int, dict]:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, params, headers))
            failing_status = self.failing_status or self.failing_requests.get((method, path))
            if failing_status:
                return failing_status, _error("api_error", "The fake Stripe is failing on purpose.")
            if headers.get("authorization") != f"Bearer {SECRET_KEY}":
                return 401, _error("invalid_request_error", "Invalid API Key provided.")
            if (method, path) == ("POST", "/v1/customers"):
                return self._customer_create(params)
            if (method, path) == ("POST", "/v1/checkout/sessions"):
                return self._checkout_session_create(params)
            if (method, path) == ("GET", "/v1/checkout/sessions"):
                return self._checkout_session_list(params)
            if method == "POST" and path.startswith("/v1/checkout/sessions/") and path.endswith("/expire"):
                return self._checkout_session_expire(path.split("/")[4])
            if (method, path) == ("POST", "/v1/billing_portal/sessions"):
                return self._portal_session_create(params)
            if (method, path) == ("GET", "/v1/subscriptions"):
                return self._subscription_list(params)
            if method == "GET" and path.startswith("/v1/subscriptions/"):
                subscription_id = path.removeprefix("/v1/subscriptions/")
                if subscription_id in self.subscriptions:
                    return 200, self.subscriptions[subscription_id]
                return 404, _error("invalid_request_error", f"No such subscription: '{subscription_id}'", "id")
            if method == "DELETE" and path.startswith("/v1/subscriptions/"):
                return self._subscription_cancel(path.removeprefix("/v1/subscriptions/"))
            return 404, _error("invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def _customer_create(self, params: dict) -> tuple[int, dict]:
        customer = {
            "id": _new_id("cus"),
            "object": "customer",
            "email": params.get("email"),
            "metadata": params.get("metadata", {}),
            "created": int(time.time()),
        }
        self.customers[customer["id"]] = customer
        return 200, customer

    def _checkout_session_create(self, params: dict) -> tuple[int, dict]:
        for name in ("mode", "success_url"):
            if not params.get(name):
                return 400, _error("invalid_request_error", f"Missing required param: {name}.", name)
        if params["mode"] == "subscription" and not params.get("line_items"):
            return 400, _error("invalid_request_error", "line_items is required in subscription mode.", "line_items")
        if params.get("customer") and params["customer"] not in self.customers:
            return _no_such_customer(params)
        session_id = _new_id("cs_test")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params["mode"],
            "customer": params.get("customer"),
            "client_reference_id": params.get("client_reference_id"),
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url"),
            "status": "open",
            "payment_status": "unpaid",
            "subscription": None,
            "metadata": params.get("metadata", {}),
            "url": f"{self.url}/checkout/{session_id}",
        }
        # Kept to pay the session later; Stripe does not echo them either.
        self.checkout_sessions[session_id] = {
            **session,
            "line_items": params.get("line_items", []),
            "subscription_data": params.get("subscription_data", {}),
        }
        return 200, session

    def _checkout_session_list(self, params: dict) -> tuple[int, dict]:
        if params.get("customer") in self.missing_customers:
            return _no_such_customer(params)
        sessions = [
            self._public(session)
            for session in self.checkout_sessions.values()
            if all(session.get(name) == params[name] for name in ("customer", "status") if name in params)
        ]
        return 200, _page("/v1/checkout/sessions", sessions, params)

    def _subscription_list(self, params: dict) -> tuple[int, dict]:
        """Without a `status`, Stripe lists the subscriptions that are not canceled."""
        if params.get("customer") in self.missing_customers:
            return _no_such_customer(params)
        subscriptions = [
            subscription
            for subscription in self.subscriptions.values()
            if subscription["customer"] == params.get("customer") and subscription["status"] != "canceled"
        ]
        return 200, _page("/v1/subscriptions", subscriptions, params)

    def _subscription_cancel(self, subscription_id: str) -> tuple[int, dict]:
        """Canceled at once; one canceled already is, to Stripe, as missing as one never there."""
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None or subscription["status"] in ("canceled", "incomplete_expired"):
            return 404, _error("invalid_request_error", f"No such subscription: '{subscription_id}'", "id")
        now = int(time.time())
        subscription.update(status="canceled", canceled_at=now, ended_at=now)
        return 200, subscription

    def _checkout_session_expire(self, session_id: str) -> tuple[int, dict]:
        session = self.checkout_sessions.get(session_id)
        if session is None:
            return 404, _error("invalid_request_error", f"No such checkout.session: '{session_id}'", "session")
        if session["status"] != "open":
            return 400, _error("invalid_request_error", "Only Checkout Sessions with a status of open can be expired.")
        session["status"] = "expired"
        return 200, self._public(session)

    @staticmethod
    def _public(session: dict) -> dict:
        """A session as the API shows it: without what the fake keeps to pay it later."""
        return {k: v for k, v in session.items() if k not in ("line_items", "subscription_data")}

    def _portal_session_create(self, params: dict) -> tuple[int, dict]:
        if params.get("customer") not in self.customers:
            return _no_such_customer(params)
        session_id = _new_id("bps")
        session = {
            "id": session_id,
            "object": "billing_portal.session",
            "customer": params["customer"],
            "return_url": params.get("return_url"),
            "url": f"{self.url}/portal/{session_id}",
        }
        self.portal_sessions[session_id] = session
        return 200, session

    # --- The pages a browser sees ---------------------------------------------------------------

    def _page(self, method: str, path: str) -> tuple[int, dict[str, str], str]:
        kind, session_id, action = ([*path.strip("/").split("/"), "", ""])[:3]
        if kind == "checkout" and session_id in self.checkout_sessions:
            session = self.checkout_sessions[session_id]
            if session["status"] != "open":
                return 410, {}, "<h1>This checkout session is no longer available.</h1>"
            if method == "POST" and action == "pay":
                self.checkout_complete(session_id)
                return 303, {"Location": session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)}, ""
            return (
                200,
                {},
                CHECKOUT_PAGE.format(
                    price=escape(session["line_items"][0]["price"]),
                    pay_url=f"/checkout/{session_id}/pay",
                    cancel_url=escape(session["cancel_url"] or ""),
                ),
            )
        if kind == "portal" and session_id in self.portal_sessions:
            session = self.portal_sessions[session_id]
            return (
                200,
                {},
                PORTAL_PAGE.format(
                    customer=escape(session["customer"]), return_url=escape(session["return_url"] or "")
                ),
            )
        return 404, {}, "<h1>Not found</h1>"


class _Handler(BaseHTTPRequestHandler):
    fake: FakeStripe
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet

    def _dispatch(self, method: str) -> None:
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if path.startswith("/v1/"):
            headers = {name.lower(): value for name, value in self.headers.items()}
            params = _decode_form(body if method == "POST" else query)
            status, payload = self.fake._api(method, path, params, headers)
            self._send(status, {"Content-Type": "application/json"}, json.dumps(payload))
        else:
            status, headers, html = self.fake._page(method, path)
            self._send(status, {"Content-Type": "text/html; charset=utf-8", **headers}, html)

    def _send(self, status: int, headers: dict[str, str], body: str) -> None:
        data = body.encode()
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(data))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _decode_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (`a[b][0][c]=v`) back into nested dicts and lists."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        *parents, leaf = key.replace("]", "").split("[")
        node = result
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return _lists(result)


def _page(url: str, objects: list[dict], params: dict) -> dict:
    """One page of a list, as Stripe pages it: at most `limit` objects (10 unless given) after the one
    named `starting_after`, and whether more follow."""
    limit = int(params.get("limit", 10))
    if "starting_after" in params:
        ids = [item["id"] for item in objects]
        objects = objects[ids.index(params["starting_after"]) + 1 :]
    return {"object": "list", "url": url, "has_more": len(objects) > limit, "data": objects[:limit]}


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    node = {key: _lists(value) for key, value in node.items()}
    if node and all(key.isdigit() for key in node):
        return [node[key] for key in sorted(node, key=int)]
    return node


def _no_such_customer(params: dict) -> tuple[int, dict]:
    return 400, _error("invalid_request_error", f"No such customer: '{params.get('customer')}'", "customer")


def _error(error_type: str, message: str, param: str | None = None) -> dict:
    code = "resource_missing" if message.startswith("No such") else None
    return {"error": {"type": error_type, "message": message, "param": param, "code": code}}


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


@pytest.fixture(scope="session")
def fake_stripe_server():
    server = FakeStripe()
    yield server
    server.close()


@pytest.fixture
def fake_stripe(fake_stripe_server: FakeStripe, settings) -> FakeStripe:
    """Stripe configured (key, webhook secret, both prices) and pointed at the local fake, emptied."""
    fake_stripe_server.reset()
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_PRICE_PRO = PRICE_PRO
    settings.STRIPE_PRICE_AGENCY = PRICE_AGENCY
    settings.STRIPE_API_BASE = fake_stripe_server.url
    return fake_stripe_server
