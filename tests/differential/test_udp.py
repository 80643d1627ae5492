"""UDP: ``sendto``/``recvfrom``, message boundaries and truncation, connected sockets and the
ICMP port unreachable that becomes ``ECONNREFUSED``, sending to oneself, readiness, and the
errors of datagram sockets.

Each test is a scenario run on real sockets and under ``usersock.patched()`` (see
``conftest.py``); it returns what the code observed.
"""

from __future__ import annotations

import select
import socket
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.differential.conftest import Env

pytestmark = pytest.mark.timeout(60)


def test_sendto_recvfrom(env: Env) -> object:
    a, b = env.bound_udp(), env.bound_udp()
    sent = a.sendto(b"datagram", env.address(b))
    data, sender = b.recvfrom(100)
    return {"sent": sent, "data": data, "sender": sender, "sender is a": sender == a.getsockname()}


def test_reply_to_the_sender_address(env: Env) -> object:
    server, client = env.bound_udp(), env.udp()
    client.sendto(b"ping", env.address(server))
    data, addr = server.recvfrom(100)
    server.sendto(data.upper(), addr)
    reply, source = client.recvfrom(100)
    return {"reply": reply, "from server": source == server.getsockname()}


def test_unbound_sender_gets_a_port_on_first_sendto(env: Env) -> object:
    a, b = env.udp(), env.bound_udp()
    before = a.getsockname()
    a.sendto(b"x", env.address(b))
    _, sender = b.recvfrom(10)
    return {"before": before, "after": a.getsockname(), "sender": sender}


def test_message_boundaries_are_kept(env: Env) -> object:
    a, b = env.bound_udp(), env.bound_udp()
    for payload in (b"one", b"two!", b"three"):
        a.sendto(payload, env.address(b))
    return [b.recv(100) for _ in range(3)]


def test_truncated_datagram_loses_the_rest(env: Env) -> object:
    a, b = env.bound_udp(), env.bound_udp()
    a.sendto(b"0123456789", env.address(b))
    a.sendto(b"next", env.address(b))
    return [b.recv(4), b.recv(100)]


def test_recvmsg_reports_truncation(env: Env) -> object:
    a, b = env.bound_udp(), env.bound_udp()
    a.sendto(b"0123456789", env.address(b))
    data, ancdata, flags, addr = b.recvmsg(4)
    return {
        "data": data,
        "ancdata": ancdata,
        "MSG_TRUNC": bool(flags & socket.MSG_TRUNC),
        "from a": addr == a.getsockname(),
    }


def test_recv_into_and_recvfrom_into(env: Env) -> object:
    a, b = env.bound_udp(), env.bound_udp()
    a.sendto(b"abcdef", env.address(b))
    a.sendto(b"ghijkl", env.address(b))
    one = bytearray(4)
    two = bytearray(10)
    n1 = b.recv_into(one)
    n2, addr = b.recvfrom_into(two, 3)
    return {
        "recv_into": [n1, bytes(one)],
        "recvfrom_into": [n2, bytes(two), addr == a.getsockname()],
    }


def test_empty_datagram(env: Env) -> object:
    a, b = env.bound_udp(), env.bound_udp()
    sent = a.sendto(b"", env.address(b))
    return {"sent": sent, "got": b.recvfrom(10)[0]}


def test_zero_byte_reads(env: Env) -> object:
    # CPython answers recv(0) and recv_into(<empty>) without asking the kernel, so nothing
    # is consumed; recvfrom(0) does call recvfrom(2) and discards a datagram.
    a, b = env.bound_udp(), env.bound_udp()
    for payload in (b"first", b"second", b"third"):
        a.sendto(payload, env.address(b))
    env.readable(b, 1.0)
    return {
        "recv(0)": b.recv(0),
        "recv_into(empty)": b.recv_into(bytearray(0)),
        "then": b.recv(100),
        "recvfrom(0)": b.recvfrom(0)[0],
        "last": b.recv(100),
    }


def test_peek_then_receive(env: Env) -> object:
    a, b = env.bound_udp(), env.bound_udp()
    a.sendto(b"peeked", env.address(b))
    peek = b.recvfrom(100, socket.MSG_PEEK)
    short_peek = b.recv(2, socket.MSG_PEEK)
    real = b.recvfrom(100)
    return {
        "peek": peek[0],
        "short peek": short_peek,
        "recv": real[0],
        "same sender": peek[1] == real[1],
    }


def test_sendto_with_flags_argument(env: Env) -> object:
    a, b = env.bound_udp(), env.bound_udp()
    sent = a.sendto(b"flags", 0, env.address(b))
    return {"sent": sent, "got": b.recv(10)}


def test_send_to_self(env: Env) -> object:
    s = env.bound_udp()
    s.sendto(b"me", env.address(s))
    data, addr = s.recvfrom(10)
    return {"data": data, "from self": addr == s.getsockname()}


