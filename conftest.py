"""Fixtures shared by every app's tests."""

import pytest
from django.test import Client

from accounts.models import Account
from accounts.tests.factories import AccountFactory
from apikeys.keys import generate_key
from apikeys.tests.factories import ApiKeyFactory

# The local fake Stripe server and its `fake_stripe` fixture, for any test that touches billing.
pytest_plugins = ["billing.tests.fake_stripe"]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests create many users: hash their passwords cheaply (production keeps Django's default)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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
def pro_api_key(pro_account: Account) -> str:
    """A valid API key (the full `pk_live_…` string) of `pro_account`."""
    key = generate_key()
    ApiKeyFactory(account=pro_account, key=key)
    return key
