import html
import json
import re
from itertools import pairwise

import pytest
from django.templatetags.static import static
from django.urls import reverse

from api.optimize import REFERENCE_EXAMPLE_RESPONSE
from apikeys.services import api_key_create
from optimizer.fetch import HOST_REFUSED
from optimizer.services import MAX_WIDTH_BOUNDS
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


def _plan_cards(page: str) -> dict[str, str]:
    """Each plan card of a page, by plan code."""
    cards = re.findall(r'<section class="card plan[^"]*" aria-labelledby="plan-(\w+)">(.*?)</section>', page, re.S)
    return dict(cards)


@pytest.mark.parametrize("plan_code", ["free", "pro", "agency"])
def test_pricing_marks_a_signed_in_customer_s_plan_and_offers_no_sign_up(request, client, fake_stripe, plan_code):
    client.force_login(request.getfixturevalue(f"{plan_code}_account").owner)

    cards = _plan_cards(client.get(reverse("pricing")).content.decode())

    assert {code for code, card in cards.items() if ">Your plan<" in card} == {plan_code}
    assert not any("Start free" in card or reverse("signup") in card for card in cards.values())


@pytest.mark.parametrize("page", ["landing", "pricing"])
def test_the_plan_pages_offer_sign_up_signed_out_and_try_it_signed_in(client, free_account, page):
    """Signed in, "Start free" and "Try it free" led to sign-up, which sends its visitor to the dashboard."""
    signed_out = client.get(reverse(page)).content.decode().split("<main")[1]
    client.force_login(free_account.owner)
    signed_in = client.get(reverse(page)).content.decode().split("<main")[1]

    assert f'href="{reverse("signup")}"' in signed_out
    assert reverse("try-it") not in signed_out
    assert reverse("signup") not in signed_in
    assert f'href="{reverse("try-it")}"' in signed_in


@pytest.mark.parametrize("page", ["landing", "pricing"])
def test_the_plan_pages_headings_go_down_one_level_at_a_time(client, page):
    levels = [int(level) for level in re.findall(r"<h([1-6])", client.get(reverse(page)).content.decode())]

    assert levels[0] == 1
    assert all(after <= before + 1 for before, after in pairwise(levels))


def test_docs_carry_the_reference_examples(client):
    body = client.get(reverse("docs")).content.decode()

    assert "/api/v1/optimize" in body
    for fragment in ("maxWidth", "savingsPercent", "LIMIT_REACHED", "curl -X POST", "from smolpix_client", "curl_init"):
        assert fragment in body


def test_docs_give_the_largest_max_width_the_api_takes(client):
    body = client.get(reverse("docs")).content.decode()

    body = re.sub(r' data-label="[^"]*"', "", body)  # the column names cells carry for phones
    row = body.split("<tr><td><code>maxWidth</code></td>", 1)[1].split("</tr>", 1)[0]
    assert f"at most {MAX_WIDTH_BOUNDS.max}: a larger value is refused with <code>BAD_REQUEST</code>" in row


def test_docs_example_response_is_the_schemas(client):
    body = client.get(reverse("docs")).content.decode()

    shown = re.search(r"Example response</h3>\s*<pre><code>(.*?)</code></pre>", body, re.DOTALL).group(1)
    assert json.loads(html.unescape(shown)) == REFERENCE_EXAMPLE_RESPONSE


def test_docs_describe_the_usage_endpoint_and_headers(client):
    body = client.get(reverse("docs")).content.decode()

    for fragment in ("/api/v1/usage", "resetsAt", "X-RateLimit-Remaining", "X-Quota-Limit", "Retry-After"):
        assert fragment in body
    # Both answers that carry it (it said "On a 429 only").
    assert "On a <code>429</code> or a <code>503</code> only: seconds to wait before retrying" in body


