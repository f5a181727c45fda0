from optimizer.tests.celery_worker import post_to_worker, worker, worker_origin  # noqa: F401 (fixtures)
