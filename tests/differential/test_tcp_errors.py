"""Calls in the wrong state or against the wrong address, and the errno each one raises:
refused, address in use (and ``SO_REUSEADDR``), address not available, not connected,
already connected, invalid.

Each test is a scenario run on real sockets and under ``usersock.patched()`` (see
``conftest.py``); it returns what the code observed.
"""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.differential.conftest import Env

pytestmark = pytest.mark.timeout(60)


# Refused -----------------------------------------------------------------------------------
def test_connect_to_a_closed_port_is_refused(env: Env) -> object:
    port = env.closed_port()
    s = env.tcp()
    return {
        "connect": env.attempt(s.connect, (env.host, port)),
        "SO_ERROR after": s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR),
    }


def test_connect_ex_returns_econnrefused(env: Env) -> object:
    port = env.closed_port()
    s = env.tcp()
    code = s.connect_ex((env.host, port))
    return {"connect_ex": code, "is ECONNREFUSED": code == errno.ECONNREFUSED}


def test_blocking_connect_refused_without_timeout(env: Env) -> object:
    port = env.closed_port()
    s = env.tcp(timeout=None)
    return env.attempt(s.connect, (env.host, port))


def test_connect_to_a_bound_but_not_listening_port_is_refused(env: Env) -> object:
    bound = env.tcp()
    bound.bind((env.host, 0))
    s = env.tcp()
    return env.attempt(s.connect, env.address(bound))


def test_blocking_socket_refused_can_connect_again(env: Env) -> object:
    lst = env.listener()
    port = env.closed_port()
    s = env.tcp(timeout=None)
    first = env.attempt(s.connect, (env.host, port))
    second = env.attempt(s.connect, env.address(lst))
    return {"first": first, "second": second}


def test_a_refused_connect_gives_back_the_address_and_port(env: Env) -> object:
    """Once ``connect()`` reported the failure (``tcp_disconnect``), a socket the user did
    not bind shows the wildcard (still with its old port) and its port is free: another
    socket binds it, and so may this one; a socket the user bound keeps its address."""
    port = env.closed_port()
    s = env.tcp(timeout=None)
    refused = env.attempt(s.connect, (env.host, port))
    host, old_port = s.getsockname()[:2]
    other = env.tcp()
    bound = env.tcp(timeout=None)
    bound.bind((env.host, 0))
    return {
        "refused": refused,
        "name": (host, old_port != 0),
        "another binds the port": env.attempt(other.bind, (env.host, old_port)),
        "bind again": env.attempt(s.bind, (env.host, 0)),
        "bound one refused": env.attempt(bound.connect, (env.host, port)),
        "bound one keeps its address": bound.getsockname()[0],
    }


def test_timeout_socket_refused_then_connect_again_is_aborted(env: Env) -> object:
    # With a timeout CPython connects non-blocking and reads SO_ERROR itself; the kernel
    # socket stays "connecting", so the next connect reports ECONNABORTED.
    lst = env.listener()
    port = env.closed_port()
    s = env.tcp(timeout=1.0)
    first = env.attempt(s.connect, (env.host, port))
    second = env.attempt(s.connect, env.address(lst))
    return {"first": first, "second": second}


def test_connect_to_udp_only_port_is_refused(env: Env) -> object:
    u = env.bound_udp()
    s = env.tcp()
    return env.attempt(s.connect, env.address(u))


# Address in use ----------------------------------------------------------------------------
def test_bind_to_a_listening_port_is_in_use(env: Env) -> object:
    lst = env.listener()
    s = env.tcp()
    return env.attempt(s.bind, env.address(lst))


def test_bind_to_a_bound_port_is_in_use(env: Env) -> object:
    first = env.tcp()
    first.bind((env.host, 0))
    s = env.tcp()
    return env.attempt(s.bind, env.address(first))


def test_reuseaddr_does_not_share_a_listening_port(env: Env) -> object:
    lst = env.listener(reuse=True)
    s = env.tcp()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return env.attempt(s.bind, env.address(lst))


def test_reuseaddr_lets_two_unlistened_sockets_bind(env: Env) -> object:
    a = env.tcp()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    a.bind((env.host, 0))
    b = env.tcp()
    b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    bound = env.attempt(b.bind, env.address(a))
    return {
        "second bind": bound,
        "listen first": env.attempt(a.listen),
        "listen second": env.attempt(b.listen),
    }


