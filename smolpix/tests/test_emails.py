"""One helper sends every templated e-mail; its links start at SITE_URL, or else at the host the
customer reached us at, carried from the request into the task that sends the e-mail."""

import re
from types import SimpleNamespace

import pytest
from django.core import mail
from django.urls import reverse

from smolpix.celery import add_context_headers, start_task_log, write_task_log
from smolpix.emails import request_site_url, send_templated_email, site_url

SIGN_UP = {"password1": "a-long-unusual-pass", "password2": "a-long-unusual-pass"}
# The sign-up's e-mail is queued when its transaction commits, within the request: these tests commit
# (serialized_rollback restores the seeded plans afterwards, as pytest.ini's order expects).
committing = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_site_url_wins_over_the_request(settings):
    settings.SITE_URL = "https://smolpix.example/"
    token = request_site_url.set("http://10.0.0.7:8000")
    try:
        assert site_url() == "https://smolpix.example"
    finally:
        request_site_url.reset(token)


def test_without_site_url_or_a_request_links_go_to_make_runs_address():
    assert site_url() == "http://127.0.0.1:8000"


@committing
@pytest.mark.usefixtures("eager_tasks")
def test_without_site_url_the_links_go_to_the_host_the_sign_up_came_to(client, settings):
    settings.ALLOWED_HOSTS = ["smolpix.example"]

    client.post(reverse("signup"), {"email": "new@example.com", **SIGN_UP}, HTTP_HOST="smolpix.example:8443")

    [email] = mail.outbox
    assert re.search(r"http://smolpix\.example:8443/accounts/verify/\S+/", email.body)


@committing
@pytest.mark.usefixtures("eager_tasks")
def test_a_host_outside_allowed_hosts_never_reaches_an_e_mail(client, settings):
    settings.ALLOWED_HOSTS = ["smolpix.example"]

    response = client.post(reverse("signup"), {"email": "new@example.com", **SIGN_UP}, HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert mail.outbox == []


def test_the_requests_address_travels_to_the_worker_in_the_tasks_message():
    headers = {}
    token = request_site_url.set("https://shop.example")
    try:
        add_context_headers(headers=headers)
    finally:
        request_site_url.reset(token)
    task = SimpleNamespace(name="accounts.tasks.send_welcome_email", request=SimpleNamespace(**headers))

    start_task_log(task_id="t1", task=task)  # in the worker, with no request of its own
    assert site_url() == "https://shop.example"
    write_task_log(task_id="t1", task=task, state="SUCCESS")
    assert request_site_url.get() is None


def test_the_helper_renders_subject_and_body_from_templates_emails(settings):
    settings.SITE_URL = "https://smolpix.example"

    send_templated_email(to="a@example.com", template="sign_up_existing", context={"email": "a@example.com"})

    [email] = mail.outbox
    assert (email.to, email.subject) == (["a@example.com"], "Your Smolpix account")
    assert "https://smolpix.example/accounts/login/" in email.body