@pytest.mark.parametrize(("limit", "written"), [(1 << 25, "33,554,432 bytes (32 MiB)"), (10**7, "10,000,000 bytes")])
def test_docs_give_the_upload_limit_in_bytes_as_the_errors_do(client, settings, limit, written):
    """Django's filesizeformat wrote 32 MiB as "32.0 MB", which the client shows 33.0 MB as."""
    settings.OPTIMIZER_MAX_SOURCE_BYTES = limit

    body = client.get(reverse("docs")).content.decode()

    assert f"form fields (up to {written})" in body and f"Over {written} or too many pixels" in body


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


def _examples(body: str) -> dict[str, list[str]]:
    """The code blocks of the docs' examples, by language tab."""
    panels = re.findall(r'role="tabpanel" id="panel-(\w+)"(.*?)(?=role="tabpanel"|</article>)', body, re.DOTALL)
    assert [language for language, _ in panels] == ["curl", "python", "js", "php"]
    return {
        language: [html.unescape(code) for code in re.findall(r"<pre><code>(.*?)</code></pre>", panel, re.DOTALL)]
        for language, panel in panels
    }


def test_docs_examples_call_the_host_being_viewed_with_the_key_from_the_environment(client):
    body = client.get(reverse("docs"), secure=True).content.decode()

    examples = _examples(body)
    key_readers = {
        "curl": 'Bearer $SMOLPIX_API_KEY"',
        "python": "the key from SMOLPIX_API_KEY",
        "js": "Bearer ${process.env.SMOLPIX_API_KEY}",
        "php": "'Authorization: Bearer ' . getenv('SMOLPIX_API_KEY')",
    }
    for language, (from_url, upload) in examples.items():
        for code in (from_url, upload):
            assert "https://testserver/api/v1/optimize" in code or "Client(base_url='https://testserver')" in code
            assert key_readers[language] in code
            assert "pk_live_" not in code
        assert "https://testserver/static/img/examples/landscape.jpg" in from_url
        assert "photo.jpg" in upload
    assert "smolpix.co" not in body
    assert "<pre><code>export SMOLPIX_API_KEY='&lt;your API key&gt;'</code></pre>" in body


@pytest.mark.parametrize(
    ("host", "private_networks", "fetchable"),
    [
        ("smolpix.co", False, True),
        ("93.184.215.14", False, True),
        ("127.0.0.1:8000", False, False),  # make run
        ("localhost:8000", False, False),
        ("localhost", False, False),
        ("10.0.0.7", False, False),
        ("[::1]", False, False),
        ("smolpix.co:8443", False, False),
        ("localhost:8000", True, True),  # where a test or a developer lets the API fetch from here
        ("127.0.0.1:8000", True, True),
    ],
)
def test_docs_say_where_the_api_cannot_fetch_the_url_examples_sample(
    client, settings, host, private_networks, fetchable
):
    settings.ALLOWED_HOSTS = ["*"]
    settings.OPTIMIZER_ALLOW_PRIVATE_NETWORKS = private_networks
    settings.OPTIMIZER_ALLOWED_PORTS = [80, 443, 8000] if private_networks else [80, 443]

    body = client.get(reverse("docs"), HTTP_HOST=host).content.decode()

    assert ('id="sample-not-fetchable"' not in body) is fetchable


def test_docs_examples_save_under_the_returned_formats_extension(client):
    examples = _examples(client.get(reverse("docs")).content.decode())

    saves = {
        "curl": "-OJ",  # the name Content-Disposition gives: optimized.webp or optimized.avif
        "python": "result.save('optimized')",  # the client adds the format's extension
        "js": "await writeFile(`optimized.${data.format}`",
        "php": "file_put_contents(\"optimized.{$data['format']}\"",
    }
    for language, blocks in examples.items():
        assert all(saves[language] in code for code in blocks)
        assert all("optimized.webp'" not in code and 'optimized.webp"' not in code for code in blocks)


