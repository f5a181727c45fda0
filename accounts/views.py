from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from accounts.forms import SignUpForm
from accounts.models import Plan
from accounts.selectors import account_limits, plan_list
from accounts.tasks import send_welcome_email
from apikeys.selectors import api_key_list
from usage.charts import daily_chart
from usage.selectors import request_record_recent, usage_daily_counts, usage_this_month


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """`?next=` is where the new customer goes once signed up: pricing's "Choose Pro" sends a visitor
    here with `next` = that plan's checkout page, so the plan chosen survives signing up."""
    next_url = _next_url(request)
    if request.user.is_authenticated:
        return redirect(next_url or "dashboard")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            # robust: the account exists whatever happens to the e-mail's dispatch (logged if it fails).
            transaction.on_commit(lambda: send_welcome_email.delay(user.pk), robust=True)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(next_url or "dashboard")
    context = {"form": form, "next": next_url, "chosen_plan": _plan_checked_out_at(next_url)}
    return render(request, "accounts/signup.html", context)


def _next_url(request: HttpRequest) -> str:
    """The `next` parameter (form or query string) if it stays on this site, as the login's does."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    host = request.get_host()
    safe = url_has_allowed_host_and_scheme(next_url, allowed_hosts={host}, require_https=request.is_secure())
    return next_url if safe else ""


def _plan_checked_out_at(next_url: str) -> Plan | None:
    """The plan whose checkout page `next_url` is, if it is one: sign-up says it is remembered."""
    paid = (plan for plan in plan_list() if plan.price_cents)
    return next((plan for plan in paid if next_url == reverse("billing:checkout", args=[plan.code])), None)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    account = request.user.account
    return render(
        request,
        "accounts/dashboard.html",
        {
            "account": account,
            "limits": account_limits(account=account),
            "usage": usage_this_month(account=account),
            "chart": daily_chart(usage_daily_counts(account=account)),
            "recent_requests": request_record_recent(account=account),
            "keys": api_key_list(account=account),
        },
    )
