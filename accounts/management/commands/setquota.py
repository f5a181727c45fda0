import argparse

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import pluralize

from accounts.models import Account
from accounts.selectors import account_get_by_email, account_limits
from accounts.services import UNCHANGED, account_set_overrides


def limit_or_none(value: str) -> int | None:
    """`none` clears an override; anything else must be a whole number ≥ 0."""
    if value.lower() == "none":
        return None
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number or 'none'") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is negative")
    return number


# The override each option sets, as the service names it in its refusals.
OPTIONS = {"monthly_limit_override": "--monthly-limit", "rate_limit_override": "--rate-limit"}


class Command(BaseCommand):
    help = "Override an account's monthly image limit and/or rate limit ('none' returns to the plan's)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--monthly-limit", type=limit_or_none, default=UNCHANGED, metavar="N|none")
        parser.add_argument("--rate-limit", type=limit_or_none, default=UNCHANGED, metavar="N|none")

    def handle(self, *args, email: str, monthly_limit, rate_limit, **options) -> None:
        try:
            account = account_get_by_email(email=email)
        except Account.DoesNotExist:
            raise CommandError(f"No account for {email}.") from None
        try:
            account_set_overrides(account=account, monthly_limit=monthly_limit, rate_limit=rate_limit)
        except ValidationError as error:
            refusals = error.message_dict.items()
            raise CommandError(" ".join(f"{OPTIONS[field]} {' '.join(said)}" for field, said in refusals)) from None
        limits = account_limits(account=account)
        images = "unlimited images" if limits.monthly_limit is None else _count(limits.monthly_limit, "image")
        requests = _count(limits.rate_limit_per_minute, "request")
        self.stdout.write(f"{account.owner.email}: {images}/month, {requests}/minute.")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{pluralize(number)}"
