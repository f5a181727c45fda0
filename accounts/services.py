from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Plan, PlanCode, User
from smolpix.emails import send_templated_email

# A welcome that could not go out is still sent this long after the sign-up; later it would be odd.
WELCOME_CATCH_UP_DAYS = 3


class Unchanged:
    """Marks a keyword argument the caller does not want to change (None means "clear")."""


UNCHANGED = Unchanged()


@transaction.atomic
def account_create(
    *, email: str, password: str | None, plan_code: str = PlanCode.FREE, is_staff: bool = False
) -> Account:
    """Create a user and its account on `plan_code`. Without a password the user cannot sign in
    until it resets one."""
    email = User.objects.normalize_email(email)
    validate_email(email)
    plan = _plan_by_code(plan_code)
    if User.objects.filter(email=email).exists():
        raise ValidationError(f"An account for {email} already exists.", code="duplicate")
    user = User.objects.create_user(email, password, is_staff=is_staff, is_superuser=is_staff)
    account = user.account
    if account.plan_id != plan.id:
        account.plan = plan
        account.save(update_fields=["plan"])
    return account


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
    """Set or clear (None) the per-account overrides of the plan's limits."""
    fields = []
    for value, field in ((monthly_limit, "monthly_limit_override"), (rate_limit, "rate_limit_override")):
        if isinstance(value, Unchanged):
            continue
        if value is not None and value < 0:
            raise ValidationError(f"{field} cannot be negative.", code="negative")
        setattr(account, field, value)
        fields.append(field)
    if fields:
        account.save(update_fields=fields)
    return account


@transaction.atomic
def welcome_email_send(*, user_id: int) -> bool:
    """Send the welcome e-mail to a new user unless it went out already, so a retried or redelivered
    task sends it once. Returns whether it was sent now (not when the user is gone meanwhile)."""
    account = (
        Account.objects.select_for_update(of=("self",)).select_related("owner", "plan").filter(owner_id=user_id).first()
    )
    if account is None or account.welcome_email_sent_at is not None:
        return False
    send_templated_email(
        to=account.owner.email, template="welcome", context={"email": account.owner.email, "plan": account.plan.name}
    )
    account.welcome_email_sent_at = timezone.now()
    account.save(update_fields=["welcome_email_sent_at"])
    return True


def welcome_emails_catch_up() -> int:
    """Queue the welcome e-mail of every account of the last WELCOME_CATCH_UP_DAYS days that did not
    get one: its task could not be queued (Redis down at sign-up) or ran out of retries. Run by
    beat; returns how many were queued. Sending stays once per account (welcome_email_send)."""
    from accounts.tasks import send_welcome_email  # the task calls this module

    since = timezone.now() - timedelta(days=WELCOME_CATCH_UP_DAYS)
    owners = list(
        Account.objects.filter(welcome_email_sent_at__isnull=True, created_at__gte=since).values_list(
            "owner_id", flat=True
        )
    )
    for owner_id in owners:
        send_welcome_email.delay(owner_id)
    return len(owners)


def _plan_by_code(plan_code: str) -> Plan:
    try:
        return Plan.objects.get(code=plan_code)
    except Plan.DoesNotExist:
        choices = ", ".join(PlanCode.values)
        raise ValidationError(f"Unknown plan {plan_code!r}; choose one of {choices}.", code="plan") from None
