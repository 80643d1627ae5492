"""usersock.Network: hosts, the allow list, and the ss-like connection table."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import usersock
from usersock.net import Allowed


def test_connections_lists_listeners_and_connections_with_counters() -> None:
    with usersock.Network() as net:
        srv = net.socket()
        srv.bind(("127.0.0.1", 8080))
        srv.listen()
        cli = net.socket()
        cli.connect(("127.0.0.1", 8080))
        conn, _ = srv.accept()
        cli.sendall(b"x" * 1000)
        table = {(c.state, c.local[1]): c for c in net.connections()}
        assert ("LISTEN", 8080) in table
        server_side = table[("ESTABLISHED", 8080)]
        assert server_side.receive_queue == 1000
        client_side = next(c for c in net.connections() if c.remote == ("127.0.0.1", 8080))
        # Send-Q counts bytes not yet acknowledged: the ACK of a small message may still be
        # waiting (ACK_DEFER) for an answer to ride on.
        assert client_side.bytes_sent >= 1000 and 0 <= client_side.send_queue <= 1000
        assert len(conn.recv(2000)) == 1000  # (closing with unread data would send RST)
        conn.close()
        cli.close()
        states = sorted(c.state for c in net.connections())
        assert "TIME-WAIT" in states  # the active closer (the server side here) waits 2*MSL


def test_add_host_and_virtual_names() -> None:
    with usersock.Network() as net:
        first = net.add_host("api.test")
        second = net.add_host("db.test", "10.1.2.3")
        assert first.startswith("198.18.") and second == "10.1.2.3"
        srv = net.socket()
        srv.bind(("db.test", 5432))
        srv.listen()
        cli = net.socket()
        cli.connect(("db.test", 5432))
        assert cli.getpeername() == ("10.1.2.3", 5432)
        with pytest.raises(ValueError):
            net.add_host("bad name")


def test_real_addresses_are_blocked_with_a_clear_error() -> None:
    with usersock.Network() as net:
        s = net.socket()
        with pytest.raises(usersock.RealNetworkBlocked) as info:
            s.connect(("203.0.113.7", 443))
        assert info.value.errno == errno.ENETUNREACH
        assert "203.0.113.7:443" in str(info.value) and "allow=" in str(info.value)


def test_allow_entries_parse() -> None:
    assert Allowed.parse("127.0.0.1:5432") == Allowed("127.0.0.1", 5432)
    assert Allowed.parse("db.example.com") == Allowed("db.example.com", None)
    assert Allowed.parse("[::1]:80") == Allowed("::1", 80)
    with pytest.raises(ValueError):
        Allowed.parse("")


@pytest.fixture
def real_listener() -> Iterator[socket.socket]:
    """A kernel TCP listener on 127.0.0.1 (opened before any patching)."""
    with socket.socket() as real:
        real.bind(("127.0.0.1", 0))
        real.listen()
        yield real


def test_an_allowed_local_address_reaches_the_real_kernel(real_listener: socket.socket) -> None:
    real = real_listener
    port = real.getsockname()[1]
    with usersock.Network(allow=[f"127.0.0.1:{port}"]) as net:
        s = net.socket()
        s.settimeout(5)
        s.connect(("127.0.0.1", port))  # allowed: a real connection, not the virtual 127/8
        conn, _ = real.accept()
        s.sendall(b"over the kernel")
        assert conn.recv(100) == b"over the kernel"
        assert not usersock.sockets.is_virtual(s)
        conn.close()
        s.close()


def test_a_socket_that_became_real_keeps_its_descriptor_and_flags(
    real_listener: socket.socket,
) -> None:
    """A socket whose descriptor was taken before it connected to an allowed address keeps
    that descriptor number, now the kernel socket's, and it stays non-inheritable."""
    real = real_listener
    port = real.getsockname()[1]
    with usersock.Network(allow=[f"127.0.0.1:{port}"]) as net:
        s = net.socket()
        fd = s.fileno()
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        conn, _ = real.accept()
        assert s.fileno() == fd
        assert not os.get_inheritable(fd)
        assert s.getpeername() == ("127.0.0.1", port)
        conn.close()
        s.close()


def test_a_socket_that_became_real_keeps_its_options(real_listener: socket.socket) -> None:
    """Every option set on the virtual socket is set again on the kernel socket it becomes
    (also through a ``dup()``): IP, TCP and socket-level ones alike."""
    port = real_listener.getsockname()[1]
    S, T, IP = socket.SOL_SOCKET, socket.IPPROTO_TCP, socket.IPPROTO_IP
    wanted = {
        (IP, socket.IP_TTL): 9,
        (IP, socket.IP_TOS): 0x20,
        (T, socket.TCP_NODELAY): 1,
        (T, socket.TCP_KEEPIDLE): 77,
        (S, socket.SO_KEEPALIVE): 1,
        (S, socket.SO_REUSEADDR): 1,
    }
    with usersock.Network(allow=[f"127.0.0.1:{port}"]) as net:
        s = net.socket()
        twin = s.dup()
        for i, ((level, name), value) in enumerate(wanted.items()):
            (s if i % 2 else twin).setsockopt(level, name, value)
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        conn, _ = real_listener.accept()
        assert not usersock.sockets.is_virtual(s)
        assert {key: s.getsockopt(*key) for key in wanted} == wanted
        for sock in (conn, s, twin):
            sock.close()


