"""Hostile URLs (SPEC §8) through POST /api/v1/optimize, tasks run in this process.

The key assertion, everywhere a URL is refused: the loopback origin it points at counts no
connection at all. optimizer/tests/test_fetch.py checks the fetcher's own rules one by one (every
loopback spelling, redirects, caps, timeouts); this suite attacks them end to end and with tricks.
"""

import dataclasses
import ipaddress
import socket
import time
import zlib

import pytest

from api.tests.checks import assert_error, assert_reference_response
from optimizer import fetch, services
from optimizer.tests import images
from optimizer.tests.origin import Origin, Route, origins_on_one_port
from optimizer.tests.test_fetch import LOOPBACK_SPELLINGS, OTHER_NON_PUBLIC_SPELLINGS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]

PHOTO = images.encode(images.photo(64, 48), "PNG")

# Spellings of this machine beyond those the fetcher's own tests try: percent-encoded, trailing
# dots, IPv6 zone ids, upper-case schemes, and hosts hidden behind look-alike userinfo or fragments.
MORE_LOOPBACK_SPELLINGS = [
    "%31%32%37.0.0.1",
    "127.0.0.1.",
    "localhost.",
    "LocalHost",
    "[::1%25lo]",
    "[0000::0001]",
    "[::ffff:0:127.0.0.1]",
    "[::0:ffff:127.0.0.1]",
    "0x7F000001",
    "0000000177.0.0.1",
    "127.0.0.255",
    "127.255.255.254",
]


@pytest.fixture
def refusing_origin(origin: Origin, settings) -> Origin:
    """The loopback origin on an allowed port, with the production rule: no private networks.
    Only the address check stands between a request and this listener."""
    settings.OPTIMIZER_ALLOW_PRIVATE_NETWORKS = False
    settings.OPTIMIZER_ALLOWED_PORTS = [origin.port]
    origin.serve("/photo.png", PHOTO)
    return origin


def _refused(post, url: str, code: str = "INVALID_URL") -> dict:
    body = assert_error(post({"url": url}), 400, code, "url")
    assert "127.0.0.1" not in body["error"] and "::1" not in body["error"], "a refusal named an internal address"
    return body


# --- Every non-global address, in every spelling ------------------------------------------


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS + MORE_LOOPBACK_SPELLINGS)
def test_every_spelling_of_this_machine_is_refused_and_never_connected_to(post, refusing_origin, host):
    url = refusing_origin.url("/photo.png", host=host)

    response = post({"url": url})

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_URL"  # refused, or a name that does not resolve: one answer
    assert response.json()["field"] == "url"
    assert refusing_origin.connections == 0


def test_the_listener_does_count_connections(post, refusing_origin, settings):
    """The control: the same listener, allowed, sees the request (so a zero above means something)."""
    settings.OPTIMIZER_ALLOW_PRIVATE_NETWORKS = True

    assert post({"url": refusing_origin.url("/photo.png")}).status_code == 200
    assert refusing_origin.connections == 1


@pytest.mark.parametrize(
    "host",
    [
        *OTHER_NON_PUBLIC_SPELLINGS,
        "0",
        "[::]",
        "100.127.255.254",  # CGNAT
        "[::ffff:10.0.0.1]",
        "[64:ff9b::10.0.0.1]",  # NAT64 of a private address
        "[2002:a9fe:a9fe::]",  # 6to4 of the metadata address
        "[fe80::1%25eth0]",
    ],
)
def test_every_other_non_public_address_is_invalid_url(post, settings, host):
    settings.OPTIMIZER_ALLOWED_PORTS = [80]

    _refused(post, f"http://{host}/latest/meta-data/")


