"""Fixtures of the adversarial suite: the optimizer's real worker (the root conftest has the
loopback origin that counts connections and POST as a Pro customer), and a modest Hypothesis
profile."""

from hypothesis import HealthCheck, settings

from optimizer.tests.celery_worker import post_to_worker, worker, worker_origin  # noqa: F401 (fixtures)

# Few examples and no deadline: the suite runs on two shared cores, and a property that fails
# usually fails within the first few dozen examples. No example database in the work tree.
settings.register_profile(
    "smolpix", max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("smolpix")
