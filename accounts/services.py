"""Accounts' life cycle. Every user comes into being here, with its account, whichever way it is made
(sign-up, createaccount, createsuperuser, the admin); here it signs up without telling anyone whether
an address is a customer's, verifies its address, resets its password, deletes itself; sign-ups that
never verify are removed. Every e-mail goes out through smolpix.emails, from a Celery task (accounts.tasks)."""

import logging
from base64 import b32encode
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from axes.utils import reset as axes_reset
from django.contrib.auth.hashers import make_password
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import tasks
from accounts.models import MAX_OVERRIDE, MIN_RATE_LIMIT, Account, Plan, PlanCode, User
from accounts.next_url import plan_checked_out_at, with_next
from smolpix.emails import send_templated_email

logger = logging.getLogger(__name__)

# A welcome that could not go out is still sent this long after the sign-up; later it would be odd.
WELCOME_CATCH_UP_DAYS = 3
# A verification link works this long; an account whose address was never verified is deleted this
# long after its sign-up (beat, daily): a week to find the e-mail or ask for another one.
VERIFICATION_LINK_MAX_AGE = timedelta(days=3)
UNVERIFIED_ACCOUNT_MAX_AGE = timedelta(days=7)
VERIFICATION_SALT = "accounts.email-verification"
# Backup codes a staff member gets with a second factor, each good for one sign-in.
BACKUP_CODES = 10


class Unchanged:
    """Marks a keyword argument the caller does not want to change (None means "clear")."""


UNCHANGED = Unchanged()


class VerificationLinkInvalid(Exception):
    """A verification link that is damaged, expired, or not the signed-in user's."""


class AccountDeletionRefused(Exception):
    """Staff and superusers do not delete themselves: another administrator does it in the admin, which
    keeps its last active staff member (see accounts.admin)."""


@dataclass(frozen=True)
class SecondFactor:
    """What a staff member needs to sign in to the admin, shown once to whoever made it."""

    key: str  # the TOTP secret in base32, as authenticator apps take it typed in
    config_url: str  # the same as an otpauth:// URI, as QR codes carry it
    backup_codes: list[str]


@transaction.atomic
def account_create(
    *,
    email: str,
    password: str | None,
    plan_code: str = PlanCode.FREE,
    is_staff: bool = False,
    email_verified: bool = True,
    next_path: str = "",
) -> Account:
    """Create a user and its account on `plan_code` (see account_open). Without a password the user
    cannot sign in until it resets one. Raises ValidationError for a bad address or plan, or an
    address that has an account already."""
    email = User.objects.normalize_email(email)
    validate_email(email)
    plan = _plan_by_code(plan_code)
    if User.objects.filter(email=email).exists():
        raise ValidationError(f"An account for {email} already exists.", code="duplicate")
    user = User(email=email, is_staff=is_staff, is_superuser=is_staff)
    user.set_password(password)
    return account_open(user=user, plan=plan, email_verified=email_verified, next_path=next_path)


@transaction.atomic
def account_open(*, user: User, plan: Plan | None = None, email_verified: bool = True, next_path: str = "") -> Account:
    """Save the new `user` (built by account_create, or by the admin's form) with its account on
    `plan` (Free unless given), and queue its welcome e-mail for when the transaction commits: with
    a link to verify the address unless `email_verified` (accounts made by staff and operators),
    which goes on to `next_path` (a path of this site, sign-up's `next`; see accounts.next_url)."""
    user.email_verified_at = timezone.now() if email_verified else None
    user.save()
    account = Account.objects.create(owner=user, plan=plan or _plan_by_code(PlanCode.FREE), sign_up_next_path=next_path)
    # robust: the account exists whatever happens to the e-mail's dispatch (logged; beat catches up).
    # Lambdas, not partials: Django names a robust callback that failed by its __qualname__.
    transaction.on_commit(lambda: tasks.send_welcome_email.delay(user.pk), robust=True)
    return account


@transaction.atomic
def account_sign_up(*, email: str, password: str, next_path: str = "", tell_owner: bool = True) -> None:
    """Sign up `email` without telling the caller whether it has an account already: a new address
    gets an unverified account and the welcome e-mail with its verification link; the owner of an
    existing one gets an e-mail saying so instead (unless not `tell_owner`: the caller's limit on
    sign-ups with the address is reached), with links to log in and to reset the password.
    Either e-mail's link (verification, log-in) goes on to `next_path`, the page the visitor was on
    its way to (a path of this site: the caller checks it, see accounts.next_url)."""
    email = User.objects.normalize_email(email)
    owner_id = User.objects.filter(email=email).values_list("pk", flat=True).first()
    if owner_id is None:
        account_create(email=email, password=password, email_verified=False, next_path=next_path)
        return
    make_password(password)  # the time a new account's password takes to hash, so both answers take as long
    if tell_owner:
        # robust, as account_open's
        transaction.on_commit(lambda: tasks.send_sign_up_notice.delay(owner_id, next_path=next_path), robust=True)


def account_set_plan(*, account: Account, plan_code: str) -> Account:
    account.plan = _plan_by_code(plan_code)
    account.save(update_fields=["plan"])
    return account


