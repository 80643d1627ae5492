"""Socket options and attributes: ``SO_REUSEADDR``, ``SO_KEEPALIVE``, ``TCP_NODELAY`` and the
keepalive timers, ``SO_TYPE``, ``SO_ERROR``, ``SO_LINGER``, buffer sizes, ``IPV6_V6ONLY``;
``family``/``type``/``proto``, descriptors, local and peer names.

Each test is a scenario run on real sockets and under ``usersock.patched()`` (see
``conftest.py``); it returns what the code observed.
"""

from __future__ import annotations

import socket
import struct
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.differential.conftest import Env

pytestmark = pytest.mark.timeout(60)

SOL, TCP, V6 = socket.SOL_SOCKET, socket.IPPROTO_TCP, socket.IPPROTO_IPV6


def toggle(sock: socket.socket, level: int, name: int, value: int = 1) -> list[int]:
    """The option before, after setting *value*, and after setting 0."""
    before = sock.getsockopt(level, name)
    sock.setsockopt(level, name, value)
    after = sock.getsockopt(level, name)
    sock.setsockopt(level, name, 0)
    return [before, after, sock.getsockopt(level, name)]


@pytest.mark.parametrize(
    ("level", "name"),
    [
        (SOL, socket.SO_REUSEADDR),
        (SOL, socket.SO_KEEPALIVE),
        (SOL, socket.SO_REUSEPORT),
        (TCP, socket.TCP_NODELAY),
    ],
    ids=["SO_REUSEADDR", "SO_KEEPALIVE", "SO_REUSEPORT", "TCP_NODELAY"],
)
def test_boolean_option_on_tcp(env: Env, level: int, name: int) -> object:
    s = env.tcp()
    cli, _, _ = env.connected()
    return {
        "fresh": toggle(s, level, name),
        "connected": toggle(cli, level, name),
        "set to 7": toggle(s, level, name, 7),
    }


def test_boolean_options_accept_bytes_values(env: Env) -> object:
    s = env.tcp()
    s.setsockopt(SOL, socket.SO_KEEPALIVE, struct.pack("i", 1))
    return {
        "int": s.getsockopt(SOL, socket.SO_KEEPALIVE),
        "bytes": s.getsockopt(SOL, socket.SO_KEEPALIVE, 4),
    }


def test_reuseaddr_on_udp(env: Env) -> object:
    return toggle(env.udp(), SOL, socket.SO_REUSEADDR)


def test_accepted_socket_inherits_options(env: Env) -> object:
    lst = env.listener()
    lst.setsockopt(SOL, socket.SO_KEEPALIVE, 1)
    lst.setsockopt(TCP, socket.TCP_NODELAY, 1)
    cli = env.tcp()
    cli.connect(env.address(lst))
    conn, _ = lst.accept()
    env.own(conn)
    return {
        "SO_KEEPALIVE": conn.getsockopt(SOL, socket.SO_KEEPALIVE),
        "TCP_NODELAY": conn.getsockopt(TCP, socket.TCP_NODELAY),
        "SO_REUSEADDR": conn.getsockopt(SOL, socket.SO_REUSEADDR),
    }


def test_keepalive_timers(env: Env) -> object:
    s = env.tcp()
    seen = {}
    for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT"):
        opt = getattr(socket, name)
        default = s.getsockopt(TCP, opt)
        s.setsockopt(TCP, opt, 5)
        seen[name] = {
            "default": default,
            "set 5": s.getsockopt(TCP, opt),
            "set 0": env.attempt(s.setsockopt, TCP, opt, 0),
            "set 40000": env.attempt(s.setsockopt, TCP, opt, 40000),
        }
    return seen


def test_read_only_identity_options(env: Env) -> object:
    t, u, lst = env.tcp(), env.udp(), env.listener()
    return {
        name: [s.getsockopt(SOL, getattr(socket, name)) for s in (t, u, lst)]
        for name in ("SO_TYPE", "SO_DOMAIN", "SO_PROTOCOL", "SO_ACCEPTCONN", "SO_ERROR")
    }


