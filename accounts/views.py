import logging

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm, PasswordResetForm, SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts import throttles
from accounts.forms import AccountDeleteForm, SignUpForm
from accounts.models import User
from accounts.next_url import next_url, plan_checked_out_at, with_next
from accounts.selectors import account_get_for_owner, account_limits
from accounts.services import (
    VerificationLinkInvalid,
    account_delete,
    account_sign_up,
    email_verify,
    password_reset_complete,
    password_reset_request,
    verification_email_request,
)
from apikeys.selectors import api_key_list
from billing.selectors import subscription_live
from billing.services import BillingError
from smolpix.proxies import client_address
from usage.charts import daily_chart
from usage.selectors import request_record_recent, usage_daily_counts, usage_this_month

SIGN_UP_EMAIL_SESSION_KEY = "sign_up_email"
TOO_MANY = "Too many requests: please try again in an hour."
TOO_MANY_WRONG_CURRENT_PASSWORDS = (
    "The current password was wrong too many times, so we signed you out. You can change your password "
    'again in an hour, or now by resetting it ("Forgot your password?" below).'
)
TOO_MANY_WRONG_PASSWORDS_TO_DELETE = (
    "The password was wrong too many times, so we signed you out and deleted nothing. You can delete your "
    'account in an hour; if you forgot your password, reset it ("Forgot your password?" below).'
)
BILLING_NOT_ENDED = (
    "We could not reach our payment provider to cancel your subscription, so nothing was deleted: your "
    "account and API keys are as they were. Please try again in a few minutes."
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


@never_cache  # it shows the address just typed, to a session not signed in (see SignedInPagesArePrivate)
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
        return _signed_out_for_wrong_passwords(
            self.request, log_message="password change signed out", notice=TOO_MANY_WRONG_CURRENT_PASSWORDS
        )


def _signed_out_for_wrong_passwords(request: HttpRequest, *, log_message: str, notice: str) -> HttpResponse:
    """Sign out a session that guessed the current password too often (WRONG_CURRENT_PASSWORDS_PER_USER,
    one count for the pages that ask for it) and send it to sign-in saying why."""
    user = request.user
    fields = {"email": user.email, "user_id": user.pk, "address": client_address(request)}
    auth_logger.warning(log_message, extra={"fields": fields})
    logout(request)
    messages.error(request, notice)
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


@login_required
@require_http_methods(["GET", "POST"])
def delete_account(request: HttpRequest) -> HttpResponse:
    """The dashboard's "Delete account": says what goes and what stays, then deletes the account (account_delete)
    once the current password is typed again and the box ticked. Wrong passwords count against the
    password change's limit (one count per user for both pages): past it the session is signed out, so
    a stolen session cannot guess the password here either. Staff are refused: another administrator
    deletes them in the admin."""
    user = request.user
    if user.is_staff or user.is_superuser:
        return render(request, "accounts/delete.html", {"staff": True}, status=403 if request.method == "POST" else 200)
    account = account_get_for_owner(user=user)
    form = AccountDeleteForm(request.POST or None, user=user)
    context = {
        "form": form,
        "account": account,
        "subscription": subscription_live(account=account),
        "keys": api_key_list(account=account),
    }
    if request.method == "GET":
        return render(request, "accounts/delete.html", context)
    limit = (throttles.WRONG_CURRENT_PASSWORDS_PER_USER, str(user.pk))
    if throttles.throttled(request, limit, count=False):
        return _signed_out_for_wrong_passwords(
            request, log_message="account deletion signed out", notice=TOO_MANY_WRONG_PASSWORDS_TO_DELETE
        )
    if not form.is_valid():
        if form.has_error("password", "password_incorrect") and throttles.throttled(request, limit):
            return _signed_out_for_wrong_passwords(
                request, log_message="account deletion signed out", notice=TOO_MANY_WRONG_PASSWORDS_TO_DELETE
            )
        return render(request, "accounts/delete.html", context)
    try:
        account_delete(user=user)
    except BillingError:
        form.add_error(None, BILLING_NOT_ENDED)
        return render(request, "accounts/delete.html", context)
    logout(request)
    return redirect("account_deleted")


def account_deleted(request: HttpRequest) -> HttpResponse:
    """Where a deleted account's browser lands, signed out."""
    if request.user.is_authenticated:
        return redirect("dashboard")
    return render(request, "accounts/deleted.html")