def test_a_name_that_resolves_to_the_metadata_address_is_refused(post, monkeypatch):
    """metadata.google.internal, as a cloud VM's resolver answers it; the resolver is the only
    thing replaced (no packet leaves this machine)."""
    answers = {"metadata.google.internal": "169.254.169.254"}
    real_getaddrinfo = socket.getaddrinfo

    def cloud_resolver(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", cloud_resolver)

    _refused(post, "http://metadata.google.internal/computeMetadata/v1/")


def test_a_name_inside_our_network_and_a_name_that_does_not_resolve_get_the_same_answer(post, monkeypatch):
    """Probing internal DNS names: `db.internal` resolves (to a private address) on our side and
    `nothing.internal` does not; the caller must not be able to tell which, from body or status."""
    real_getaddrinfo = socket.getaddrinfo

    def internal_resolver(host, port, *args, **kwargs):
        if host == "db.internal":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]
        if host == "nothing.internal":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", internal_resolver)

    resolves = post({"url": "http://db.internal/a.png"})
    does_not = post({"url": "http://nothing.internal/a.png"})

    assert resolves.status_code == does_not.status_code == 400
    assert resolves.json() == does_not.json()
    assert resolves.json() == {"error": f"url: {fetch.HOST_REFUSED}", "code": "INVALID_URL", "field": "url"}


# --- Syntax tricks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "http://images.example.com@{host}/photo.png",  # userinfo: the host is what follows the @
        "http://images.example.com:80@{host}/photo.png",
        "http://{host}%2f@images.example.com/photo.png",
        "http://{host}\\@images.example.com/photo.png",  # backslash: the host stays the loopback one
        "http://{host}#@images.example.com/photo.png",  # fragment: ditto
        "http://{host}?@images.example.com/photo.png",
        "HTTP://{host}/photo.png",
    ],
)
def test_userinfo_backslash_and_fragment_tricks_never_reach_the_loopback_host(post, refusing_origin, template):
    url = template.format(host=f"127.0.0.1:{refusing_origin.port}")

    response = post({"url": url})

    assert response.status_code == 400
    assert response.json()["code"] in ("INVALID_URL", "FETCH_FAILED")
    assert refusing_origin.connections == 0


def test_a_backslash_before_the_at_sign_keeps_the_host_the_customer_sees(monkeypatch):
    """`http://a.example\\@127.0.0.1/` is a.example to browsers (WHATWG reads \\ as /) and to us;
    it must never become 127.0.0.1 in a second parser: there is only one."""
    target = fetch.parse_target("http://a.example\\@127.0.0.1/x", allowed_ports=frozenset({80}))

    assert target.host == "a.example"
    assert target.request_uri.startswith("/%5C@127.0.0.1")


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/\r\nHost: 127.0.0.1",
        "http://example.com/photo.png\r\n\r\nGET /admin HTTP/1.1",
        "http://example.com\n.evil/",
        "http://exam\tple.com/",
        "http://127.0.0.1%0d%0a.example.com/",
        "http://example.com /",
        "\x7fhttp://example.com/",
    ],
)
def test_control_characters_and_header_injection_are_invalid_url(post, url):
    _refused(post, url)


def test_a_null_character_is_refused_with_the_field_named(post):
    _refused(post, "http://example.com/\x00.png", code="BAD_REQUEST")


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "file://localhost/etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "dict://127.0.0.1:11211/stats",
        "ftp://127.0.0.1/photo.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "jar:http://example.com/a.jar!/",
        "netdoc:///etc/passwd",
        "ldap://127.0.0.1/",
        "javascript:alert(1)",
        "//127.0.0.1/photo.png",
        "http:127.0.0.1/photo.png",
        "https:/127.0.0.1/photo.png",
    ],
)
def test_other_schemes_and_scheme_less_urls_are_invalid_url(post, url):
    _refused(post, url)


def test_a_port_outside_the_allowed_ones_is_refused_before_any_connection(post, origin, settings):
    settings.OPTIMIZER_ALLOW_PRIVATE_NETWORKS = True  # only the port rule is left to refuse it
    origin.serve("/photo.png", PHOTO)

    _refused(post, origin.url("/photo.png"))
    assert origin.connections == 0


# --- Redirects ----------------------------------------------------------------------------


@pytest.fixture
def origins(settings, monkeypatch) -> tuple[Origin, Origin]:
    """An origin on 127.0.0.2 that the fetcher's policy treats as public (it stands in for a
    customer's host on the internet), and a private service on 127.0.0.1 and [::1] on the same
    port; the rest of 127/8 and ::1 stays refused as in production."""
    public, internal = origins_on_one_port(("127.0.0.2",), ("127.0.0.1", "::1"))
    settings.OPTIMIZER_ALLOWED_PORTS = [public.port]
    production_policy = services.fetch_policy
    monkeypatch.setattr(
        services,
        "fetch_policy",
        lambda: dataclasses.replace(production_policy(), exempt_networks=(ipaddress.ip_network("127.0.0.2/32"),)),
    )
    yield public, internal
    public.close()
    internal.close()


