from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import PlanCode, User
from accounts.services import account_create
from smolpix.emails import site_url


class Command(BaseCommand):
    help = "Create a customer account (a user and its account, its address verified) on a plan."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--plan", choices=PlanCode.values, default=PlanCode.FREE)
        parser.add_argument("--password", help="Without one, the user sets it through password reset.")
        parser.add_argument("--staff", action="store_true", help="May sign in to the admin (superuser).")

    def handle(self, *args, email: str, plan: str, password: str | None, staff: bool, **options) -> None:
        try:
            if password is not None:  # the rules sign-up and createsuperuser apply ("" is no password either)
                validate_password(password, user=User(email=User.objects.normalize_email(email)))
            account = account_create(email=email, password=password, plan_code=plan, is_staff=staff)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(f"Created {account.owner.email} on the {account.plan.name} plan.")
        if not settings.SITE_URL:  # no request tells a command where the site is: its links go to make run's
            self.stderr.write(
                self.style.WARNING(
                    f"SITE_URL is not set: the links in the welcome e-mail to {account.owner.email} start with "
                    f"{site_url()}. Set SITE_URL to the site's public address, e.g. https://smolpix.co."
                )
            )
        if staff:
            self.stdout.write(
                "The admin asks staff for a second factor too. Enrol one (an authenticator app and backup codes) "
                f"with:\n  python manage.py secondfactor {account.owner.email}"
            )
