"""The PostgreSQL backend's bound on every wait for the server (smolpix/postgresql). A server that
hangs, end to end through a web server (connecting to it bounded too), is in
tests/adversarial/test_faults.py."""

import time

import pytest
from django.db import OperationalError, connection

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL)"),
    # Not inside a test transaction: the connection a timeout leaves mid-query is closed after it.
    # (Restoring what the migrations seeded afterwards, as the other transactional tests expect.)
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def fresh_connection():
    connection.close()
    yield
    connection.close()


@pytest.mark.usefixtures("fresh_connection")
def test_an_answer_slower_than_database_timeout_is_an_operational_error_in_about_that_time(settings):
    settings.DATABASE_TIMEOUT = 0.5

    started = time.monotonic()
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(5)")

    assert 0.4 < time.monotonic() - started < 2.5


@pytest.mark.usefixtures("fresh_connection")
def test_a_database_timeout_of_0_waits_as_long_as_it_takes(settings):
    settings.DATABASE_TIMEOUT = 0

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(0.8), 1")
        assert cursor.fetchone()[1] == 1
