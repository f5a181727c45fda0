from io import StringIO

import pytest
from django.core import mail
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


@pytest.mark.usefixtures("eager_tasks")
def test_createaccount_warns_that_without_site_url_the_welcome_emails_links_go_to_make_runs_address(
    settings, django_capture_on_commit_callbacks
):
    """No request tells the command where the site is: its e-mail linked to 127.0.0.1 unannounced."""
    settings.SITE_URL = ""
    errors = StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("createaccount", "ops@example.com", stdout=StringIO(), stderr=errors)

    assert (
        "SITE_URL is not set: the links in the welcome e-mail to ops@example.com start with http://127.0.0.1:8000."
        in (errors.getvalue())
    )
    [email] = mail.outbox
    assert "http://127.0.0.1:8000/dashboard/" in email.body


@pytest.mark.usefixtures("eager_tasks")
def test_createaccount_with_site_url_links_there_without_a_warning(settings, django_capture_on_commit_callbacks):
    settings.SITE_URL = "https://smolpix.example"
    errors = StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("createaccount", "ops@example.com", stdout=StringIO(), stderr=errors)

    assert errors.getvalue() == ""
    [email] = mail.outbox
    assert "https://smolpix.example/dashboard/" in email.body


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


def test_setquota_says_one_image_and_one_request_in_the_singular():
    AccountFactory(owner__email="q@example.com")

    output = run("setquota", "q@example.com", "--monthly-limit", "1", "--rate-limit", "1")

    assert "q@example.com: 1 image/month, 1 request/minute." in output
