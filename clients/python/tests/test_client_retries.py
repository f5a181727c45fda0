"""Retries and pacing against a small scripted server on loopback: what is sent again, after how
long, and when the client gives up; a rate limit kept without a single 429; successes that are
not the API's (another server's page), which are errors, not crashes; and file names that are not
UTF-8, which are sent all the same; files too large for the API, which are not."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from email.utils import formatdate
from pathlib import Path

import pytest
from fake_api import DROP, IMAGE, SILENT, Answer, FakeApi, held_in_flight, rate_limited, unavailable

from smolpix_client import (
    AsyncClient,
    Client,
    ConnectionFailed,
    ImageTooLarge,
    InvalidRequest,
    NotSent,
    QuotaExceeded,
    QuotaHeldInFlight,
    RateLimited,
    Retries,
    ServerError,
    ServiceUnavailable,
    SmolpixError,
)
from smolpix_client.protocol import MAX_UPLOAD_BYTES
from usage.services import _in_flight_seconds


def client_of(api: FakeApi, **options) -> Client:
    return Client(api_key="pk_live_test", base_url=api.base_url, **options)


def gaps(api: FakeApi) -> list[float]:
    times = [moment for moment, _ in api.log]
    return [later - earlier for earlier, later in zip(times, times[1:])]


def test_a_rate_limit_429_is_retried_after_retry_after(fake):
    api = fake([rate_limited(retry_after=1)])

    with client_of(api) as client:
        result = client.optimize(file=b"image")

    assert api.statuses() == [429, 200]
    assert gaps(api)[0] >= 1.0
    assert (result.format, result.data, result.quality.score) == ("webp", IMAGE, 80.5)


def test_a_503_is_retried_after_retry_after(fake):
    api = fake([unavailable(retry_after=1)])

    with client_of(api) as client:
        client.optimize(url="https://example.com/photo.jpg")

    assert api.statuses() == [503, 200]
    assert gaps(api)[0] >= 1.0


def test_a_429_without_retry_after_is_retried_with_backoff(fake):
    api = fake([rate_limited(retry_after=None), rate_limited(retry_after=None)])

    with client_of(api, retries=Retries(backoff=0.2)) as client:
        client.optimize(file=b"image")

    assert api.statuses() == [429, 429, 200]
    first, second = gaps(api)
    assert first >= 0.1 and second >= 0.2  # half to all of 0.2 s, then of 0.4 s
    assert first + second < 3  # not the Retry-After of a rate limit (a minute at most), nor stuck


def test_header_numbers_that_int_refuses_count_as_absent(fake):
    """ "²" (a Latin-1 byte a proxy may send) passes str.isdigit() but not int(): a Retry-After of it
    is retried with backoff, and rate-limit headers of it give the pacer nothing to go by. Both
    raised ValueError."""
    superscript_two = {"X-RateLimit-Limit": "²", "X-RateLimit-Remaining": "²", "X-RateLimit-Reset": "²"}
    api = fake([Answer(503, unavailable().body, {"Retry-After": "²"}), Answer(200, None, superscript_two)])

    with client_of(api, retries=Retries(backoff=0.2)) as client:
        first = client.optimize(file=b"image")
        second = client.optimize(file=b"image")

    assert api.statuses() == [503, 200, 200]
    assert gaps(api)[0] < 1  # backoff, not a second's Retry-After
    assert first.data == second.data == IMAGE


def test_retries_are_bounded(fake):
    api = fake([unavailable(retry_after=0)] * 10)

    with client_of(api, retries=Retries(max_retries=3)) as client, pytest.raises(ServiceUnavailable) as error:
        client.optimize(file=b"image")

    assert api.statuses() == [503] * 4
    assert (error.value.status, error.value.code, error.value.retry_after) == (503, "SERVICE_UNAVAILABLE", 0)


def test_a_retry_after_longer_than_max_wait_is_not_waited_for(fake):
    api = fake([rate_limited(retry_after=120)])

    started = time.monotonic()
    with client_of(api) as client, pytest.raises(RateLimited) as error:
        client.optimize(file=b"image")

    assert time.monotonic() - started < 10  # not the two minutes asked for
    assert api.statuses() == [429]
    assert (error.value.retry_after, error.value.used, error.value.limit) == (120, 61, 60)


def test_the_monthly_quota_is_never_retried(fake):
    body = {"error": "Monthly image limit reached", "code": "LIMIT_REACHED", "used": 10, "limit": 10}
    api = fake([Answer(429, body, {"Retry-After": "1"})])

    with client_of(api) as client, pytest.raises(QuotaExceeded) as error:
        client.optimize(file=b"image")

    assert api.statuses() == [429]
    assert (error.value.used, error.value.limit) == (10, 10)


# --- Retry-After as an HTTP-date (RFC 9110), as a proxy or a load balancer in front of the API may send


def http_date_in(seconds: float) -> str:
    """The HTTP-date `seconds` from now, in whole seconds (cut, not rounded)."""
    return formatdate(time.time() + seconds, usegmt=True)


@pytest.mark.parametrize("refusal", [rate_limited, unavailable], ids=["429", "503"])
def test_a_retry_after_date_is_waited_for_until_then(fake, refusal):
    """It was taken for no Retry-After: asked again after the backoff's quarter second."""
    refused = refusal()
    api = fake([Answer(refused.status, refused.body, {"Retry-After": http_date_in(2)})])

    with client_of(api) as client:
        client.optimize(file=b"image")

    assert api.statuses() == [refused.status, 200]
    assert 1.0 <= gaps(api)[0] < 5  # 2 s from now in whole seconds, counted from the answer's Date (whole too)


