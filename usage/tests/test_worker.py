"""The quota e-mail and the pruning tasks in a real Celery worker (started here; skipped only
without a broker, or without PostgreSQL, which the worker must share with this test)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.tests.factories import AccountFactory
from smolpix.celery import app as celery_app
from tests import processes
from usage.models import MonthlyUsage, RequestRecord
from usage.tasks import prune_request_records, send_quota_notice
from usage.tests.factories import MonthlyUsageFactory, RequestRecordFactory

pytestmark = [
    pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="no Celery broker configured"),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL), shared with the worker"
    ),
    # The worker sees committed rows only; serialized_rollback restores the seeded plans afterwards.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

RESULT_SECONDS = 60


@pytest.fixture(scope="module")
def mail_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("mail")


@pytest.fixture(scope="module")
def worker(django_db_setup, mail_dir, tmp_path_factory):
    # filemail:// + an absolute path: django-environ drops the first slash of the path.
    env = processes.environment(EMAIL_URL=f"filemail:///{mail_dir}")
    process = processes.start_worker(env=env, log_path=tmp_path_factory.mktemp("worker") / "worker.log")
    yield process
    processes.stop(process)


def test_the_worker_sends_the_80_percent_e_mail_once(worker, mail_dir):
    assert not celery_app.conf.task_always_eager
    account = AccountFactory(pro=True, monthly_limit_override=10)
    usage = MonthlyUsageFactory(account=account, used=8)

    first = send_quota_notice.delay(monthly_usage_id=usage.pk).get(timeout=RESULT_SECONDS)
    second = send_quota_notice.delay(monthly_usage_id=usage.pk).get(timeout=RESULT_SECONDS)

    assert (first, second) == ("warning", None)
    assert MonthlyUsage.objects.get(pk=usage.pk).warning_sent_at is not None
    sent = "".join(path.read_text() for path in mail_dir.iterdir())
    assert sent.count("Subject: You have used 80 % of your Smolpix images this month") == 1
    assert f"To: {account.owner.email}" in sent


def test_the_worker_prunes_old_request_records(worker):
    account = AccountFactory(pro=True)
    too_old = timezone.now() - timedelta(days=settings.REQUEST_RECORD_RETENTION_DAYS, minutes=1)
    RequestRecordFactory.create_batch(3, account=account, created_at=too_old)
    recent = RequestRecordFactory(account=account)

    assert prune_request_records.delay().get(timeout=RESULT_SECONDS) == 3

    assert list(RequestRecord.objects.values_list("pk", flat=True)) == [recent.pk]
