"""The ``usersock`` marker: run one test (or a class, or a module) on a fresh network.

Run: ``python -m pytest examples/test_marker.py``

The test body is ordinary socket code; the marker alone makes it virtual. ``allow=`` lists
what may still reach the real network (``"host"``, ``"host:port"``, ``"[v6]:port"``); a
test that also asks for ``usersock_net`` gets the same network.
"""

import socket
import socketserver
import threading
from typing import cast

import pytest

from usersock import Network


class Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.wfile.write(self.rfile.readline().upper())


@pytest.mark.usersock
def test_socketserver_echo() -> None:
    with socketserver.ThreadingTCPServer(("localhost", 0), Echo) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            address = cast("tuple[str, int]", server.server_address)
            with socket.create_connection(address, timeout=5) as conn:
                conn.sendall(b"hello\n")
                assert conn.makefile("rb").readline() == b"HELLO\n"
        finally:
            server.shutdown()
            thread.join()


@pytest.mark.usersock(allow=["db.example.com:5432"])
def test_marker_and_fixture_share_the_network(usersock_net: Network) -> None:
    # The marker made the network; the fixture hands the same one to the test.
    assert [rule.host for rule in usersock_net.allow] == ["db.example.com"]
    with pytest.raises(OSError, match="not on the virtual network"):
        socket.create_connection(("192.0.2.1", 80), timeout=5)  # not allowed: blocked
