"""Fixtures of the adversarial suite: the optimizer's own test fixtures (a loopback origin that
counts connections, POST as a Pro customer, a real worker), and a modest Hypothesis profile."""

from hypothesis import HealthCheck, settings

from optimizer.tests.celery_worker import post_to_worker, worker, worker_origin  # noqa: F401 (fixtures)
from optimizer.tests.conftest import origin, post, reachable_origin  # noqa: F401 (fixtures)

# Few examples and no deadline: the suite runs on two shared cores, and a property that fails
# usually fails within the first few dozen examples. No example database in the work tree.
settings.register_profile(
    "smolpix", max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("smolpix")