def test_docs_reference_the_quality_field_and_the_415_and_503_answers(client):
    body = client.get(reverse("docs")).content.decode()

    body = re.sub(r' data-label="[^"]*"', "", body)  # the column names cells carry for phones
    response_table = body.split('id="response"', 1)[1].split("</table>", 1)[0]
    errors_table = body.split('id="errors"', 1)[1].split("</table>", 1)[0]
    assert "<tr><td><code>quality</code></td><td>object or null</td>" in response_table
    assert "<tr><td>415</td><td><code>BAD_REQUEST</code></td>" in errors_table
    assert "<tr><td>503</td><td><code>SERVICE_UNAVAILABLE</code></td>" in errors_table
    assert "X-Smolpix-Quality-Score" in body


def test_docs_say_a_private_host_and_one_that_does_not_resolve_are_both_invalid_url(client):
    """As the fetcher answers them: one code and one message (fetch.HOST_REFUSED) for both."""
    body = re.sub(r' data-label="[^"]*"', "", client.get(reverse("docs")).content.decode())
    errors_table = body.split('id="errors"', 1)[1].split("</table>", 1)[0]

    [row] = [row for row in errors_table.split("<tr>") if "<code>INVALID_URL</code>" in row]
    assert "its host is private, or does not resolve" in row
    assert "does not resolve to a public address" in HOST_REFUSED


def test_docs_name_a_signed_in_readers_newest_key_but_never_a_key(client, pro_account):
    api_key_create(account=pro_account, name="Old")
    newest, key = api_key_create(account=pro_account, name="Production")
    client.force_login(pro_account.owner)

    body = client.get(reverse("docs")).content.decode()

    assert f"Your newest key is “Production” (<code>{newest.display_prefix}</code>)" in body
    assert key[:16] not in body
    assert all("pk_live_" not in code for blocks in _examples(body).values() for code in blocks)


def test_docs_tell_a_signed_in_reader_without_keys_where_to_create_one(client, free_account):
    client.force_login(free_account.owner)

    body = client.get(reverse("docs")).content.decode()

    assert f'<a href="{reverse("apikeys:list")}">Create an API key</a>: the page shows this line' in body


def test_landing_shows_the_examples_with_their_real_figures(client):
    body = client.get(reverse("landing")).content.decode()

    for example in example_list():
        assert f"/static/{example['originalPath']}" in body
        assert f"/static/{example['optimizedPath']}" in body
        assert f"\N{MINUS SIGN}{example['savingsPercent']}%" in body


def test_every_curl_that_saves_the_answer_fails_on_an_error_answer(client, pro_account):
    """With -OJ alone an error's JSON is saved as if it were the image and curl exits 0."""
    client.force_login(pro_account.owner)
    pages = [reverse("landing"), reverse("docs"), reverse("apikeys:list")]
    commands = [
        html.unescape(code)
        for page in pages
        for code in re.findall(r"<pre><code>(curl .*?)</code></pre>", client.get(page).content.decode(), re.S)
    ]

    saving = [command for command in commands if "-OJ" in command]
    assert len(saving) >= 3
    assert all("--fail-with-body" in command for command in saving)


def test_favicon_ico_leads_to_the_sites_icon(client):
    """Django's admin names no icon, so browsers asked for /favicon.ico and got a 404."""
    response = client.get("/favicon.ico")

    assert response.status_code == 302
    assert response["Location"] == static("img/favicon.svg")
    assert f'<link rel="icon" href="{response["Location"]}"' in client.get(reverse("landing")).content.decode()


@pytest.mark.parametrize(("ports", "named"), [([80, 443], "port 80/443"), ([8443, 443], "port 443/8443")])
def test_docs_name_the_ports_an_image_url_may_use(client, settings, ports, named):
    settings.OPTIMIZER_ALLOWED_PORTS = ports

    body = client.get(reverse("docs")).content.decode()

    assert f"The URL is not http(s) or not on {named}, or its host is private" in body
