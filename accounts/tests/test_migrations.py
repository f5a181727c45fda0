"""Data fixed by the accounts' migrations, run on rows as they were before."""

from importlib import import_module

import pytest
from django.apps import apps

from accounts.models import Account, Plan, PlanCode
from accounts.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_rate_limits_of_zero_become_the_lowest_there_is_now():
    """0 refused every request with a Retry-After that never helped (0007)."""
    stuck, throttled, on_the_plan = AccountFactory(), AccountFactory(), AccountFactory()
    Account.objects.filter(pk=stuck.pk).update(rate_limit_override=0, monthly_limit_override=0)
    Account.objects.filter(pk=throttled.pk).update(rate_limit_override=5)
    Plan.objects.filter(code=PlanCode.FREE).update(rate_limit_per_minute=0)

    import_module("accounts.migrations.0007_rate_limit_at_least_one").raise_rate_limits_of_zero(apps, None)

    overrides = dict(Account.objects.values_list("pk", "rate_limit_override"))
    assert (overrides[stuck.pk], overrides[throttled.pk], overrides[on_the_plan.pk]) == (1, 5, None)
    assert Account.objects.get(pk=stuck.pk).monthly_limit_override == 0  # 0 images a month means something
    assert dict(Plan.objects.values_list("code", "rate_limit_per_minute")) == {"free": 1, "pro": 60, "agency": 120}
