import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import tasks
from accounts.models import PlanCode, User
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

SIGN_UP = {"password1": "a-long-unusual-pass", "password2": "a-long-unusual-pass"}


def sign_up(client, email: str):
    return client.post(reverse("signup"), {"email": email, **SIGN_UP})


def link_in(message, path: str) -> str:
    return re.search(rf"https?://[^/\s]+({re.escape(path)}\S+)", message.body).group(1)


def test_sign_up_creates_an_unverified_free_account_and_asks_to_check_the_email(client):
    response = client.post(reverse("signup"), {"email": "New.Person@Example.com", **SIGN_UP})

    assert response.status_code == 302
    assert response.url == reverse("signup_done")
    user = User.objects.get()
    assert user.email == "new.person@example.com"
    assert user.account.plan.code == PlanCode.FREE
    assert not user.email_verified
    assert "_auth_user_id" not in client.session  # signing in would tell a new address from a customer's
    done = client.get(response.url)
    assert "Check your e-mail" in done.content.decode() and "new.person@example.com" in done.content.decode()
    # The address, to a session not signed in: for no shared cache to keep.
    assert {"private", "no-store"} <= set(re.split(r",\s*", done["Cache-Control"]))


CHOOSER = {"email": "chooser@example.com", **SIGN_UP}


def test_the_plan_chosen_on_pricing_survives_sign_up_to_its_checkout_page(client):
    checkout = reverse("billing:checkout", args=["pro"])

    page = client.get(reverse("signup"), {"next": checkout}).content.decode()
    response = client.post(f"{reverse('signup')}?next={checkout}", CHOOSER)
    done = client.get(response.url).content.decode()

    assert "You chose the <strong>Pro</strong> plan." in page
    assert f'<input type="hidden" name="next" value="{checkout}">' in page
    assert f'href="{reverse("login")}?next={checkout}"' in page
    # Signed out on "check your e-mail" (see above), whose log-in goes on to the plan.
    assert (response.status_code, response.url) == (302, f"{reverse('signup_done')}?next={checkout}")
    assert f'href="{reverse("login")}?next={checkout}"' in done


def test_sign_up_carries_next_in_its_form_too(client):
    response = client.post(reverse("signup"), {**CHOOSER, "next": reverse("apikeys:list")})

    assert response.url == f"{reverse('signup_done')}?next={reverse('apikeys:list')}"


@pytest.mark.usefixtures("eager_tasks")
def test_the_plan_chosen_on_pricing_survives_sign_up_and_verification_into_stripe_checkout(
    client, fake_stripe, django_capture_on_commit_callbacks
):
    checkout = reverse("billing:checkout", args=["pro"])
    choose_pro = re.search(r'href="([^"]+)">Choose Pro<', client.get(reverse("pricing")).content.decode()).group(1)

    with django_capture_on_commit_callbacks(execute=True):
        signed_up = client.post(choose_pro, CHOOSER)
    [welcome] = mail.outbox
    link = link_in(welcome, "/accounts/verify/")
    # The link is followed from the mailbox, signed out: log in first, then on through the link.
    to_log_in = client.get(link)
    logged_in = client.post(to_log_in.url, {"username": CHOOSER["email"], "password": CHOOSER["password1"]})
    verified = client.get(logged_in.url)
    confirmation = client.get(verified.url).content.decode()
    to_stripe = client.post(checkout)

    assert choose_pro == f"{reverse('signup')}?next={checkout}"
    assert signed_up.url == f"{reverse('signup_done')}?next={checkout}"
    assert link.endswith(f"/?next={checkout}")
    assert "takes you on to the Pro plan you chose" in welcome.body
    assert to_log_in.url.startswith(f"{reverse('login')}?next=")
    assert logged_in.url == link
    assert (verified.status_code, verified.url) == (302, checkout)
    assert User.objects.get(email=CHOOSER["email"]).email_verified
    assert "The Pro plan" in confirmation and "Continue to secure checkout" in confirmation
    (session,) = fake_stripe.checkout_sessions.values()
    assert (to_stripe.status_code, to_stripe["Location"]) == (303, session["url"])
    assert session["line_items"][0]["price"] == "price_fake_pro"


