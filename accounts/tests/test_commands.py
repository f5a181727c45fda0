from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import PlanCode, User
from accounts.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_createaccount_creates_a_signed_in_capable_account():
    output = run("createaccount", "ops@example.com", "--plan", "pro", "--password", "pw-long-enough")

    user = User.objects.get(email="ops@example.com")
    assert user.account.plan.code == PlanCode.PRO
    assert user.check_password("pw-long-enough")
    assert user.email_verified  # an operator made it: no e-mail to confirm
    assert not user.is_staff
    assert "ops@example.com" in output


def test_createaccount_staff():
    run("createaccount", "staff@example.com", "--plan", "free", "--staff")

    user = User.objects.get(email="staff@example.com")
    assert user.is_staff and user.is_superuser
    assert not user.has_usable_password()


@pytest.mark.parametrize(
    ("password", "refusal"),
    [("short", "too short"), ("", "too short"), ("12345678901", "entirely numeric"), ("password123", "too common")],
)
def test_createaccount_applies_the_password_rules_of_sign_up(password, refusal):
    with pytest.raises(CommandError, match=refusal):
        run("createaccount", "weak@example.com", "--password", password)

    assert not User.objects.filter(email="weak@example.com").exists()


def test_createaccount_refuses_a_duplicate():
    AccountFactory(owner__email="dup@example.com")

    with pytest.raises(CommandError, match="already exists"):
        run("createaccount", "dup@example.com", "--plan", "pro")


def test_createaccount_refuses_a_bad_email():
    with pytest.raises(CommandError, match="valid email"):
        run("createaccount", "nope", "--plan", "pro")


def test_createaccount_refuses_an_unknown_plan():
    with pytest.raises(CommandError, match="invalid choice"):
        run("createaccount", "x@example.com", "--plan", "platinum")


def test_setquota_sets_and_clears_overrides():
    account = AccountFactory(pro=True, owner__email="q@example.com")

    output = run("setquota", "Q@example.com", "--monthly-limit", "3", "--rate-limit", "7")
    account.refresh_from_db()
    assert (account.monthly_limit_override, account.rate_limit_override) == (3, 7)
    assert "3 images/month, 7 requests/minute" in output

    run("setquota", "q@example.com", "--monthly-limit", "none")
    account.refresh_from_db()
    assert (account.monthly_limit_override, account.rate_limit_override) == (None, 7)


def test_setquota_refuses_an_unknown_email():
    with pytest.raises(CommandError, match="No account"):
        run("setquota", "ghost@example.com", "--monthly-limit", "3")


def test_setquota_names_the_option_a_number_is_too_large_for():
    AccountFactory(owner__email="q@example.com")

    with pytest.raises(CommandError, match=r"^--monthly-limit must be from 0 to 2,147,483,647\.$"):
        run("setquota", "q@example.com", "--monthly-limit", "2147483648")


@pytest.mark.parametrize("value", ["-1", "lots", "1.5", "2147483648", "99999999999999999999"])
def test_setquota_refuses_bad_numbers(value):
    AccountFactory(owner__email="q@example.com")

    with pytest.raises(CommandError):
        run("setquota", "q@example.com", "--monthly-limit", value)


def test_setquota_refuses_a_rate_limit_of_zero():
    account = AccountFactory(owner__email="q@example.com")

    with pytest.raises(CommandError, match="--rate-limit must be from 1 to 2,147,483,647"):
        run("setquota", "q@example.com", "--rate-limit", "0")

    account.refresh_from_db()
    assert account.rate_limit_override is None
    assert "0 images/month" in run("setquota", "q@example.com", "--monthly-limit", "0")
