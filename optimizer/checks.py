"""System checks for a configuration the optimizer cannot work with."""

from django.conf import settings
from django.core import checks

PROCESS_LOCAL_CACHES = ("django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache")


@checks.register(checks.Tags.caches)
def check_workers_share_the_cache(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Images (uploaded, or fetched from a URL by the web process) and results travel between the web
    process and the workers through the cache."""
    if settings.CELERY_TASK_ALWAYS_EAGER or settings.CACHES["default"]["BACKEND"] not in PROCESS_LOCAL_CACHES:
        return []
    return [
        checks.Error(
            "Celery tasks run in separate workers, but the cache is local to each process: no image "
            "(uploaded or fetched) could reach the workers.",
            hint="Set REDIS_URL (the cache then lives in Redis), or unset CELERY_BROKER_URL to run tasks eagerly.",
            id="optimizer.E001",
        )
    ]
