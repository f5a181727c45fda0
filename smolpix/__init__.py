# The Celery app is loaded with Django so that @shared_task binds to it.
from smolpix.celery import app as celery_app
from smolpix.environment import stop_in_one_line_on_invalid_settings

__all__ = ("celery_app",)

# Every process (manage.py, gunicorn, the Celery worker and beat, make serve's checks) imports this
# package before its settings: a value they refuse stops it with one line naming it.
stop_in_one_line_on_invalid_settings()
