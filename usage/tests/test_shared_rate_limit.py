"""Two server processes (gunicorn, started here) share each account's rate limit through Redis."""

import json
import time
import urllib.error
import urllib.request

import pytest
from django.conf import settings
from django.db import connection

from accounts.tests.factories import AccountFactory
from apikeys.keys import generate_key
from apikeys.tests.factories import ApiKeyFactory
from tests import processes

pytestmark = [
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (REDIS_URL): the count the processes share"),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL), shared with the servers"
    ),
    # The servers see committed rows only; serialized_rollback restores the seeded plans afterwards.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

LIMIT = 10
# Enough of the current minute left to send a test's requests within it.
MARGIN_SECONDS = 20


@pytest.fixture
def two_servers(settings, tmp_path):
    # The servers count under this test's own prefix (see the root conftest).
    env = processes.environment(RATELIMIT_CACHE_PREFIX=settings.RATELIMIT_CACHE_PREFIX)
    started = []
    try:
        for name in ("a", "b"):
            started.append(processes.start_server(env=env, log_path=tmp_path / f"server-{name}.log"))
        yield [base_url for _, base_url in started]
    finally:
        for process, _ in started:
            processes.stop(process)


def get_usage(base_url: str, key: str) -> tuple[int, dict, dict]:
    url = f"{base_url}/api/v1/usage"  # our own server, on loopback
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.load(error)


def test_two_server_processes_share_an_accounts_limit(two_servers):
    server_a, server_b = two_servers
    account = AccountFactory(pro=True, rate_limit_override=LIMIT)
    key_a, key_b = generate_key(), generate_key()
    for key in (key_a, key_b):
        ApiKeyFactory(account=account, key=key)

    # The first request of a minute with enough of it left for the rest of the test.
    while True:
        status, headers, _ = get_usage(server_a, key_a)
        seconds_left = int(headers["X-RateLimit-Reset"]) - time.time()
        if seconds_left >= MARGIN_SECONDS and headers["X-RateLimit-Remaining"] == str(LIMIT - 1):
            break
        time.sleep(max(seconds_left, 0) + 0.5)
    statuses = [status]
    statuses += [get_usage(server_b, key_b)[0] for _ in range(5)]
    statuses += [get_usage(server_a, key_a)[0] for _ in range(4)]
    refused_by_b = get_usage(server_b, key_b)
    refused_by_a = get_usage(server_a, key_b)

    assert statuses == [200] * LIMIT
    assert refused_by_b[0] == refused_by_a[0] == 429
    assert refused_by_b[2] == {"error": "Rate limit exceeded", "code": "LIMIT_REACHED", "used": 11, "limit": LIMIT}
    assert refused_by_a[2]["used"] == 12
    assert 1 <= int(refused_by_a[1]["Retry-After"]) <= 60
