"""The admin's pages of the second factor: staff see who has a device and whether it is confirmed,
never an authenticator app's key or a backup code, and cannot set either; a superuser deletes a
device (a lost phone), other staff cannot."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.services import SecondFactor, staff_second_factor_reset
from accounts.tests.factories import UserFactory, user_change_form

pytestmark = pytest.mark.django_db

KNOWN_KEY = "00" * 20  # a key someone would like another staff member's app to use
KNOWN_CODE = "knowncode"


@pytest.fixture
def colleague() -> tuple[User, SecondFactor]:
    """Another staff member, enrolled as `manage.py secondfactor` enrols them."""
    user = UserFactory(email="colleague@example.com", is_staff=True)
    return user, staff_second_factor_reset(user=user)


@pytest.fixture
def staff_client() -> Client:
    """A staff member who is not a superuser, granted every permission on the devices and their
    codes, signed in to the admin with their second factor."""
    user = UserFactory(email="helpdesk@example.com", is_staff=True, is_superuser=False)
    staff_second_factor_reset(user=user)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["otp_totp", "otp_static"]))
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    return client


@pytest.fixture(params=["superuser", "staff"])
def any_staff_client(request) -> Client:
    return request.getfixturevalue("admin_client" if request.param == "superuser" else "staff_client")


def secrets_of(second_factor: SecondFactor, user: User) -> list[str]:
    """Every spelling of what signs `user` in: the key as stored (hex), as apps take it (base32, and
    in the otpauth:// link), and the backup codes."""
    key = TOTPDevice.objects.get(user=user).key
    return [key, second_factor.key, second_factor.config_url, *second_factor.backup_codes]


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def assert_no_secret(body: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in body and secret.upper() not in body


@pytest.mark.parametrize("model", ["otp_totp_totpdevice", "otp_static_staticdevice"])
def test_staff_see_who_has_a_device_and_whether_it_is_confirmed_but_no_secret(any_staff_client, colleague, model):
    user, second_factor = colleague
    device = (TOTPDevice if "totp" in model else StaticDevice).objects.get(user=user)

    listed = any_staff_client.get(url(f"{model}_changelist"))
    page = any_staff_client.get(url(f"{model}_change", device.pk))

    assert (listed.status_code, page.status_code) == (200, 200)
    for body in (listed.content.decode(), page.content.decode()):
        assert "colleague@example.com" in body
        assert 'alt="True"' in body  # confirmed
        assert_no_secret(body, secrets_of(second_factor, user))


def test_the_backup_codes_list_says_how_many_codes_are_left(admin_client, colleague):
    user, _ = colleague
    StaticToken.objects.filter(device__user=user).first().delete()

    body = admin_client.get(url("otp_static_staticdevice_changelist")).content.decode()

    assert '<td class="field-codes_left">9</td>' in body


@pytest.mark.parametrize("view", ["config", "qrcode"])
def test_no_page_shows_an_authenticator_apps_key_or_its_qr_code(any_staff_client, colleague, view):
    user, second_factor = colleague
    device = TOTPDevice.objects.get(user=user)

    response = any_staff_client.get(f"{url('otp_totp_totpdevice_changelist')}{device.pk}/{view}/", follow=True)

    body = response.content.decode()
    assert response.status_code == 200
    assert f"with ID “{device.pk}/{view}”" in body and "Perhaps it was deleted?" in body  # a URL naming nothing
    assert_no_secret(body, secrets_of(second_factor, user))


@pytest.mark.parametrize("guess", ["right", "wrong"])
def test_the_list_does_not_filter_on_the_key_a_guess_at_a_time(any_staff_client, colleague, guess):
    user, _ = colleague
    key = TOTPDevice.objects.get(user=user).key
    prefix = key[:2] if guess == "right" else f"{(int(key[:2], 16) + 1) % 256:02x}"

    response = any_staff_client.get(url("otp_totp_totpdevice_changelist"), {"key__startswith": prefix})

    assert response.status_code == 400  # the same answer whatever the guess


def test_staff_cannot_give_a_colleague_a_key_they_know(any_staff_client, colleague):
    user, _ = colleague
    device = TOTPDevice.objects.get(user=user)
    form = {"user": user.pk, "name": "Authenticator app", "confirmed": "on", "key": KNOWN_KEY}
    form |= {"step": 30, "t0": 0, "digits": 6, "tolerance": 1, "drift": 0, "throttling_failure_count": 0}

    added = any_staff_client.post(url("otp_totp_totpdevice_add"), form)
    changed = any_staff_client.post(url("otp_totp_totpdevice_change", device.pk), form)

    assert (added.status_code, changed.status_code) == (403, 403)
    assert not TOTPDevice.objects.filter(key=KNOWN_KEY).exists()
    assert any_staff_client.get(url("otp_totp_totpdevice_add")).status_code == 403  # its form offered a key


def test_staff_cannot_give_a_colleague_a_backup_code_they_know(any_staff_client, colleague):
    user, _ = colleague
    device = StaticDevice.objects.get(user=user)
    form = {"user": user.pk, "name": "Backup codes", "confirmed": "on", "throttling_failure_count": 0}
    form |= {"token_set-TOTAL_FORMS": 1, "token_set-INITIAL_FORMS": 0, "token_set-0-token": KNOWN_CODE}

    added = any_staff_client.post(url("otp_static_staticdevice_add"), form)
    changed = any_staff_client.post(url("otp_static_staticdevice_change", device.pk), form)

    assert (added.status_code, changed.status_code) == (403, 403)
    assert not StaticToken.objects.filter(token=KNOWN_CODE).exists()


@pytest.mark.parametrize("model", [TOTPDevice, StaticDevice])
def test_a_superuser_deletes_a_lost_device_without_seeing_its_secret(admin_client, colleague, model):
    user, second_factor = colleague
    secrets = secrets_of(second_factor, user)
    device = model.objects.get(user=user)
    delete = url(f"{model._meta.app_label}_{model._meta.model_name}_delete", device.pk)

    confirmation = admin_client.get(delete)
    response = admin_client.post(delete, {"post": "yes"})

    assert confirmation.status_code == 200
    assert_no_secret(confirmation.content.decode(), secrets)
    assert response.status_code == 302
    assert not model.objects.filter(user=user).exists()


@pytest.mark.parametrize("model", [TOTPDevice, StaticDevice])
def test_other_staff_cannot_delete_a_device_even_when_granted_the_permission(staff_client, colleague, model):
    """Deleting a device locks its owner out of the admin: a superuser's too."""
    user, _ = colleague
    device = model.objects.get(user=user)
    name = f"{model._meta.app_label}_{model._meta.model_name}"
    bulk_delete = {"action": "delete_selected", "_selected_action": [device.pk], "post": "yes"}

    single = staff_client.post(url(f"{name}_delete", device.pk), {"post": "yes"})
    staff_client.post(url(f"{name}_changelist"), bulk_delete)

    assert single.status_code == 403
    assert model.objects.filter(user=user).exists()


def test_staff_who_may_change_users_cannot_make_themselves_superusers(staff_client):
    """Or they could then delete a colleague's device after all."""
    user = User.objects.get(email="helpdesk@example.com")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_user", "change_user"]))
    change = reverse("admin:accounts_user_change", args=[user.pk])
    form = user_change_form(user, user_permissions=[p.pk for p in Permission.objects.all()])

    assert staff_client.post(change, form).status_code == 302  # saved, but for what only a superuser grants
    user.refresh_from_db()
    assert not user.is_superuser
    assert not user.user_permissions.filter(codename="delete_user").exists()


def test_staff_who_may_change_users_cannot_give_or_take_staff_status(staff_client):
    """Staff status opens the admin: only a superuser hands it out (or takes it away)."""
    helpdesk = User.objects.get(email="helpdesk@example.com")
    helpdesk.user_permissions.add(*Permission.objects.filter(codename__in=["view_user", "change_user"]))
    customer = UserFactory(email="customer@example.com")
    colleague = UserFactory(email="colleague@example.com", is_staff=True)

    page = staff_client.get(reverse("admin:accounts_user_change", args=[customer.pk])).content.decode()
    made = staff_client.post(reverse("admin:accounts_user_change", args=[customer.pk]), user_change_form(customer))
    not_staff = {key: value for key, value in user_change_form(colleague).items() if key != "is_staff"}
    taken = staff_client.post(reverse("admin:accounts_user_change", args=[colleague.pk]), not_staff)

    assert 'name="is_staff"' not in page
    # Saved, but for staff status; a colleague's page is not theirs to change.
    assert (made.status_code, taken.status_code) == (302, 403)
    customer.refresh_from_db()
    colleague.refresh_from_db()
    assert not customer.is_staff and colleague.is_staff


def test_the_only_active_staff_member_who_is_no_superuser_still_saves_their_own_page(staff_client):
    """Their staff status is not on the form: it stays as it is, and does not count as dropped."""
    helpdesk = User.objects.get(email="helpdesk@example.com")
    helpdesk.user_permissions.add(*Permission.objects.filter(codename__in=["view_user", "change_user"]))
    form = user_change_form(helpdesk, email="help@example.com")

    response = staff_client.post(reverse("admin:accounts_user_change", args=[helpdesk.pk]), form)

    assert response.status_code == 302
    helpdesk.refresh_from_db()
    assert (helpdesk.email, helpdesk.is_staff) == ("help@example.com", True)


@pytest.mark.parametrize(
    ("is_staff", "is_superuser"), [(True, True), (True, False), (False, True)], ids=["superuser", "staff", "dormant"]
)
def test_staff_who_may_change_and_delete_users_leave_other_staff_alone(staff_client, is_staff, is_superuser):
    """A colleague's address and password are their way into the admin: only a superuser changes
    them, or deletes the colleague. Customers stay theirs to help."""
    helpdesk = User.objects.get(email="helpdesk@example.com")
    helpdesk.user_permissions.add(*Permission.objects.filter(codename__in=["view_user", "change_user", "delete_user"]))
    # "dormant": a superuser whose staff status was taken away, who would be one again once given it back.
    colleague = UserFactory(email="colleague@example.com", is_staff=is_staff, is_superuser=is_superuser)
    customer = UserFactory(email="customer@example.com")
    new_password = {"password1": "taken-over-Passw0rd", "password2": "taken-over-Passw0rd"}
    bulk_delete = {"action": "delete_selected", "_selected_action": [colleague.pk], "post": "yes"}

    changed = staff_client.post(
        url("accounts_user_change", colleague.pk), user_change_form(colleague, email="mine@example.com")
    )
    password = staff_client.post(url("auth_user_password_change", colleague.pk), new_password)
    deleted = staff_client.post(url("accounts_user_delete", colleague.pk), {"post": "yes"})
    staff_client.post(url("accounts_user_changelist"), bulk_delete)
    helped = staff_client.post(
        url("accounts_user_change", customer.pk), user_change_form(customer, email="new@example.com")
    )

    assert (changed.status_code, password.status_code, deleted.status_code) == (403, 403, 403)
    colleague.refresh_from_db()
    assert colleague.email == "colleague@example.com"
    assert not colleague.check_password("taken-over-Passw0rd")
    assert helped.status_code == 302
    customer.refresh_from_db()
    assert customer.email == "new@example.com"


def test_wrong_current_passwords_on_the_admins_password_change_sign_the_session_out(staff_client):
    """The admin's own page counts against the site's limit: it is no way round it."""
    guesses = [
        staff_client.post(
            url("password_change"),
            {"old_password": f"guess-{number}", "new_password1": "new-Passw0rd-9", "new_password2": "new-Passw0rd-9"},
        )
        for number in range(5)
    ]

    assert [guess.status_code for guess in guesses] == [200] * 4 + [302]
    assert guesses[-1].url == reverse("login")
    assert "_auth_user_id" not in staff_client.session
