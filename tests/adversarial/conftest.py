"""Fixtures of the adversarial suite: the optimizer's own test fixtures (a loopback origin that
counts connections, POST as a Pro customer, eager tasks), and a modest Hypothesis profile."""

from hypothesis import HealthCheck, settings

from optimizer.tests.conftest import (  # noqa: F401 (fixtures)
    eager_tasks,
    origin,
    post,
    post_to_worker,
    reachable_origin,
    worker,
    worker_origin,
)

# Few examples and no deadline: the suite runs on two shared cores, and a property that fails
# usually fails within the first few dozen examples. No example database in the work tree.
settings.register_profile(
    "smolpix", max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("smolpix")
