"""Billing pages (overview, Checkout start and return, customer portal) and Stripe's webhook."""

import logging
import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.decorators import verified_email_required
from accounts.models import Plan
from accounts.selectors import account_limits
from billing import services, stripe_client
from billing.selectors import billing_configured, paid_plan_get, subscription_current, subscription_live

logger = logging.getLogger(__name__)

NOT_CONFIGURED_MESSAGE = "Billing is not configured on this server, so plans cannot be bought here."
# Stripe writes the Checkout Session's id where success_url says {CHECKOUT_SESSION_ID}.
CHECKOUT_SESSION_ID = re.compile(r"cs_(?:test|live)_[0-9A-Za-z]+")


class HttpResponseSeeOther(HttpResponseRedirect):
    """After a POST, send the browser to Stripe with a GET."""

    status_code = 303
    allowed_schemes = ["http", "https"]


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    account = request.user.account
    subscription = subscription_current(account=account)
    return render(
        request,
        "billing/overview.html",
        {
            "account": account,
            "limits": account_limits(account=account),
            "subscription": subscription,
            "has_access": subscription is not None and subscription.grants_access(now=timezone.now()),
            "live": subscription_live(account=account) is not None,  # then Checkout refuses: no plans offered
            "configured": billing_configured(),
        },
    )


@verified_email_required  # a paid plan is for an address we can reach (receipts, resets), and keys need it
@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest, plan_code: str) -> HttpResponse:
    """GET asks to confirm the plan: it is where pricing's "Choose Pro" leads a visitor through
    sign-up or log-in (`?next=` carries a GET). POST starts Stripe Checkout."""
    if not billing_configured():
        messages.error(request, NOT_CONFIGURED_MESSAGE)
        return redirect("billing:home")
    if request.method == "GET":
        try:
            plan = paid_plan_get(plan_code=plan_code)
        except Plan.DoesNotExist:
            raise Http404("No such paid plan.") from None
        account = request.user.account
        subscription = subscription_live(account=account)  # the POST would refuse: say so here
        return render(
            request,
            "billing/checkout.html",
            {
                "plan": plan,
                "account": account,
                "subscription": subscription,
                "has_access": subscription is not None and subscription.grants_access(now=timezone.now()),
            },
        )
    try:
        url = services.checkout_session_create(
            account=request.user.account,
            plan_code=plan_code,
            success_url=request.build_absolute_uri(reverse("billing:success")) + "?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=request.build_absolute_uri(reverse("billing:cancel")),
        )
    except services.BillingError as error:
        messages.error(request, str(error))
        return redirect("billing:home")
    return HttpResponseSeeOther(url)


@login_required
@require_http_methods(["GET", "POST"])
def portal(request: HttpRequest) -> HttpResponse:
    """POST opens Stripe's customer portal. A GET (a bookmark, the address typed again) goes to the
    billing page, whose "Manage subscription" button does it, instead of a blank 405."""
    if request.method == "GET":
        return redirect("billing:home")
    if not billing_configured():
        messages.error(request, NOT_CONFIGURED_MESSAGE)
        return redirect("billing:home")
    try:
        url = services.portal_session_create(
            account=request.user.account, return_url=request.build_absolute_uri(reverse("billing:home"))
        )
    except services.BillingError as error:
        messages.error(request, str(error))
        return redirect("billing:home")
    return HttpResponseSeeOther(url)


@login_required
def checkout_success(request: HttpRequest) -> HttpResponse:
    # Coming back here proves nothing: the plan changes when Stripe's webhook confirms the subscription.
    # Only the way back from Checkout, with its session's id, says that a payment is being confirmed.
    if not CHECKOUT_SESSION_ID.fullmatch(request.GET.get("session_id", "")):
        return redirect("billing:home")
    return render(request, "billing/success.html", {"account": request.user.account})


@login_required
def checkout_cancel(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/cancel.html")


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> JsonResponse:
    """Stripe's webhook: 400 unless the body is signed with STRIPE_WEBHOOK_SECRET; 200 once the event
    is stored (or was already); 503 when it cannot be stored or handed over, so Stripe sends it again."""
    try:
        payload = stripe_client.webhook_event_parse(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
    except stripe_client.InvalidWebhook as error:
        return JsonResponse({"error": f"Invalid webhook: {error}", "code": "BAD_REQUEST"}, status=400)
    try:
        services.stripe_event_receive(payload=payload)
    except Exception:
        logger.exception("Could not take Stripe event %s; Stripe will send it again.", payload["id"])
        return JsonResponse({"error": "The event could not be stored now; send it again later."}, status=503)
    return JsonResponse({"received": True})