def test_demo_http_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "usersock", "demo", "http", "--requests", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count('"path": "/hello/') >= 2
    assert "ss: " in out.stdout


def test_connect_to_a_wildcard_reaches_the_loopback() -> None:
    """``::`` and ``::ffff:0.0.0.0`` (IPv4's wildcard on a dual-stack socket) connect to the
    loopback, as ``0.0.0.0`` does on Linux (checked by hand: the suite's network guard keeps
    real sockets from connecting to a wildcard, so this is not a differential test)."""
    with usersock.Network() as net:
        lst = net.socket(socket.AF_INET6)
        lst.bind(("::", 0))
        lst.listen()
        port = lst.getsockname()[1]
        seen = []
        for dst in ("::", "::ffff:0.0.0.0"):
            c = net.socket(socket.AF_INET6)
            c.connect((dst, port))
            conn, peer = lst.accept()
            seen.append((c.getsockname()[0], c.getpeername()[0], peer[0]))
            conn.close()
            c.close()
        lst.close()
    assert seen == [("::1", "::1", "::1"), ("::ffff:127.0.0.1",) * 3]


def test_v6only_socket_cannot_reach_an_ipv4_mapped_address() -> None:
    """``tcp_v6_connect`` and ``udpv6_sendmsg`` answer ENETUNREACH for ``::ffff:a.b.c.d``
    on an ``IPV6_V6ONLY`` socket (checked on Linux by hand: the suite's network guard
    keeps real sockets from connecting to a mapped address)."""
    with usersock.Network() as net:
        tcp = net.socket(socket.AF_INET6)
        udp = net.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        calls = (
            lambda: tcp.connect(("::ffff:127.0.0.1", 9)),
            lambda: udp.connect(("::ffff:127.0.0.1", 9)),
            lambda: udp.sendto(b"x", ("::ffff:127.0.0.1", 9)),
        )
        for s in (tcp, udp):
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        for call in calls:
            with pytest.raises(OSError) as info:
                call()
            assert info.value.errno == errno.ENETUNREACH
        tcp.close()
        udp.close()


@pytest.mark.parametrize("v6only", [1, 0])
def test_connect_of_a_connected_or_listening_socket_is_eisconn_whatever_the_address(
    v6only: int,
) -> None:
    """``__inet_stream_connect`` looks at the socket's state before ``tcp_v6_connect``
    looks at the address: a connected or listening IPv6 socket answers EISCONN also for
    ``::ffff:a.b.c.d``, with or without ``IPV6_V6ONLY`` (checked on Linux by hand: the
    suite's network guard keeps real sockets from connecting to a mapped address)."""
    with usersock.Network() as net:
        lst = net.socket(socket.AF_INET6)
        lst.bind(("::1", 0))
        lst.listen()
        port = lst.getsockname()[1]
        connected = net.socket(socket.AF_INET6)
        listening = net.socket(socket.AF_INET6)
        for s in (connected, listening):
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
        connected.connect(("::1", port))
        listening.bind(("::1", 0))
        listening.listen()
        for s in (connected, listening):
            with pytest.raises(OSError) as info:
                s.connect(("::ffff:127.0.0.1", port))
            assert info.value.errno == errno.EISCONN
        for s in (connected, listening, lst):
            s.close()


def test_a_dual_stack_socket_follows_the_family_of_each_destination() -> None:
    """An ``AF_INET6`` socket carries IPv4 for ``::ffff:a.b.c.d`` and IPv6 otherwise: a
    TCP socket whose mapped connect failed connects to ``::1``, an unconnected UDP socket
    sends to both in turn (checked on Linux by hand: the suite's network guard keeps real
    sockets from reaching a mapped address)."""
    with usersock.Network() as net:
        lst6 = net.socket(socket.AF_INET6)
        lst6.bind(("::1", 0))
        lst6.listen()
        tcp = net.socket(socket.AF_INET6)
        with pytest.raises(ConnectionRefusedError):
            tcp.connect(("::ffff:127.0.0.1", 9))
        tcp.connect(("::1", lst6.getsockname()[1]))
        conn, peer = lst6.accept()
        assert peer[0] == "::1"
        r4 = net.socket(socket.AF_INET, socket.SOCK_DGRAM)
        r4.bind(("127.0.0.1", 0))
        r6 = net.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        r6.bind(("::1", 0))
        udp = net.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        for i, (dst, receiver) in enumerate(
            [(("::ffff:127.0.0.1", r4.getsockname()[1]), r4), (("::1", r6.getsockname()[1]), r6)]
            * 2
        ):
            assert udp.sendto(bytes([i]), dst) == 1
            assert receiver.recv(10) == bytes([i])
        assert udp.getsockname()[0] == "::"
        for s in (conn, tcp, lst6, r4, r6, udp):
            s.close()
