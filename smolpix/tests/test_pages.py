import html
import json
import re

import pytest
from django.urls import reverse

from api.optimize import REFERENCE_EXAMPLE_RESPONSE
from apikeys.services import api_key_create
from smolpix.examples import example_list

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["landing", "pricing", "docs", "signup", "login", "password_reset"])
def test_public_pages_render(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 200
    assert b"<main" in response.content


def test_pricing_shows_every_plan_with_its_price(client):
    body = client.get(reverse("pricing")).content.decode()

    for text in ("Free", "$0", "Pro", "$49", "Agency", "$149", "10,000", "Unlimited"):
        assert text in body


def test_docs_carry_the_reference_examples(client):
    body = client.get(reverse("docs")).content.decode()

    assert "/api/v1/optimize" in body
    for fragment in ("maxWidth", "savingsPercent", "LIMIT_REACHED", "curl -X POST", "from smolpix_client", "curl_init"):
        assert fragment in body


def test_docs_example_response_is_the_schemas(client):
    body = client.get(reverse("docs")).content.decode()

    shown = re.search(r"Example response</h3>\s*<pre><code>(.*?)</code></pre>", body, re.DOTALL).group(1)
    assert json.loads(html.unescape(shown)) == REFERENCE_EXAMPLE_RESPONSE


def test_docs_describe_the_usage_endpoint_and_headers(client):
    body = client.get(reverse("docs")).content.decode()

    for fragment in ("/api/v1/usage", "resetsAt", "X-RateLimit-Remaining", "X-Quota-Limit", "Retry-After"):
        assert fragment in body


def test_pages_load_no_third_party_assets(client):
    for name in ("landing", "pricing", "docs"):
        body = client.get(reverse(name)).content.decode()
        assert "https://cdn" not in body
        assert 'src="http' not in body
        assert 'href="http' not in body.replace('href="https://smolpix.co', "")


def test_the_schema_is_served_as_openapi_3(client):
    response = client.get(reverse("api-schema"), {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {"/api/v1/optimize", "/api/v1/usage"}


def test_the_api_explorer_loads_its_assets_from_our_static_files(client):
    page = client.get(reverse("api-explorer"))
    script = client.get(reverse("api-explorer"), {"script": ""})

    assert page.status_code == 200
    body = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in body
    assert "<script>" not in body  # the set-up script is a file of its own, not inline
    assert 'src="http' not in body and 'href="http' not in body
    assert reverse("docs") in body
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert reverse("api-schema") in script.content.decode()


def test_docs_show_a_signed_in_readers_newest_key_prefix_in_every_example(client, pro_account):
    api_key_create(account=pro_account, name="Old")
    newest, _ = api_key_create(account=pro_account, name="Production")
    client.force_login(pro_account.owner)

    body = client.get(reverse("docs")).content.decode()

    examples = body.split('id="examples"', 1)[1]
    assert examples.count(f"Bearer {newest.display_prefix}") == 3  # Node.js, cURL, PHP
    assert f"Client(api_key='{newest.display_prefix}')" in examples  # Python
    assert "pk_live_xxxxxxxxxxxxxxxxxxxxx" not in body
    assert "“Production”" in body


def test_docs_show_a_placeholder_key_to_visitors(client):
    body = client.get(reverse("docs")).content.decode()

    assert body.count("Bearer pk_live_xxxxxxxxxxxxxxxxxxxxx") >= 4
    assert reverse("api-explorer") in body


def test_docs_tell_a_signed_in_reader_without_keys_where_to_create_one(client, free_account):
    client.force_login(free_account.owner)

    body = client.get(reverse("docs")).content.decode()

    assert "and its prefix will appear in these examples" in body


def test_landing_shows_the_examples_with_their_real_figures(client):
    body = client.get(reverse("landing")).content.decode()

    for example in example_list():
        assert f"/static/{example['originalPath']}" in body
        assert f"/static/{example['optimizedPath']}" in body
        assert f"\N{MINUS SIGN}{example['savingsPercent']}%" in body