def test_large_datagram(env: Env) -> object:
    a, b = env.bound_udp(), env.bound_udp()
    payload = bytes(range(256)) * 234
    sent = a.sendto(payload, env.address(b))
    return {"sent": sent, "same": b.recv(65536) == payload}


def test_datagram_too_large(env: Env) -> object:
    a, b = env.bound_udp(), env.bound_udp()
    limit = 65507 if env.family == socket.AF_INET else 65527
    return env.attempt(a.sendto, b"x" * (limit + 1), env.address(b))


def test_recvfrom_times_out(env: Env) -> object:
    s = env.bound_udp()
    s.settimeout(0.2)
    return env.attempt(s.recvfrom, 10)


def test_nonblocking_recv_would_block(env: Env) -> object:
    s = env.bound_udp()
    s.setblocking(False)
    return [
        env.attempt(s.recv, 10),
        env.attempt(s.recvfrom, 10),
        env.attempt(s.recv, 10, socket.MSG_DONTWAIT),
    ]


def test_readiness(env: Env) -> object:
    a, b = env.bound_udp(), env.bound_udp()
    before = [env.readable(b), env.writable(b)]
    a.sendto(b"x", env.address(b))
    arrived = env.readable(b, 1.0)
    b.recv(10)
    return {
        "before": before,
        "arrived": arrived,
        "drained": env.readable(b),
        "fresh writable": env.writable(env.udp()),
    }


# Connected UDP -----------------------------------------------------------------------------
def test_connected_send_and_recv(env: Env) -> object:
    server = env.bound_udp()
    client = env.udp()
    client.connect(env.address(server))
    sent = client.send(b"hello")
    data, addr = server.recvfrom(100)
    server.sendto(b"back", addr)
    return {
        "sent": sent,
        "server got": data,
        "client got": client.recv(100),
        "peer": client.getpeername() == server.getsockname(),
        "local": client.getsockname(),
    }


def test_connected_socket_ignores_other_senders(env: Env) -> object:
    server, stranger = env.bound_udp(), env.bound_udp()
    client = env.bound_udp()
    client.connect(env.address(server))
    stranger.sendto(b"stranger", env.address(client))
    server.sendto(b"server", env.address(client))
    client.settimeout(0.2)
    return [env.attempt(client.recv, 100), env.attempt(client.recv, 100)]


def test_connected_to_a_closed_port_is_refused(env: Env) -> object:
    port = env.closed_port(socket.SOCK_DGRAM)
    s = env.udp()
    s.connect((env.host, port))
    sent = s.send(b"anyone?")
    return {
        "send": sent,
        "recv": env.attempt(s.recv, 10),
        "SO_ERROR after": s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR),
    }


def test_refusal_is_reported_by_so_error_and_select(env: Env) -> object:
    port = env.closed_port(socket.SOCK_DGRAM)
    s = env.udp()
    s.connect((env.host, port))
    s.send(b"anyone?")
    readable = env.readable(s, 1.0)
    so_error = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    s.settimeout(0.1)
    return {"readable": readable, "SO_ERROR": so_error, "then recv": env.attempt(s.recv, 10)}


def test_refusal_reported_to_the_next_send(env: Env) -> object:
    port = env.closed_port(socket.SOCK_DGRAM)
    s = env.udp()
    s.connect((env.host, port))
    s.send(b"one")
    env.readable(s, 1.0)
    return [env.attempt(s.send, b"two"), env.attempt(s.send, b"three")]


def test_refusal_reported_before_a_shut_write_side(env: Env) -> object:
    """A pending ICMP error comes after EMSGSIZE (which leaves it pending) and before the
    EPIPE of ``shutdown(SHUT_WR)``."""
    port = env.closed_port(socket.SOCK_DGRAM)
    s = env.udp()
    s.connect((env.host, port))
    s.send(b"one")
    env.readable(s, 1.0)
    s.shutdown(socket.SHUT_WR)
    sends = (b"x" * 70000, b"two", b"three")
    return [env.attempt(s.send, data) for data in sends]


def test_unconnected_socket_hears_no_refusal(env: Env) -> object:
    port = env.closed_port(socket.SOCK_DGRAM)
    s = env.bound_udp()
    s.settimeout(0.2)
    sent = s.sendto(b"anyone?", (env.host, port))
    return {"sent": sent, "recvfrom": env.attempt(s.recvfrom, 10)}


def test_connect_twice_changes_the_peer(env: Env) -> object:
    first, second = env.bound_udp(), env.bound_udp()
    s = env.udp()
    s.connect(env.address(first))
    s.connect(env.address(second))
    s.send(b"to second")
    return {"peer is second": s.getpeername() == second.getsockname(), "got": second.recv(10)}