def test_setting_read_only_options(env: Env) -> object:
    s = env.tcp()
    return {
        name: env.attempt(s.setsockopt, SOL, getattr(socket, name), 1)
        for name in ("SO_TYPE", "SO_ERROR", "SO_ACCEPTCONN")
    }


def test_unknown_option(env: Env) -> object:
    s = env.tcp()
    return {
        "get": env.attempt(s.getsockopt, SOL, 9999),
        "set": env.attempt(s.setsockopt, SOL, 9999, 1),
    }


def test_setsockopt_at_a_level_the_socket_does_not_handle(env: Env) -> object:
    t, u = env.tcp(), env.udp()
    seen = {
        "TCP_NODELAY on UDP": env.attempt(u.setsockopt, TCP, socket.TCP_NODELAY, 1),
        "level 9999": env.attempt(t.setsockopt, 9999, 1, 1),
    }
    if env.family == socket.AF_INET:
        seen["IPV6_V6ONLY on IPv4"] = env.attempt(t.setsockopt, V6, socket.IPV6_V6ONLY, 1)
    return seen


@pytest.mark.parametrize(
    "env",
    [
        pytest.param(
            socket.AF_INET,
        ),
        socket.AF_INET6,
    ],
    ids=["ipv4", "ipv6"],
    indirect=True,
)
def test_getsockopt_at_a_level_the_socket_does_not_handle(env: Env) -> object:
    t, u = env.tcp(), env.udp()
    seen = {
        "TCP_NODELAY on UDP": env.attempt(u.getsockopt, TCP, socket.TCP_NODELAY),
        "level 9999": env.attempt(t.getsockopt, 9999, 1),
    }
    if env.family == socket.AF_INET:
        seen["IPV6_V6ONLY on IPv4"] = env.attempt(t.getsockopt, V6, socket.IPV6_V6ONLY)
    return seen


def test_so_linger(env: Env) -> object:
    s = env.tcp()
    default = s.getsockopt(SOL, socket.SO_LINGER, 8)
    s.setsockopt(SOL, socket.SO_LINGER, struct.pack("ii", 1, 5))
    return {
        "default": default,
        "set (1, 5)": s.getsockopt(SOL, socket.SO_LINGER, 8),
        "as int": s.getsockopt(SOL, socket.SO_LINGER),
        "short value": env.attempt(s.setsockopt, SOL, socket.SO_LINGER, b"\x01"),
    }


def test_buffer_sizes_read_back_doubled(env: Env) -> object:
    s = env.tcp()
    s.setsockopt(SOL, socket.SO_RCVBUF, 32768)
    s.setsockopt(SOL, socket.SO_SNDBUF, 32768)
    return [s.getsockopt(SOL, socket.SO_RCVBUF), s.getsockopt(SOL, socket.SO_SNDBUF)]


def test_tiny_buffer_sizes_are_raised_to_the_minimum(env: Env) -> object:
    s = env.tcp()
    s.setsockopt(SOL, socket.SO_RCVBUF, 1)
    s.setsockopt(SOL, socket.SO_SNDBUF, 1)
    return [s.getsockopt(SOL, socket.SO_RCVBUF), s.getsockopt(SOL, socket.SO_SNDBUF)]


def test_small_receive_buffer_still_moves_data(env: Env) -> object:
    lst = env.listener()
    cli = env.tcp()
    cli.setsockopt(SOL, socket.SO_RCVBUF, 4096)
    cli.connect(env.address(lst))
    conn, _ = lst.accept()
    env.own(conn)
    payload = bytes(range(256)) * 1024
    env.spawn(conn.sendall, payload)
    got = b""
    while len(got) < len(payload):
        chunk = cli.recv(65536)
        if not chunk:
            break
        got += chunk
    return got == payload


def test_ipv6_v6only(env6: Env) -> object:
    s = env6.tcp()
    before = s.getsockopt(V6, socket.IPV6_V6ONLY)
    s.setsockopt(V6, socket.IPV6_V6ONLY, 1)
    after = s.getsockopt(V6, socket.IPV6_V6ONLY)
    s.bind((env6.host, 0))
    return {
        "default": before,
        "set": after,
        "set after bind": env6.attempt(s.setsockopt, V6, socket.IPV6_V6ONLY, 0),
        "still": s.getsockopt(V6, socket.IPV6_V6ONLY),
        "on UDP": toggle(env6.udp(), V6, socket.IPV6_V6ONLY),
    }