def test_wildcard_and_specific_bind_conflict(env: Env) -> object:
    wild = env.tcp()
    wild.bind((env.any, 0))
    port = wild.getsockname()[1]
    s = env.tcp()
    return env.attempt(s.bind, (env.host, port))


def test_tcp_and_udp_ports_are_separate(env: Env) -> object:
    lst = env.listener()
    u = env.udp()
    return env.attempt(u.bind, env.address(lst))


def _server_closed_first(env: Env) -> tuple[bytes, int]:
    """Close a connection server side first (its port keeps a TIME-WAIT connection) and
    the listener (which had ``SO_REUSEADDR``); return the client's EOF and the port."""
    lst = env.listener(reuse=True)
    cli = env.tcp()
    cli.connect(env.address(lst))
    conn, _ = lst.accept()
    env.own(conn)
    port = lst.getsockname()[1]
    conn.close()
    eof = cli.recv(10)
    cli.close()
    lst.close()
    return eof, port


def test_rebind_after_close_needs_reuseaddr(env: Env) -> object:
    eof, port = _server_closed_first(env)
    plain = env.tcp()
    reusing = env.tcp()
    reusing.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return {
        "client saw": eof,
        "without SO_REUSEADDR": env.attempt(plain.bind, (env.host, port)),
        "with SO_REUSEADDR": env.attempt(reusing.bind, (env.host, port)),
    }


def test_listen_after_reuseaddr_rebind_over_time_wait(env: Env) -> object:
    _, port = _server_closed_first(env)
    reusing = env.tcp()
    reusing.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reusing.bind((env.host, port))
    listened = env.attempt(reusing.listen)
    cli = env.tcp()
    return {"listen": listened, "connect": env.attempt(cli.connect, (env.host, port))}


def test_reuseaddr_rebind_needs_it_on_the_old_socket_too(env: Env) -> object:
    lst = env.listener(reuse=False)
    cli = env.tcp()
    cli.connect(env.address(lst))
    conn, _ = lst.accept()
    env.own(conn)
    port = lst.getsockname()[1]
    conn.close()
    cli.recv(10)
    cli.close()
    lst.close()
    reusing = env.tcp()
    reusing.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return env.attempt(reusing.bind, (env.host, port))


def test_client_side_close_leaves_server_port_free(env: Env) -> object:
    lst = env.listener()
    cli = env.tcp()
    cli.connect(env.address(lst))
    conn, _ = lst.accept()
    env.own(conn)
    port = lst.getsockname()[1]
    cli.close()
    conn.recv(10)
    conn.close()
    lst.close()
    s = env.tcp()
    return env.attempt(s.bind, (env.host, port))


# Address not available ---------------------------------------------------------------------
def test_bind_to_a_foreign_address(env: Env) -> object:
    s = env.tcp()
    u = env.udp()
    return [env.attempt(s.bind, (env.foreign, 0)), env.attempt(u.bind, (env.foreign, 0))]


def test_bind_to_another_loopback_address(env4: Env) -> object:
    s = env4.tcp()
    result = env4.attempt(s.bind, ("127.0.0.2", 0))
    return {"bind": result, "name": env4.attempt(s.getsockname)}


def test_bind_to_wildcard(env: Env) -> object:
    s = env.tcp()
    s.bind(("", 0))
    return s.getsockname()


# Not connected -----------------------------------------------------------------------------
def test_unconnected_tcp_socket(env: Env) -> object:
    s = env.tcp()
    return {
        "recv": env.attempt(s.recv, 1),
        "recv_into": env.attempt(s.recv_into, bytearray(1)),
        "getpeername": env.attempt(s.getpeername),
        "shutdown": env.attempt(s.shutdown, socket.SHUT_RDWR),
        "getsockname": env.attempt(s.getsockname),
    }


def test_unconnected_bound_tcp_socket(env: Env) -> object:
    s = env.tcp()
    s.bind((env.host, 0))
    return {
        "recv": env.attempt(s.recv, 1),
        "getpeername": env.attempt(s.getpeername),
        "shutdown": env.attempt(s.shutdown, socket.SHUT_WR),
    }


