"""The monthly quota is exact under concurrency at the endpoint: 200 parallel requests through a
live server's threads, PostgreSQL counting, a real Celery worker optimizing (as in production)."""

import json
import threading
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connection

from accounts.tests.factories import AccountFactory
from api.tests.checks import ENDPOINT
from apikeys.keys import generate_key
from apikeys.tests.factories import ApiKeyFactory
from optimizer.tests import images
from tests import processes
from usage.models import MonthlyUsage, RequestRecord
from usage.tests.factories import MonthlyUsageFactory

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (DATABASE_URL): SQLite has no row locks and its in-memory test database "
        "cannot be shared by the live server's threads",
    ),
    pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="no Celery broker configured"),
    # The live server sees committed rows only; serialized_rollback restores the seeded plans afterwards.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

REQUESTS = 200
IMAGES_LEFT = 20
CLIENT_THREADS = 20  # at most this many database connections at once: the server is shared


@pytest.fixture
def worker(tmp_path):
    process = processes.start_worker(env=processes.environment(), log_path=tmp_path / "worker.log", concurrency=2)
    yield process
    processes.stop(process)


def multipart(fields: dict[str, str], image: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="image.png"\r\n\r\n')
    body = "".join(parts).encode() + image + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_200_parallel_requests_with_20_images_left_let_exactly_20_through(live_server, worker):
    account = AccountFactory(pro=True, rate_limit_override=1000, monthly_limit_override=100)
    MonthlyUsageFactory(account=account, used=100 - IMAGES_LEFT)
    key = generate_key()
    ApiKeyFactory(account=account, key=key)
    body, content_type = multipart({"format": "webp", "smart": "false"}, images.encode(images.graphic(32, 24), "PNG"))
    headers = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
    start_together = threading.Barrier(CLIENT_THREADS, timeout=60)

    def send(number: int) -> int:
        if number < CLIENT_THREADS:
            start_together.wait()
        request = urllib.request.Request(f"{live_server.url}{ENDPOINT}", data=body, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 (the live server)
                json.load(response)
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
        statuses = list(pool.map(send, range(REQUESTS)))

    assert statuses.count(200) == IMAGES_LEFT
    assert statuses.count(429) == REQUESTS - IMAGES_LEFT
    assert MonthlyUsage.objects.get(account=account).used == 100
    assert RequestRecord.objects.filter(account=account, status=200).count() == IMAGES_LEFT
