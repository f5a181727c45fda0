"""Billing's background work. Each task takes ids, is idempotent and calls a service."""

import logging
from smtplib import SMTPException

from celery import shared_task

from billing import services

logger = logging.getLogger(__name__)

# Retry delays double from 5 s to an hour (about three hours in all): a Stripe or database outage is
# ridden out here, and Stripe's own webhook retries (for three days) hand unprocessed events over again.
EVENT_RETRY_BASE_SECONDS = 5
EVENT_RETRY_MAX_SECONDS = 3600
EVENT_MAX_RETRIES = 12


@shared_task(bind=True, max_retries=EVENT_MAX_RETRIES, soft_time_limit=50, time_limit=60)
def process_stripe_event(self, event_id: int) -> bool:
    """Apply a stored Stripe event (see `services.stripe_event_process`), retrying with backoff."""
    try:
        return services.stripe_event_process(event_id=event_id)
    except Exception as error:
        if self.request.is_eager:
            # Without a worker the webhook request itself runs this: it answers 5xx and Stripe retries.
            raise
        countdown = min(EVENT_RETRY_BASE_SECONDS * 2**self.request.retries, EVENT_RETRY_MAX_SECONDS)
        logger.warning("Stripe event %s failed (%s); retrying in %s s.", event_id, error, countdown)
        raise self.retry(exc=error, countdown=countdown) from error


@shared_task(autoretry_for=(SMTPException, OSError), retry_backoff=60, max_retries=5, soft_time_limit=50, time_limit=60)
def send_billing_email(email_id: int) -> bool:
    """Send a billing e-mail (payment failed, plan changed) once."""
    return services.billing_email_send(email_id=email_id)


@shared_task(soft_time_limit=250, time_limit=300)
def expire_past_due_grace() -> int:
    """Hourly (Celery beat): move accounts whose past-due grace period ended to Free."""
    return services.past_due_grace_expire()


@shared_task(ignore_result=True, soft_time_limit=250, time_limit=300)
def retry_stale_stripe_events() -> int:
    """Daily (Celery beat): hand over again the Stripe events left unprocessed after their retries."""
    return services.stripe_events_retry_stale()
