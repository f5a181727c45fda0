"""POST /api/v1/optimize under the account's limits: the per-minute rate limit, the monthly quota
(charged for successes only, exact under concurrency), their headers and the request records.
The metering itself is tested in test_metering.py; here it is seen through the endpoint."""

from datetime import UTC, date, datetime

import pytest
import time_machine

from accounts.tests.factories import AccountFactory
from api.errors import QUOTA_IN_FLIGHT_MESSAGE
from api.tests.checks import SERVER_ERROR_BODY, assert_error
from apikeys.tests.factories import full_key_for
from optimizer import fetch, pipeline
from optimizer.tests import images
from smolpix import outages
from usage.models import MonthlyUsage, RequestRecord
from usage.services import usage_reset
from usage.tests.factories import MonthlyUsageFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks", "frozen_clock")]

TINY_PNG = images.encode(images.graphic(32, 24), "PNG")
FAST = {"format": "webp", "smart": "false"}  # the quickest real optimization
QUOTA_BODY = {"error": "Monthly image limit reached", "code": "LIMIT_REACHED"}
IN_FLIGHT_BODY = {"error": QUOTA_IN_FLIGHT_MESSAGE, "code": "LIMIT_REACHED"}
SLOW_URL = {"url": "https://images.example.com/slow.jpg", "format": "webp"}


def used(account) -> int:
    return sum(MonthlyUsage.objects.filter(account=account).values_list("used", flat=True))


# --- the rate limit -----------------------------------------------------------------------


def test_the_61st_request_in_a_minute_is_429_with_retry_after(post, pro_account):
    answers = [post(FAST, upload=TINY_PNG) for _ in range(61)]

    assert [answer.status_code for answer in answers] == [200] * 60 + [429]
    refused = answers[-1]
    assert refused.json() == {"error": "Rate limit exceeded", "code": "LIMIT_REACHED", "used": 61, "limit": 60}
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["X-RateLimit-Remaining"] == "0"
    assert used(pro_account) == 60  # a request refused by the rate limit is not optimized


def test_two_keys_of_an_account_share_its_rate_limit(post, pro_account, pro_api_key):
    pro_account.rate_limit_override = 2
    pro_account.save()
    other_key = full_key_for(pro_account)

    statuses = [post(FAST, upload=TINY_PNG, key=key).status_code for key in (pro_api_key, other_key, other_key)]

    assert statuses == [200, 200, 429]


# --- the monthly quota --------------------------------------------------------------------


def test_with_a_quota_of_3_the_4th_image_is_429_with_used_3_and_limit_3(post, pro_account):
    pro_account.monthly_limit_override = 3
    pro_account.save()

    answers = [post(FAST, upload=TINY_PNG) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert [answer["X-Quota-Used"] for answer in answers] == ["1", "2", "3", "3"]
    refused = answers[-1]
    assert refused.json() == {**QUOTA_BODY, "used": 3, "limit": 3}
    assert refused["X-Quota-Limit"] == "3"
    assert int(refused["Retry-After"]) > 0
    assert used(pro_account) == 3


def test_the_quota_refusal_says_when_the_month_ends(post, pro_account):
    pro_account.monthly_limit_override = 0
    pro_account.save()

    with time_machine.travel(datetime(2031, 4, 30, 23, 0, tzinfo=UTC), tick=False):
        refused = post(FAST, upload=TINY_PNG)

    assert refused.status_code == 429
    assert refused.json() == {**QUOTA_BODY, "used": 0, "limit": 0}
    assert refused["Retry-After"] == "3600"


def test_a_refused_request_is_checked_before_the_quota(post, pro_account):
    MonthlyUsageFactory(account=pro_account, used=10_000)

    assert_error(post({"format": "gif"}, upload=TINY_PNG), 400, "BAD_REQUEST", "format")
    assert_error(post({"url": "ftp://example.com/a.png"}), 400, "INVALID_URL", "url")
    assert post(FAST, upload=TINY_PNG).json() == {**QUOTA_BODY, "used": 10_000, "limit": 10_000}


def test_failed_optimizations_are_not_charged(post, pro_account, reachable_origin, monkeypatch):
    missing = reachable_origin.url("/missing.png")
    page = reachable_origin.serve("/page.html", b"<html></html>")

    assert_error(post({"url": missing}), 400, "FETCH_FAILED", "url")
    assert_error(post({"url": page}), 400, "UNSUPPORTED_IMAGE", "url")
    assert_error(post(FAST, upload=b"not an image"), 400, "UNSUPPORTED_IMAGE", "file")
    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "prepare", lambda *args, **kwargs: 1 / 0)
        crashed = post(FAST, upload=TINY_PNG)
    assert (crashed.status_code, crashed.json()) == (500, SERVER_ERROR_BODY)
    assert crashed["X-Quota-Used"] == "0"
    assert used(pro_account) == 0

    assert post(FAST, upload=TINY_PNG).status_code == 200
    assert used(pro_account) == 1


