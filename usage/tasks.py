"""Celery tasks of metering: thin, the work is in usage.services."""

from celery import shared_task


@shared_task(
    name="usage.send_quota_notice",
    autoretry_for=(Exception,),
    retry_backoff=60,
    max_retries=5,
    soft_time_limit=30,
    time_limit=45,
)
def send_quota_notice(*, monthly_usage_id: int) -> str | None:
    """Send the 80 % or 100 % quota e-mail of one account's month, if due and not sent yet."""
    from usage.services import quota_notice_send  # services dispatch this task: imported here, not above

    notice = quota_notice_send(monthly_usage_id=monthly_usage_id)
    return notice.value if notice else None


@shared_task(name="usage.prune_request_records", soft_time_limit=600, time_limit=660)
def prune_request_records() -> int:
    """Delete the API request records past their retention period (run nightly by beat)."""
    from usage.services import request_records_prune

    return request_records_prune()


@shared_task(name="usage.catch_up_quota_notices", ignore_result=True, soft_time_limit=240, time_limit=300)
def catch_up_quota_notices() -> int:
    """Queue the quota e-mails that are due but did not go out (run hourly by beat)."""
    from usage.services import quota_notices_catch_up

    return quota_notices_catch_up()


@shared_task(
    name="usage.refund_quota",
    autoretry_for=(Exception,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=120,  # about two hours of a database outage
    soft_time_limit=30,
    time_limit=45,
)
def refund_quota(*, monthly_usage_id: int, in_flight_image_id: int | None = None) -> bool:
    """Give back the image of a failed optimization whose refund met the database down, unless
    it was given back meanwhile. (Refunds queued before images in flight had rows carry no
    `in_flight_image_id`.)"""
    from usage.services import quota_give_back

    return quota_give_back(in_flight_image_id=in_flight_image_id, monthly_usage_id=monthly_usage_id)


@shared_task(name="usage.give_back_lapsed_images", ignore_result=True, soft_time_limit=50, time_limit=60)
def give_back_lapsed_images() -> int:
    """Give back the images of requests whose process died (run every minute by beat)."""
    from usage.services import quota_give_back_lapsed

    return quota_give_back_lapsed()
