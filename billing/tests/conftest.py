import json

import pytest
from django.urls import reverse

from billing.tests.fake_stripe import sign
from smolpix.celery import app as celery_app


@pytest.fixture(autouse=True)
def celery_eager(monkeypatch):
    """Tasks run in the test's process even when a broker is configured (the worker test says otherwise)."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


@pytest.fixture
def send_event(client, fake_stripe, django_capture_on_commit_callbacks):
    """POST an event to the webhook signed as Stripe signs it, then run what it queued on commit
    (processing, e-mails): what a worker does after the webhook's transaction commits."""

    def send(event: dict, **signing):
        payload = json.dumps(event).encode()
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                reverse("billing:webhook"),
                payload,
                content_type="application/json",
                headers={"Stripe-Signature": sign(payload, **signing)},
            )

    return send