@pytest.fixture
def public_origin(origins) -> Origin:
    return origins[0]


@pytest.fixture
def internal_origin(origins) -> Origin:
    internal = origins[1]
    internal.serve("/secret", b"internal data")
    return internal


def test_the_public_stand_in_is_fetched(post, public_origin):
    url = public_origin.serve("/photo.png", PHOTO)

    assert_reference_response(post({"url": url}).json())


@pytest.mark.parametrize(
    "location",
    ["http://127.0.0.1:{port}/secret", "http://[::1]:{port}/secret", "http://2130706433:{port}/secret"],
)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_into_private_space_is_refused_and_never_followed(
    post, public_origin, internal_origin, location, status
):
    url = public_origin.redirect("/go", location.format(port=public_origin.port), status=status)

    _refused(post, url)

    assert public_origin.connections == 1
    assert internal_origin.connections == 0


def test_a_redirect_to_another_scheme_is_refused(post, public_origin, internal_origin):
    url = public_origin.redirect("/go", f"gopher://127.0.0.1:{public_origin.port}/_secret")

    _refused(post, url)
    assert internal_origin.connections == 0


def test_a_redirect_to_a_location_that_cannot_be_parsed_is_invalid_url(post, public_origin):
    url = public_origin.redirect("/go", "http://[::1")

    body = _refused(post, url)

    assert "redirected to a location that could not be parsed" in body["error"]


def test_a_redirect_loop_ends_after_three_hops(post, public_origin):
    url = public_origin.redirect("/loop", "/loop")

    body = assert_error(post({"url": url}), 400, "FETCH_FAILED", "url")

    assert "redirected more than 3 times" in body["error"]
    assert len(public_origin.requests) == 4


def test_a_two_step_redirect_loop_ends_too(post, public_origin):
    public_origin.redirect("/ping", "/pong")
    url = public_origin.redirect("/pong", "/ping")

    assert_error(post({"url": url}), 400, "FETCH_FAILED", "url")
    assert len(public_origin.requests) == 4


# --- DNS rebinding ------------------------------------------------------------------------


@pytest.fixture
def rebinding_resolver(monkeypatch):
    """A resolver for `rebind.example` that answers the public stand-in the first time and
    loopback ever after (a TTL-0 rebinding attack). Numeric addresses resolve as usual."""
    real_getaddrinfo = socket.getaddrinfo
    lookups = []

    def resolver(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real_getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.2" if len(lookups) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    return lookups


def test_dns_rebinding_the_connection_goes_to_the_checked_address(
    post, public_origin, internal_origin, rebinding_resolver
):
    public_origin.serve("/secret", PHOTO)

    response = post({"url": f"http://rebind.example:{public_origin.port}/secret"})

    assert_reference_response(response.json())
    assert rebinding_resolver == ["rebind.example"]  # one lookup: nothing asked the name again
    assert public_origin.connections == 1
    assert internal_origin.connections == 0
    assert public_origin.requests[0][1]["Host"] == f"rebind.example:{public_origin.port}"


def test_dns_rebinding_through_a_redirect_to_the_same_name_is_checked_again(
    post, public_origin, internal_origin, rebinding_resolver
):
    public_origin.redirect("/go", "/secret")

    _refused(post, f"http://rebind.example:{public_origin.port}/go")

    assert rebinding_resolver == ["rebind.example", "rebind.example"]
    assert internal_origin.connections == 0


# --- Slow origins -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "route",
    [
        pytest.param(Route(header_drip_seconds=0.05), id="headers trickled"),
        pytest.param(Route(body=PHOTO, drip_seconds=0.05), id="body trickled"),
        pytest.param(Route(body=PHOTO, stall=True), id="body stalled"),
    ],
)
def test_a_slow_origin_is_cut_off_at_the_total_deadline(post, public_origin, settings, route):
    """No single read waits long enough to time out when a host trickles; the fetch's total
    deadline must still end it."""
    settings.OPTIMIZER_FETCH_TIMEOUT = 1.0
    public_origin.routes["/slow.png"] = route

    started = time.monotonic()
    body = assert_error(post({"url": public_origin.url("/slow.png")}), 400, "FETCH_FAILED", "url")
    elapsed = time.monotonic() - started

    assert "Timed out" in body["error"]
    assert elapsed < 20, f"a 1 s deadline took {elapsed:.1f} s"  # generous: only "not minutes"


