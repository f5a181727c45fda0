"""Production cannot start in debug by accident: gunicorn (the production web server), the Celery
worker and beat, and `make serve` refuse DEBUG; Django's debug pages would show settings and paths
to anyone, and a worker in debug signs e-mails' links with the development SECRET_KEY."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = {"SECRET_KEY": "production-settings-test", "ALLOWED_HOSTS": "example.com"}


def gunicorn_config_check(**env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "DEBUG"} | PRODUCTION | env
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--check-config", "smolpix.wsgi"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_gunicorn_refuses_debug():
    checked = gunicorn_config_check(DEBUG="true")

    assert checked.returncode != 0
    assert "DEBUG" in checked.stdout + checked.stderr


@pytest.mark.parametrize("debug", [None, "false"], ids=["unset", "off"])
def test_gunicorn_starts_with_debug_unset_or_off(debug):
    checked = gunicorn_config_check(**({"DEBUG": debug} if debug else {}))

    assert checked.returncode == 0, checked.stdout + checked.stderr


def make_serve(**env: str) -> subprocess.CompletedProcess:
    """scripts/serve.sh with production settings but no database or Redis to reach (127.0.0.1:9): what
    it refuses, it must refuse before it starts anything."""
    environment = {key: value for key, value in os.environ.items() if key != "DEBUG"} | PRODUCTION
    environment |= {"DATABASE_URL": "postgres://nobody@127.0.0.1:9/none", "REDIS_URL": "redis://127.0.0.1:9/0"}
    return subprocess.run(
        [str(REPO / "scripts" / "serve.sh")],
        cwd=REPO,
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("debug", [None, "true"], ids=["unset", "on"])
def test_make_serve_refuses_debug(debug):
    served = make_serve(**({"DEBUG": debug} if debug else {}))

    assert served.returncode != 0
    assert "make serve runs the production stack, which needs DEBUG=false" in served.stderr


def test_make_serve_refuses_a_bad_gunicorn_setting_before_it_starts_anything():
    """gunicorn reads WEB_CONCURRENCY before its settings file: a value that is not a number ended each
    of its starts in a traceback, which the supervisor restarted for good."""
    served = make_serve(DEBUG="false", WEB_CONCURRENCY="abc")

    assert served.returncode != 0
    assert "WEB_CONCURRENCY='abc' is not" in served.stderr
    assert "migrat" not in served.stdout + served.stderr.lower()


@pytest.mark.parametrize("value", ["abc", "1e1", "60s", "-5", "0"])
def test_make_serve_refuses_a_healthy_run_that_is_not_a_whole_number_of_seconds(value):
    """supervise.sh counts in it: `abc` ended every supervisor at a process's first death (never
    restarted), `1e1` and `60s` logged a bash error at each restart, `-5` and `0` never backed off."""
    served = make_serve(DEBUG="false", SERVE_HEALTHY_RUN_SECONDS=value)

    assert served.returncode != 0
    assert served.stderr.startswith(f"Smolpix cannot start: SERVE_HEALTHY_RUN_SECONDS='{value}' is not")
    assert served.stderr.count("\n") == 1
    assert "migrat" not in served.stdout + served.stderr.lower()


@pytest.mark.parametrize("process", ["worker", "beat"])
@pytest.mark.parametrize("debug", [None, "true"], ids=["unset", "on"])
def test_the_worker_and_beat_refuse_debug(process, debug, tmp_path):
    """Before they connect to anything (the broker named here does not exist), and before beat
    opens its schedule or says it is starting."""
    schedule = tmp_path / "celerybeat-schedule"
    env = {key: value for key, value in os.environ.items() if key not in ("DEBUG", "SECRET_KEY")}
    env |= {"REDIS_URL": "redis://127.0.0.1:9/0", "CELERY_BEAT_SCHEDULE_FILENAME": str(schedule)}
    env |= {"DEBUG": debug} if debug else {}

    started = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "smolpix", process],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert started.returncode == 1
    assert "celery refuses to run with DEBUG on" in started.stderr
    assert "Starting" not in started.stdout + started.stderr
    assert not list(tmp_path.iterdir())  # no schedule file


@pytest.mark.parametrize("process", ["worker", "beat"])
def test_the_worker_and_beat_name_a_setting_they_cannot_take_in_one_line(process, tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "DEBUG"} | PRODUCTION
    env |= {"DEBUG": "false", "OPTIMIZER_MAX_PIXELS": "1_000", "REDIS_URL": "redis://127.0.0.1:9/0"}

    started = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "smolpix", process],
        cwd=tmp_path,
        env=env | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert started.returncode == 1
    assert started.stderr == "Smolpix cannot start: OPTIMIZER_MAX_PIXELS='1_000' is not a whole number.\n"


def test_gunicorn_gives_a_request_in_flight_at_a_stop_the_longest_an_optimization_waits():
    """At 90 s, a deploy cut short a request still waiting its 100 s (queue, time limit, result)."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("GUNICORN_", "CELERY_", "OPTIMIZER_"))
    }
    read = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy, django; django.setup(); from usage.services import _in_flight_seconds; "
            "print(runpy.run_path('gunicorn.conf.py')['graceful_timeout'], _in_flight_seconds())",
        ],
        cwd=REPO,
        env=environment | PRODUCTION | {"DJANGO_SETTINGS_MODULE": "smolpix.settings", "DEBUG": "false"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    graceful, longest_wait = map(int, read.stdout.split())
    assert graceful > longest_wait