def account_set_overrides(
    *,
    account: Account,
    monthly_limit: int | Unchanged | None = UNCHANGED,
    rate_limit: int | Unchanged | None = UNCHANGED,
) -> Account:
    """Set or clear (None) the per-account overrides of the plan's limits: images a month 0 to
    MAX_OVERRIDE, requests a minute MIN_RATE_LIMIT to MAX_OVERRIDE."""
    fields = []
    overrides = ((monthly_limit, "monthly_limit_override", 0), (rate_limit, "rate_limit_override", MIN_RATE_LIMIT))
    for value, field, lowest in overrides:
        if isinstance(value, Unchanged):
            continue
        if value is not None and not lowest <= value <= MAX_OVERRIDE:
            refusal = ValidationError(f"must be from {lowest} to {MAX_OVERRIDE:,}.", code="out_of_range")
            raise ValidationError({field: refusal})
        setattr(account, field, value)
        fields.append(field)
    if fields:
        account.save(update_fields=fields)
    return account


@transaction.atomic
def welcome_email_send(*, user_id: int) -> bool:
    """Send the welcome e-mail to a new user unless it went out already, so a retried or redelivered
    task sends it once: with the link to verify the address while it is not verified, which goes on
    to where the sign-up was going. Returns whether it was sent now (not when the user is gone
    meanwhile)."""
    account = (
        Account.objects.select_for_update(of=("self",)).select_related("owner", "plan").filter(owner_id=user_id).first()
    )
    if account is None or account.welcome_email_sent_at is not None:
        return False
    user = account.owner
    context = {"email": user.email, "plan": account.plan.name}
    if user.email_verified:
        send_templated_email(to=user.email, template="welcome", context=context)
    else:
        send_templated_email(
            to=user.email,
            template="verify_email",
            context={**context, **_verification_context(user, next_path=account.sign_up_next_path)},
        )
    account.welcome_email_sent_at = timezone.now()
    account.save(update_fields=["welcome_email_sent_at"])
    return True


def welcome_emails_catch_up() -> int:
    """Queue the welcome e-mail of every account of the last WELCOME_CATCH_UP_DAYS days that did not
    get one: its task could not be queued (Redis down at sign-up) or ran out of retries. Run by
    beat; returns how many were queued. Sending stays once per account (welcome_email_send)."""
    since = timezone.now() - timedelta(days=WELCOME_CATCH_UP_DAYS)
    owners = list(
        Account.objects.filter(welcome_email_sent_at__isnull=True, created_at__gte=since).values_list(
            "owner_id", flat=True
        )
    )
    for owner_id in owners:
        tasks.send_welcome_email.delay(owner_id)
    return len(owners)


def verification_email_request(*, user: User, next_path: str = "") -> None:
    """Queue another e-mail with a link to verify the user's address (the welcome went astray, or
    its link expired), going on to `next_path`; nothing for a verified address. Callers throttle it."""
    if not user.email_verified:
        transaction.on_commit(lambda: tasks.send_verification_email.delay(user.pk, next_path=next_path))


def verification_email_send(*, user_id: int, next_path: str = "") -> bool:
    """Send the user a link to verify its address, going on to `next_path`, if it still needs one.
    Returns whether it was sent."""
    user = User.objects.filter(pk=user_id, email_verified_at__isnull=True).first()
    if user is None:
        return False
    send_templated_email(
        to=user.email, template="verify_email_again", context=_verification_context(user, next_path=next_path)
    )
    return True


def email_verify(*, user: User, token: str) -> None:
    """Mark the user's address verified with the token of a link we sent it: signed by us, at most
    VERIFICATION_LINK_MAX_AGE old, for this user and this address. Following it again changes nothing.
    Raises VerificationLinkInvalid."""
    try:
        payload = signing.loads(token, salt=VERIFICATION_SALT, max_age=VERIFICATION_LINK_MAX_AGE)
    except signing.BadSignature:  # expired links too (SignatureExpired)
        raise VerificationLinkInvalid from None
    if payload != {"user": user.pk, "email": user.email}:
        raise VerificationLinkInvalid
    _mark_verified(user)


