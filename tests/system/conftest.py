"""Fixtures of the system tests: one fresh copy of the repository, one PostgreSQL cluster, one
Redis and one loopback image host per run, all the tests' own; `make serve` started once and shared,
`make run` once per module (each restarted after a test that failed: a failure may leave it broken)."""

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from optimizer.tests.origin import Origin
from tests.system.services import Postgres, Redis, Service
from tests.system.stack import START_SECONDS, RunStack, ServeStack, Stack, base_environment, fresh_copy

FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


def _interrupt(signal_number, frame) -> None:
    raise KeyboardInterrupt


@pytest.fixture(scope="session", autouse=True)
def teardown_on_sigterm() -> Iterator[None]:
    """SIGTERM (a CI time limit, say) ends the run as Ctrl-C does, through the fixtures' teardown:
    the stacks, PostgreSQL and Redis stop rather than linger on the machine."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def checkout(tmp_path_factory) -> Path:
    return fresh_copy(tmp_path_factory.mktemp("copy"))


@pytest.fixture(scope="session")
def installed(checkout) -> Path:
    """The copy with its .venv as `make run` and `make serve` install it (runtime requirements only),
    for tests that time a start without the installation."""
    subprocess.run(
        ["make", "--no-print-directory", ".venv/.runtime-installed"],
        cwd=checkout,
        env=base_environment(),
        check=True,
        capture_output=True,
        timeout=START_SECONDS,
    )
    return checkout


def _running(service: Service) -> Iterator[Service]:
    try:
        service.start()
        yield service
    finally:
        service.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    yield from _running(Postgres())


@pytest.fixture(scope="session")
def redis(tmp_path_factory) -> Iterator[Redis]:
    yield from _running(Redis(tmp_path_factory.mktemp("redis")))


@pytest.fixture(scope="session")
def origin() -> Iterator[Origin]:
    host = Origin(hosts=("127.0.0.1",))
    yield host
    host.close()


def _for_one_test(stack: Stack, request: pytest.FixtureRequest, *services: Service) -> Iterator[Stack]:
    """The stack up and healthy for a test, with the services running before and after it; stopped
    after a failure, so that the next test starts it afresh."""
    for service in services:
        service.ensure_running()
    stack.ensure_up()
    yield stack
    for service in services:
        service.ensure_running()
    if request.node.stash.get(FAILED, False):
        stack.stop()


@pytest.fixture(scope="session")
def serve_stack(checkout, postgres, redis, origin, tmp_path_factory) -> Iterator[ServeStack]:
    stack = ServeStack(
        checkout, tmp_path_factory.mktemp("serve"), postgres=postgres, redis=redis, origin_port=origin.port
    )
    yield stack
    stack.stop()


@pytest.fixture
def serve(serve_stack, postgres, redis, request) -> Iterator[ServeStack]:
    """`make serve`, healthy, with its PostgreSQL and Redis running."""
    yield from _for_one_test(serve_stack, request, postgres, redis)


# Per module: runserver's reloader checks every source file each second, CPU the other stack's
# timed tests should not lose to it.
@pytest.fixture(scope="module")
def run_stack(checkout, tmp_path_factory) -> Iterator[RunStack]:
    stack = RunStack(checkout, tmp_path_factory.mktemp("run"))
    yield stack
    stack.stop()


@pytest.fixture
def run(run_stack, request) -> Iterator[RunStack]:
    """`make run`, answering."""
    yield from _for_one_test(run_stack, request)