@pytest.mark.usefixtures("eager_tasks")
def test_an_address_with_an_account_is_told_so_with_a_log_in_link_that_goes_on_to_the_plan(
    client, django_capture_on_commit_callbacks
):
    UserFactory(email="chooser@example.com")
    checkout = reverse("billing:checkout", args=["agency"])

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{reverse('signup')}?next={checkout}", CHOOSER)

    [notice] = mail.outbox
    assert link_in(notice, "/accounts/login/") == f"{reverse('login')}?next={checkout}"


@pytest.mark.usefixtures("eager_tasks")
@pytest.mark.parametrize(
    "next_url", ["https://evil.example/billing/checkout/pro/", "//evil.example/", "/\\evil.example/", "javascript:x"]
)
def test_sign_up_never_sends_anyone_to_another_site(client, next_url, django_capture_on_commit_callbacks):
    page = client.get(reverse("signup"), {"next": next_url}).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("signup"), {**CHOOSER, "next": next_url})
    done = client.get(reverse("signup_done"), {"next": next_url}).content.decode()

    assert "evil.example" not in page and "javascript" not in page
    assert response.url == reverse("signup_done")
    assert "evil.example" not in done and "javascript" not in done
    [welcome] = mail.outbox
    assert "next=" not in welcome.body and "evil.example" not in welcome.body


@pytest.mark.parametrize("known", [False, True], ids=["new address", "known address"])
def test_a_next_with_a_control_character_is_dropped_and_sign_up_answers_alike(client, known):
    """A NUL in `next` failed a new address's insert in PostgreSQL (500) where a known address, whose
    sign-up writes nothing, was answered as usual: that told whether an address has an account."""
    if known:
        UserFactory(email=CHOOSER["email"])

    response = client.post(reverse("signup"), {**CHOOSER, "next": f"{reverse('billing:checkout', args=['pro'])}\x00"})

    assert (response.status_code, response.url) == (302, reverse("signup_done"))
    assert User.objects.get(email=CHOOSER["email"]).account.sign_up_next_path == ""


def test_sign_up_names_no_plan_for_other_next_pages(client):
    for next_url in (reverse("billing:checkout", args=["free"]), reverse("apikeys:list")):
        page = client.get(reverse("signup"), {"next": next_url}).content.decode()
        assert "You chose" not in page