def test_the_last_image_of_the_month_can_be_retried_after_a_failure(post, pro_account, monkeypatch):
    pro_account.monthly_limit_override = 1
    pro_account.save()

    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "prepare", lambda *args, **kwargs: 1 / 0)
        assert post(FAST, upload=TINY_PNG).status_code == 500

    assert post(FAST, upload=TINY_PNG).status_code == 200
    assert post(FAST, upload=TINY_PNG).status_code == 429


def sent_while_in_flight(monkeypatch, post, *, then):
    """Make the next URL job's origin slow: while it holds its image, `post` a good upload (its
    answer is appended to the list returned); then the origin fails (`then` is None) or answers
    `then`, the image's bytes."""
    answers = []

    def slow_origin(url, *, policy):
        answers.append(post(FAST, upload=TINY_PNG))
        if then is None:
            raise fetch.FetchFailed("The server did not answer in time.")
        return then

    monkeypatch.setattr(fetch, "fetch", slow_origin)
    return answers


def test_an_image_refused_while_the_last_one_is_in_flight_is_told_to_retry_in_seconds(post, pro_account, monkeypatch):
    pro_account.monthly_limit_override = 1
    pro_account.save()
    during_a = sent_while_in_flight(monkeypatch, post, then=None)

    a = post(SLOW_URL)  # holds the month's one image until its origin fails
    b_again = post(FAST, upload=TINY_PNG)

    (b,) = during_a
    assert_error(a, 400, "FETCH_FAILED", "url")
    assert b.status_code == 429
    assert b.json() == {**IN_FLIGHT_BODY, "used": 1, "limit": 1}
    assert 1 <= int(b["Retry-After"]) <= 5
    assert (b["X-Quota-Used"], b["X-Quota-Limit"]) == ("1", "1")
    assert b_again.status_code == 200
    assert b_again["X-Quota-Used"] == "1"
    assert used(pro_account) == 1


def test_once_the_image_in_flight_succeeds_the_retry_learns_the_month_is_over(post, pro_account, monkeypatch):
    pro_account.monthly_limit_override = 1
    pro_account.save()
    during_a = sent_while_in_flight(monkeypatch, post, then=TINY_PNG)

    a = post(SLOW_URL)
    b_again = post(FAST, upload=TINY_PNG)

    (b,) = during_a
    assert a.status_code == 200
    assert b.json() == {**IN_FLIGHT_BODY, "used": 1, "limit": 1}
    assert b_again.json() == {**QUOTA_BODY, "used": 1, "limit": 1}
    assert int(b_again["Retry-After"]) > 3600
    assert used(pro_account) == 1


def test_the_count_starts_again_at_midnight_utc_on_the_first(post, pro_account):
    pro_account.monthly_limit_override = 1
    pro_account.save()

    with time_machine.travel(datetime(2031, 1, 31, 23, 59, 59, tzinfo=UTC), tick=False):
        january = [post(FAST, upload=TINY_PNG) for _ in range(2)]
    with time_machine.travel(datetime(2031, 2, 1, 0, 0, 0, tzinfo=UTC), tick=False):
        february = post(FAST, upload=TINY_PNG)

    assert [answer.status_code for answer in january] == [200, 429]
    assert january[1]["Retry-After"] == "1"
    assert february.status_code == 200
    assert february["X-Quota-Used"] == "1"
    counts = dict(MonthlyUsage.objects.filter(account=pro_account).values_list("month", "used"))
    assert counts == {date(2031, 1, 1): 1, date(2031, 2, 1): 1}


