"""The test origin's own promise (optimizer/tests/origin.py): groups of hosts on one port, even
when the first port the kernel offers is held on one of them."""

import socket

from optimizer.tests import origin
from optimizer.tests.origin import origins_on_one_port


def test_origins_on_one_port_take_another_port_when_a_host_holds_the_first(monkeypatch):
    held = socket.create_server(("127.0.0.1", 0))  # as a client's ephemeral port on loopback would be
    taken = held.getsockname()[1]
    offered = iter([taken])
    real_init = origin._Server.__init__

    def offering_the_held_port_first(self, address, owner, family):
        host, port = address
        real_init(self, (host, next(offered, port) if port == 0 else port), owner, family)

    monkeypatch.setattr(origin._Server, "__init__", offering_the_held_port_first)
    try:
        public, internal = origins_on_one_port(("127.0.0.2",), ("127.0.0.1", "::1"))
    finally:
        held.close()

    assert public.port == internal.port != taken
    public.close()
    internal.close()
