"""Billing's tasks on a real Celery worker, as production runs them (skipped when no broker is configured).

The worker is a subprocess with this test run's environment, aimed at the test database, the local
fake Stripe and a folder for e-mails; the test waits (generously) for what the worker writes.
"""

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import AccountFactory
from billing.models import BillingEmail, StripeEvent
from billing.tests.fake_stripe import PRICE_PRO, sign
from smolpix.celery import app as celery_app
from tests import processes

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 120

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _wait_for(condition: Callable[[], bool], what: str, worker_log: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"the worker did not {what} within {WAIT_SECONDS} s; its log:\n{worker_log.read_text()}")
        time.sleep(0.2)


@pytest.fixture
def celery_worker(fake_stripe, monkeypatch, tmp_path) -> Iterator[tuple[Path, Path]]:
    """A `celery -A smolpix worker` on the test database; yields (its e-mail folder, its log)."""
    if not settings.CELERY_BROKER_URL:
        pytest.skip("no broker configured (CELERY_BROKER_URL / REDIS_URL): tasks run eagerly")
    if connection.vendor == "sqlite":
        pytest.skip("a worker process cannot share the in-memory SQLite test database")
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    mail_dir, log = tmp_path / "mail", tmp_path / "worker.log"
    # Production's settings (a worker refuses DEBUG), on the test database.
    environment = processes.environment(
        EMAIL_URL=f"filemail:///{mail_dir}",
        STRIPE_SECRET_KEY=settings.STRIPE_SECRET_KEY,
        STRIPE_WEBHOOK_SECRET=settings.STRIPE_WEBHOOK_SECRET,
        STRIPE_PRICE_PRO=settings.STRIPE_PRICE_PRO,
        STRIPE_PRICE_AGENCY=settings.STRIPE_PRICE_AGENCY,
        STRIPE_API_BASE=settings.STRIPE_API_BASE,
    )
    command = [sys.executable, "-m", "celery", "-A", "smolpix", "worker", "--pool", "solo", "--loglevel", "INFO"]
    with log.open("w") as log_file:
        worker = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        yield mail_dir, log
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def test_a_worker_applies_the_event_retrying_while_stripe_is_down_and_mails_once(fake_stripe, celery_worker):
    mail_dir, worker_log = celery_worker
    account = AccountFactory(stripe_customer_id="cus_linked")
    held = fake_stripe.subscription_put(customer="cus_linked", price=PRICE_PRO)
    payload = json.dumps(fake_stripe.event("customer.subscription.created", held)).encode()
    fake_stripe.failing_status = 503

    response = Client().post(
        reverse("billing:webhook"),
        payload,
        content_type="application/json",
        headers={"Stripe-Signature": sign(payload)},
    )

    assert response.status_code == 200  # stored and queued; the worker does the rest
    event = StripeEvent.objects.get()
    _wait_for(lambda: "StripeUnavailable" in StripeEvent.objects.get().error, "try while Stripe was down", worker_log)
    account.refresh_from_db()
    assert account.plan.code == "free"

    fake_stripe.failing_status = None
    _wait_for(lambda: BillingEmail.objects.filter(sent_at__isnull=False).exists(), "retry and mail", worker_log)

    event.refresh_from_db()
    account.refresh_from_db()
    assert (event.processed_at is not None, event.error, account.plan.code) == (True, "", "pro")
    (mail,) = mail_dir.iterdir()
    message = mail.read_text()
    assert "Subject: Your Smolpix plan has changed" in message
    assert "from Free to Pro" in message
    assert f"To: {account.owner.email}" in message
