"""HTTPS as the site knows it: gunicorn believes X-Forwarded-Proto only from the proxies listed in
FORWARDED_ALLOW_IPS, and Django takes the scheme gunicorn decided. A client reaching gunicorn
directly cannot claim HTTPS (and so skip the redirect to it, or be sent Secure cookies over HTTP)."""

import pytest
import urllib3

from tests import processes

pytestmark = pytest.mark.slow

CLAIMS_HTTPS = {"X-Forwarded-Proto": "https", "Host": "127.0.0.1"}


@pytest.mark.parametrize(
    ("proxies", "status"),
    # The test's address a proxy (the API asks for a key), then not (the API refuses plain HTTP).
    [("127.0.0.1", 401), ("192.0.2.1", 400)],
    ids=["from-our-proxy", "from-anyone-else"],
)
def test_x_forwarded_proto_is_believed_only_from_our_proxies(tmp_path, proxies, status):
    env = processes.environment(SECURE_SSL_REDIRECT="true", FORWARDED_ALLOW_IPS=proxies)
    process, url = processes.start_server(env=env, log_path=tmp_path / "web.log")
    try:
        response = urllib3.request("GET", url + "/api/v1/usage", headers=CLAIMS_HTTPS, redirect=False)
    finally:
        processes.stop(process)

    assert response.status == status
    if status == 400:
        assert "https://127.0.0.1/api/v1/usage" in response.json()["error"]
