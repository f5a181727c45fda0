"""Redis stopped, and hung (issue 14, item 6): the API answers JSON 503 with Retry-After quickly,
what does not need Redis keeps working (usage, the keys page, signing up), /healthz answers in
time, a welcome e-mail due meanwhile is sent once Redis is back, and everything recovers without
restarting the stack."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.holds import HeldImage
from tests.system import pictures
from tests.system.http import assert_unavailable, request
from tests.system.stack import MARKS, PASSWORD, ServeStack

pytestmark = MARKS

ANSWER_SECONDS = 10
# A request already waiting for its job's result when Redis stops: Celery's result store retries
# its connection (a second apart) and the answer comes once it gives up: within a few seconds.
WAITING_ANSWER_SECONDS = 8
HEALTH_SECONDS = 5
RECOVERY_SECONDS = 60


def test_while_redis_is_stopped_the_api_refuses_optimizations_and_the_rest_works(serve, redis):
    email, api = serve.customer()
    browser = serve.browser()
    browser.sign_in(email, PASSWORD)

    redis.stop()
    optimize = api.optimize(pictures.small(), timeout=ANSWER_SECONDS)
    usage = api.get("/api/v1/usage", timeout=ANSWER_SECONDS)
    keys = browser.get("/dashboard/keys/", timeout=ANSWER_SECONDS)

    assert_unavailable(optimize, within=ANSWER_SECONDS)
    assert usage.status == 200, str(usage)
    assert keys.status == 200, str(keys)

    redis.start()
    serve.wait_until(serve.healthy, "/healthz answering 200 again", RECOVERY_SECONDS)
    assert api.optimize(pictures.small()).status == 200


def test_a_request_waiting_for_its_result_when_redis_stops_is_answered_503_in_seconds(serve, redis, origin, tmp_path):
    """Celery's default was 20 reconnections a second apart: 20 s for every waiting request, with
    their web threads, and /healthz behind them."""
    _, api = serve.customer()
    held = HeldImage(origin, pictures.small(), folder=tmp_path, hold_seconds=2 * WAITING_ANSWER_SECONDS)

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(api.optimize_url, held.url, timeout=2 * WAITING_ANSWER_SECONDS)
        held.running()  # the job is running; the web process waits for its result
        stopped_at = time.monotonic()
        redis.stop()
        try:
            answer = pending.result()
        finally:
            held.release()
    answered_after = time.monotonic() - stopped_at

    assert_unavailable(answer)
    assert answered_after <= WAITING_ANSWER_SECONDS, f"answered {answered_after:.1f} s after Redis stopped"
    redis.start()
    serve.wait_until(serve.healthy, "/healthz answering 200 again", RECOVERY_SECONDS)
    assert api.optimize(pictures.small()).status == 200


def test_a_sign_up_while_redis_is_stopped_gets_its_welcome_email_once_redis_is_back(serve, redis):
    email = f"newcomer-{uuid.uuid4().hex[:10]}@example.com"
    browser = serve.browser()

    redis.stop()
    signed_up = browser.submit(
        "/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD}, timeout=ANSWER_SECONDS
    )
    check_your_email = browser.get("/accounts/signup/done/", timeout=ANSWER_SECONDS)

    assert (signed_up.status, signed_up.headers["Location"]) == (302, "/accounts/signup/done/"), str(signed_up)
    assert check_your_email.status == 200, str(check_your_email)
    redis.start()
    serve.wait_until(serve.healthy, "/healthz answering 200 again", RECOVERY_SECONDS)
    catch_up = serve.celery("call", "accounts.catch_up_welcome_emails")
    assert catch_up.returncode == 0, catch_up.stderr
    serve.wait_until(lambda: _welcomes(serve, email), f"the welcome e-mail to {email} arriving", RECOVERY_SECONDS)
    assert len(_welcomes(serve, email)) == 1


def _welcomes(stack: ServeStack, email: str) -> list[str]:
    return [mail for mail in stack.mails() if f"To: {email}" in mail and "Welcome to Smolpix" in mail]


def test_while_redis_hangs_health_check_and_api_answer_in_time_and_recover(serve, redis):
    _, api = serve.customer()

    redis.pause()
    health = request(serve.port, "GET", "/healthz", timeout=HEALTH_SECONDS)
    optimize = api.optimize(pictures.small(), timeout=ANSWER_SECONDS)

    assert health.status == 503, str(health)
    assert "down" in (health.json()["cache"], health.json()["broker"]), str(health)
    assert_unavailable(optimize, within=ANSWER_SECONDS)

    redis.resume()
    serve.wait_until(serve.healthy, "/healthz answering 200 again", RECOVERY_SECONDS)
    assert api.optimize(pictures.small()).status == 200
