from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from accounts.tests.factories import AccountFactory
from usage.models import InFlightImage, MonthlyUsage, RequestRecord
from usage.selectors import month_start
from usage.services import _in_flight_seconds


class MonthlyUsageFactory(DjangoModelFactory):
    """An account's count for a month (this month unless `month` says otherwise)."""

    class Meta:
        model = MonthlyUsage

    account = factory.SubFactory(AccountFactory, pro=True)
    month = factory.LazyFunction(lambda: month_start(timezone.now()))
    used = 0


class InFlightImageFactory(DjangoModelFactory):
    """An image of a month's count held by a request still running (its `used` counts it already)."""

    class Meta:
        model = InFlightImage

    monthly_usage = factory.SubFactory(MonthlyUsageFactory, used=1)
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(seconds=_in_flight_seconds()))


class RequestRecordFactory(DjangoModelFactory):
    class Meta:
        model = RequestRecord

    account = factory.SubFactory(AccountFactory, pro=True)
    api_key = None
    created_at = factory.LazyFunction(timezone.now)
    endpoint = "POST /api/v1/optimize"
    status = 200
    bytes_in = 120_000
    bytes_out = 30_000
    output_format = "webp"
    duration_ms = 250
