"""The client's address, for the limits counted per client (sign-in, sign-up, password reset).

Production runs behind a proxy or load balancer that appends the address it saw to
`X-Forwarded-For`; gunicorn passes the header on untouched and REMOTE_ADDR is the proxy's. The
header is believed only from the proxies gunicorn believes (FORWARDED_ALLOW_IPS), and only its
right end: what a client writes there itself comes before what our proxy appends, so it is never
read, and rotating it gains nothing.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The address of the client: the peer's, or, when the peer is one of our proxies, the last
    address in X-Forwarded-For that is not one of them (the one our outermost proxy saw)."""
    address = request.META.get("REMOTE_ADDR", "")
    forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    while forwarded and _is_our_proxy(address):
        hop = forwarded.pop()
        if not _is_address(hop):
            break  # not written by a proxy: keep the last address one gave
        address = hop
    return address


def _is_our_proxy(address: str) -> bool:
    if not _is_address(address):
        return False
    return any(
        ipaddress.ip_address(address) in ipaddress.ip_network(proxy, strict=False)
        for proxy in settings.FORWARDED_ALLOW_IPS
    )


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
