"""An endpoint's fused ``readiness()`` agrees with ``readable()``, ``writable()`` and
``hangup()`` in every state a connection passes through."""

from __future__ import annotations

import socket

import usersock
from usersock.link.loopback import Loopback
from usersock.transport.endpoint import Endpoint


def endpoint_of(sock: socket.socket) -> Endpoint:
    ep = sock._ep  # type: ignore[attr-defined]
    assert isinstance(ep, Endpoint)
    return ep


def agree(*socks: socket.socket) -> None:
    for sock in socks:
        ep = endpoint_of(sock)
        assert ep.readiness() == (ep.readable(), ep.writable(), ep.hangup())


def test_fused_readiness_matches_the_three_calls_through_a_connection_life() -> None:
    clock = usersock.ManualClock()
    stack = usersock.Stack(clock=clock)
    stack.create_nic(1, Loopback())
    stack.add_address(1, "127.0.0.1/8")
    srv = stack.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 8000))
    srv.listen()
    cli = stack.socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    cli.setblocking(False)
    agree(srv, cli)
    cli.connect_ex(("127.0.0.1", 8000))
    agree(srv, cli)
    conn, _ = srv.accept()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn.setblocking(False)
    agree(srv, cli, conn)
    seen = set()
    sent = 0
    # Fill both buffers: readable on one side, no longer writable on the other.
    for _ in range(200):
        try:
            sent += cli.send(b"x" * 1000)
        except BlockingIOError:
            break
        agree(cli, conn)
        seen.add(endpoint_of(cli).readiness())
    assert (False, False, 0) in seen  # the sender stopped being writable
    assert endpoint_of(conn).readiness()[0] is True
    got = 0
    for _ in range(1000):
        if got == sent:
            break
        try:
            got += len(conn.recv(65536))
        except BlockingIOError:
            clock.advance(0.2)  # what is left waits for a timer (persist, delayed ACK)
        agree(cli, conn)
    assert got == sent
    cli.shutdown(socket.SHUT_WR)
    agree(cli, conn)
    assert endpoint_of(conn).readiness() == (True, True, 1)
    conn.shutdown(socket.SHUT_RD)
    agree(cli, conn)
    conn.close()
    agree(cli)
    stack.close()
