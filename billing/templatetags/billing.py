from django import template

from accounts.models import Account
from billing.models import Subscription
from billing.selectors import billing_configured as _billing_configured
from billing.selectors import subscription_live as _subscription_live

register = template.Library()


@register.simple_tag
def billing_configured() -> bool:
    """`{% billing_configured as configured %}`: whether plans can be bought through Stripe here."""
    return _billing_configured()


@register.simple_tag
def subscription_live(account: Account) -> Subscription | None:
    """`{% subscription_live account as live %}`: the subscription Stripe may still bill, while
    Checkout refuses to sell another (see the selector)."""
    return _subscription_live(account=account)
