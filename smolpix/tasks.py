"""Site-wide periodic jobs (see CELERY_BEAT_SCHEDULE in settings)."""

from importlib import import_module

from celery import shared_task
from django.conf import settings


@shared_task(ignore_result=True, soft_time_limit=240, time_limit=300)
def clear_expired_sessions() -> None:
    """Delete expired browser sessions, which the database session backend never removes by itself
    (what `manage.py clearsessions` does). Idempotent."""
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
