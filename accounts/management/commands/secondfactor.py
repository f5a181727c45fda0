from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.services import staff_second_factor_reset


class Command(BaseCommand):
    help = (
        "Give a staff member a new second factor for the admin (an authenticator app's key and backup "
        "codes), replacing any they had. Prints them once: hand them over privately."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")

    def handle(self, *args, email: str, **options) -> None:
        try:
            user = User.objects.get_by_natural_key(email)
            second_factor = staff_second_factor_reset(user=user)
        except User.DoesNotExist:
            raise CommandError(f"No user signs in with {email}.") from None
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        codes = "\n".join(f"  {code}" for code in second_factor.backup_codes)
        self.stdout.write(
            f"New second factor for {user.email}; any earlier one no longer works.\n\n"
            "In an authenticator app (time-based, 6 digits), add this key:\n"
            f"  {second_factor.key}\n"
            f"or this link (as a QR code):\n  {second_factor.config_url}\n\n"
            f"Backup codes, each good for one sign-in when the app is out of reach:\n{codes}\n\n"
            "Sign in at /admin/ with the e-mail, the password and a code."
        )