def test_v6only_listener_refuses_ipv4(env4: Env) -> object:
    lst = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    env4.own(lst)
    lst.setsockopt(V6, socket.IPV6_V6ONLY, 1)
    lst.bind(("::", 0))
    lst.listen()
    cli = env4.tcp()
    return env4.attempt(cli.connect, ("127.0.0.1", lst.getsockname()[1]))


def test_dual_stack_listener_accepts_ipv4(env4: Env) -> object:
    lst = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    env4.own(lst)
    lst.settimeout(1.0)
    lst.setsockopt(V6, socket.IPV6_V6ONLY, 0)
    lst.bind(("::", 0))
    lst.listen()
    cli = env4.tcp()
    connected = env4.attempt(cli.connect, ("127.0.0.1", lst.getsockname()[1]))
    accepted = env4.attempt(lst.accept)
    return {"connect": connected, "accept": accepted}


# Attributes and names ----------------------------------------------------------------------
def test_family_type_proto(env: Env) -> object:
    socks = [
        socket.socket(env.family, socket.SOCK_STREAM),
        socket.socket(env.family, socket.SOCK_DGRAM),
        socket.socket(env.family, socket.SOCK_STREAM, socket.IPPROTO_TCP),
        socket.socket(env.family, socket.SOCK_DGRAM, socket.IPPROTO_UDP),
        socket.socket(env.family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC),
    ]
    env.own(*socks)
    return [[s.family, s.type, s.proto, s.timeout, s.getblocking()] for s in socks]


def test_default_constructor(env4: Env) -> object:
    s = socket.socket()
    env4.own(s)
    return {
        "family": s.family,
        "type": s.type,
        "proto": s.proto,
        "is socket.socket": isinstance(s, socket.socket),
    }


def test_accepted_socket_attributes(env: Env) -> object:
    cli, conn, _ = env.connected()
    return [[s.family, s.type, s.proto, isinstance(s, socket.socket)] for s in (cli, conn)]


def test_unsupported_protocol_combinations(env: Env) -> object:
    return {
        "stream over UDP": env.attempt(
            socket.socket, env.family, socket.SOCK_STREAM, socket.IPPROTO_UDP
        ),
        "dgram over TCP": env.attempt(
            socket.socket, env.family, socket.SOCK_DGRAM, socket.IPPROTO_TCP
        ),
    }


def test_descriptors_are_distinct_and_gone_after_close(env: Env) -> object:
    a, b = env.tcp(), env.udp()
    fds = [a.fileno(), b.fileno()]
    a.close()
    return {
        "valid": all(fd >= 0 for fd in fds),
        "distinct": fds[0] != fds[1],
        "after close": a.fileno(),
    }


def test_names_of_a_connection(env: Env) -> object:
    cli, conn, lst = env.connected()
    return {
        "client local": cli.getsockname(),
        "client peer": cli.getpeername(),
        "server local": conn.getsockname(),
        "server peer": conn.getpeername(),
        "client peer is the listener": cli.getpeername() == lst.getsockname(),
        "server local is the listener": conn.getsockname() == lst.getsockname(),
        "server peer is the client": conn.getpeername() == cli.getsockname(),
    }


def test_names_of_fresh_and_bound_sockets(env: Env) -> object:
    fresh, wild, local, udp = env.tcp(), env.tcp(), env.tcp(), env.udp()
    wild.bind((env.any, 0))
    local.bind((env.host, 0))
    return {
        "fresh": fresh.getsockname(),
        "wildcard": wild.getsockname(),
        "loopback": local.getsockname(),
        "udp fresh": udp.getsockname(),
    }


