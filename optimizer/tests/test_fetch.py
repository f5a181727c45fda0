"""The URL fetcher against a loopback origin that counts every connection it accepts."""

import contextlib
import ipaddress
import re
import socket
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from optimizer import fetch
from optimizer.tests.origin import Origin, Route

CAP = 64 * 1024

# Every spelling of this machine's own addresses that the resolver turns into one. A listener on
# 127.0.0.1 and [::1] sees a connection to any of them (0.0.0.0 and [::] reach the local host on
# Linux, IPv4-mapped addresses reach the IPv4 listener).
LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "2130706433",
    "0x7f.1",
    "0x7f000001",
    "0x7f.0x0.0x0.0x1",
    "017700000001",
    "0177.0.0.1",
    "127.000.000.001",
    "127.1",
    "127.0.1",
    "0",
    "0.0.0.0",  # noqa: S104 - a URL host here, not a bind address
    "localhost",
    "LOCALHOST",
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[0:0:0:0:0:ffff:7f00:1]",
]
# Addresses there is no listener for here and that a test must never send a packet to: they are
# only resolved (numeric spellings need no DNS) and checked, never connected to.
OTHER_NON_PUBLIC_SPELLINGS = [
    "169.254.169.254",
    "2852039166",
    "0xa9fea9fe",
    "0251.0376.0251.0376",
    "[::ffff:169.254.169.254]",
    "[::ffff:a9fe:a9fe]",
    "[::a9fe:a9fe]",
    "[::127.0.0.1]",
    "10.0.0.1",
    "10.1",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.0.8",
    "198.18.0.1",
    "[fe80::1]",
    "[fc00::1]",
    "[fd00::2]",
    "[fec0::1]",
    "[ff02::1]",
    "[64:ff9b::a9fe:a9fe]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::1]",
    "[2001::1]",
    "[2001:db8::1]",
    "[100::1]",
]


def policy(origin: Origin, **overrides) -> fetch.FetchPolicy:
    """The production policy (no private networks), with the origin's port allowed."""
    return fetch.FetchPolicy(
        **{"max_bytes": CAP, "timeout": 5.0, "allowed_ports": frozenset({origin.port}), **overrides}
    )


def development_policy(origin: Origin, **overrides) -> fetch.FetchPolicy:
    return policy(origin, exempt_networks=fetch.EVERY_ADDRESS, **overrides)


def test_fetches_the_body_with_a_user_agent_naming_smolpix_and_no_compression(origin):
    url = origin.serve("/cat.png", b"image bytes")

    assert fetch.fetch(url, policy=development_policy(origin)) == b"image bytes"

    path, headers = origin.requests[0]
    assert path == "/cat.png"
    assert "Smolpix" in headers["User-Agent"]
    assert headers["Accept-Encoding"] == "identity"
    assert headers["Host"] == f"127.0.0.1:{origin.port}"


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_every_spelling_of_a_local_address_is_refused_without_a_connection(origin, host):
    origin.serve("/cat.png", b"image bytes")

    with pytest.raises(fetch.InvalidUrl, match="does not resolve to a public address"):
        fetch.fetch(origin.url("/cat.png", host=host), policy=policy(origin))

    assert origin.connections == 0


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_the_same_spellings_do_reach_the_listener_when_private_networks_are_allowed(origin, host):
    """The control for the test above: its listener would have seen these connections."""
    origin.serve("/cat.png", b"image bytes")

    assert fetch.fetch(origin.url("/cat.png", host=host), policy=development_policy(origin)) == b"image bytes"
    assert origin.connections == 1


@pytest.mark.parametrize("host", OTHER_NON_PUBLIC_SPELLINGS)
def test_every_other_non_public_address_is_refused_when_resolved(host):
    target = fetch.parse_target(f"http://{host}/", allowed_ports=frozenset({80}))

    with pytest.raises(fetch.InvalidUrl, match="does not resolve to a public address"):
        fetch.resolve(target, policy=fetch.FetchPolicy(max_bytes=CAP, timeout=5.0), timeout=5.0)


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "8.8.8.8", "2606:4700:4700::1111", "2a00:1450::1"])
def test_public_addresses_are_public(address):
    assert fetch.is_public_address(ipaddress.ip_address(address))


def test_the_resolved_address_is_what_gets_connected_to(origin, monkeypatch):
    """A name resolving to two addresses: the first refuses connections, the second is the origin.
    Both were checked; the request goes to an address from that one lookup."""
    origin.serve("/cat.png", b"image bytes")
    lookups = []

    def resolver(host, port, *args, **kwargs):
        lookups.append(host)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    body = fetch.fetch(f"http://images.example:{origin.port}/cat.png", policy=development_policy(origin))

    assert body == b"image bytes"
    # One lookup of the name; every later call only turns a checked address into a socket address.
    assert lookups[0] == "images.example"
    assert set(lookups[1:]) <= {"127.0.0.2", "127.0.0.1"}
    assert origin.requests[0][1]["Host"] == f"images.example:{origin.port}"