def test_a_retry_after_date_further_than_max_wait_is_not_waited_for(fake):
    """It was taken for no Retry-After: asked again with backoff, as if it said a second."""
    api = fake([Answer(429, rate_limited().body, {"Retry-After": http_date_in(3600)})])

    started = time.monotonic()
    with client_of(api) as client, pytest.raises(RateLimited) as error:
        client.optimize(file=b"image")

    assert time.monotonic() - started < 10
    assert api.statuses() == [429]
    assert 3590 <= error.value.retry_after <= 3600


def test_a_retry_after_date_past_is_a_retry_after_of_0(fake):
    """Sent again at once, as after Retry-After: 0, not after the backoff (here 1-2 s, then 2-4 s)."""
    api = fake([Answer(503, unavailable().body, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})] * 10)

    client = client_of(api, retries=Retries(max_retries=2, backoff=2))
    with client, pytest.raises(ServiceUnavailable) as error:
        client.optimize(file=b"image")

    assert api.statuses() == [503] * 3
    assert max(gaps(api)) < 0.5
    assert error.value.retry_after == 0


@pytest.fixture
def local_time_5_hours_behind_utc(monkeypatch):
    """This process's local time UTC-5, whatever the machine's: a date that names no zone is UTC."""
    if not hasattr(time, "tzset"):
        pytest.skip("the local time zone is set with time.tzset, which only Unix has")
    monkeypatch.setenv("TZ", "XXX+05")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    "retry_at",
    ["Wed, 21 Oct 2015 07:28:01 GMT", "Wednesday, 21-Oct-15 07:28:01 GMT", "Wed Oct 21 07:28:01 2015"],
    ids=["IMF-fixdate", "RFC 850", "asctime"],
)
def test_a_retry_after_date_counts_from_the_answers_date(fake, retry_at, local_time_5_hours_behind_utc):
    """A second after the server's Date, whatever this machine's clock says (here: years later), in
    each of the three forms RFC 9110 has recipients read; asctime's names no zone: UTC, not local."""
    headers = {"Date": "Wed, 21 Oct 2015 07:28:00 GMT", "Retry-After": retry_at}
    api = fake([Answer(429, rate_limited().body, headers)])

    with client_of(api) as client:
        client.optimize(file=b"image")

    assert api.statuses() == [429, 200]
    assert 1.0 <= gaps(api)[0] < 3


@pytest.mark.parametrize(
    "value",
    [
        "soon",
        "1.5",
        "-5",
        "Wed, 32 Oct 2026 07:28:00 GMT",
        "Wed, 21 Oct 99999 07:28:00 GMT",
        "Wed, 21 Oct 2026 07:28:00 +9999",
    ],
)
def test_a_retry_after_neither_seconds_nor_a_date_counts_as_absent(fake, value):
    """Retried with backoff, and no retry_after on the error: never an exception of the parsing."""
    api = fake([Answer(503, unavailable().body, {"Retry-After": value})] * 2)

    client = client_of(api, retries=Retries(max_retries=1, backoff=0.2))
    with client, pytest.raises(ServiceUnavailable) as error:
        client.optimize(file=b"image")

    assert api.statuses() == [503, 503]
    assert 0.1 <= gaps(api)[0] < 1
    assert error.value.retry_after is None