def test_sendto_on_a_connected_socket(env: Env) -> object:
    server, other = env.bound_udp(), env.bound_udp()
    s = env.udp()
    s.connect(env.address(server))
    sent = env.attempt(s.sendto, b"elsewhere", env.address(other))
    return {"sendto": sent, "other got": env.attempt(other.recv, 20)}


# Errors ------------------------------------------------------------------------------------
def test_send_without_destination(env: Env) -> object:
    s = env.udp()
    return {"send": env.attempt(s.send, b"x"), "sendall": env.attempt(s.sendall, b"x")}


def test_unconnected_names_and_shutdown(env: Env) -> object:
    s = env.bound_udp()
    return {
        "getpeername": env.attempt(s.getpeername),
        "shutdown": env.attempt(s.shutdown, socket.SHUT_RDWR),
    }


def test_connected_shutdown_wr(env: Env) -> object:
    server = env.bound_udp()
    s = env.bound_udp()
    s.connect(env.address(server))
    s.shutdown(socket.SHUT_WR)
    return {
        "send": env.attempt(s.send, b"x"),
        "sendto": env.attempt(s.sendto, b"x", env.address(server)),
    }


def test_connected_shutdown_rd_keeps_receiving(env: Env) -> object:
    server = env.bound_udp()
    s = env.bound_udp()
    s.connect(env.address(server))
    s.shutdown(socket.SHUT_RD)
    server.sendto(b"late", env.address(s))
    return {"readable": env.readable(s, 1.0), "recv": env.attempt(s.recv, 10)}


def _poll_mask(sock: socket.socket) -> int:
    p = select.poll()
    p.register(sock, select.POLLIN | select.POLLOUT | select.POLLRDHUP)
    return sum(mask for _, mask in p.poll(0))


@pytest.mark.parametrize("connected", [False, True], ids=["unconnected", "connected"])
@pytest.mark.parametrize(
    "how", [socket.SHUT_RD, socket.SHUT_WR, socket.SHUT_RDWR], ids=["rd", "wr", "rdwr"]
)
def test_shutdown_flags_poll_send_and_recv(env: Env, connected: bool, how: int) -> object:
    """Linux keeps the flags of ``shutdown()`` even when it fails with ENOTCONN (an
    unconnected socket): poll() shows them, ``SHUT_WR`` makes sends fail with EPIPE. After
    ``SHUT_RD`` an empty queue gives EAGAIN to a non-blocking read, though poll() says
    readable."""
    peer = env.bound_udp()
    s = env.bound_udp()
    if connected:
        s.connect(env.address(peer))
    shut = env.attempt(s.shutdown, how)
    send = env.attempt(s.sendto, b"a", env.address(peer))
    s.setblocking(False)
    return {
        "shutdown": shut,
        "sendto": send,
        "poll": _poll_mask(s),
        "recv": env.attempt(s.recv, 1),
    }


def test_blocking_recv_after_shut_rd_reads_nothing(env: Env) -> object:
    """A blocking read on an empty queue after ``SHUT_RD`` returns ``b""`` at once."""
    peer = env.bound_udp()
    s = env.bound_udp()
    s.connect(env.address(peer))
    s.shutdown(socket.SHUT_RD)
    s.settimeout(None)
    empty = env.attempt(s.recv, 10)
    peer.sendto(b"late", env.address(s))
    return {"empty": empty, "late": env.attempt(s.recv, 10)}


def test_msg_trunc_returns_the_real_length(env: Env) -> object:
    """With ``MSG_TRUNC`` a UDP read returns the datagram's real length; CPython grows
    ``recv``'s result to it (the bytes past the buffer are not meaningful: only the
    length and the prefix are compared)."""
    a, b = env.bound_udp(), env.bound_udp()
    seen = {}
    for name in ("recv", "recv_into", "recvfrom", "recvfrom_into"):
        a.sendto(b"0123456789", env.address(b))
        buf = bytearray(4)
        if name == "recv":
            data = b.recv(4, socket.MSG_TRUNC)
            seen[name] = (len(data), data[:4])
        elif name == "recvfrom":
            data = b.recvfrom(4, socket.MSG_TRUNC)[0]
            seen[name] = (len(data), data[:4])
        elif name == "recv_into":
            seen[name] = (b.recv_into(buf, 0, socket.MSG_TRUNC), bytes(buf))
        else:
            seen[name] = (b.recvfrom_into(buf, 0, socket.MSG_TRUNC)[0], bytes(buf))
    return seen


