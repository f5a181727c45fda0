"""The rate limit, the usage headers and the request records every API view gets from
MeteredApiView, through the HTTP client on GET /api/v1/usage (the optimize endpoint has its own
tests of what it adds: the monthly quota)."""

import logging
import time

import pytest
import time_machine
from django import db
from django.urls import reverse

from accounts.tests.factories import AccountFactory
from apikeys.models import ApiKey
from apikeys.tests.factories import full_key_for
from usage.models import RequestRecord
from usage.tests.factories import MonthlyUsageFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

USAGE_URL = reverse("api-usage")


def get_usage(client, key):
    return client.get(USAGE_URL, headers={"Authorization": f"Bearer {key}"})


def test_a_success_carries_the_rate_limit_and_quota_headers(client, pro_account, pro_api_key):
    MonthlyUsageFactory(account=pro_account, used=42)

    response = get_usage(client, pro_api_key)

    assert response.status_code == 200
    assert response["X-RateLimit-Limit"] == "60"
    assert response["X-RateLimit-Remaining"] == "59"
    assert 1 <= int(response["X-RateLimit-Reset"]) - int(time.time()) <= 60
    assert (response["X-Quota-Used"], response["X-Quota-Limit"]) == ("42", "10000")
    assert "Retry-After" not in response


def test_an_unlimited_quota_says_so(client, agency_account):
    response = get_usage(client, full_key_for(agency_account))

    assert (response["X-Quota-Used"], response["X-Quota-Limit"]) == ("0", "unlimited")
    assert response["X-RateLimit-Limit"] == "120"


def test_the_61st_request_in_a_minute_is_refused_with_429(client, pro_api_key):
    answers = [get_usage(client, pro_api_key) for _ in range(61)]

    assert [answer.status_code for answer in answers[:60]] == [200] * 60
    assert answers[59]["X-RateLimit-Remaining"] == "0"
    refused = answers[60]
    assert refused.status_code == 429
    assert refused.json() == {"error": "Rate limit exceeded", "code": "LIMIT_REACHED", "used": 61, "limit": 60}
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert int(refused["X-RateLimit-Reset"]) == int(time.time()) + int(refused["Retry-After"])
    assert (refused["X-RateLimit-Limit"], refused["X-RateLimit-Remaining"]) == ("60", "0")
    assert refused["X-Quota-Limit"] == "10000"


def test_the_count_starts_again_the_next_minute(client, pro_api_key):
    for _ in range(61):
        get_usage(client, pro_api_key)
    retry_after = int(get_usage(client, pro_api_key)["Retry-After"])

    with time_machine.travel(time.time() + retry_after - 1, tick=False):
        still_refused = get_usage(client, pro_api_key)
    with time_machine.travel(time.time() + retry_after, tick=False):
        response = get_usage(client, pro_api_key)

    assert still_refused.status_code == 429
    assert response.status_code == 200
    assert response["X-RateLimit-Remaining"] == "59"


def test_all_keys_of_an_account_share_its_limit(client, pro_account):
    pro_account.rate_limit_override = 5
    pro_account.save()
    first, second = full_key_for(pro_account), full_key_for(pro_account)
    someone_else = full_key_for(AccountFactory(pro=True))

    statuses = [get_usage(client, key).status_code for key in (first, second, first, second, first)]
    refused = get_usage(client, second)

    assert statuses == [200] * 5
    assert refused.status_code == 429
    assert refused.json()["limit"] == 5
    assert get_usage(client, someone_else).status_code == 200


def test_a_limit_changed_within_the_minute_keeps_the_minutes_count(client, pro_account):
    """The audit's case: an account's limit raised from 5 to 6 after its 6th request started the
    minute's count again (django-ratelimit keys it by the rate): 11 requests in a minute got through."""
    pro_account.rate_limit_override = 5
    pro_account.save()
    key = full_key_for(pro_account)

    with time_machine.travel(time.time(), tick=False):
        before = [get_usage(client, key).status_code for _ in range(6)]
        pro_account.rate_limit_override = 6
        pro_account.save()
        after = get_usage(client, key)

    assert before == [200] * 5 + [429]
    assert after.status_code == 429
    assert (after.json()["used"], after.json()["limit"]) == (7, 6)


@pytest.mark.parametrize(("plan", "override", "limit"), [("pro", 2, 2), ("agency", 3, 3), ("pro", None, 60)])
def test_the_accounts_override_takes_precedence_over_the_plan(client, plan, override, limit):
    account = AccountFactory(**{plan: True}, rate_limit_override=override)
    key = full_key_for(account)

    answers = [get_usage(client, key) for _ in range(limit + 1)]

    assert [answer.status_code for answer in answers] == [200] * limit + [429]
    assert answers[-1].json()["limit"] == limit
    assert answers[0]["X-RateLimit-Limit"] == str(limit)


def test_a_plan_without_api_access_is_403_with_the_accounts_headers(client, free_account):
    response = get_usage(client, full_key_for(free_account))

    assert response.status_code == 403
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("10", "9")
    assert (response["X-Quota-Used"], response["X-Quota-Limit"]) == ("0", "50")