# --- The month's last images held by requests in flight ---------------------------------------------


def test_images_held_in_flight_are_waited_for_as_long_as_they_are_held(fake):
    """More refusals than a rate limit's retries: the images come back when the requests holding
    them end (given back if they fail), so the client keeps asking after each Retry-After."""
    api = fake([held_in_flight(retry_after=1)] * 5)

    with client_of(api) as client:
        result = client.optimize(file=b"image")

    assert api.statuses() == [429] * 5 + [200]
    assert min(gaps(api)) >= 1.0
    assert result.data == IMAGE


def test_waiting_for_images_held_in_flight_is_bounded(fake):
    api = fake([held_in_flight(retry_after=1)] * 20)

    started = time.monotonic()
    client = client_of(api, retries=Retries(max_in_flight_wait=2.5))
    with client, pytest.raises(QuotaHeldInFlight) as error:
        client.optimize(file=b"image")

    # Asked at 0, 1 and 2 s; a fourth time, at 3 s, would be past the 2.5 s allowed.
    assert api.statuses() == [429] * 3
    assert time.monotonic() - started < 3  # no fourth wait
    assert isinstance(error.value, RateLimited)  # as code written before the two were told apart expects
    assert (error.value.status, error.value.code, error.value.retry_after) == (429, "LIMIT_REACHED", 1)
    assert (error.value.used, error.value.limit) == (10, 10)


def test_images_held_in_flight_are_waited_for_longer_than_a_request_holds_them():
    """By default, for at least the longest a request holds an image on a server with the default
    settings (a worker's wait, its time limit and the grace after it)."""
    assert Retries().max_in_flight_wait >= _in_flight_seconds()


def test_images_held_in_flight_without_retry_after_are_asked_for_again_with_backoff(fake):
    api = fake([held_in_flight(retry_after=None)] * 2)

    with client_of(api, retries=Retries(backoff=0.2)) as client:
        client.optimize(file=b"image")

    assert api.statuses() == [429, 429, 200]
    first, second = gaps(api)
    assert first >= 0.1 and second >= 0.2
    assert first + second < 3


@pytest.mark.parametrize(
    "retries", [Retries(max_retries=0), Retries(max_wait=0.5)], ids=["no retries", "Retry-After over max_wait"]
)
def test_images_held_in_flight_are_not_waited_for_where_the_retries_say_not_to(fake, retries):
    """A caller that retries 429s itself (max_retries=0), or waits no longer than max_wait, gets the
    refusal at once, as it did before the client waited for images in flight."""
    api = fake([held_in_flight(retry_after=1)] * 3)

    with client_of(api, retries=retries) as client, pytest.raises(QuotaHeldInFlight):
        client.optimize(file=b"image")

    assert api.statuses() == [429]


def test_images_held_in_flight_with_a_retry_after_of_0_are_asked_for_again_with_backoff(fake):
    """A Retry-After of 0 (a proxy's) would have the client ask again at once, thousands of times."""
    api = fake([held_in_flight(retry_after=0)] * 20)

    client = client_of(api, retries=Retries(backoff=0.2, max_in_flight_wait=2))
    with client, pytest.raises(QuotaHeldInFlight):
        client.optimize(file=b"image")

    assert 3 <= len(api.statuses()) <= 6  # backoffs of 0.1-0.2, 0.2-0.4, 0.4-0.8, 0.8-1.6 s within 2 s
    assert min(gaps(api)) >= 0.1


def test_a_rate_limit_after_images_held_in_flight_keeps_its_own_retries(fake):
    api = fake([held_in_flight(retry_after=0)] * 4 + [rate_limited(retry_after=0)] * 10)

    client = client_of(api, retries=Retries(max_retries=3, backoff=0.05))
    with client, pytest.raises(RateLimited) as error:
        client.optimize(file=b"image")

    assert api.statuses() == [429] * (4 + 4)
    assert type(error.value) is RateLimited and error.value.message == "Rate limit exceeded"


def test_waiting_for_images_held_in_flight_stops_when_the_async_client_is_told_to(fake):
    """As a wait for the rate limit does (Ctrl-C in the command): nothing more is sent."""
    api = fake([held_in_flight(retry_after=5)] * 5)

    async def main():
        async with AsyncClient(api_key="pk_live_test", base_url=api.base_url) as client:
            call = asyncio.ensure_future(client.optimize(file=b"image"))
            while not api.log:
                await asyncio.sleep(0.05)
            client.stop_waiting()
            return await call

    started = time.monotonic()
    with pytest.raises(NotSent):
        asyncio.run(main())

    assert time.monotonic() - started < 4  # not the 5 s asked for
    assert api.statuses() == [429]