def test_a_name_with_any_non_public_address_is_refused(origin, monkeypatch):
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *args, **kwargs: [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ],
    )

    with pytest.raises(fetch.InvalidUrl):
        fetch.fetch(f"http://rebinding.example:{origin.port}/", policy=policy(origin))
    assert origin.connections == 0


def test_a_name_that_does_not_resolve_is_refused_as_a_private_one_is(monkeypatch):
    """One answer, so that nobody learns which names resolve inside our network."""

    def no_such_name(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)

    with pytest.raises(fetch.InvalidUrl, match=f"^{re.escape(fetch.HOST_REFUSED)}$"):
        fetch.fetch("http://no-such-host.example/", policy=fetch.FetchPolicy(max_bytes=CAP, timeout=5.0))


def test_a_resolver_that_hangs_is_bounded_by_the_total_timeout(monkeypatch):
    def slow_resolver(*args, **kwargs):
        time.sleep(3)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", slow_resolver)

    with pytest.raises(fetch.FetchFailed, match="Timed out resolving"):
        fetch.fetch("http://slow-dns.example/", policy=fetch.FetchPolicy(max_bytes=CAP, timeout=0.3))


def test_redirects_are_followed_up_to_three(origin):
    origin.serve("/cat.png", b"image bytes")
    origin.redirect("/3", "/2")
    origin.redirect("/2", origin.url("/1", host="localhost"), status=301)
    origin.redirect("/1", "/cat.png", status=307)

    assert fetch.fetch(origin.url("/3"), policy=development_policy(origin)) == b"image bytes"


def test_a_fourth_redirect_is_fetch_failed(origin):
    origin.serve("/cat.png", b"image bytes")
    for hop in range(4, 0, -1):
        origin.redirect(f"/{hop}", f"/{hop - 1}" if hop > 1 else "/cat.png")

    with pytest.raises(fetch.FetchFailed, match="redirected more than 3 times"):
        fetch.fetch(origin.url("/4"), policy=development_policy(origin))
    assert [path for path, _ in origin.requests] == ["/4", "/3", "/2", "/1"]


def test_every_redirect_is_checked_again(origin):
    """The first hop is allowed (only 127.0.0.1 is exempted here); the redirect to [::1] is not,
    and no connection reaches it."""
    origin.serve("/cat.png", b"image bytes")
    origin.redirect("/go", origin.url("/cat.png", host="[::1]"))
    only_first_hop = policy(origin, exempt_networks=(ipaddress.ip_network("127.0.0.1/32"),))

    with pytest.raises(fetch.InvalidUrl):
        fetch.fetch(origin.url("/go"), policy=only_first_hop)
    assert origin.connections == 1


@pytest.mark.parametrize("location", ["ftp://127.0.0.1/cat.png", "file:///etc/passwd", "gopher://127.0.0.1:70/"])
def test_a_redirect_to_another_scheme_is_refused(origin, location):
    origin.redirect("/go", location)

    with pytest.raises(fetch.InvalidUrl):
        fetch.fetch(origin.url("/go"), policy=development_policy(origin))


@pytest.mark.parametrize("location", ["http://[::1", "//[", "http://[not-an-address]/cat.png"])
def test_a_redirect_to_a_location_that_cannot_be_parsed_is_refused(origin, location):
    """urljoin raises ValueError on an unclosed or invalid IPv6 bracket: a refusal, not a crash."""
    origin.redirect("/go", location)

    with pytest.raises(fetch.InvalidUrl, match="redirected to a location that could not be parsed"):
        fetch.fetch(origin.url("/go"), policy=development_policy(origin))
    assert origin.connections == 1


# Redirect targets built from URL punctuation, a few letters and digits, and characters outside
# ASCII (an origin's headers arrive as latin-1).
LOCATION_PARTS = st.sampled_from([*"[]:/@%.?#\\abcx0123456789", "\x85", "é", "ÿ"])
LOCATIONS = st.tuples(st.sampled_from(["", "/", "//", "http://", "https://"]), st.text(LOCATION_PARTS, max_size=24))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(location=LOCATIONS.map("".join))
@example(location="http://[::1")
def test_whatever_an_origin_redirects_to_the_fetch_ends_in_a_body_or_a_refusal(origin, monkeypatch, location):
    """Never another exception (a 500 for the customer). Every name resolves to the origin here."""
    origin.serve("/cat.png", b"image bytes")
    origin.redirect("/go", location)
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *args, **kwargs: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))],
    )

    with contextlib.suppress(fetch.FetchError):
        fetch.fetch(origin.url("/go"), policy=development_policy(origin))


