"""PostgreSQL stopped, and lost in the middle of a request (issue 14, item 5): the API answers JSON
503 SERVICE_UNAVAILABLE with Retry-After, pages a styled 503, /healthz says the database is down,
and nothing is charged for a request that failed. Started again, everything works again without
restarting the stack."""

import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.holds import HeldImage
from tests.system import pictures
from tests.system.http import Client, NoAnswer, assert_unavailable, request
from tests.system.stack import MARKS, PASSWORD, ServeStack

pytestmark = MARKS

ANSWER_SECONDS = 10
HEALTH_SECONDS = 5
RECOVERY_SECONDS = 60
# What a request may get when the database goes mid-way: the result, or a JSON error of the contract.
JSON_ANSWERS = {(200, None), (500, "SERVER_ERROR"), (503, "SERVICE_UNAVAILABLE")}


def test_while_postgresql_is_stopped_the_api_pages_and_health_check_say_so(serve, postgres):
    email, api = serve.customer()
    browser = serve.browser()
    browser.sign_in(email, PASSWORD)
    web = serve.web()

    postgres.stop()
    optimize = api.optimize(pictures.small(), timeout=ANSWER_SECONDS)
    pages = [
        browser.get("/dashboard/", timeout=ANSWER_SECONDS),
        serve.browser().get("/pricing/", timeout=ANSWER_SECONDS),
    ]
    health = request(serve.port, "GET", "/healthz", timeout=HEALTH_SECONDS)

    assert_unavailable(optimize, within=ANSWER_SECONDS)
    for page in pages:
        assert page.status == 503, str(page)
        assert page.content_type.startswith("text/html")
        assert b"Traceback" not in page.body
        _assert_styled(serve, page.body)
    assert health.status == 503
    assert health.json()["database"] == "down"

    postgres.start()
    serve.wait_until(serve.healthy, "/healthz answering 200 again", RECOVERY_SECONDS)
    assert api.optimize(pictures.small()).status == 200
    assert browser.get("/dashboard/").status == 200
    assert serve.web().pid == web.pid  # recovered by itself, not restarted


@pytest.mark.parametrize("worker_killed", [False, True], ids=["database-lost", "database-and-worker-process-lost"])
def test_postgresql_lost_mid_request_gives_json_and_charges_only_a_success(
    serve, postgres, origin, worker_killed, tmp_path
):
    _, api = serve.customer()
    used_before = api.used()
    held = HeldImage(origin, pictures.small(), folder=tmp_path)

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(api.optimize_url, held.url)
        held.running()  # the job is in the worker
        postgres.stop()
        if worker_killed:
            for child in serve.pool():
                os.kill(child.pid, signal.SIGKILL)
        held.release()
        answer = pending.result()
    postgres.start()

    assert answer.content_type.startswith("application/json"), str(answer)
    assert (answer.status, answer.code) in JSON_ANSWERS, str(answer)
    charged = 1 if answer.status == 200 else 0
    assert _used_once_settled(api, expected=used_before + charged) == used_before + charged, str(answer)


def _used_once_settled(api: Client, *, expected: int) -> int | None:
    """This month's count once it is `expected`, or as it is after RECOVERY_SECONDS (None while the
    stack cannot tell)."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    while (used := _used(api)) != expected and time.monotonic() < deadline:
        time.sleep(1)
    return used


def _used(api: Client) -> int | None:
    try:
        return api.used()
    except (AssertionError, NoAnswer):
        return None


def _assert_styled(stack: ServeStack, page: bytes) -> None:
    """The site's own page: its stylesheet linked, and served."""
    stylesheet = re.search(rb'<link rel="stylesheet" href="([^"]+)"', page)
    assert stylesheet, f"no stylesheet: {page[:600]!r}"
    assert request(stack.port, "GET", stylesheet.group(1).decode(), timeout=ANSWER_SECONDS).status == 200
