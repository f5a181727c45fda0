"""Fetching customer URLs (SPEC §8): the only code that opens sockets to them.

- http and https only, on the allowed ports (80 and 443 unless configured), no credentials.
- The host is resolved once; if any of its addresses is not public (loopback, private, link-local
  including 169.254.169.254, CGNAT, multicast, reserved, unspecified, IPv4-mapped or -compatible
  IPv6, NAT64, 6to4, ...) the URL is refused. Every spelling (2130706433, 0x7f.1, 127.1, 0,
  [::ffff:127.0.0.1], a DNS name) comes out of the resolver as the same address, and the
  connection goes to that checked address, so a second lookup cannot answer differently.
- At most MAX_REDIRECTS redirects, each one parsed, resolved and checked again.
- The body is streamed with a byte cap, never decompressed, under connect, read and total
  timeouts, with a User-Agent naming Smolpix. The total timeout covers the headers too: a host
  trickling them a byte at a time never trips a read timeout, so the connection is shut when the
  fetch's time is up.
"""

import contextlib
import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationParseError,
    NewConnectionError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import parse_url

from smolpix.errors import SourceRefused

USER_AGENT = "Smolpix/1.0 (image optimizer; +https://smolpix.co/docs/)"
MAX_URL_LENGTH = 2048
MAX_REDIRECTS = 3
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 5.0
CHUNK_SIZE = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges that are not publicly routable unicast, beyond what `ipaddress.is_global` already excludes
# (it counts multicast, NAT64, 6to4 and IPv4-compatible IPv6 as global).
NON_PUBLIC_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT shared address space
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata at 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and 255.255.255.255
        "::/96",  # unspecified, loopback and IPv4-compatible (::127.0.0.1)
        "::ffff:0:0/96",  # IPv4-mapped (::ffff:127.0.0.1)
        "::ffff:0:0:0/96",  # IPv4-translated
        "64:ff9b::/96",  # NAT64
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments, Teredo
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4
        "3fff::/20",  # documentation
        "5f00::/16",  # segment routing
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
EVERY_ADDRESS: tuple[IPNetwork, ...] = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


# One answer for every host that is refused or does not resolve, with one code (INVALID_URL): were
# they told apart, anyone could probe which names resolve inside our network.
HOST_REFUSED = "The URL's host does not resolve to a public address, so it cannot be fetched."


class FetchError(SourceRefused):
    """A URL that could not be fetched; the message is safe to show to the customer (it never
    names an address the host resolved to)."""


class InvalidUrl(FetchError):
    pass


class FetchFailed(FetchError):
    pass


class SourceTooLarge(FetchError):
    @classmethod
    def over(cls, max_bytes: int) -> "SourceTooLarge":
        return cls(f"The image is larger than the {max_bytes:,}-byte limit.")


def size_limit_in_words(max_bytes: int) -> str:
    """The source's size limit as the errors write it, and in MiB where it is whole ones, for pages:
    Django's filesizeformat wrote 32 MiB as "32.0 MB", which decimal tools show 33,554,432 bytes as."""
    mebibytes = f" ({max_bytes >> 20} MiB)" if max_bytes % (1 << 20) == 0 else ""
    return f"{max_bytes:,} bytes{mebibytes}"


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int
    timeout: float  # for the whole fetch: resolving, connecting, redirects and the body
    allowed_ports: frozenset[int] = frozenset(DEFAULT_PORTS.values())
    # Non-public addresses that may be fetched all the same: none in production; every address
    # with OPTIMIZER_ALLOW_PRIVATE_NETWORKS (local development and tests).
    exempt_networks: tuple[IPNetwork, ...] = ()

    def allows_address(self, address: IPAddress) -> bool:
        return is_public_address(address) or any(address in network for network in self.exempt_networks)


@dataclass(frozen=True)
class Target:
    """A URL that passed the syntax checks, in the form the request is made from."""

    scheme: str
    host: str  # IDNA-encoded and lowercased; IPv6 literals in brackets
    port: int
    request_uri: str  # path and query, percent-encoded

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.request_uri}"

    @property
    def host_header(self) -> str:
        return self.host if self.port == DEFAULT_PORTS[self.scheme] else f"{self.host}:{self.port}"


def is_public_address(address: IPAddress) -> bool:
    return address.is_global and not any(address in network for network in NON_PUBLIC_NETWORKS)