def sign_up_notice_send(*, user_id: int, next_path: str = "") -> bool:
    """Tell the owner of an address that someone signed up with it again, with a link to log in that
    goes on to `next_path`. Returns whether it was sent."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return False
    context = {"email": user.email, "next_path": next_path}
    send_templated_email(to=user.email, template="sign_up_existing", context=context)
    return True


def unverified_accounts_delete() -> int:
    """Delete the users (and their accounts) who never verified their address, UNVERIFIED_ACCOUNT_MAX_AGE
    after they signed up. Staff, and accounts with a Stripe customer (someone paid: staff decide), are
    never deleted here. Run daily by beat; returns how many users were deleted."""
    expired = User.objects.filter(
        email_verified_at__isnull=True,
        date_joined__lt=timezone.now() - UNVERIFIED_ACCOUNT_MAX_AGE,
        is_staff=False,
        account__stripe_customer_id="",
    )
    _, deleted = expired.delete()
    return deleted.get(User._meta.label, 0)


def account_delete(*, user: User) -> None:
    """Delete a customer at its own request (user_delete). Raises AccountDeletionRefused for staff and
    superusers, billing.services.BillingError when Stripe could not be told: then nothing is deleted."""
    if user.is_staff or user.is_superuser:
        raise AccountDeletionRefused
    user_delete(user=user)


def user_delete(*, user: User) -> None:
    """Delete a user with everything that is its (at its own request, or by staff in the admin): billing
    ended in Stripe first (billing.services.account_billing_end: open Checkouts expired, subscriptions
    cancelled at once), then the user, its account, API keys (refused at once), usage and request
    records, subscription rows and billing e-mails, second-factor devices and admin log entries. Every
    session of the user stops working, as its user is gone. Stripe's events stay (billing's record;
    events arriving later find no account and are ignored), and so do invoices and the customer in
    Stripe. The address can sign up again. Raises billing.services.BillingError when Stripe could not
    be told: then nothing is deleted."""
    from billing.services import account_billing_end  # billing's and usage's services import this module
    from usage.services import request_records_delete

    user_id = user.pk
    with transaction.atomic():
        # Locked while Stripe is told, so that a webhook event of the account (the cancellation's own)
        # waits, then finds no account and is ignored, rather than e-mail someone who has just left.
        account = Account.objects.select_for_update(of=("self",)).filter(owner_id=user_id).first()
        fields = {"user_id": user_id, "account_id": None, "stripe_customer_id": "", "subscriptions_cancelled": 0}
        if account is not None:
            fields["subscriptions_cancelled"] = account_billing_end(account=account)
            fields.update(account_id=account.pk, stripe_customer_id=account.stripe_customer_id)
            request_records_delete(account=account)  # the one table that grows without bound
        user.delete()
    # Ids only: the customer's id ties the events Stripe sends later ("No Smolpix account for customer …")
    # to this deletion, without keeping the address in the logs.
    logger.info("account deleted", extra={"fields": fields})


def password_reset_request(*, email: str) -> None:
    """Queue a password-reset e-mail to `email`, whether or not it is the address of a user: the
    task (password_reset_email_send) looks the user up and sends nothing when there is none. So the
    request does the same work either way, and neither its answer nor the time it takes tells the
    caller whether the address has an account."""
    email = User.objects.normalize_email(email)
    # robust: a broker outage is logged, not answered, as the answer would otherwise differ from usual.
    transaction.on_commit(lambda: tasks.send_password_reset_email.delay(email), robust=True)


def password_reset_email_send(*, email: str | int) -> bool:
    """Send the user of `email`, if there is one who may sign in (active), a link to choose a new
    password (Django's token: it works once, for PASSWORD_RESET_TIMEOUT); one made without a
    password (createaccount, the admin) chooses its first this way. Returns whether it was sent.
    An int is a user's id: what the task's messages queued before 2026-12-07 carry."""
    users = User.objects.filter(is_active=True)
    if isinstance(email, int):
        user = users.filter(pk=email).first()
    else:
        user = users.filter(email=User.objects.normalize_email(email)).first()
    if user is None:
        return False
    reset_path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    send_templated_email(
        to=user.email, template="password_reset", context={"email": user.email, "reset_path": reset_path}
    )
    return True


def password_reset_complete(*, user: User) -> None:
    """The user chose a new password through the link we e-mailed: that proves the address, and
    ends any sign-in lockout of the account (a lockout's way out is a password reset)."""
    _mark_verified(user)
    axes_reset(username=user.email)


@transaction.atomic
def staff_second_factor_reset(*, user: User) -> SecondFactor:
    """Give a staff member a new second factor for the admin: a TOTP device (an authenticator app)
    and BACKUP_CODES backup codes. Whatever they had before stops working, and so do admin sessions
    verified with it. Raises ValidationError for a user who is not staff."""
    if not user.is_staff:
        raise ValidationError(f"{user.email} is not staff: only staff sign in to the admin.", code="not_staff")
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    totp = TOTPDevice.objects.create(user=user, name="Authenticator app")
    backup = StaticDevice.objects.create(user=user, name="Backup codes")
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=backup, token=code) for code in codes)
    return SecondFactor(key=b32encode(totp.bin_key).decode(), config_url=totp.config_url, backup_codes=codes)


def _mark_verified(user: User) -> None:
    if not user.email_verified:
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])


def _verification_context(user: User, *, next_path: str) -> dict[str, Any]:
    """What a verification e-mail says: its link (going on to `next_path`) and the plan it leads to."""
    token = signing.dumps({"user": user.pk, "email": user.email}, salt=VERIFICATION_SALT)
    return {
        "verify_path": with_next(reverse("verify_email", args=[token]), next_path),
        "next_path": next_path,
        "chosen_plan": plan_checked_out_at(next_path),
    }


def _plan_by_code(plan_code: str) -> Plan:
    try:
        return Plan.objects.get(code=plan_code)
    except Plan.DoesNotExist:
        choices = ", ".join(PlanCode.values)
        raise ValidationError(f"Unknown plan {plan_code!r}; choose one of {choices}.", code="plan") from None
