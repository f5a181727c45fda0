from dataclasses import dataclass
from typing import Literal

from django.db.models.functions import Coalesce

from accounts.models import Account, Plan, User

Limit = Literal["monthly_limit", "rate_limit_per_minute"]
# The rule for every limit: the account's override where it is set, else its plan's value. Each
# limit names its override on Account and its value on Plan; account_limits applies the rule in
# Python, account_limit_in_sql in queries.
LIMIT_FIELDS: dict[Limit, tuple[str, str]] = {
    "monthly_limit": ("monthly_limit_override", "monthly_limit"),
    "rate_limit_per_minute": ("rate_limit_override", "rate_limit_per_minute"),
}


@dataclass(frozen=True)
class AccountLimits:
    monthly_limit: int | None  # None: unlimited
    rate_limit_per_minute: int
    api_access: bool


def account_get_by_email(*, email: str) -> Account:
    """The account whose owner signs in with `email` (any case). Raises Account.DoesNotExist."""
    return Account.objects.select_related("owner", "plan").get(owner__email=email.strip().lower())


def account_get_for_owner(*, user: User) -> Account:
    """The signed-in user's account with its plan, in one query."""
    return Account.objects.select_related("plan").get(owner=user)


def account_limits(*, account: Account) -> AccountLimits:
    """The limits in force: the account's overrides where set, else its plan's."""

    def in_force(override: str, plan_value: str) -> int | None:
        value = getattr(account, override)
        return value if value is not None else getattr(account.plan, plan_value)

    in_force_now = {limit: in_force(*fields) for limit, fields in LIMIT_FIELDS.items()}
    return AccountLimits(**in_force_now, api_access=account.plan.api_access)


def account_limit_in_sql(limit: Limit, *, account: str = "") -> Coalesce:
    """`limit` in force as a query expression, for rows whose account is reached through the
    lookup path `account` ("account__" from a row with an account, "" from Account itself)."""
    override, plan_value = LIMIT_FIELDS[limit]
    return Coalesce(f"{account}{override}", f"{account}plan__{plan_value}")


def plan_list() -> list[Plan]:
    return list(Plan.objects.order_by("price_cents"))
