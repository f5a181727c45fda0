import factory
from django.db import transaction
from django.utils import timezone
from factory.django import DjangoModelFactory

from accounts.models import Account, Plan, PlanCode, User
from accounts.services import account_create

PASSWORD = "correct-horse-battery-staple"


class UserFactory(DjangoModelFactory):
    """A user, made as every user is made: by accounts.services.account_create, with its (Free)
    account. An existing customer's by default: a verified address, the welcome e-mail sent long
    ago (so its queued task sends nothing); `email_verified=False` for a fresh sign-up, whose welcome
    is still due. Other fields given (is_superuser, is_active, date_joined...) are set afterwards."""

    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    password = PASSWORD
    is_staff = False
    email_verified = True
    welcomed = factory.SelfAttribute("email_verified")

    @classmethod
    @transaction.atomic  # the welcome's task is queued on commit: after `welcomed` is recorded
    def _create(
        cls, model_class, *, email: str, password: str, is_staff: bool, email_verified: bool, welcomed: bool, **fields
    ) -> User:
        account = account_create(email=email, password=password, is_staff=is_staff, email_verified=email_verified)
        if welcomed:
            account.welcome_email_sent_at = timezone.now()
            account.save(update_fields=["welcome_email_sent_at"])
        user = account.owner
        if fields:
            for name, value in fields.items():
                setattr(user, name, value)
            user.save(update_fields=list(fields))
        return user


class AccountFactory(DjangoModelFactory):
    """An account on a plan (Free unless `plan__code` or `plan` says otherwise).

    Accounts come into being with their users (UserFactory), so this factory creates the user and
    then adjusts the account it was given.
    """

    class Meta:
        model = Account

    owner = factory.SubFactory(UserFactory)
    plan = factory.LazyFunction(lambda: Plan.objects.get(code=PlanCode.FREE))

    class Params:
        pro = factory.Trait(plan=factory.LazyFunction(lambda: Plan.objects.get(code=PlanCode.PRO)))
        agency = factory.Trait(plan=factory.LazyFunction(lambda: Plan.objects.get(code=PlanCode.AGENCY)))

    @classmethod
    def _create(cls, model_class, owner: User, **fields) -> Account:
        account = owner.account
        for name, value in fields.items():
            setattr(account, name, value)
        account.save()
        return account


def user_change_form(user: User, **fields) -> dict:
    """What the admin's change page of `user`, a staff superuser, posts (no account inline), with
    `fields` changed."""
    return {
        "email": user.email,
        "is_active": "on",
        "is_staff": "on",
        "is_superuser": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "account-TOTAL_FORMS": "0",
        "account-INITIAL_FORMS": "0",
        **fields,
    }
