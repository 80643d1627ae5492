"""Name resolution for numeric hosts and ``localhost``, and the module-level helpers built on
it: ``getaddrinfo``, ``gethostbyname(_ex)``, ``gethostbyaddr``, ``getnameinfo``,
``create_connection``, ``create_server``.

Each test is a scenario run on real sockets and under ``usersock.patched()`` (see
``conftest.py``); it returns what the code observed. Only numeric hosts and ``localhost`` are
resolved (``/etc/hosts`` answers them; no DNS query leaves the machine), and ``localhost`` is
asked for IPv4 only, since whether it also has ``::1`` depends on the machine's hosts file.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.differential.conftest import Env

pytestmark = pytest.mark.timeout(60)

STREAM = socket.SOCK_STREAM


def sockaddrs(
    host: str | bytes | None,
    port: str | bytes | int | None,
    family: int = socket.AF_INET,
    flags: int = 0,
) -> list[tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes]]:
    """The socket addresses ``getaddrinfo`` gives for a stream socket."""
    return [ai[4] for ai in socket.getaddrinfo(host, port, family, STREAM, 0, flags)]


# getaddrinfo -------------------------------------------------------------------------------
def test_getaddrinfo_numeric_host_every_type(env: Env) -> object:
    return socket.getaddrinfo(env.host, 80)


def test_getaddrinfo_numeric_host_stream(env: Env) -> object:
    return socket.getaddrinfo(env.host, 80, env.family, STREAM)


def test_getaddrinfo_by_protocol(env: Env) -> object:
    return {
        "tcp": socket.getaddrinfo(env.host, 80, proto=socket.IPPROTO_TCP),
        "udp": socket.getaddrinfo(env.host, 80, 0, socket.SOCK_DGRAM),
    }


def test_getaddrinfo_localhost_ipv4(env4: Env) -> object:
    return {
        "stream": socket.getaddrinfo("localhost", 80, socket.AF_INET, socket.SOCK_STREAM),
        "every type": socket.getaddrinfo("localhost", 443, socket.AF_INET),
        "upper case": socket.getaddrinfo("LOCALHOST", 80, socket.AF_INET, socket.SOCK_STREAM),
    }


def test_getaddrinfo_without_host(env: Env) -> object:
    return {
        "passive": socket.getaddrinfo(None, 80, env.family, STREAM, 0, socket.AI_PASSIVE),
        "active": socket.getaddrinfo(None, 80, env.family, socket.SOCK_STREAM),
    }


def test_getaddrinfo_services(env4: Env) -> object:
    def ports(service: str | bytes | int | None) -> object:
        return env4.attempt(sockaddrs, "127.0.0.1", service)

    return {
        "http": ports("http"),
        "'443'": ports("443"),
        "bytes port": ports(b"443"),
        "None": ports(None),
        "0": ports(0),
        "unknown name": ports("no-such-service"),
        "65536 + 80": ports(65536 + 80),
        "-1": ports(-1),
    }


def test_getaddrinfo_family_mismatch(env4: Env) -> object:
    return {
        "v4 literal as AF_INET6": env4.attempt(sockaddrs, "127.0.0.1", 80, socket.AF_INET6),
        "v6 literal as AF_INET": env4.attempt(sockaddrs, "::1", 80, socket.AF_INET),
    }


def test_getaddrinfo_numerichost_flag(env4: Env) -> object:
    return {
        "literal": sockaddrs("127.0.0.1", 80, flags=socket.AI_NUMERICHOST),
        "name": env4.attempt(sockaddrs, "localhost", 80, flags=socket.AI_NUMERICHOST),
    }


def test_getaddrinfo_canonname(env4: Env) -> object:
    return {
        host: socket.getaddrinfo(host, 80, socket.AF_INET, STREAM, 0, socket.AI_CANONNAME)
        for host in ("localhost", "127.0.0.1")
    }


def test_getaddrinfo_short_ipv4_forms(env4: Env) -> object:
    return {
        text: env4.attempt(sockaddrs, text, 80) for text in ("127.1", "2130706433", "0x7f.0.0.1")
    }


def test_getaddrinfo_ipv6_forms(env4: Env) -> object:
    return {
        text: env4.attempt(sockaddrs, text, 80, socket.AF_INET6)
        for text in ("::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "[::1]")
    }


def test_getaddrinfo_bad_arguments(env4: Env) -> object:
    return {
        "port as float": env4.attempt(socket.getaddrinfo, "127.0.0.1", 80.0),
        "host as int": env4.attempt(socket.getaddrinfo, 127, 80),
        "bad family": env4.attempt(socket.getaddrinfo, "127.0.0.1", 80, 12345),
    }


# gethostby* and getnameinfo ----------------------------------------------------------------
def test_gethostbyname(env4: Env) -> object:
    return {
        "localhost": socket.gethostbyname("localhost"),
        "literal": socket.gethostbyname("127.0.0.1"),
        "v6 literal": env4.attempt(socket.gethostbyname, "::1"),
        "ex": socket.gethostbyname_ex("localhost"),
        "ex literal": socket.gethostbyname_ex("127.0.0.1"),
    }


def test_gethostbyaddr_loopback(env4: Env) -> object:
    return socket.gethostbyaddr("127.0.0.1")


def test_getnameinfo(env: Env) -> object:
    numeric = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
    return {
        "numeric": socket.getnameinfo((env.host, 80), numeric),
        "numeric host, named service": socket.getnameinfo((env.host, 80), socket.NI_NUMERICHOST),
        "numeric dgram": socket.getnameinfo((env.host, 53), numeric | socket.NI_DGRAM),
    }


def test_getnameinfo_localhost_name(env4: Env) -> object:
    return socket.getnameinfo(("127.0.0.1", 80), 0)


# create_connection / create_server ---------------------------------------------------------
def test_create_connection(env: Env) -> object:
    lst = env.listener()
    c = socket.create_connection(env.address(lst))
    env.own(c)
    conn, _ = lst.accept()
    env.own(conn)
    c.sendall(b"hi")
    return {
        "family": c.family,
        "type": c.type,
        "timeout": c.gettimeout(),
        "peer is listener": c.getpeername() == lst.getsockname(),
        "server got": conn.recv(10),
    }


def test_create_connection_with_timeout_and_source(env: Env) -> object:
    lst = env.listener()
    c = socket.create_connection(env.address(lst), timeout=0.5, source_address=(env.host, 0))
    env.own(c)
    return {"timeout": c.gettimeout(), "local": c.getsockname()}


def test_create_connection_to_localhost(env4: Env) -> object:
    lst = env4.listener()
    c = socket.create_connection(("localhost", lst.getsockname()[1]), timeout=1.0)
    env4.own(c)
    return {"family": c.family, "peer": c.getpeername()}


def test_create_connection_refused(env: Env) -> object:
    port = env.closed_port()
    return env.attempt(socket.create_connection, (env.host, port), 1.0)


def test_create_connection_bad_source(env: Env) -> object:
    lst = env.listener()
    return env.attempt(socket.create_connection, env.address(lst), 1.0, (env.foreign, 0))


def test_create_server(env: Env) -> object:
    srv = socket.create_server((env.host, 0), family=env.family)
    env.own(srv)
    return {
        "family": srv.family,
        "type": srv.type,
        "SO_REUSEADDR": srv.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR),
        "SO_ACCEPTCONN": srv.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN),
        "name": srv.getsockname(),
        "timeout": srv.gettimeout(),
    }


def test_create_server_reuse_port(env: Env) -> object:
    srv = socket.create_server((env.host, 0), family=env.family, reuse_port=True)
    env.own(srv)
    second = env.attempt(socket.create_server, env.address(srv), family=env.family, reuse_port=True)
    reuse_port = srv.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
    return {"SO_REUSEPORT": reuse_port, "second": second}


def test_create_server_port_in_use(env: Env) -> object:
    srv = socket.create_server((env.host, 0), family=env.family)
    env.own(srv)
    return env.attempt(socket.create_server, env.address(srv), family=env.family)


def test_create_server_round_trip(env: Env) -> object:
    srv = socket.create_server((env.host, 0), family=env.family, backlog=4)
    env.own(srv)
    srv.settimeout(1.0)
    c = socket.create_connection(env.address(srv), timeout=1.0)
    env.own(c)
    conn, _ = srv.accept()
    env.own(conn)
    conn.settimeout(1.0)
    c.sendall(b"ping")
    conn.sendall(conn.recv(10)[::-1])
    return c.recv(10)


def test_has_dualstack_ipv6(env4: Env) -> object:
    return socket.has_dualstack_ipv6()


def test_create_server_dualstack(env4: Env) -> object:
    srv = socket.create_server(("", 0), family=socket.AF_INET6, dualstack_ipv6=True)
    env4.own(srv)
    srv.settimeout(1.0)
    port = srv.getsockname()[1]
    c, c6 = env4.tcp(), socket.socket(socket.AF_INET6)
    env4.own(c6)
    c6.settimeout(1.0)
    return {
        "V6ONLY": srv.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY),
        "ipv4 client": env4.attempt(c.connect, ("127.0.0.1", port)),
        "ipv6 client": env4.attempt(c6.connect, ("::1", port)),
    }


# Addresses a connect turns into others ---------------------------------------------------
def test_source_address_for_other_loopback_addresses(env4: Env) -> object:
    """A connect to 127.1.2.3 leaves from 127.0.0.1, the source of Linux's local route
    for 127.0.0.0/8; the server sees that as the peer."""
    lst = env4.tcp()
    lst.bind(("0.0.0.0", 0))
    lst.listen()
    port = lst.getsockname()[1]
    seen = []
    for dst in ("127.0.0.1", "127.1.2.3", "127.255.255.254"):
        c = env4.tcp()
        c.connect((dst, port))
        conn, peer = lst.accept()
        env4.own(conn)
        seen.append((dst, c.getsockname()[0], c.getpeername()[0], conn.getsockname()[0], peer[0]))
    return seen


def test_flowinfo_out_of_range(env6: Env) -> object:
    s = env6.tcp()
    return {
        op: [env6.attempt(getattr(s, op), ("::1", 9, flow, 0)) for flow in (1 << 20, -1)]
        for op in ("bind", "connect")
    }