@pytest.mark.parametrize(
    ("answer", "exception"),
    [
        (Answer(400, {"error": "quality: Must be 1-100.", "code": "BAD_REQUEST", "field": "quality"}), InvalidRequest),
        (Answer(500, {"error": "Internal server error during optimization", "code": "SERVER_ERROR"}), ServerError),
    ],
)
def test_other_errors_are_never_retried(fake, answer, exception):
    api = fake([answer])

    with client_of(api) as client, pytest.raises(exception) as error:
        client.optimize(file=b"image")

    assert api.statuses() == [answer.status]
    assert error.value.body == answer.body


def test_a_dropped_connection_is_retried(fake):
    api = fake([DROP])

    with client_of(api, retries=Retries(backoff=0.05)) as client:
        client.optimize(file=b"image")

    assert api.statuses() == [0, 200]


def test_connection_failures_are_bounded(fake):
    api = fake([DROP] * 10)

    client = client_of(api, retries=Retries(backoff=0.05, max_connection_retries=2))
    with client, pytest.raises(ConnectionFailed) as error:
        client.optimize(file=b"image")

    assert api.statuses() == [0, 0, 0]
    assert error.value.status is None and "127.0.0.1" in str(error.value)


def test_an_optimization_the_server_does_not_answer_in_time_is_not_sent_again(fake):
    """The server has it: sent again, it could be done, and charged, twice. It was sent three
    times, and reported as "Could not reach" the server it had reached."""
    api = fake([SILENT])

    with client_of(api, timeout=0.5) as client, pytest.raises(ConnectionFailed) as error:
        client.optimize(file=b"image")

    assert api.statuses() == [0]
    assert str(error.value) == "No answer from 127.0.0.1 within 0.5 s"


def test_an_answer_httpx_cannot_read_is_a_smolpix_error_and_the_client_goes_on(fake):
    """A body that does not decode as its Content-Encoding says: httpx's DecodingError went through,
    and every later call of the client waited forever for the pacer."""
    api = fake([Answer(200, None, {"Content-Encoding": "gzip"})])

    with client_of(api) as client:
        with pytest.raises(SmolpixError) as error:
            client.optimize(file=b"image")
        assert answered_at_once(client)

    assert str(error.value).startswith("Could not read the answer from 127.0.0.1: DecodingError")

    assert api.statuses() == [200, 200]  # not sent again


def test_a_call_interrupted_while_it_waits_for_its_answer_does_not_hold_the_next(fake, monkeypatch):
    """Ctrl-C caught by the caller: its request stayed in flight for the pacer, for good."""
    api = fake()

    with client_of(api) as client:
        send = client._http.send

        def interrupted(request, **options):
            send(request, **options)
            raise KeyboardInterrupt

        monkeypatch.setattr(client._http, "send", interrupted)
        with pytest.raises(KeyboardInterrupt) as kept:  # noqa: F841 (kept, with its frames, as a caller may)
            client.optimize(file=b"image")
        monkeypatch.undo()
        assert answered_at_once(client)


def answered_at_once(client: Client) -> bool:
    """Whether another call of `client` is answered, rather than left waiting (in a thread of its own,
    given up after 10 s)."""
    answers = []
    call = threading.Thread(target=lambda: answers.append(client.optimize(file=b"image")), daemon=True)
    call.start()
    call.join(timeout=10)
    return [answer.data for answer in answers] == [IMAGE]


def test_the_async_client_retries_alike(fake):
    api = fake([unavailable(retry_after=1), rate_limited(retry_after=1)])

    async def main():
        async with AsyncClient(api_key="pk_live_test", base_url=api.base_url) as client:
            return await client.optimize(file=b"image")

    result = asyncio.run(main())

    assert api.statuses() == [503, 429, 200]
    assert min(gaps(api)) >= 1.0
    assert result.data == IMAGE


# --- Pacing ---------------------------------------------------------------------------------------


def test_without_pacing_a_burst_runs_into_the_rate_limit(fake):
    api = fake(limit_per_second=2)

    client = client_of(api, pace=False, retries=Retries(max_retries=0))
    with client, pytest.raises(RateLimited):
        for _ in range(6):  # at most two windows: one of them gets three or more
            client.optimize(file=b"image")


