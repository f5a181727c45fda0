from django.core.checks import run_checks

from optimizer.checks import check_workers_share_the_cache

LOCAL_MEMORY = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REDIS = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:6379/2"}}


def test_workers_with_a_process_local_cache_are_an_error(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CACHES = LOCAL_MEMORY

    assert [error.id for error in check_workers_share_the_cache(None)] == ["optimizer.E001"]
    assert "optimizer.E001" in [error.id for error in run_checks()]


def test_eager_tasks_or_a_shared_cache_are_fine(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CACHES = LOCAL_MEMORY
    assert check_workers_share_the_cache(None) == []

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CACHES = REDIS
    assert check_workers_share_the_cache(None) == []
