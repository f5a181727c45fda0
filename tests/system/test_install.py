"""`make serve` from a fresh copy, with only the runtime requirements installed, starts the whole
production stack and optimizes images end to end (issue 14, item 2); it refuses to start in
debug, whether DEBUG is forgotten or on (item 10)."""

import time

import pytest

from tests.system import pictures
from tests.system.http import NoAnswer, request
from tests.system.stack import MARKS, ServeStack

pytestmark = MARKS

REFUSAL_SECONDS = 60


def test_make_serve_from_a_fresh_copy_starts_web_worker_and_beat_and_optimizes(serve_stack, origin):
    serve_stack.ensure_up()

    health = serve_stack.health()
    assert health.json() == {"status": "ok", "database": "ok", "cache": "ok", "broker": "ok", "worker": "ok"}
    started = [serve_stack.web(), serve_stack.worker(), serve_stack.beat(), *serve_stack.pool()]
    assert len(started) >= 4, f"the worker has no pool process: {started}"
    _, api = serve_stack.customer()
    uploaded = api.optimize(pictures.small())
    assert uploaded.status == 200, str(uploaded)
    assert uploaded.json()["width"] == 256
    fetched = api.optimize_url(origin.serve("/photo.png", pictures.small()))
    assert fetched.status == 200, str(fetched)


def test_the_installed_environment_has_the_runtime_requirements_only(serve_stack):
    serve_stack.ensure_up()

    found = serve_stack.command("python", "-c", "import pytest")

    assert found.returncode != 0
    assert "No module named 'pytest'" in found.stderr


@pytest.mark.parametrize("debug", [None, "true"], ids=["DEBUG-unset", "DEBUG-true"])
def test_make_serve_refuses_to_start_in_debug(installed, postgres, redis, origin, tmp_path, debug):
    stack = ServeStack(installed, tmp_path, postgres=postgres, redis=redis, origin_port=origin.port, DEBUG=debug)
    stack.start()
    try:
        answered = _answers_until_exit(stack, REFUSAL_SECONDS)
    finally:
        running = stack.running()
        stack.stop()

    assert not answered, f"it served HTTP in debug: {answered}"
    assert not running, f"still running after {REFUSAL_SECONDS} s:\n{stack.output()[-3000:]}"
    assert stack.process.returncode != 0
    assert "DEBUG" in stack.output(), stack.output()[-3000:]


def _answers_until_exit(stack: ServeStack, seconds: float) -> str | None:
    """Waits for the stack to exit, for at most `seconds`; returns its first HTTP answer, if any."""
    deadline = time.monotonic() + seconds
    while stack.running() and time.monotonic() < deadline:
        try:
            return str(request(stack.port, "GET", "/healthz", timeout=5))
        except NoAnswer:
            time.sleep(0.5)
    return None