def test_pacing_keeps_a_client_within_the_rate_limit(fake):
    api = fake(limit_per_second=2)

    with client_of(api) as client:
        for _ in range(5):
            client.optimize(file=b"image")

    assert api.statuses() == [200] * 5


def test_pacing_keeps_concurrent_requests_within_the_rate_limit(fake):
    api = fake(limit_per_second=2)

    async def main():
        async with AsyncClient(api_key="pk_live_test", base_url=api.base_url) as client:
            await asyncio.gather(*(client.optimize(file=b"image") for _ in range(6)))

    asyncio.run(main())

    assert api.statuses() == [200] * 6


# --- Successes that are not the API's -----------------------------------------------------

USAGE = {"plan": "pro", "monthlyLimit": 10, "used": 1, "remaining": 9, "month": "2026-12", "rateLimitPerMinute": 60}


@pytest.mark.parametrize(
    ("call", "answer"),
    [
        ("usage", Answer(200, b"<html><body>Welcome to nginx!</body></html>")),
        ("usage", Answer(200, {"hello": "world"})),
        ("usage", Answer(200, ["not", "an", "object"])),
        ("usage", Answer(200, {**USAGE, "resetsAt": 5})),
        ("optimize", Answer(200, None, {"X-Smolpix-Width": "ten"})),
        ("optimize", Answer(200, None, {"X-Smolpix-Format": "png"})),
        ("optimize", Answer(200, None, {"X-Smolpix-Format": "webp/../../escaped"})),
        ("optimize", Answer(200, None, {"X-Smolpix-Format": "avif"})),
    ],
    ids=[
        "a page",
        "another object",
        "a list",
        "a number for a date",
        "a garbled figure",
        "a format the API does not return",
        "a path for a format",
        "a format that is not the image's",
    ],
)
def test_a_success_that_is_not_the_api_s_is_a_smolpix_error_not_a_crash(fake, call, answer):
    """A wrong base URL, or a proxy's page answered 200: a KeyError or a JSONDecodeError before."""
    api = fake([answer])

    with client_of(api) as client, pytest.raises(SmolpixError, match="is not the Smolpix API's") as raised:
        client.usage() if call == "usage" else client.optimize(url="https://images.example/cat.png")

    assert raised.value.status == 200


# --- File names -----------------------------------------------------------------------------------


def test_a_file_whose_name_is_not_utf8_is_sent_with_a_name_that_is(fake, tmp_path):
    """Its undecodable bytes, kept as surrogates by os.fsdecode, made httpx raise UnicodeEncodeError."""
    api = fake()
    source = tmp_path / os.fsdecode(b"bad\xff\xfename.jpg")
    source.write_bytes(b"image")

    with client_of(api) as client:
        result = client.optimize(file=str(source))

    assert result.data == IMAGE
    assert b'filename="bad??name.jpg"' in api.bodies[0]


# --- Sizes ------------------------------------------------------------------------------------------


def test_a_file_larger_than_the_api_takes_is_refused_unread_and_unsent(fake, tmp_path, monkeypatch):
    api = fake()
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as file:
        file.write(b"\xff\xd8\xff\xe0")  # a JPEG's first bytes, then a hole: no disk space taken
        file.truncate(MAX_UPLOAD_BYTES + 1)
    read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda path: pytest.fail("read") if path == huge else read(path))

    async def from_the_async_client():
        async with AsyncClient(api_key="pk_live_test", base_url=api.base_url) as client:
            return await client.optimize(file=huge)

    refusals = []
    with client_of(api) as client:
        for file in (str(huge), huge, b"\xff" * (MAX_UPLOAD_BYTES + 1)):
            with pytest.raises(ImageTooLarge) as raised:
                client.optimize(file=file)
            refusals.append(raised.value)
    with pytest.raises(ImageTooLarge) as raised:
        asyncio.run(from_the_async_client())
    refusals.append(raised.value)

    assert [(error.status, error.code, error.field) for error in refusals] == [(None, "IMAGE_TOO_LARGE", "file")] * 4
    assert "larger than the 33,554,432 bytes the API takes (not sent)" in str(refusals[0])
    assert api.bodies == []
    with client_of(api) as client:  # the largest it takes is sent
        client.optimize(file=b"\xff" * MAX_UPLOAD_BYTES)
    assert len(api.bodies[0]) > MAX_UPLOAD_BYTES
