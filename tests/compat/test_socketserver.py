"""``socketserver``'s threading TCP and UDP servers over ``usersock.patched()``.

The servers are the stock classes with a stock handler; clients are plain ``socket`` calls,
which inside ``patched()`` are virtual too.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from typing import TYPE_CHECKING, cast

import pytest

import usersock

if TYPE_CHECKING:
    from tests.compat.conftest import Serving

pytestmark = pytest.mark.timeout(60)


class UpperStreamHandler(socketserver.StreamRequestHandler):
    """Line protocol: each line comes back upper-cased; ``quit`` ends the session."""

    def handle(self) -> None:
        for line in self.rfile:
            if line.strip() == b"quit":
                self.wfile.write(b"bye\n")
                return
            self.wfile.write(line.upper())


class UpperDatagramHandler(socketserver.DatagramRequestHandler):
    def handle(self) -> None:
        self.wfile.write(self.rfile.read().upper())


def test_threading_tcp_server(serving: Serving, wait: float) -> None:
    with usersock.patched() as net:
        address = net.add_host("tcp.test")
        server = socketserver.ThreadingTCPServer(("tcp.test", 0), UpperStreamHandler)
        server.daemon_threads = False  # server_close() joins the handler threads
        host, port = cast("tuple[str, int]", server.server_address)
        assert host == address
        results: dict[int, list[bytes]] = {}
        errors: list[BaseException] = []

        def client(n: int) -> None:
            try:
                with socket.create_connection(("tcp.test", port), timeout=wait) as s:
                    f = s.makefile("rwb")
                    got = []
                    for i in range(5):
                        f.write(b"client %d line %d\n" % (n, i))
                        f.flush()
                        got.append(f.readline())
                    f.write(b"quit\n")
                    f.flush()
                    got.append(f.readline())
                    assert f.readline() == b""  # the server closed: EOF
                    f.close()
                    results[n] = got
            except BaseException as exc:
                errors.append(exc)

        with serving(server):
            threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(wait)
        assert not errors, errors
        for n in range(8):
            assert results[n] == [b"CLIENT %d LINE %d\n" % (n, i) for i in range(5)] + [b"bye\n"]


def test_threading_tcp_server_ipv6_dual_stack_host(serving: Serving, wait: float) -> None:
    class Server6(socketserver.ThreadingTCPServer):
        address_family = socket.AF_INET6
        daemon_threads = False

    with usersock.patched() as net:
        net.add_host("dual.test", "198.18.5.5", "fd00::5")
        server = Server6(("fd00::5", 0), UpperStreamHandler)
        port = server.server_address[1]
        infos = socket.getaddrinfo("dual.test", port, type=socket.SOCK_STREAM)
        assert {info[4][0] for info in infos} == {"198.18.5.5", "fd00::5"}
        with serving(server), socket.create_connection(("dual.test", port), timeout=wait) as s:
            # Nothing listens on the IPv4 address: create_connection moves on to IPv6.
            assert s.family == socket.AF_INET6
            assert s.getpeername()[:2] == ("fd00::5", port)
            s.sendall(b"six\nquit\n")
            with s.makefile("rb") as f:
                assert f.read() == b"SIX\nbye\n"


def test_threading_udp_server(serving: Serving, wait: float) -> None:
    with usersock.patched() as net:
        address = net.add_host("udp.test")
        server = socketserver.ThreadingUDPServer(("udp.test", 0), UpperDatagramHandler)
        server.daemon_threads = False
        port = server.server_address[1]
        with serving(server):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(wait)
                for i in range(20):
                    s.sendto(b"datagram %d" % i, ("udp.test", port))
                    data, addr = s.recvfrom(2048)
                    assert data == b"DATAGRAM %d" % i
                    assert addr == (address, port)
            # A connected UDP client works the same.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(wait)
                s.connect(("udp.test", port))
                s.send(b"connected")
                assert s.recv(2048) == b"CONNECTED"


def test_threading_udp_server_on_ipv6_wildcard_answers_ipv4_clients(
    serving: Serving, wait: float
) -> None:
    """An IPv6 wildcard socket takes IPv4 traffic too (Linux's default, bindv6only=0); the
    sender shows as an IPv4-mapped address, and the reply goes back to it."""

    class Server6(socketserver.ThreadingUDPServer):
        address_family = socket.AF_INET6
        daemon_threads = False

    with usersock.patched():
        server = Server6(("::", 0), UpperDatagramHandler)
        port = server.server_address[1]
        with serving(server):
            for family, host in ((socket.AF_INET6, "::1"), (socket.AF_INET, "127.0.0.1")):
                with socket.socket(family, socket.SOCK_DGRAM) as s:
                    s.settimeout(2)
                    s.sendto(b"from %s" % host.encode(), (host, port))
                    assert s.recv(100) == b"FROM %s" % host.encode()
