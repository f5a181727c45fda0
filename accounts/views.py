from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.forms import SignUpForm
from accounts.selectors import account_limits
from accounts.tasks import send_welcome_email
from apikeys.selectors import api_key_list
from usage.charts import daily_chart
from usage.selectors import request_record_recent, usage_daily_counts, usage_this_month


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            # robust: the account exists whatever happens to the e-mail's dispatch (logged if it fails).
            transaction.on_commit(lambda: send_welcome_email.delay(user.pk), robust=True)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("dashboard")
    return render(request, "accounts/signup.html", {"form": form})


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
