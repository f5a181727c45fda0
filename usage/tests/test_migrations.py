"""The data migrations of usage, run against today's models (their fields are the same)."""

import importlib
from datetime import date

import pytest
from django.apps import apps
from django.utils import timezone

from usage.models import MonthlyUsage
from usage.tests.factories import MonthlyUsageFactory

pytestmark = pytest.mark.django_db

quota_e_mails_per_limit = importlib.import_module("usage.migrations.0005_quota_e_mails_per_limit")


def test_this_months_e_mails_sent_before_the_upgrade_count_as_sent_for_the_limit_in_force(pro_account):
    sent = timezone.now()
    warned = MonthlyUsageFactory(account=pro_account, used=8_500, warning_sent_at=sent)
    unwarned = MonthlyUsageFactory(used=7_000)
    last_month = MonthlyUsageFactory(
        account=pro_account, month=date(2000, 1, 1), warning_sent_at=sent, limit_reached_sent_at=sent
    )

    quota_e_mails_per_limit.record_this_months_e_mails_as_sent_for_the_limit_in_force(apps, None)

    limits = dict(MonthlyUsage.objects.values_list("pk", "warning_sent_limit"))
    assert limits == {warned.pk: 10_000, unwarned.pk: None, last_month.pk: None}
    assert MonthlyUsage.objects.get(pk=warned.pk).limit_reached_sent_limit is None
