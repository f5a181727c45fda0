"""The admin asks every staff member for a second factor (django-otp): a TOTP code or a backup code."""

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_otp.models import Device
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.services import BACKUP_CODES, staff_second_factor_reset
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ADMIN = reverse("admin:index")
ADMIN_LOGIN = reverse("admin:login")


@pytest.fixture
def staff():
    return UserFactory(email="staff@example.com", is_staff=True)


def admin_sign_in(client, otp_token: str = "", device: Device | None = None):
    """The admin's sign-in form, as staff fill it in: e-mail, password, then the device they use
    (offered once the password is right: authenticator app or backup codes) and its code."""
    form = {"username": "staff@example.com", "password": PASSWORD, "otp_token": otp_token, "next": ADMIN}
    if device is not None:
        form["otp_device"] = device.persistent_id
    return client.post(f"{ADMIN_LOGIN}?next={ADMIN}", form)


def app(user) -> TOTPDevice:
    return TOTPDevice.objects.get(user=user)


def backup(user) -> StaticDevice:
    return StaticDevice.objects.get(user=user)


def current_code(user) -> str:
    device = app(user)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_a_staff_password_alone_does_not_open_the_admin(client, staff):
    staff_second_factor_reset(user=staff)

    response = admin_sign_in(client, device=app(staff))

    assert response.status_code == 200  # the sign-in page again
    assert "_auth_user_id" not in client.session
    assert client.get(ADMIN).status_code == 302


def test_staff_signed_in_to_the_site_are_asked_for_the_second_factor_by_the_admin(client, staff):
    staff_second_factor_reset(user=staff)
    client.post(reverse("login"), {"username": staff.email, "password": PASSWORD})

    response = client.get(ADMIN)

    assert (response.status_code, response.url) == (302, f"{ADMIN_LOGIN}?next={ADMIN}")
    assert 'name="otp_token"' in client.get(response.url).content.decode()


def test_staff_signed_in_to_the_site_are_told_the_admin_needs_their_code_and_give_it_there(client, staff):
    """Not Django's "not authorized… login to a different account?": they are staff, it is the code
    that is missing. The page fills in their address and offers their devices at once."""
    staff_second_factor_reset(user=staff)
    client.post(reverse("login"), {"username": staff.email, "password": PASSWORD})

    page = client.get(ADMIN_LOGIN, {"next": ADMIN}).content.decode()

    assert "not authorized" not in page
    assert "You are signed in as staff@example.com, but the admin also needs your second factor" in page
    assert 'value="staff@example.com"' in page
    assert f'value="{app(staff).persistent_id}"' in page and f'value="{backup(staff).persistent_id}"' in page
    response = admin_sign_in(client, current_code(staff), app(staff))  # one submission: password, device, code
    assert (response.status_code, response.url) == (302, ADMIN)
    assert client.get(ADMIN).status_code == 200


def test_customers_signed_in_to_the_site_are_told_the_admin_is_not_for_them(client):
    client.force_login(UserFactory(email="customer@example.com"))

    page = client.get(ADMIN_LOGIN, {"next": ADMIN}).content.decode()

    assert "You are authenticated as customer@example.com, but are not authorized to access this page" in page
    assert "second factor" not in page


ENROL = "python manage.py secondfactor staff@example.com"


def test_staff_without_a_second_factor_are_told_how_to_get_one_once_their_password_is_right(client, staff):
    response = admin_sign_in(client, "123456")

    body = response.content.decode()
    assert response.status_code == 200
    assert "staff@example.com has no second factor yet" in body and ENROL in body
    assert 'name="otp_device"' not in body  # no empty list of devices to choose from


def test_staff_signed_in_to_the_site_without_a_second_factor_are_told_how_to_get_one(client, staff):
    client.post(reverse("login"), {"username": staff.email, "password": PASSWORD})

    body = client.get(ADMIN_LOGIN, {"next": ADMIN}).content.decode()

    assert "staff@example.com has no second factor yet" in body and ENROL in body
    assert "not authorized" not in body


