"""Fixtures shared by every app's tests."""

import json
import time
import uuid

import pytest
import time_machine
from celery.result import allow_join_result
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Account
from accounts.tests.factories import AccountFactory
from api.tests.checks import ENDPOINT
from apikeys.tests.factories import full_key_for
from optimizer.tests.origin import Origin
from smolpix.celery import app as celery_app

# The local fake Stripe server and its `fake_stripe` fixture, for any test that touches billing.
pytest_plugins = ["billing.tests.fake_stripe"]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests create many users: hash their passwords cheaply (production keeps Django's default)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def separate_rate_limit_counts(settings):
    """Each test counts rate limits afresh: a rolled-back test database hands out the same account
    ids again, and the counts of a minute ago would otherwise still be in the cache."""
    settings.RATELIMIT_CACHE_PREFIX = f"rl:test-{uuid.uuid4().hex}:"


@pytest.fixture(autouse=True)
def celery_results_can_be_awaited():
    """Each test starts able to wait for a task's result itself (a real worker's, in
    test_worker.py). Eager tasks run from other threads (live servers in this process) set and
    reset Celery's process-wide "waiting would block" flag without a lock and can leave it set.
    The product's own waits do not read it (optimizer.services)."""
    with allow_join_result():
        yield


@pytest.fixture(scope="module")
def database_restored_afterwards(django_db_setup, django_db_blocker):
    """For a module of transactional tests that flush their committed rows without restoring the
    database's snapshot (serialized_rollback), which they cannot: once it is done, the database is
    left as it was made, seeded plans included. Their flushes recreate the content types and
    permissions (Django's post_migrate) under other ids than the snapshot's, and the next test
    restoring that snapshot would clash with them (a unique constraint on django_content_type)."""
    yield
    # pytest-django takes the snapshot only when a test of the session restores it: with none, there
    # is nothing to clash with, and nothing to restore from.
    if snapshot := getattr(connection, "_test_serialized_contents", None):
        with django_db_blocker.unblock():
            ContentType.objects.all().delete()  # their permissions with them
            connection.creation.deserialize_db_from_string(snapshot)


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in the test process even when a broker is configured, so tests see their
    settings overrides. The real worker has tests of its own (each app's test_worker.py)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def free_account(db) -> Account:
    return AccountFactory()


@pytest.fixture
def pro_account(db) -> Account:
    return AccountFactory(pro=True)


@pytest.fixture
def agency_account(db) -> Account:
    return AccountFactory(agency=True)


@pytest.fixture
def signed_in_client(client: Client, pro_account: Account) -> Client:
    """A browser session signed in as the owner of `pro_account`."""
    client.force_login(pro_account.owner)
    return client


@pytest.fixture
def admin_client(client: Client, admin_user) -> Client:
    """pytest-django's staff session, signed in as the admin asks: with a second factor too (a TOTP
    device of the user's, as django-otp records it in the session when a code was accepted)."""
    device = TOTPDevice.objects.create(user=admin_user, name="Authenticator app")
    client.force_login(admin_user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def pro_api_key(pro_account: Account) -> str:
    """A valid API key (the full `pk_live_…` string) of `pro_account`."""
    return full_key_for(pro_account)


@pytest.fixture
def frozen_clock():
    """Stop the clock at the present (a test may still travel elsewhere itself), so that all of a
    test's requests fall in the same rate-limit minute."""
    with time_machine.travel(time.time(), tick=False):
        yield


@pytest.fixture
def unreachable_redis(settings):
    """The cache is a Redis server that refuses connections (nothing listens on port 1)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }


@pytest.fixture
def origin():
    server = Origin()
    yield server
    server.close()


@pytest.fixture
def reachable_origin(origin: Origin, settings) -> Origin:
    """The origin with the fetcher allowed to reach it: private networks allowed (as in local
    development) and its port allowed."""
    settings.OPTIMIZER_ALLOW_PRIVATE_NETWORKS = True
    settings.OPTIMIZER_ALLOWED_PORTS = [origin.port]
    return origin


@pytest.fixture
def post(client, pro_api_key):
    """POST to the optimize endpoint as a Pro customer: JSON by default, multipart when `upload` is given."""

    def send(body=None, *, upload=None, accept=None, key=pro_api_key, **headers):
        if accept:
            headers["HTTP_ACCEPT"] = accept
        if key:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        if upload is not None:
            form = {"file": SimpleUploadedFile("image", upload), **(body or {})}
            return client.post(ENDPOINT, form, **headers)
        return client.post(ENDPOINT, json.dumps(body), content_type="application/json", **headers)

    return send