# --- Sizes, lying lengths and compression -------------------------------------------------

CAP = 64 * 1024


@pytest.fixture
def capped(settings):
    settings.OPTIMIZER_MAX_SOURCE_BYTES = CAP


def _url(origin: Origin, path: str, body: bytes, **route) -> str:
    return origin.serve(path, body, **route)


@pytest.mark.usefixtures("capped")
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="honest length"),
        pytest.param({"Content-Length": None}, id="no length"),
        pytest.param({"Content-Length": None, "Transfer-Encoding": "chunked"}, id="chunked, unframed"),
        pytest.param({"Content-Length": "-1"}, id="negative length"),
        pytest.param({"Content-Length": "not a number"}, id="garbage length"),
    ],
)
def test_a_body_over_the_cap_is_too_large_or_refused(post, public_origin, headers):
    url = _url(public_origin, "/big.png", b"\x89PNG\r\n\x1a\n" + b"x" * (CAP * 8), headers=headers)

    response = post({"url": url})

    assert response.status_code == 400
    assert response.json()["code"] in ("IMAGE_TOO_LARGE", "FETCH_FAILED")


@pytest.mark.usefixtures("capped")
def test_a_length_that_understates_the_body_reads_only_what_was_declared(post, public_origin):
    """The extra bytes are never read: the image is cut short and refused as damaged."""
    url = _url(public_origin, "/liar.png", PHOTO + b"x" * (CAP * 8), headers={"Content-Length": "100"})

    assert_error(post({"url": url}), 400, "UNSUPPORTED_IMAGE", "url")


@pytest.mark.usefixtures("capped")
def test_a_length_that_overstates_the_body_is_fetch_failed(post, public_origin):
    url = _url(public_origin, "/short.png", PHOTO, headers={"Content-Length": str(len(PHOTO) + 500)})

    assert_error(post({"url": url}), 400, "FETCH_FAILED", "url")


@pytest.mark.usefixtures("capped")
def test_a_declared_length_over_the_cap_is_refused_without_reading_the_body(post, public_origin):
    url = _url(public_origin, "/huge.png", PHOTO, headers={"Content-Length": str(10**12)})

    assert_error(post({"url": url}), 400, "IMAGE_TOO_LARGE", "url")


def _gzip_bomb(uncompressed_mib: int) -> bytes:
    """`uncompressed_mib` MiB of zeros, gzipped (about a thousandth of the size)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(2**20)
    return b"".join(compressor.compress(chunk) for _ in range(uncompressed_mib)) + compressor.flush()


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    bomb = _gzip_bomb(256)
    assert len(bomb) < CAP * 8
    return bomb


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "br", "GZIP ", "gzip, identity"])
def test_a_compressed_body_is_refused_undecompressed(post, public_origin, gzip_bomb, encoding):
    url = _url(public_origin, "/bomb.png", gzip_bomb, headers={"Content-Encoding": encoding})

    body = assert_error(post({"url": url}), 400, "FETCH_FAILED", "url")

    assert "compressed" in body["error"]


def test_a_gzip_bomb_served_as_an_image_is_not_an_image(post, public_origin, gzip_bomb):
    url = _url(public_origin, "/bomb.png", gzip_bomb, headers={"Content-Type": "image/png"})

    assert_error(post({"url": url}), 400, "UNSUPPORTED_IMAGE", "url")


def test_a_gzip_bomb_is_never_inflated(public_origin, gzip_bomb):
    """The fetcher hands back the compressed bytes it was sent, or refuses them: never 256 MiB."""
    url = _url(public_origin, "/bomb.bin", gzip_bomb)
    policy = fetch.FetchPolicy(
        max_bytes=CAP * 8,
        timeout=5.0,
        allowed_ports=frozenset({public_origin.port}),
        exempt_networks=fetch.EVERY_ADDRESS,
    )

    body = fetch.fetch(url, policy=policy)

    assert body == gzip_bomb