@pytest.mark.parametrize(
    ("email", "password"),
    [("staff@example.com", "wrong-password"), ("nobody@example.com", PASSWORD), ("customer@example.com", PASSWORD)],
)
def test_the_admin_sign_in_names_no_second_factor_before_a_staff_password_is_right(client, staff, email, password):
    """Whether an address has an account, or is staff, is not for whoever types it."""
    UserFactory(email="customer@example.com")

    response = client.post(ADMIN_LOGIN, {"username": email, "password": password, "otp_token": "123456"})

    body = response.content.decode()
    assert response.status_code == 200
    assert "Please enter the correct email and password for a staff account." in body
    assert "no second factor" not in body and "secondfactor" not in body


def test_a_wrong_code_does_not_open_the_admin(client, staff):
    staff_second_factor_reset(user=staff)
    wrong = f"{(int(current_code(staff)) + 1) % 1_000_000:06d}"

    admin_sign_in(client, wrong, app(staff))

    assert client.get(ADMIN).status_code == 302


def test_the_password_and_a_code_from_the_authenticator_app_open_the_admin(client, staff):
    staff_second_factor_reset(user=staff)

    response = admin_sign_in(client, current_code(staff), app(staff))

    assert (response.status_code, response.url) == (302, ADMIN)
    assert client.get(ADMIN).status_code == 200


def test_each_backup_code_opens_the_admin_once(client, staff):
    code = staff_second_factor_reset(user=staff).backup_codes[0]

    assert admin_sign_in(client, code, backup(staff)).status_code == 302
    client.logout()
    assert admin_sign_in(client, code, backup(staff)).status_code == 200


def test_staff_without_a_second_factor_cannot_open_the_admin(client, staff):
    admin_sign_in(client, "123456")

    assert client.get(ADMIN).status_code == 302


def test_the_secondfactor_command_enrols_and_replaces_a_staff_members_second_factor(client, staff):
    old_code = staff_second_factor_reset(user=staff).backup_codes[0]
    out = StringIO()

    call_command("secondfactor", "Staff@Example.com", stdout=out)

    output = out.getvalue()
    device = TOTPDevice.objects.get(user=staff)
    assert device.config_url in output
    assert output.count("\n  ") >= BACKUP_CODES + 2
    assert admin_sign_in(client, old_code, backup(staff)).status_code == 200  # the old codes no longer work
    assert admin_sign_in(client, current_code(staff), app(staff)).status_code == 302


@pytest.mark.parametrize(("email", "error"), [("nobody@example.com", "No user"), ("customer@example.com", "not staff")])
def test_the_secondfactor_command_refuses_unknown_users_and_customers(email, error):
    UserFactory(email="customer@example.com")

    with pytest.raises(CommandError, match=error):
        call_command("secondfactor", email, stdout=StringIO())


def test_createaccount_staff_says_how_to_enrol_a_second_factor():
    out = StringIO()

    call_command("createaccount", "ops@example.com", "--staff", stdout=out)

    assert "python manage.py secondfactor ops@example.com" in out.getvalue()


def test_staff_who_signed_in_to_the_admin_before_are_not_locked_out_of_it_by_others_failures(client, staff):
    """Their browser is a known device (accounts.signin): others' wrong passwords lock strangers only."""
    first, second = staff_second_factor_reset(user=staff).backup_codes[:2]
    device_cookie = admin_sign_in(client, first, backup(staff)).cookies[settings.SIGN_IN_DEVICE_COOKIE].value
    client.cookies.clear()
    for number in range(5):
        client.post(ADMIN_LOGIN, {"username": staff.email, "password": "wrong"}, REMOTE_ADDR=f"203.0.113.{number}")

    assert admin_sign_in(client, second, backup(staff)).status_code == 429
    client.cookies[settings.SIGN_IN_DEVICE_COOKIE] = device_cookie
    assert admin_sign_in(client, second, backup(staff)).url == ADMIN