def test_listening_socket_is_not_connected(env: Env) -> object:
    lst = env.listener()
    lst.settimeout(None)
    return {"recv": env.attempt(lst.recv, 1), "getpeername": env.attempt(lst.getpeername)}


def test_send_on_an_unconnected_socket_is_a_broken_pipe(env: Env) -> object:
    fresh, bound, lst = env.tcp(timeout=None), env.tcp(timeout=None), env.listener()
    bound.bind((env.host, 0))
    lst.settimeout(None)
    return {
        "fresh send": env.attempt(fresh.send, b"x"),
        "fresh sendall": env.attempt(fresh.sendall, b"x"),
        "bound send": env.attempt(bound.send, b"x"),
        "listening send": env.attempt(lst.send, b"x"),
    }


def test_shutdown_wr_of_a_listener_is_allowed(env: Env) -> object:
    lst = env.listener()
    return env.attempt(lst.shutdown, socket.SHUT_WR)


def test_sendto_on_connected_tcp_ignores_the_address(env: Env) -> object:
    cli, conn, lst = env.connected()
    sent = env.attempt(cli.sendto, b"x", env.address(lst))
    return {"sendto": sent, "peer readable": env.readable(conn, 1.0)}


def test_sendto_on_unconnected_tcp(env: Env) -> object:
    lst = env.listener()
    s = env.tcp(timeout=None)
    return env.attempt(s.sendto, b"x", env.address(lst))


# Already connected / invalid ----------------------------------------------------------------
def _connect_twice(env: Env, timeout: float | None) -> object:
    """Connect, then what a second ``connect`` and a ``connect_ex`` after it give."""
    lst = env.listener()
    cli = env.tcp(timeout=timeout)
    cli.connect(env.address(lst))
    return {
        "connect": env.attempt(cli.connect, env.address(lst)),
        "connect_ex": cli.connect_ex(env.address(lst)),
    }


def test_blocking_connect_twice_is_eisconn(env: Env) -> object:
    return _connect_twice(env, None)


def test_timeout_connect_twice_succeeds_once_more(env: Env) -> object:
    # CPython's timeout connect leaves the kernel socket "connecting"; Linux answers the next
    # connect() with success and only the one after that with EISCONN.
    return _connect_twice(env, 1.0)


def test_connect_on_a_listening_socket(env: Env) -> object:
    lst = env.listener()
    other = env.listener()
    return env.attempt(lst.connect, env.address(other))


def test_listen_on_a_connected_socket_is_einval(env: Env) -> object:
    cli, conn, _ = env.connected()
    return [env.attempt(cli.listen), env.attempt(conn.listen)]


def test_bind_twice_is_einval(env: Env) -> object:
    s = env.tcp()
    s.bind((env.host, 0))
    return env.attempt(s.bind, (env.host, 0))


def test_bind_after_connect_is_einval(env: Env) -> object:
    cli, _, _ = env.connected()
    return env.attempt(cli.bind, (env.host, 0))


def test_accept_on_a_socket_that_is_not_listening_is_einval(env: Env) -> object:
    s = env.tcp(timeout=None)
    s.bind((env.host, 0))
    cli, _, _ = env.connected()
    cli.settimeout(None)
    return [env.attempt(s.accept), env.attempt(cli.accept), env.attempt(env.tcp(None).accept)]


def test_listen_twice_keeps_listening(env: Env) -> object:
    lst = env.listener()
    again = env.attempt(lst.listen, 3)
    cli = env.tcp()
    cli.connect(env.address(lst))
    conn, _ = lst.accept()
    env.own(conn)
    return {"listen again": again, "accepted": True}


def test_listen_without_bind_picks_a_port(env: Env) -> object:
    s = env.tcp()
    s.listen()
    name = s.getsockname()
    cli = env.tcp()
    cli.connect((env.host, name[1]))
    conn, peer = s.accept()
    env.own(conn)
    return {"name": name, "peer": peer, "conn name": conn.getsockname()[0]}


def test_shutdown_with_a_bad_how(env: Env) -> object:
    cli, _, _ = env.connected()
    return [env.attempt(cli.shutdown, 3), env.attempt(cli.shutdown, -1)]
