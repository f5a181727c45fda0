from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from accounts.selectors import account_get_by_email, account_limits
from apikeys.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for an account and print it (and only it) on stdout. It is never shown again."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email", help="The e-mail address the account's owner signs in with.")
        parser.add_argument("--name", default="Created from the command line", help="What the key is for.")

    def handle(self, *args, email: str, name: str, **options) -> None:
        try:
            account = account_get_by_email(email=email)
        except Account.DoesNotExist:
            raise CommandError(f"No account for {email}.") from None
        try:
            _, key = api_key_create(account=account, name=name)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(key)
        if not account_limits(account=account).api_access:  # made all the same: the plan may change
            self.stderr.write(f"Note: {email} is on the {account.plan.name} plan, whose keys the API refuses (403).")