def test_broadcast_needs_so_broadcast(env4: Env) -> object:
    """127.255.255.255 is the loopback subnet's broadcast address: UDP needs
    ``SO_BROADCAST`` for it (EACCES), TCP cannot connect to it (ENETUNREACH)."""
    r = env4.udp()
    r.bind(("0.0.0.0", 0))
    port = r.getsockname()[1]
    s = env4.udp()
    refused = {
        "sendto": env4.attempt(s.sendto, b"x", ("127.255.255.255", port)),
        "connect": env4.attempt(s.connect, ("127.255.255.255", port)),
        "tcp connect": env4.attempt(env4.tcp().connect, ("127.255.255.255", port)),
    }
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sent = env4.attempt(s.sendto, b"x", ("127.255.255.255", port))
    return {"refused": refused, "with SO_BROADCAST": sent, "received": r.recv(10)}


def test_broadcast_reaches_every_socket_on_the_port(env4: Env) -> object:
    """A datagram to 127.255.255.255 goes to every socket bound to the wildcard on its port
    (``SO_REUSEADDR`` lets several share it), not to one bound to 127.0.0.1 nor to a
    connected one."""
    wild = [env4.udp(0.0) for _ in range(2)]
    for w in wild:
        w.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    wild[0].bind(("0.0.0.0", 0))
    port = wild[0].getsockname()[1]
    wild[1].bind(("0.0.0.0", port))
    local = env4.udp(0.0)
    local.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    local.bind(("127.0.0.1", port))
    s = env4.udp()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.bind(("127.0.0.1", 0))
    connected = env4.udp(0.0)
    connected.bind(("0.0.0.0", 0))
    connected.connect(("127.0.0.1", s.getsockname()[1]))
    sent = [s.sendto(b"bc", ("127.255.255.255", p)) for p in (port, connected.getsockname()[1])]
    for sock in (*wild, local, connected):
        env4.readable(sock, 0.2)
    return {
        "sent": sent,
        "received": [env4.attempt(x.recv, 10) for x in (*wild, local, connected)],
    }


def test_unicast_to_a_port_shared_by_reuseaddr_goes_to_the_last_bound(env: Env) -> object:
    """Of several UDP sockets sharing an address and port through ``SO_REUSEADDR``, the
    one bound last gets unicast datagrams; once it closes, the one bound before it."""
    socks: list[socket.socket] = []
    for _ in range(3):
        u = env.udp(0.0)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        u.bind((env.host, socks[0].getsockname()[1] if socks else 0))
        socks.append(u)
    s = env.udp()
    s.sendto(b"first", env.address(socks[0]))
    env.readable(socks[2], 1.0)
    first = [env.attempt(u.recv, 10) for u in socks]
    socks[2].close()
    s.sendto(b"second", env.address(socks[0]))
    env.readable(socks[1], 1.0)
    return {"first": first, "second": [env.attempt(u.recv, 10) for u in socks[:2]]}


def test_bind_to_a_broadcast_address(env4: Env) -> object:
    """``inet_bind`` takes a broadcast address (255.255.255.255, 127.255.255.255) as it
    takes a local one, for UDP and TCP alike."""
    names = []
    for host in ("255.255.255.255", "127.255.255.255"):
        for s in (env4.udp(), env4.tcp()):
            names.append(env4.attempt(s.bind, (host, 0)) or s.getsockname()[0])
    return names


def test_listen_and_accept_on_udp(env: Env) -> object:
    s = env.bound_udp()
    s.settimeout(None)
    return {"listen": env.attempt(s.listen), "accept": env.attempt(s.accept)}


def test_udp_bind_conflicts(env: Env) -> object:
    a = env.bound_udp()
    b = env.udp()
    c = env.udp()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    a2 = env.udp()
    a2.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    a2.bind((env.host, 0))
    d = env.udp()
    d.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return {
        "plain": env.attempt(b.bind, env.address(a)),
        "reuse on one side": env.attempt(c.bind, env.address(a)),
        "reuse on both": env.attempt(d.bind, env.address(a2)),
    }


def test_udp_sendto_without_bind_to_loopback_name(env4: Env) -> object:
    b = env4.bound_udp()
    a = env4.udp()
    sent = a.sendto(b"name", ("localhost", b.getsockname()[1]))
    return {"sent": sent, "got": b.recvfrom(10)[0]}


@pytest.mark.parametrize("flag", ["MSG_EOR", "MSG_DONTROUTE", "MSG_CONFIRM"])
def test_send_hint_flags_are_accepted(env: Env, flag: str) -> object:
    a, b = env.bound_udp(), env.bound_udp()
    f = getattr(socket, flag)
    sent = a.sendto(b"hint", f, env.address(b))
    return {"sent": sent, "got": b.recv(10)}


def test_connect_to_port_zero_leaves_no_peer(env: Env) -> object:
    """A UDP socket connected to port 0 has no peer name (``inet_getname``: ENOTCONN)."""
    s = env.udp()
    return {"connect": env.attempt(s.connect, (env.host, 0)), "peer": env.attempt(s.getpeername)}