def test_a_plan_without_api_access_is_403_however_fast_it_calls_never_429(client, free_account):
    """A 429 would have the client wait and try again, for nothing."""
    key = full_key_for(free_account)

    answers = [get_usage(client, key) for _ in range(12)]

    assert [answer.status_code for answer in answers] == [403] * 12
    assert answers[-1].json() == {"error": "API access requires Pro plan or higher", "code": "FORBIDDEN"}
    assert "Retry-After" not in answers[-1]
    assert answers[-1]["X-RateLimit-Remaining"] == "0"


def test_a_request_without_a_valid_key_has_no_account_headers_and_no_record(client):
    response = get_usage(client, "pk_live_" + "x" * 40)

    assert response.status_code == 401
    assert not any(name.startswith(("X-RateLimit", "X-Quota")) for name in response.headers)
    assert not RequestRecord.objects.exists()


def test_every_answered_request_is_recorded(client, pro_account):
    pro_account.rate_limit_override = 1
    pro_account.save()
    key = full_key_for(pro_account)

    get_usage(client, key)
    get_usage(client, key)
    client.post(USAGE_URL, headers={"Authorization": f"Bearer {key}"})

    records = list(RequestRecord.objects.order_by("pk"))
    assert [(record.endpoint, record.status) for record in records] == [
        ("GET /api/v1/usage", 200),
        ("GET /api/v1/usage", 429),
        ("POST /api/v1/usage", 429),
    ]
    api_key = ApiKey.objects.get()
    assert all(record.account == pro_account and record.api_key == api_key for record in records)
    assert all((record.bytes_in, record.bytes_out, record.output_format) == (0, 0, "") for record in records)
    assert all(record.duration_ms >= 0 for record in records)


def test_a_failing_record_does_not_fail_the_request(client, pro_api_key, monkeypatch, caplog):
    def broken_insert(**fields):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr("api.metering.request_record_create", broken_insert)

    response = get_usage(client, pro_api_key)

    assert response.status_code == 200
    assert "could not record API request" in caplog.text


def test_a_database_lost_mid_request_is_a_503_with_the_headers_it_can_still_tell(
    client, pro_api_key, monkeypatch, caplog
):
    def unreachable(**kwargs):
        raise db.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("api.usage.usage_this_month", unreachable)  # the view's own read
    monkeypatch.setattr("api.metering.quota_used", unreachable)  # the error answer's count

    response = get_usage(client, pro_api_key)

    assert response.status_code == 503
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("60", "59")
    assert "X-Quota-Used" not in response and "X-Quota-Limit" not in response
    assert "quota headers left out" in caplog.text


def test_with_redis_unreachable_requests_pass_unlimited_by_the_minute_with_a_warning(
    client, pro_account, unreachable_redis, caplog
):
    pro_account.rate_limit_override = 1
    pro_account.save()
    key = full_key_for(pro_account)
    caplog.set_level(logging.WARNING, logger="usage.ratelimit")

    answers = [get_usage(client, key) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200] * 3
    assert "rate limit of account" in caplog.text
    # What is known is still said; what the cache would have counted is not made up.
    assert (answers[0]["X-RateLimit-Limit"], answers[0]["X-Quota-Used"]) == ("1", "0")
    assert "X-RateLimit-Remaining" not in answers[0]
    assert "X-RateLimit-Reset" not in answers[0]


@pytest.mark.parametrize(
    ("url", "allowed"), [(USAGE_URL, "GET, HEAD, OPTIONS"), (reverse("api-optimize"), "POST, OPTIONS")]
)
def test_options_says_the_allowed_methods_and_nothing_of_the_view(client, pro_api_key, url, allowed):
    response = client.options(url, headers={"Authorization": f"Bearer {pro_api_key}"})

    assert response.status_code == 204
    assert response["Allow"] == allowed
    assert response.content == b""
    assert response["X-RateLimit-Remaining"] == "59"  # a request like any other


def test_options_carries_the_usage_headers_of_any_answer_and_consumes_no_image(client, pro_account, pro_api_key):
    MonthlyUsageFactory(account=pro_account, used=42)
    key = {"Authorization": f"Bearer {pro_api_key}"}

    options = client.options(reverse("api-optimize"), headers=key)
    usage = get_usage(client, pro_api_key)

    usage_headers = ["X-RateLimit-Limit", "X-RateLimit-Reset", "X-Quota-Used", "X-Quota-Limit"]
    assert options.status_code == 204
    assert [options[name] for name in usage_headers] == [usage[name] for name in usage_headers]
    assert (options["X-Quota-Used"], options["X-Quota-Limit"]) == ("42", "10000")
    assert (options["X-RateLimit-Remaining"], usage["X-RateLimit-Remaining"]) == ("59", "58")
    assert usage.json()["used"] == 42
    assert RequestRecord.objects.get(endpoint="OPTIONS /api/v1/optimize").status == 204


def test_options_with_the_database_lost_leaves_the_quota_headers_out(client, pro_api_key, monkeypatch, caplog):
    def unreachable(**kwargs):
        raise db.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("api.metering.quota_used", unreachable)

    response = client.options(USAGE_URL, headers={"Authorization": f"Bearer {pro_api_key}"})

    assert response.status_code == 204
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("60", "59")
    assert "X-Quota-Used" not in response and "X-Quota-Limit" not in response
    assert "quota headers left out" in caplog.text


def test_options_without_a_valid_key_is_401(client):
    response = client.options(USAGE_URL)

    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"
