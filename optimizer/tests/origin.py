"""A loopback HTTP server playing a customer's image host, counting every connection it accepts."""

import errno
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str | None] = field(default_factory=dict)
    # Seconds between the bytes of the body, to play a slow host; None sends it at once.
    drip_seconds: float | None = None
    # How many bytes each drip sends (a big body in a few slow pieces).
    drip_bytes: int = 1
    # Send the headers and the first bytes, then hold the connection until Origin.release is set.
    stall: bool = False
    # Seconds between the bytes of the status line and headers, which never end: a host that
    # trickles its headers (no single read ever waits long enough to time out).
    header_drip_seconds: float | None = None
    # Called (in the server's thread) when the request arrives, before anything is answered.
    on_request: Callable[[], None] | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address, origin: "Origin", family: socket.AddressFamily) -> None:
        self.address_family = family
        self.origin = origin
        super().__init__(address, _Handler)

    def verify_request(self, request, client_address) -> bool:
        with self.origin.lock:
            self.origin.connections += 1
        return True


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        origin = self.server.origin
        with origin.lock:
            origin.requests.append((self.path, dict(self.headers)))
        route = origin.routes.get(self.path.split("?")[0], Route(status=404, body=b"not found"))
        if route.on_request:
            route.on_request()
        if route.header_drip_seconds is not None:
            self._drip_headers_until_released(route.header_drip_seconds)
            return
        self.send_response(route.status)
        headers = {"Content-Length": str(len(route.body)), **route.headers}
        for name, value in headers.items():
            if value is not None:  # None leaves a header out, e.g. Content-Length
                self.send_header(name, value)
        self.end_headers()
        try:
            if route.stall:
                self.wfile.write(route.body[:16])
                self.wfile.flush()
                origin.release.wait(timeout=60)
            elif route.drip_seconds is not None:
                for index in range(0, len(route.body), route.drip_bytes):
                    self.wfile.write(route.body[index : index + route.drip_bytes])
                    self.wfile.flush()
                    time.sleep(route.drip_seconds)
            else:
                self.wfile.write(route.body)
        except OSError:
            pass  # the client gave up, as it should

    def _drip_headers_until_released(self, seconds: float) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nX-Filler: "
        try:
            for index in range(len(head)):
                self.wfile.write(head[index : index + 1])
                self.wfile.flush()
                time.sleep(seconds)
            while not self.server.origin.release.wait(seconds):
                self.wfile.write(b"a")
                self.wfile.flush()
        except OSError:
            pass  # the client gave up, as it should

    def log_message(self, format: str, *args) -> None:
        pass


class Origin:
    """Serves `routes` on `hosts` (127.0.0.1 and [::1] unless told), on one port (a free one unless told)."""

    def __init__(self, hosts: tuple[str, ...] = ("127.0.0.1", "::1"), port: int = 0) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.connections = 0
        self.lock = threading.Lock()
        self.release = threading.Event()
        self._servers = []
        try:
            for host in hosts:
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                self._servers.append(_Server((host, port), self, family))
                port = self._servers[0].server_address[1]
        except OSError:
            for server in self._servers:
                server.server_close()
            raise
        self.port = port
        self.host = f"[{hosts[0]}]" if ":" in hosts[0] else hosts[0]
        for server in self._servers:
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def serve(self, path: str, body: bytes, **route) -> str:
        self.routes[path] = Route(body=body, **route)
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        self.routes[path] = Route(status=status, headers={"Location": location})
        return self.url(path)

    def close(self) -> None:
        self.release.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()


def origins_on_one_port(*host_groups: tuple[str, ...], attempts: int = 20) -> list[Origin]:
    """One Origin for each group of hosts, all on one port. The kernel gives a port free on the
    first host; another may hold it (a client's ephemeral port on 127.0.0.1, say: a connection to
    PostgreSQL or Redis), and then another port is chosen."""
    for _ in range(attempts - 1):
        try:
            return _on_one_port(host_groups)
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
    return _on_one_port(host_groups)


def _on_one_port(host_groups: tuple[tuple[str, ...], ...]) -> list[Origin]:
    origins: list[Origin] = []
    try:
        for hosts in host_groups:
            origins.append(Origin(hosts, port=origins[0].port if origins else 0))
    except OSError:
        for origin in origins:
            origin.close()
        raise
    return origins