@pytest.mark.parametrize(
    ("plan", "override", "limit_header"),
    [("pro", None, "10000"), ("pro", 20_000, "20000"), ("agency", None, "unlimited"), ("agency", 2, "2")],
)
def test_the_accounts_monthly_override_takes_precedence_over_the_plan(post, plan, override, limit_header):
    account = AccountFactory(**{plan: True}, monthly_limit_override=override)
    MonthlyUsageFactory(account=account, used=2)

    answer = post(FAST, upload=TINY_PNG, key=full_key_for(account))

    assert answer["X-Quota-Limit"] == limit_header
    if override == 2:
        assert answer.json() == {**QUOTA_BODY, "used": 2, "limit": 2}
    else:
        assert (answer.status_code, answer["X-Quota-Used"]) == (200, "3")


def test_a_staff_reset_gives_the_month_back(post, pro_account):
    pro_account.monthly_limit_override = 1
    pro_account.save()
    post(FAST, upload=TINY_PNG)

    usage_reset(account=pro_account)

    assert post(FAST, upload=TINY_PNG).status_code == 200


# --- headers and records ------------------------------------------------------------------


def test_an_image_answer_carries_the_usage_headers_too(post):
    answer = post(FAST, upload=TINY_PNG, accept="image/webp")

    assert answer["Content-Type"] == "image/webp"
    assert (answer["X-RateLimit-Limit"], answer["X-RateLimit-Remaining"]) == ("60", "59")
    assert (answer["X-Quota-Used"], answer["X-Quota-Limit"]) == ("1", "10000")


def test_every_request_is_recorded_with_its_image_sizes(post, pro_account):
    success = post(FAST, upload=TINY_PNG).json()
    post(FAST, upload=b"not an image")

    good, bad = RequestRecord.objects.order_by("pk")
    assert (good.endpoint, good.status, good.output_format) == ("POST /api/v1/optimize", 200, "webp")
    assert (good.bytes_in, good.bytes_out) == (success["originalSize"], success["optimizedSize"])
    assert (bad.status, bad.bytes_in, bad.bytes_out, bad.output_format) == (400, 0, 0, "")
    assert {good.account, bad.account} == {pro_account}


def test_the_hot_path_makes_a_fixed_number_of_queries(post, django_assert_num_queries):
    # The key with its account, plan and owner; the reservation (whose count the headers give) and
    # its image in flight, in one transaction (here a savepoint and its release); keeping it once
    # the image is made (its image in flight deleted, the count read for the quota e-mails); the
    # request record. The key's time of last use is written too, once a minute.
    with django_assert_num_queries(9):
        first = post(FAST, upload=TINY_PNG)
    with django_assert_num_queries(8):
        second = post(FAST, upload=TINY_PNG)

    assert (first.status_code, second.status_code) == (200, 200)
    assert (first["X-Quota-Used"], second["X-Quota-Used"]) == ("1", "2")


# --- Redis unreachable --------------------------------------------------------------------


def test_with_redis_unreachable_the_quota_still_holds_and_nothing_is_charged(post, pro_account, unreachable_redis):
    pro_account.rate_limit_override = 0  # would refuse everything, if it could be counted
    pro_account.monthly_limit_override = 1
    pro_account.save()

    # The image cannot travel to a worker without Redis: a 503 to retry later, not charged.
    failed = post(FAST, upload=TINY_PNG)
    MonthlyUsage.objects.filter(account=pro_account).update(used=1)  # the month's one image, used elsewhere
    refused = post(FAST, upload=TINY_PNG)

    assert (failed.status_code, failed.json()["code"], failed["Retry-After"]) == (503, "SERVICE_UNAVAILABLE", "30")
    assert failed["X-Quota-Used"] == "0"
    assert refused.json() == {**QUOTA_BODY, "used": 1, "limit": 1}
    assert "X-RateLimit-Remaining" not in refused


def test_with_redis_unreachable_each_request_logs_a_line_and_the_traceback_once_a_minute(
    post, unreachable_redis, caplog, monkeypatch
):
    monkeypatch.setattr(outages, "_tracebacks", {})

    answers = [post(FAST, upload=TINY_PNG).status_code for _ in range(3)]

    lines = [record for record in caplog.records if "the queue or the cache is unreachable" in record.getMessage()]
    assert answers == [503] * 3
    assert len(lines) == 3
    # Of all the lines (the rate limit and the key's last use log theirs first), one traceback for
    # each kind of error.
    kinds = [record.exc_info[0] for record in caplog.records if record.exc_info]
    assert kinds and len(kinds) == len(set(kinds)), [
        record.getMessage() for record in caplog.records if record.exc_info
    ]