@pytest.mark.usefixtures("eager_tasks")  # the task runs here, not in a worker
def test_sign_up_sends_one_welcome_email_with_the_verification_link_once_committed(
    client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        sign_up(client, "welcome@example.com")
    assert mail.outbox == []  # nothing is sent while the transaction may still roll back

    for callback in callbacks:
        callback()
    [email] = mail.outbox
    assert email.to == ["welcome@example.com"]
    assert email.subject == "Welcome to Smolpix: confirm your e-mail address"
    assert "/accounts/verify/" in email.body
    assert User.objects.get().account.welcome_email_sent_at is not None


def test_a_refused_sign_up_sends_no_email(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        client.post(reverse("signup"), {"email": "a@example.com", "password1": "a-long-pass", "password2": "other"})

    assert callbacks == []
    assert mail.outbox == []


@pytest.mark.usefixtures("eager_tasks")
def test_sign_up_answers_an_existing_address_exactly_as_a_new_one_and_tells_its_owner(
    client, django_capture_on_commit_callbacks
):
    UserFactory(email="taken@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        new = sign_up(client, "fresh@example.com")
    client.cookies.clear()
    with django_capture_on_commit_callbacks(execute=True):
        taken = sign_up(client, "TAKEN@example.com")

    assert (taken.status_code, taken.url) == (new.status_code, new.url) == (302, reverse("signup_done"))
    assert "already" not in client.get(taken.url).content.decode()
    assert User.objects.filter(email="taken@example.com").count() == 1
    notice = next(email for email in mail.outbox if email.to == ["taken@example.com"])
    assert notice.subject == "Your Smolpix account"
    assert "There is one already" in notice.body
    assert link_in(notice, "/accounts/") in (reverse("login"), reverse("password_reset"))
    assert "/accounts/verify/" not in notice.body  # no way into the account from this e-mail


@pytest.mark.usefixtures("eager_tasks", "frozen_clock")
def test_sign_up_tells_the_owner_of_an_address_at_most_three_times_an_hour_and_answers_as_ever(
    client, django_capture_on_commit_callbacks
):
    UserFactory(email="owner@example.com")

    answers, queued = [], []
    for number in range(5):  # from as many client addresses: each is under its own limit
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = sign_up_from(client, "OWNER@example.com", f"203.0.113.{number}")
        answers.append((response.status_code, response.url, client.get(response.url).content))
        queued.append(len(callbacks))

    assert queued == [1, 1, 1, 0, 0]
    assert [email.to for email in mail.outbox] == [["owner@example.com"]] * 3
    assert answers == [answers[0]] * 5
    assert answers[0][:2] == (302, reverse("signup_done"))
    # A new address answers so too (its page names it), and still gets its account and welcome.
    with django_capture_on_commit_callbacks(execute=True):
        new = sign_up_from(client, "newcomer@example.com", "203.0.113.9")
    page = client.get(new.url).content
    assert (new.status_code, new.url, page.replace(b"newcomer@", b"owner@")) == answers[0]
    assert mail.outbox[-1].to == ["newcomer@example.com"]


def sign_up_from(client, email: str, address: str):
    return client.post(reverse("signup"), {"email": email, **SIGN_UP}, REMOTE_ADDR=address)


@pytest.mark.usefixtures("eager_tasks")
def test_with_redis_unreachable_sign_up_still_answers_and_tells_the_owner(
    client, django_capture_on_commit_callbacks, unreachable_redis
):
    """The limits cannot count (logged) and let the sign-up through rather than refuse everyone."""
    UserFactory(email="owner@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        response = sign_up(client, "owner@example.com")

    assert (response.status_code, response.url) == (302, reverse("signup_done"))
    assert [email.to for email in mail.outbox] == [["owner@example.com"]]


def test_sign_up_refuses_mismatched_passwords(client):
    response = client.post(
        reverse("signup"), {"email": "a@example.com", "password1": "a-long-unusual-pass", "password2": "different"}
    )

    assert response.status_code == 200
    assert not User.objects.exists()


def test_sign_up_errors_stand_under_their_fields_tied_to_them_with_unique_ids_and_no_style(client):
    response = client.post(reverse("signup"), {"email": "not-an-address", "password1": "abc", "password2": "abd"})

    page = response.content.decode()
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert response.status_code == 200
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for field, message in [
        ("email", "Enter a valid email address."),
        ("password1", "This password is too short."),  # under Password, whose help lists the rules
        ("password2", "The two password fields didn"),
    ]:
        tag = re.search(rf'<input[^>]* name="{field}"[^>]*>', page).group(0)
        described_by = re.search(r'aria-describedby="([^"]+)"', tag).group(1).split()
        errors = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', page).group(1)
        assert 'aria-invalid="true"' in tag and f"id_{field}_error" in described_by, tag
        assert set(described_by) <= set(ids), described_by  # each names an element of the page
        assert message in errors
    assert "This password is too short." not in page.split('id="id_password2_error"')[1]
    assert " style=" not in page


def test_sign_ups_are_throttled_per_client_address(client):
    answers = [sign_up(client, f"person{number}@example.com").status_code for number in range(11)]

    assert answers == [302] * 10 + [429]
    assert User.objects.count() == 10
    # Another address is counted on its own.
    other = client.post(reverse("signup"), {"email": "other@example.com", **SIGN_UP}, REMOTE_ADDR="203.0.113.9")
    assert other.status_code == 302


def test_log_in_with_email_in_any_case_and_log_out(client):
    UserFactory(email="me@example.com")

    response = client.post(reverse("login"), {"username": "ME@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("dashboard")

    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 302


def test_the_log_in_address_is_an_email_input_that_browsers_fill_in_as_the_username(client):
    """Sign-up's and password reset's are e-mail inputs: phones showed no e-mail keyboard for this one."""
    page = client.get(reverse("login")).content.decode()

    tag = re.search(r'<input[^>]* name="username"[^>]*>', page).group(0)
    assert 'type="email"' in tag and 'autocomplete="username"' in tag, tag


def test_opening_the_log_out_address_asks_first_and_its_button_logs_out():
    UserFactory(email="me@example.com")
    client = Client(enforce_csrf_checks=True)
    client.get(reverse("login"))
    token = client.cookies["csrftoken"].value
    credentials = {"username": "me@example.com", "password": PASSWORD, "csrfmiddlewaretoken": token}
    # A bookmarked link, or a sign-in whose `next` is the log-out address.
    response = client.post(reverse("login"), {**credentials, "next": reverse("logout")}, follow=True)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Log out?" in page
    assert "_auth_user_id" in client.session  # asked, not logged out yet
    form = re.search(rf'<form method="post" action="{reverse("logout")}">(.*?)</form>', page.split("<main")[1])
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(1)).group(1)

    response = client.post(reverse("logout"), {"csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert response.url == reverse("landing")
    assert "_auth_user_id" not in client.session


def test_opening_the_log_out_address_signed_out_offers_to_log_in(client):
    response = client.get(reverse("logout"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "You are logged out" in page
    assert f'href="{reverse("login")}"' in page.split("<main")[1]


def test_opening_log_in_signed_in_goes_on_to_next_or_the_dashboard(client):
    client.force_login(UserFactory())

    assert client.get(reverse("login")).url == reverse("dashboard")
    assert client.get(reverse("login"), {"next": "/billing/"}).url == "/billing/"
    assert client.get(reverse("login"), {"next": "https://evil.example/"}).url == reverse("dashboard")


@pytest.mark.parametrize(
    ("next_url", "link"),
    [
        ("/billing/checkout/pro/", "/accounts/signup/?next=/billing/checkout/pro/"),
        ("/dashboard/?a=1&b=2", "/accounts/signup/?next=/dashboard/%3Fa%3D1%26b%3D2"),
        ("https://evil.example/", "/accounts/signup/"),
    ],
)
def test_the_log_in_pages_sign_up_link_keeps_next_on_this_site(client, next_url, link):
    page = client.get(reverse("login"), {"next": next_url}).content.decode()

    assert f'New here? <a href="{link}">Create an account</a>' in page


def test_log_in_with_a_wrong_password_fails(client):
    UserFactory(email="me@example.com")

    response = client.post(reverse("login"), {"username": "me@example.com", "password": "wrong"})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    # The address is read in any case (Django's words said both fields may be case-sensitive).
    assert "The password is case-sensitive." in response.content.decode()


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
    # Keys are not passwords: they keep working, and the page says how to stop a leaked one.
    assert "Your API keys keep working" in client.get(response.url).content.decode()


NEW_PASSWORD = "another-long-pass-9"


def change_password(client, old_password: str, new_password: str = NEW_PASSWORD):
    data = {"old_password": old_password, "new_password1": new_password, "new_password2": new_password}
    return client.post(reverse("password_change"), data)


def test_the_fifth_wrong_current_password_in_an_hour_signs_the_session_out(client, caplog):
    """Whoever holds a stolen session cannot find the password by trying it here."""
    user = UserFactory()
    client.force_login(user)

    answers = [change_password(client, f"guess-{number}") for number in range(4)]
    fifth = change_password(client, "guess-4")

    assert [answer.status_code for answer in answers] == [200] * 4
    assert "Your old password was entered incorrectly" in answers[-1].content.decode()
    assert (fifth.status_code, fifth.url) == (302, reverse("login"))
    assert "_auth_user_id" not in client.session
    assert "wrong too many times, so we signed you out" in client.get(fifth.url).content.decode()
    client.force_login(user)  # even signed in again (or in another session), for the rest of the hour:
    right = change_password(client, PASSWORD)  # no sixth guess is checked
    assert (right.status_code, right.url) == (302, reverse("login"))
    assert "_auth_user_id" not in client.session
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    signed_out = [record.fields for record in caplog.records if record.getMessage() == "password change signed out"]
    assert signed_out == [{"email": user.email, "user_id": user.pk, "address": "127.0.0.1"}] * 2


def test_an_hour_after_the_wrong_current_passwords_the_password_can_be_changed_again(client):
    user = UserFactory()
    client.force_login(user)
    for number in range(6):
        change_password(client, f"guess-{number}")

    client.force_login(user)
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        assert change_password(client, PASSWORD).url == reverse("password_change_done")
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_only_wrong_current_passwords_count_not_a_new_password_refused(client):
    user = UserFactory()
    client.force_login(user)

    refused = [change_password(client, PASSWORD, new_password="123").status_code for _ in range(8)]

    assert refused == [200] * 8
    assert change_password(client, PASSWORD).url == reverse("password_change_done")


def test_wrong_current_passwords_are_counted_per_user(client):
    user, other = UserFactory(), UserFactory()
    client.force_login(user)
    for number in range(6):
        change_password(client, f"guess-{number}")

    client.force_login(other)
    assert change_password(client, PASSWORD).url == reverse("password_change_done")


@pytest.fixture
def reset(client, django_capture_on_commit_callbacks, eager_tasks):
    """Ask for a password reset as a browser does; the e-mail's task runs here once it commits."""

    def ask(email: str, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse("password_reset"), {"email": email}, **extra)

    return ask


# An operator's createaccount without --password makes a user without one: it chooses its first so.
@pytest.mark.parametrize("has_password", [True, False], ids=["forgotten", "never set"])
def test_password_reset_sends_a_link_that_sets_a_new_password(client, reset, has_password):
    user = UserFactory(email="forgetful@example.com")
    if not has_password:
        user.set_unusable_password()
        user.save()

    response = reset("forgetful@example.com")
    assert response.status_code == 302
    [email] = mail.outbox
    assert email.to == ["forgetful@example.com"]
    assert email.subject == "Reset your Smolpix password"
    link = link_in(email, "/accounts/reset/")

    # Django swaps the token for a session value and redirects to the form.
    form_url = client.get(link).url
    response = client.post(form_url, {"new_password1": "brand-new-pass-42", "new_password2": "brand-new-pass-42"})

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("brand-new-pass-42")
    assert client.post(reverse("login"), {"username": user.email, "password": "brand-new-pass-42"}).status_code == 302


def test_a_password_reset_keeps_the_api_keys_working_and_says_so(client, reset, pro_account, pro_api_key):
    """A key lives in a customer's servers: resetting a password must not break them, and the page
    says how to stop a key that has leaked instead."""
    reset(pro_account.owner.email)
    form_url = client.get(link_in(mail.outbox[0], "/accounts/reset/")).url
    done = client.post(
        form_url, {"new_password1": "brand-new-pass-42", "new_password2": "brand-new-pass-42"}, follow=True
    )

    assert "Your API keys keep working" in done.content.decode()
    assert reverse("apikeys:list") in done.content.decode()
    assert Client().get("/api/v1/usage", HTTP_AUTHORIZATION=f"Bearer {pro_api_key}").status_code == 200


def test_a_password_reset_link_works_for_an_hour(client, reset):
    """Not Django's 3 days: a link may sit in a mailbox someone reads later."""
    UserFactory(email="forgetful@example.com")
    reset("forgetful@example.com")
    [email] = mail.outbox
    link = link_in(email, "/accounts/reset/")
    assert "within an hour" in email.body

    with time_machine.travel(timezone.now() + timedelta(minutes=59)):
        in_time = client.get(link, follow=True).content.decode()
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        too_late = client.get(link, follow=True).content.decode()

    assert 'name="new_password1"' in in_time
    assert 'name="new_password1"' not in too_late


def test_a_reset_task_queued_before_it_took_an_address_still_sends_its_link():
    """Its messages carried the user's id: a deploy finds some still in the queue."""
    user = UserFactory(email="forgetful@example.com")

    assert tasks.send_password_reset_email(user.pk) is True
    [email] = mail.outbox
    assert email.to == ["forgetful@example.com"] and "/accounts/reset/" in email.body


def test_password_reset_answers_the_same_for_an_unknown_address_and_sends_nothing(client, reset):
    UserFactory(email="known@example.com")

    known, unknown = reset("known@example.com"), reset("nobody@example.com")

    assert (unknown.status_code, unknown.url) == (known.status_code, known.url) == (302, reverse("password_reset_done"))
    assert [email.to for email in mail.outbox] == [["known@example.com"]]


def test_password_reset_does_the_same_work_for_an_unknown_address_and_its_task_sends_nothing(
    client, django_capture_on_commit_callbacks, monkeypatch
):
    """The task is queued either way (the broker's round-trip is not what tells them apart), with
    the address as typed, normalised; the worker looks it up."""
    UserFactory(email="known@example.com")
    queued = []
    monkeypatch.setattr(tasks.send_password_reset_email, "delay", lambda *args, **kwargs: queued.append(args))

    work = []
    for email in ["Known@Example.com", " Nobody@Example.com"]:
        with django_capture_on_commit_callbacks(execute=True), CaptureQueriesContext(connection) as queries:
            response = client.post(reverse("password_reset"), {"email": email})
        work.append((response.status_code, response.url, len(queries)))

    assert work[0] == work[1]
    assert queued == [("known@example.com",), ("nobody@example.com",)]
    assert tasks.send_password_reset_email("nobody@example.com") is False
    assert mail.outbox == []


def test_password_reset_mails_an_address_at_most_three_times_an_hour(client, reset):
    UserFactory(email="target@example.com")

    answers = [reset("TARGET@example.com", REMOTE_ADDR=f"203.0.113.{number}").status_code for number in range(5)]

    assert answers == [302, 302, 302, 429, 429]
    assert len(mail.outbox) == 3
    assert "Too many requests" in reset("target@example.com", REMOTE_ADDR="203.0.113.99").content.decode()


def test_password_reset_is_throttled_per_client_whatever_the_addresses(client, reset):
    answers = [reset(f"someone{number}@example.com").status_code for number in range(11)]

    assert answers == [302] * 10 + [429]


def test_completing_a_password_reset_verifies_the_address(client, reset):
    user = UserFactory(email="late@example.com", email_verified=False)
    reset("late@example.com")

    form_url = client.get(link_in(mail.outbox[0], "/accounts/reset/")).url
    client.post(form_url, {"new_password1": "brand-new-pass-42", "new_password2": "brand-new-pass-42"})

    user.refresh_from_db()
    assert user.email_verified


def test_with_redis_unreachable_password_reset_still_answers(client, reset, unreachable_redis):
    """The throttle cannot count (logged) and lets the request through rather than refuse everyone."""
    UserFactory(email="forgetful@example.com")

    response = reset("forgetful@example.com")

    assert (response.status_code, response.url) == (302, reverse("password_reset_done"))
