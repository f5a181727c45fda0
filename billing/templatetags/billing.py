from django import template

from billing.selectors import billing_configured as _billing_configured

register = template.Library()


@register.simple_tag
def billing_configured() -> bool:
    """`{% billing_configured as configured %}`: whether plans can be bought through Stripe here."""
    return _billing_configured()
