"""Accounts' background work. Each task takes ids, is idempotent and calls a service."""

from smtplib import SMTPException

from celery import shared_task

from accounts import services


@shared_task(
    ignore_result=True,
    autoretry_for=(SMTPException, OSError),
    retry_backoff=60,
    max_retries=5,
    soft_time_limit=50,
    time_limit=60,
)
def send_welcome_email(user_id: int) -> bool:
    """Welcome a new user by e-mail, once; retried with backoff while the mail server fails."""
    return services.welcome_email_send(user_id=user_id)


@shared_task(name="accounts.catch_up_welcome_emails", ignore_result=True, soft_time_limit=240, time_limit=300)
def catch_up_welcome_emails() -> int:
    """Queue the welcome e-mails that did not go out (run by beat every 10 minutes)."""
    return services.welcome_emails_catch_up()
