from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apikeys.models import ApiKey
from apikeys.selectors import api_key_verify
from apikeys.services import MAX_ACTIVE_KEYS
from apikeys.tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db


def createapikey(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("createapikey", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_createapikey_prints_the_key_and_only_the_key(pro_account):
    out, err = createapikey(pro_account.owner.email.upper(), "--name", "CI pipeline")

    key = out.removesuffix("\n")
    assert "\n" not in key and err == ""
    api_key = api_key_verify(key=key)
    assert api_key.account == pro_account
    assert api_key.name == "CI pipeline"


def test_createapikey_on_a_plan_without_api_access_says_the_api_refuses_its_key(free_account):
    out, err = createapikey(free_account.owner.email)

    assert api_key_verify(key=out.removesuffix("\n")).account == free_account  # made all the same
    assert err == f"Note: {free_account.owner.email} is on the Free plan, whose keys the API refuses (403).\n"


def test_createapikey_names_the_key_by_default(pro_account):
    createapikey(pro_account.owner.email)

    assert ApiKey.objects.get().name == "Created from the command line"


def test_createapikey_refuses_an_unknown_account():
    with pytest.raises(CommandError, match=r"No account for ghost@example\.com\."):
        createapikey("ghost@example.com")


def test_createapikey_refuses_a_full_account(pro_account):
    ApiKeyFactory.create_batch(MAX_ACTIVE_KEYS, account=pro_account)

    with pytest.raises(CommandError, match="already have 5 active API keys"):
        createapikey(pro_account.owner.email)
    assert ApiKey.objects.count() == MAX_ACTIVE_KEYS


def test_createapikey_refuses_a_blank_name(pro_account):
    with pytest.raises(CommandError, match="Give the key a name"):
        createapikey(pro_account.owner.email, "--name", " ")
