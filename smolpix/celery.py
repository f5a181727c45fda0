"""The Celery application. Its configuration is the CELERY_* names in smolpix.settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smolpix.settings")

app = Celery("smolpix")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
