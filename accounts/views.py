import logging

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm, PasswordResetForm, SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts import throttles
from accounts.forms import SignUpForm
from accounts.models import User
from accounts.next_url import next_url, plan_checked_out_at, with_next
from accounts.selectors import account_get_for_owner, account_limits
from accounts.services import (
    VerificationLinkInvalid,
    account_sign_up,
    email_verify,
    password_reset_complete,
    password_reset_request,
    verification_email_request,
)
from apikeys.selectors import api_key_list
from smolpix.proxies import client_address
from usage.charts import daily_chart
from usage.selectors import request_record_recent, usage_daily_counts, usage_this_month

SIGN_UP_EMAIL_SESSION_KEY = "sign_up_email"
TOO_MANY = "Too many requests: please try again in an hour."
TOO_MANY_WRONG_CURRENT_PASSWORDS = (
    "The current password was wrong too many times, so we signed you out. You can change your password "
    'again in an hour, or now by resetting it ("Forgot your password?" below).'
)

auth_logger = logging.getLogger("smolpix.auth")


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """The answer is the same whether or not the address has an account (see account_sign_up).
    `?next=` is where the new customer goes on to (accounts.next_url): pricing's "Choose Pro" sends
    a visitor here with `next` = that plan's checkout page, and the e-mail's link carries it on."""
    next_path = next_url(request)
    if request.user.is_authenticated:
        return redirect(next_path or "dashboard")
    form = SignUpForm(request.POST or None)
    context = {"form": form, "next": next_path, "chosen_plan": plan_checked_out_at(next_path)}
    if request.method == "POST" and form.is_valid():
        if throttles.throttled(request, (throttles.SIGN_UPS_PER_CLIENT, client_address(request))):
            form.add_error(None, TOO_MANY)
            return render(request, "accounts/signup.html", context, status=429)
        # Counted for every address (as the form normalised it), and not answered: past it the page is
        # the same, only the owner of an address with an account is not e-mailed again.
        email = form.cleaned_data["email"]
        tell_owner = not throttles.throttled(request, (throttles.SIGN_UPS_PER_ADDRESS, email))
        account_sign_up(
            email=email, password=form.cleaned_data["password1"], next_path=next_path, tell_owner=tell_owner
        )
        request.session[SIGN_UP_EMAIL_SESSION_KEY] = email
        return redirect(with_next(reverse("signup_done"), next_path))
    return render(request, "accounts/signup.html", context)


def signup_done(request: HttpRequest) -> HttpResponse:
    """ "Check your e-mail", naming the plan the link leads on to, with a way to log in that does too."""
    next_path = next_url(request)
    context = {
        "email": request.session.get(SIGN_UP_EMAIL_SESSION_KEY),
        "next": next_path,
        "chosen_plan": plan_checked_out_at(next_path),
    }
    return render(request, "accounts/signup_done.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def verify_email_needed(request: HttpRequest) -> HttpResponse:
    """ "Check your e-mail": where the pages that need a verified address send the others, with a
    button that sends the link again (POST, a few times an hour), which keeps the page's `next`."""
    next_path = next_url(request)
    if request.user.email_verified:
        return redirect(next_path or "dashboard")
    if request.method == "POST":
        if throttles.throttled(request, (throttles.VERIFICATION_EMAILS_PER_USER, str(request.user.pk))):
            messages.error(request, "We sent you several links in the last hour already. Please try again later.")
        else:
            verification_email_request(user=request.user, next_path=next_path)
            messages.success(request, f"We sent a new link to {request.user.email}.")
        return redirect(with_next(reverse("verify_email_needed"), next_path))
    return render(request, "accounts/verify_email.html", {"next": next_path})


@login_required
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """The link of a verification e-mail. Signed in as its account only, so an address is verified
    by someone who has both the mailbox and the password, never by a mailbox alone. Goes on to the
    link's `next` (sign-up's: e.g. the checkout page of the plan chosen on pricing), if on this site."""
    next_path = next_url(request)
    try:
        email_verify(user=request.user, token=token)
    except VerificationLinkInvalid:
        return render(request, "accounts/verify_email.html", {"invalid_link": True, "next": next_path}, status=400)
    messages.success(request, "Thank you: your e-mail address is verified.")
    return redirect(next_path or "dashboard")


@require_http_methods(["GET", "POST"])
def password_reset(request: HttpRequest) -> HttpResponse:
    """Asks for an address; the answer is the same whether or not it has an account. A few e-mails
    an hour per address and per client address, so nobody can bomb a mailbox through us."""
    form = PasswordResetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        if throttles.throttled(
            request,
            (throttles.PASSWORD_RESETS_PER_ADDRESS, User.objects.normalize_email(email)),
            (throttles.PASSWORD_RESETS_PER_CLIENT, client_address(request)),
        ):
            form.add_error(None, TOO_MANY)
            return render(request, "registration/password_reset_form.html", {"form": form}, status=429)
        password_reset_request(email=email)
        return redirect("password_reset_done")
    return render(request, "registration/password_reset_form.html", {"form": form})


class LogoutView(auth_views.LogoutView):
    """Django's, which signs out on POST only (a link or an image on another site must not sign
    anyone out). A GET, from a bookmark or a sign-in's `next`, gets a page whose button does it,
    instead of a blank 405."""

    http_method_names = [*auth_views.LogoutView.http_method_names, "get"]

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "registration/logout.html")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's, with the wrong current passwords counted per user: beyond a few an hour, trying
    again signs the session out (from any session of the user, for the rest of the hour), so whoever
    holds a stolen session cannot find the password by guessing it here."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if self.over_the_limit(count=False):
            return self.sign_out()
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: PasswordChangeForm) -> HttpResponse:
        if form.has_error("old_password", "password_incorrect") and self.over_the_limit(count=True):
            return self.sign_out()
        return super().form_invalid(form)

    def over_the_limit(self, *, count: bool) -> bool:
        limit = (throttles.WRONG_CURRENT_PASSWORDS_PER_USER, str(self.request.user.pk))
        return throttles.throttled(self.request, limit, count=count)

    def sign_out(self) -> HttpResponse:
        user = self.request.user
        fields = {"email": user.email, "user_id": user.pk, "address": client_address(self.request)}
        auth_logger.warning("password change signed out", extra={"fields": fields})
        logout(self.request)
        messages.error(self.request, TOO_MANY_WRONG_CURRENT_PASSWORDS)
        return redirect("login")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    def form_valid(self, form: SetPasswordForm) -> HttpResponse:
        response = super().form_valid(form)
        password_reset_complete(user=form.user)
        return response


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    account = account_get_for_owner(user=request.user)
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
