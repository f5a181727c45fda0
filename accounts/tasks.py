"""Accounts' background work. Each task takes ids (or an address), is idempotent and calls a service."""

from smtplib import SMTPException

from celery import shared_task

from accounts import services

# An e-mail task: retried with backoff while the mail server fails, under a time limit.
email_task = shared_task(
    ignore_result=True,
    autoretry_for=(SMTPException, OSError),
    retry_backoff=60,
    max_retries=5,
    soft_time_limit=50,
    time_limit=60,
)


@email_task
def send_welcome_email(user_id: int) -> bool:
    """Welcome a new user by e-mail, once (with the link to verify its address, if it needs one,
    going on to where the sign-up was going)."""
    return services.welcome_email_send(user_id=user_id)


@email_task
def send_verification_email(user_id: int, next_path: str = "") -> bool:
    """Send another link to verify the user's address (going on to `next_path`), if it still needs one."""
    return services.verification_email_send(user_id=user_id, next_path=next_path)


@email_task
def send_sign_up_notice(user_id: int, next_path: str = "") -> bool:
    """Tell the owner of an address that someone signed up with it again (its log-in link going on
    to `next_path`)."""
    return services.sign_up_notice_send(user_id=user_id, next_path=next_path)


@email_task
def send_password_reset_email(email: str | int) -> bool:
    """Send the user of `email` a link to choose a new password; nothing if the address has no user."""
    return services.password_reset_email_send(email=email)


@shared_task(name="accounts.catch_up_welcome_emails", ignore_result=True, soft_time_limit=240, time_limit=300)
def catch_up_welcome_emails() -> int:
    """Queue the welcome e-mails that did not go out (run by beat every 10 minutes)."""
    return services.welcome_emails_catch_up()


@shared_task(name="accounts.delete_unverified_accounts", ignore_result=True, soft_time_limit=240, time_limit=300)
def delete_unverified_accounts() -> int:
    """Delete the sign-ups that never verified their address (run by beat daily)."""
    return services.unverified_accounts_delete()