def parse_target(url: str, *, allowed_ports: frozenset[int]) -> Target:
    """Check a URL's syntax (no DNS): scheme, host, port, length. Raises InvalidUrl."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidUrl(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ord(character) <= 0x20 or ord(character) == 0x7F for character in url):
        raise InvalidUrl("The URL contains spaces or control characters; percent-encode them.")
    try:
        parsed = parse_url(url)
    except LocationParseError:
        raise InvalidUrl("The URL could not be parsed.") from None
    scheme = (parsed.scheme or "").lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidUrl("Only http and https URLs can be fetched.")
    if not parsed.host:
        raise InvalidUrl("The URL has no host.")
    if parsed.auth is not None:
        raise InvalidUrl("URLs with a user name or password are not supported.")
    port = DEFAULT_PORTS[scheme] if parsed.port is None else parsed.port  # ":0" is port 0, not the default
    if port not in allowed_ports:
        ports = ", ".join(str(allowed) for allowed in sorted(allowed_ports))
        raise InvalidUrl(f"Only URLs on ports {ports} can be fetched.")
    return Target(scheme=scheme, host=parsed.host, port=port, request_uri=parsed.request_uri)


def may_fetch(url: str, *, policy: FetchPolicy) -> bool:
    """Whether `policy` lets `url` be fetched, as far as can be told without DNS: a name is taken
    for a public one, but localhost (and its subdomains, with or without the final dot), loopback."""
    try:
        host = parse_target(url, allowed_ports=policy.allowed_ports).host.strip("[]").rstrip(".")
    except InvalidUrl:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        host = "127.0.0.1"
    try:
        return policy.allows_address(ipaddress.ip_address(host))
    except ValueError:  # a name
        return True


def resolve(target: Target, *, policy: FetchPolicy, timeout: float) -> list[str]:
    """The addresses of the target's host, once, all of them checked. Raises InvalidUrl when the
    name does not resolve or any address is not allowed (HOST_REFUSED either way), FetchFailed when
    the resolver does not answer in time."""
    infos = _getaddrinfo(target.host.strip("[]"), target.port, timeout=timeout)
    addresses = list(dict.fromkeys(info[4][0] for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)))
    if not addresses:
        raise InvalidUrl(HOST_REFUSED)
    if not all(policy.allows_address(ipaddress.ip_address(address)) for address in addresses):
        raise InvalidUrl(HOST_REFUSED)
    return addresses


def _getaddrinfo(host: str, port: int, *, timeout: float) -> list:
    """socket.getaddrinfo with a timeout (the system resolver has none of its own)."""
    outcome: dict = {}

    def lookup() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            outcome["error"] = error

    resolver = threading.Thread(target=lookup, name="smolpix-resolve", daemon=True)
    resolver.start()
    resolver.join(timeout)
    if "infos" in outcome:
        return outcome["infos"]
    if "error" in outcome:
        raise InvalidUrl(HOST_REFUSED)
    raise FetchFailed("Timed out resolving the URL's host name.")


def fetch(url: str, *, policy: FetchPolicy) -> bytes:
    """The body of `url`, following at most MAX_REDIRECTS redirects. Raises InvalidUrl,
    FetchFailed or SourceTooLarge."""
    deadline = time.monotonic() + policy.timeout
    target = parse_target(url, allowed_ports=policy.allowed_ports)
    for redirects in range(MAX_REDIRECTS + 1):
        response, pool = _request(target, policy=policy, deadline=deadline)
        try:
            _remaining(deadline)  # headers cut short by the deadline are no answer
            location = response.headers.get("Location")
            if response.status in REDIRECT_STATUSES and location:
                if redirects == MAX_REDIRECTS:
                    raise FetchFailed(f"The URL redirected more than {MAX_REDIRECTS} times.")
                target = _redirect_target(target, location, policy=policy)
                continue
            if not 200 <= response.status < 300:
                raise FetchFailed(f"The URL answered HTTP {response.status}.")
            return _read_body(response, policy=policy, deadline=deadline)
        finally:
            response.close()
            pool.close()
    raise AssertionError("unreachable")  # pragma: no cover


def _redirect_target(target: Target, location: str, *, policy: FetchPolicy) -> Target:
    """Where a redirect leads, checked as the customer's URL was. Raises InvalidUrl."""
    try:
        url = urljoin(target.url, location)
    except ValueError:  # urllib.parse refuses an unclosed or invalid IPv6 bracket ("http://[::1")
        raise InvalidUrl("The URL redirected to a location that could not be parsed.") from None
    return parse_target(url, allowed_ports=policy.allowed_ports)


