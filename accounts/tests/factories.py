import factory
from factory.django import DjangoModelFactory

from accounts.models import Account, Plan, PlanCode, User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    password = factory.django.Password(PASSWORD)


class AccountFactory(DjangoModelFactory):
    """An account on a plan (Free unless `plan__code` or `plan` says otherwise).

    Accounts come into being with their users, so this factory creates the user and then
    adjusts the account it was given.
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
