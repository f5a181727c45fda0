"""The limits in force: one rule, the same in Python and in SQL (accounts.selectors)."""

import pytest

from accounts.models import Account
from accounts.selectors import LIMIT_FIELDS, account_limit_in_sql, account_limits
from accounts.tests.factories import AccountFactory
from usage.models import MonthlyUsage
from usage.tests.factories import MonthlyUsageFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("plan", [{}, {"pro": True}, {"agency": True}], ids=["free", "pro", "agency (unlimited)"])
@pytest.mark.parametrize(
    "overrides",
    [{}, {"monthly_limit_override": 0, "rate_limit_override": 1}, {"monthly_limit_override": 123}],
    ids=["none", "lowest", "monthly"],
)
def test_python_and_sql_find_the_same_limits(plan, overrides):
    account = AccountFactory(**plan, **overrides)
    MonthlyUsageFactory(account=account)
    in_python = account_limits(account=account)

    by_account = Account.objects.annotate(
        **{f"in_force_{limit}": account_limit_in_sql(limit) for limit in LIMIT_FIELDS}
    ).get(pk=account.pk)
    by_usage_row = MonthlyUsage.objects.annotate(
        **{f"in_force_{limit}": account_limit_in_sql(limit, account="account__") for limit in LIMIT_FIELDS}
    ).get(account=account)

    for limit in LIMIT_FIELDS:
        expected = getattr(in_python, limit)
        assert getattr(by_account, f"in_force_{limit}") == expected, limit
        assert getattr(by_usage_row, f"in_force_{limit}") == expected, limit
    if "monthly_limit_override" in overrides:
        assert in_python.monthly_limit == overrides["monthly_limit_override"]
