from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from accounts.models import Plan, PlanCode
from accounts.tests.factories import AccountFactory
from billing.models import StripeEvent, Subscription, SubscriptionStatus
from billing.tests.fake_stripe import PRICE_AGENCY, PRICE_PRO


class SubscriptionFactory(DjangoModelFactory):
    """An active Pro subscription (`agency=True` for Agency) renewing in 30 days."""

    class Meta:
        model = Subscription

    account = factory.SubFactory(AccountFactory, pro=True)
    stripe_subscription_id = factory.Sequence(lambda n: f"sub_factory{n}")
    status = SubscriptionStatus.ACTIVE
    price_id = PRICE_PRO
    plan = factory.LazyFunction(lambda: Plan.objects.get(code=PlanCode.PRO))
    current_period_end = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))

    class Params:
        agency = factory.Trait(
            price_id=PRICE_AGENCY, plan=factory.LazyFunction(lambda: Plan.objects.get(code=PlanCode.AGENCY))
        )


class StripeEventFactory(DjangoModelFactory):
    class Meta:
        model = StripeEvent

    stripe_id = factory.Sequence(lambda n: f"evt_factory{n}")
    type = "customer.created"
    created = factory.LazyFunction(timezone.now)
    payload = factory.LazyAttribute(lambda e: {"id": e.stripe_id, "object": "event", "type": e.type, "data": {}})
