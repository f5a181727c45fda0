import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import PlanCode, User
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_sign_up_creates_a_free_account_and_signs_in(client):
    response = client.post(
        reverse("signup"),
        {"email": "New.Person@Example.com", "password1": "a-long-unusual-pass", "password2": "a-long-unusual-pass"},
    )

    assert response.status_code == 302
    assert response.url == reverse("dashboard")
    user = User.objects.get()
    assert user.email == "new.person@example.com"
    assert user.account.plan.code == PlanCode.FREE
    assert client.get(reverse("dashboard")).status_code == 200


SIGN_UP = {"email": "chooser@example.com", "password1": "a-long-unusual-pass", "password2": "a-long-unusual-pass"}


def test_the_plan_chosen_on_pricing_survives_sign_up_to_its_checkout_page(client):
    checkout = reverse("billing:checkout", args=["pro"])

    page = client.get(reverse("signup"), {"next": checkout}).content.decode()
    response = client.post(f"{reverse('signup')}?next={checkout}", SIGN_UP)

    assert "You chose the <strong>Pro</strong> plan." in page
    assert f'<input type="hidden" name="next" value="{checkout}">' in page
    assert f'href="{reverse("login")}?next={checkout}"' in page
    assert (response.status_code, response.url) == (302, checkout)


def test_sign_up_carries_next_in_its_form_too(client):
    response = client.post(reverse("signup"), {**SIGN_UP, "next": reverse("apikeys:list")})

    assert response.url == reverse("apikeys:list")


@pytest.mark.parametrize("next_url", ["https://evil.example/billing/checkout/pro/", "//evil.example/", "javascript:x"])
def test_sign_up_never_sends_anyone_to_another_site(client, next_url):
    page = client.get(reverse("signup"), {"next": next_url}).content.decode()
    response = client.post(f"{reverse('signup')}?next={next_url}", SIGN_UP)

    assert "evil.example" not in page and "javascript" not in page
    assert response.url == reverse("dashboard")


def test_sign_up_names_no_plan_for_other_next_pages(client):
    for next_url in (reverse("billing:checkout", args=["free"]), reverse("apikeys:list")):
        page = client.get(reverse("signup"), {"next": next_url}).content.decode()
        assert "You chose" not in page


@pytest.mark.usefixtures("eager_tasks")  # the task runs here, not in a worker
def test_sign_up_sends_one_welcome_email_once_the_account_is_committed(client, django_capture_on_commit_callbacks):
    data = {"email": "welcome@example.com", "password1": "a-long-unusual-pass", "password2": "a-long-unusual-pass"}

    with django_capture_on_commit_callbacks() as callbacks:
        client.post(reverse("signup"), data)
    assert mail.outbox == []  # nothing is sent while the transaction may still roll back

    for callback in callbacks:
        callback()
    [email] = mail.outbox
    assert email.to == ["welcome@example.com"]
    assert email.subject == "Welcome to Smolpix"
    assert User.objects.get().account.welcome_email_sent_at is not None


def test_a_refused_sign_up_sends_no_email(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        client.post(reverse("signup"), {"email": "a@example.com", "password1": "a-long-pass", "password2": "other"})

    assert callbacks == []
    assert mail.outbox == []


def test_sign_up_refuses_an_existing_email_in_any_case(client):
    UserFactory(email="taken@example.com")

    response = client.post(
        reverse("signup"),
        {"email": "TAKEN@example.com", "password1": "a-long-unusual-pass", "password2": "a-long-unusual-pass"},
    )

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert User.objects.count() == 1


def test_sign_up_refuses_mismatched_passwords(client):
    response = client.post(
        reverse("signup"), {"email": "a@example.com", "password1": "a-long-unusual-pass", "password2": "different"}
    )

    assert response.status_code == 200
    assert not User.objects.exists()


def test_log_in_with_email_in_any_case_and_log_out(client):
    UserFactory(email="me@example.com")

    response = client.post(reverse("login"), {"username": "ME@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("dashboard")

    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 302


def test_log_in_with_a_wrong_password_fails(client):
    UserFactory(email="me@example.com")

    response = client.post(reverse("login"), {"username": "me@example.com", "password": "wrong"})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_dashboard_sends_anonymous_visitors_to_log_in(client):
    response = client.get(reverse("dashboard"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_dashboard_shows_plan_and_limits(signed_in_client, pro_account):
    response = signed_in_client.get(reverse("dashboard"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Pro" in body
    assert "10,000 images" in body
    assert "60 API requests a minute" in body


def test_password_change(client):
    user = UserFactory()
    client.force_login(user)

    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "another-long-pass-9", "new_password2": "another-long-pass-9"},
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("another-long-pass-9")


def test_password_reset_sends_a_link_that_sets_a_new_password(client):
    user = UserFactory(email="forgetful@example.com")

    response = client.post(reverse("password_reset"), {"email": "forgetful@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["forgetful@example.com"]
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)

    # Django swaps the token for a session value and redirects to the form.
    form_url = client.get(link).url
    response = client.post(form_url, {"new_password1": "brand-new-pass-42", "new_password2": "brand-new-pass-42"})

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("brand-new-pass-42")
    assert client.post(reverse("login"), {"username": user.email, "password": "brand-new-pass-42"}).status_code == 302


def test_password_reset_for_an_unknown_email_sends_nothing_and_reveals_nothing(client):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})

    assert response.status_code == 302
    assert mail.outbox == []