class _DeadlineMixin:
    """A connection whose socket is shut down when the fetch's deadline passes. Read timeouts only
    bound each wait for bytes; this bounds the whole exchange, headers included."""

    def __init__(self, *args, deadline: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), self._time_up)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _time_up(self) -> None:
        sock = self.sock
        if sock is not None:
            # The plain socket's shutdown, under any TLS layer: a blocked read returns at once.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def close(self) -> None:
        self._watchdog.cancel()
        super().close()


class _DeadlineHTTPConnection(_DeadlineMixin, HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_DeadlineMixin, HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchFailed("Timed out fetching the URL.")
    return remaining


def _request(
    target: Target, *, policy: FetchPolicy, deadline: float
) -> tuple[urllib3.BaseHTTPResponse, urllib3.HTTPConnectionPool]:
    """Send the GET to the first checked address that accepts a connection."""
    addresses = resolve(target, policy=policy, timeout=_remaining(deadline))
    for address in addresses:
        remaining = _remaining(deadline)
        timeout = urllib3.Timeout(connect=min(CONNECT_TIMEOUT, remaining), read=min(READ_TIMEOUT, remaining))
        if target.scheme == "https":
            # Connect to the checked address but verify the certificate (and send SNI) for the name.
            hostname = target.host.strip("[]")
            pool = _HTTPSPool(
                address,
                target.port,
                timeout=timeout,
                retries=False,
                server_hostname=hostname,
                assert_hostname=hostname,
                deadline=deadline,
            )
        else:
            pool = _HTTPPool(address, target.port, timeout=timeout, retries=False, deadline=deadline)
        try:
            response = pool.urlopen(
                "GET",
                target.request_uri,
                headers={
                    "Host": target.host_header,
                    "User-Agent": USER_AGENT,
                    "Accept": "image/*",
                    "Accept-Encoding": "identity",
                },
                redirect=False,
                retries=False,
                preload_content=False,
                decode_content=False,
                assert_same_host=False,
            )
        except BaseException as error:
            pool.close()
            if isinstance(error, NewConnectionError | ConnectTimeoutError):
                continue  # the next address, e.g. IPv4 after an unreachable IPv6 one
            if isinstance(error, HTTPError | OSError):
                raise _as_fetch_failed(error, deadline=deadline) from error
            raise
        return response, pool
    raise FetchFailed("Could not connect to the URL's host.")


def declared_length(header: str | None) -> int | None:
    """A Content-Length header's value, or None when it is absent or not a plain decimal number.
    ASCII digits only: str.isdigit() also accepts "²" and other digits int() refuses."""
    if header is None or not (header.isascii() and header.isdigit()):
        return None
    return int(header)


def _read_body(response: urllib3.BaseHTTPResponse, *, policy: FetchPolicy, deadline: float) -> bytes:
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchFailed(f"The URL sent a compressed ({encoding}) body; images must be served uncompressed.")
    header = response.headers.get("Content-Length")
    declared = declared_length(header)
    if header is not None and declared is None:
        # RFC 9112: an invalid Content-Length makes the message's framing unknowable.
        raise FetchFailed("The URL answered with an invalid Content-Length.")
    if declared is not None and declared > policy.max_bytes:
        raise SourceTooLarge.over(policy.max_bytes)
    body = bytearray()
    try:
        # read1 returns whatever one read brings, so a host dripping bytes meets the deadline.
        while chunk := response.read1(CHUNK_SIZE, decode_content=False):
            body += chunk
            if len(body) > policy.max_bytes:
                raise SourceTooLarge.over(policy.max_bytes)
            _remaining(deadline)
    except (HTTPError, OSError) as error:
        raise _as_fetch_failed(error, deadline=deadline) from error
    _remaining(deadline)  # a body cut short by the deadline is not the whole body
    return bytes(body)


def _as_fetch_failed(error: HTTPError | OSError, *, deadline: float) -> FetchFailed:
    if isinstance(error, ReadTimeoutError | TimeoutError) or time.monotonic() >= deadline:
        return FetchFailed("Timed out waiting for the URL's host.")
    if isinstance(error, SSLError):
        return FetchFailed("The TLS connection to the URL's host failed (certificate or protocol).")
    return FetchFailed("The URL's host sent an invalid response or closed the connection.")
