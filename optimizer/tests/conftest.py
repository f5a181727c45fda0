import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from optimizer.tests.api_checks import ENDPOINT
from optimizer.tests.celery_worker import post_to_worker, worker, worker_origin  # noqa: F401 (fixtures)
from optimizer.tests.origin import Origin


@pytest.fixture
def origin():
    server = Origin()
    yield server
    server.close()


@pytest.fixture
def reachable_origin(origin: Origin, settings) -> Origin:
    """The origin with the fetcher allowed to reach it: private networks allowed (as in local
    development) and its port allowed."""
    settings.OPTIMIZER_ALLOW_PRIVATE_NETWORKS = True
    settings.OPTIMIZER_ALLOWED_PORTS = [origin.port]
    return origin


@pytest.fixture
def post(client, pro_api_key):
    """POST to the endpoint as a Pro customer: JSON by default, multipart when `upload` is given."""

    def send(body=None, *, upload=None, accept=None, key=pro_api_key, **headers):
        if accept:
            headers["HTTP_ACCEPT"] = accept
        if key:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        if upload is not None:
            form = {"file": SimpleUploadedFile("image", upload), **(body or {})}
            return client.post(ENDPOINT, form, **headers)
        return client.post(ENDPOINT, json.dumps(body), content_type="application/json", **headers)

    return send
