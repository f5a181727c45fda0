from dataclasses import dataclass

from accounts.models import Account, Plan


@dataclass(frozen=True)
class AccountLimits:
    monthly_limit: int | None  # None: unlimited
    rate_limit_per_minute: int
    api_access: bool


def account_get_by_email(*, email: str) -> Account:
    """The account whose owner signs in with `email` (any case). Raises Account.DoesNotExist."""
    return Account.objects.select_related("owner", "plan").get(owner__email=email.strip().lower())


def account_limits(*, account: Account) -> AccountLimits:
    """The limits in force: the account's overrides where set, else its plan's."""
    plan = account.plan
    return AccountLimits(
        monthly_limit=(
            account.monthly_limit_override if account.monthly_limit_override is not None else plan.monthly_limit
        ),
        rate_limit_per_minute=(
            account.rate_limit_override if account.rate_limit_override is not None else plan.rate_limit_per_minute
        ),
        api_access=plan.api_access,
    )


def plan_list() -> list[Plan]:
    return list(Plan.objects.order_by("price_cents"))
