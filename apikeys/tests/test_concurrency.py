"""The five-key limit under concurrency. It rests on PostgreSQL's row locks, so it runs there."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from accounts.tests.factories import AccountFactory
from apikeys.services import MAX_ACTIVE_KEYS, api_key_create
from apikeys.tests.factories import ApiKeyFactory

CREATORS = 20


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (DATABASE_URL): SQLite has no row locks and its in-memory test database "
    "cannot be shared by threads",
)
# Threads need committed rows, hence a transactional test; it flushes the tables afterwards, and
# serialized_rollback restores the plans the migrations seeded for the tests that follow.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_simultaneous_creations_on_an_account_with_four_keys_leave_five():
    account = AccountFactory(pro=True)
    ApiKeyFactory.create_batch(MAX_ACTIVE_KEYS - 1, account=account)
    everyone_ready = threading.Barrier(CREATORS, timeout=60)

    def create(number: int) -> str:
        try:
            everyone_ready.wait()
            api_key_create(account=account, name=f"creator {number}")
            return "created"
        except ValidationError as refusal:
            return refusal.code
        finally:
            connections.close_all()  # each thread has its own connection

    with ThreadPoolExecutor(max_workers=CREATORS) as pool:
        outcomes = list(pool.map(create, range(CREATORS)))

    assert outcomes.count("created") == 1
    assert outcomes.count("too_many_keys") == CREATORS - 1
    assert account.api_keys.active().count() == MAX_ACTIVE_KEYS
