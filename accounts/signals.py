from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import Account, Plan, PlanCode, User


@receiver(post_save, sender=User, dispatch_uid="accounts.user_gets_account")
def give_new_user_an_account(sender, instance: User, created: bool, raw: bool = False, **kwargs) -> None:
    # Every path that creates a user (sign-up, createsuperuser, the admin) must leave it with an
    # account, so the rest of the code can rely on `user.account`.
    if created and not raw:
        Account.objects.get_or_create(owner=instance, defaults={"plan": Plan.objects.get(code=PlanCode.FREE)})
