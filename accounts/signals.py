"""Sign-ins in the logs: every success, failure and lockout is one JSON line (logger `smolpix.auth`)
with the account's e-mail as typed (normalised), its user id when there is one, and the client's
address (smolpix.proxies), so that an operator can follow an attack and a customer's lockout."""

import logging

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.models import User
from smolpix.proxies import client_address

logger = logging.getLogger("smolpix.auth")


@receiver(user_logged_in, dispatch_uid="accounts.log_sign_in")
def log_sign_in(sender, request: HttpRequest, user: User, **kwargs) -> None:
    _log(logging.INFO, "sign-in", request=request, email=user.email, user_id=user.pk)


@receiver(user_login_failed, dispatch_uid="accounts.log_failed_sign_in")
def log_failed_sign_in(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    if request is not None:
        email = User.objects.normalize_email(credentials.get("username"))
        _log(logging.WARNING, "sign-in failed", request=request, email=email, user_id=_user_id(email))


@receiver(user_locked_out, dispatch_uid="accounts.log_lockout")
def log_lockout(sender, request: HttpRequest, username: str | None, **kwargs) -> None:
    email = User.objects.normalize_email(username)
    _log(logging.WARNING, "sign-in locked out", request=request, email=email, user_id=_user_id(email))


def _user_id(email: str) -> int | None:
    return User.objects.filter(email=email).values_list("pk", flat=True).first()


def _log(level: int, message: str, *, request: HttpRequest, email: str, user_id: int | None) -> None:
    fields = {"email": email, "user_id": user_id, "address": client_address(request)}
    logger.log(level, message, extra={"fields": fields})