@pytest.mark.parametrize("status", [404, 403, 500, 503])
def test_an_error_status_is_fetch_failed(origin, status):
    url = origin.serve("/cat.png", b"nope", status=status)

    with pytest.raises(fetch.FetchFailed, match=f"HTTP {status}"):
        fetch.fetch(url, policy=development_policy(origin))


def test_a_declared_length_over_the_cap_is_refused_before_reading(origin):
    url = origin.serve("/big.png", b"x" * (CAP + 1))

    with pytest.raises(fetch.SourceTooLarge):
        fetch.fetch(url, policy=development_policy(origin))


def test_an_undeclared_body_is_cut_off_at_the_cap(origin):
    url = origin.serve("/big.png", b"x" * (CAP * 4), headers={"Content-Length": None})

    with pytest.raises(fetch.SourceTooLarge):
        fetch.fetch(url, policy=development_policy(origin))


def test_a_body_at_the_cap_is_accepted(origin):
    url = origin.serve("/big.png", b"x" * CAP, headers={"Content-Length": None})

    assert len(fetch.fetch(url, policy=development_policy(origin))) == CAP


def test_a_compressed_body_is_not_decompressed_but_refused(origin):
    url = origin.serve("/cat.png", b"\x1f\x8b\x08\x00", headers={"Content-Encoding": "gzip"})

    with pytest.raises(fetch.FetchFailed, match="compressed"):
        fetch.fetch(url, policy=development_policy(origin))


def test_a_host_that_stops_sending_is_a_read_timeout(origin):
    url = origin.serve("/cat.png", b"x" * 1000, stall=True)

    with pytest.raises(fetch.FetchFailed, match="Timed out"):
        fetch.fetch(url, policy=development_policy(origin, timeout=0.5))


def test_a_host_that_drips_bytes_is_stopped_by_the_total_timeout(origin):
    url = origin.serve("/cat.png", b"x" * 1000, drip_seconds=0.05)

    with pytest.raises(fetch.FetchFailed, match="Timed out"):
        fetch.fetch(url, policy=development_policy(origin, timeout=0.5))


def test_a_host_that_trickles_its_headers_is_stopped_by_the_total_timeout(origin):
    """Each header byte arrives well within the read timeout; only the total deadline ends it."""
    origin.serve("/cat.png", b"")
    origin.routes["/cat.png"].header_drip_seconds = 0.05
    started = time.monotonic()

    with pytest.raises(fetch.FetchFailed, match="Timed out"):
        fetch.fetch(origin.url("/cat.png"), policy=development_policy(origin, timeout=0.5))
    assert time.monotonic() - started < 10  # not until the host stops on its own


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/cat.png", "Only http and https"),
        ("file:///etc/passwd", "Only http and https"),
        ("javascript:alert(1)", "Only http and https"),
        ("example.com/cat.png", "Only http and https"),
        ("http:///cat.png", "no host"),
        ("http://user:secret@example.com/cat.png", "user name or password"),
        ("http://example.com:8080/cat.png", "ports 80, 443"),
        ("https://example.com:22/", "ports 80, 443"),
        ("http://example.com:0/cat.png", "ports 80, 443"),
        ("http://example.com/cat png", "spaces or control characters"),
        ("http://example.com/\r\nX-Injected: 1", "spaces or control characters"),
        ("http://exa_mple..com:99999/", "could not be parsed"),
        ("http://example.com/" + "a" * 2048, "longer than 2048"),
    ],
)
def test_urls_are_checked_before_any_lookup(url, message, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", pytest.fail)

    with pytest.raises(fetch.InvalidUrl, match=message):
        fetch.fetch(url, policy=fetch.FetchPolicy(max_bytes=CAP, timeout=5.0))


def test_internationalised_names_and_paths_are_encoded():
    target = fetch.parse_target("https://bücher.example/a%20b?x=1#top", allowed_ports=frozenset({443}))

    assert target.url == "https://xn--bcher-kva.example/a%20b?x=1"


@pytest.mark.parametrize(
    ("header", "length"),
    [("1234", 1234), ("0", 0), (None, None), ("", None), ("²", None), ("١٢", None), ("12 ", None), ("-1", None)],
)
def test_a_declared_length_is_plain_ascii_digits_or_nothing(header, length):
    # "²".isdigit() is true and int("²") raises: a header an origin sends must never crash the fetch.
    assert fetch.declared_length(header) == length


def test_an_origin_declaring_a_length_in_other_digits_is_a_failed_fetch(origin):
    # RFC 9112: an invalid Content-Length leaves the body's end unknowable, an unrecoverable error.
    origin.routes["/odd.png"] = Route(body=b"image bytes", headers={"Content-Length": "²"})

    with pytest.raises(fetch.FetchFailed, match="invalid Content-Length"):
        fetch.fetch(origin.url("/odd.png"), policy=development_policy(origin))