def test_ephemeral_ports_are_distinct(env: Env) -> object:
    lst = env.listener()
    ports = set()
    for _ in range(5):
        c = env.tcp()
        c.connect(env.address(lst))
        conn, _ = lst.accept()
        env.own(conn)
        ports.add(c.getsockname()[1])
    return {"distinct": len(ports), "all ephemeral": all(p >= 1024 for p in ports)}


def test_ipv6_address_tuple(env: Env) -> object:
    if env.family == socket.AF_INET:
        s = env.tcp()
        return env.attempt(s.bind, (env.host, 0, 0, 0))
    s = env.tcp()
    s.bind((env.host, 0, 0, 0))
    short = env.tcp()
    short.bind((env.host, 0))
    return {"4-tuple": s.getsockname(), "2-tuple": short.getsockname()}


def test_v6only_refuses_to_bind_an_ipv4_mapped_address(env6: Env) -> object:
    """An ``IPV6_V6ONLY`` socket cannot bind ``::ffff:a.b.c.d`` (EINVAL, ``inet6_bind``).
    Its connect and send (ENETUNREACH) are checked in ``tests/e2e``: the suite's network
    guard keeps real sockets from connecting to a mapped address."""
    s = env6.tcp()
    s.setsockopt(V6, socket.IPV6_V6ONLY, 1)
    u = env6.udp()
    u.setsockopt(V6, socket.IPV6_V6ONLY, 1)
    return [env6.attempt(x.bind, ("::ffff:127.0.0.1", 0)) for x in (s, u)]


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_DGRAM], ids=["tcp", "udp"])
def test_ip_ttl_tos_hops_and_tclass(env: Env, kind: int) -> object:
    """The ranges and defaults of ``IP_TTL``, ``IP_TOS``, ``IPV6_UNICAST_HOPS`` and
    ``IPV6_TCLASS``; TCP keeps the ECN bits of the TOS byte to itself. ``IPPROTO_IP``
    options take a buffer shorter than an int as one unsigned char; IPv6 ones do not."""
    s = env.tcp() if kind == socket.SOCK_STREAM else env.udp()
    ip, v6 = socket.IPPROTO_IP, socket.IPPROTO_IPV6
    seen: dict[str, object] = {}
    for name, level, values in (
        ("IP_TTL", ip, (-1, 0, 1, 255, 256, 64, b"\x07", b"", b"\xff\xff\xff")),
        ("IP_TOS", ip, (0x13, 0xFF, 0x100, 0, b"\x21\x00", b"")),
        ("IPV6_UNICAST_HOPS", v6, (-2, -1, 0, 255, 256, b"\x07", b"\x07\x00\x00\x00")),
        ("IPV6_TCLASS", v6, (-2, 0x13, -1, 256)),
    ):
        opt = getattr(socket, name)
        seen[name] = [
            (env.attempt(s.setsockopt, level, opt, v), env.attempt(s.getsockopt, level, opt))
            for v in values
        ]
    return seen


def test_ipv6_options_of_a_dual_stack_connection_carrying_ipv4(env6: Env) -> object:
    """An ``AF_INET6`` socket stays one when its traffic is IPv4 (an IPv4 client accepted by
    a dual-stack listener): its ``IPPROTO_IPV6`` options keep working, ``IPV6_V6ONLY``
    included (``EINVAL`` to set: the socket is bound), and ``IP_TTL`` applies as well."""
    lst = env6.tcp()
    lst.setsockopt(V6, socket.IPV6_V6ONLY, 0)
    lst.bind(("::", 0))
    lst.listen()
    cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    env6.own(cli)
    cli.settimeout(5)
    cli.connect(("127.0.0.1", lst.getsockname()[1]))
    conn, peer = lst.accept()
    env6.own(conn)
    seen: list[object] = [peer[0]]
    for opt, value in (
        (socket.IPV6_TCLASS, 0x20),
        (socket.IPV6_UNICAST_HOPS, 9),
        (socket.IPV6_V6ONLY, 1),
    ):
        seen.append((env6.attempt(conn.setsockopt, V6, opt, value), conn.getsockopt(V6, opt)))
    seen.append(
        (
            conn.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 7),
            conn.getsockopt(socket.IPPROTO_IP, socket.IP_TTL),
        )
    )
    return seen
