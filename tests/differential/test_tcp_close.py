"""Ending TCP connections: shutdown in each direction, half-close, EOF, close with unread data
(the peer is reset), broken pipes, ``SO_LINGER`` 0, closing a listener, a closed socket.

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


def test_shutdown_wr_is_eof_for_the_peer_which_can_still_answer(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"request")
    cli.shutdown(socket.SHUT_WR)
    request = env.recv_all(conn)
    conn.sendall(b"response")
    conn.close()
    return {"server read": request, "client read": env.recv_all(cli)}


def test_send_after_shutdown_wr_is_a_broken_pipe(env: Env) -> object:
    cli, _, _ = env.connected()
    cli.shutdown(socket.SHUT_WR)
    return [env.attempt(cli.send, b"x"), env.attempt(cli.sendall, b"x")]


def test_shutdown_wr_twice(env: Env) -> object:
    cli, conn, _ = env.connected()
    return [
        env.attempt(cli.shutdown, socket.SHUT_WR),
        env.attempt(cli.shutdown, socket.SHUT_WR),
        conn.recv(10),
    ]


def test_shutdown_rd_makes_recv_return_eof(env: Env) -> object:
    cli, conn, _ = env.connected()
    conn.shutdown(socket.SHUT_RD)
    return {
        "recv": conn.recv(10),
        "readable": env.readable(conn),
        "peer can still send": cli.send(b"late"),
        "server can still send": conn.send(b"back"),
        "client got": cli.recv(10),
    }


def test_shutdown_rd_keeps_data_already_queued(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"queued")
    env.readable(conn, 1.0)
    conn.shutdown(socket.SHUT_RD)
    return [conn.recv(3), conn.recv(10), conn.recv(10)]


def test_shutdown_rdwr(env: Env) -> object:
    cli, conn, _ = env.connected()
    conn.shutdown(socket.SHUT_RDWR)
    return {
        "peer reads": cli.recv(10),
        "own recv": env.attempt(conn.recv, 10),
        "own send": env.attempt(conn.send, b"x"),
        "peer can still send": env.attempt(cli.send, b"y"),
    }


def test_shutdown_rd_then_wr(env: Env) -> object:
    cli, conn, _ = env.connected()
    conn.shutdown(socket.SHUT_RD)
    conn.shutdown(socket.SHUT_WR)
    return {"peer reads": cli.recv(10), "own recv": env.attempt(conn.recv, 10)}


def test_eof_repeats_after_peer_close(env: Env) -> object:
    cli, conn, _ = env.connected()
    conn.close()
    return [cli.recv(10), cli.recv(10), cli.recv_into(bytearray(4)), cli.recv(10)]


def test_half_closed_peer_keeps_receiving(env: Env) -> object:
    cli, conn, _ = env.connected()
    conn.shutdown(socket.SHUT_WR)
    eof = cli.recv(10)
    cli.sendall(b"still here")
    cli.shutdown(socket.SHUT_WR)
    return {"client saw": eof, "server read": env.recv_all(conn)}


def test_close_with_unread_data_resets_the_peer(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"never read")
    env.readable(conn, 1.0)
    conn.close()
    env.readable(cli, 1.0)
    return [env.attempt(cli.recv, 10), env.attempt(cli.recv, 10)]


def test_reset_then_send_is_econnreset_then_epipe(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"never read")
    env.readable(conn, 1.0)
    conn.close()
    env.readable(cli, 1.0)
    return [env.attempt(cli.send, b"x"), env.attempt(cli.send, b"x")]


def test_reset_is_reported_once_by_so_error(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"never read")
    env.readable(conn, 1.0)
    conn.close()
    env.readable(cli, 1.0)
    return {
        "SO_ERROR": cli.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR),
        "again": cli.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR),
        "recv": env.attempt(cli.recv, 10),
    }


def test_getpeername_after_reset(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"never read")
    env.readable(conn, 1.0)
    conn.close()
    env.readable(cli, 1.0)
    return {"getpeername": env.attempt(cli.getpeername), "recv": env.attempt(cli.recv, 10)}


def test_send_to_a_closed_peer_is_answered_by_reset(env: Env) -> object:
    cli, conn, _ = env.connected()
    conn.close()
    eof = cli.recv(10)
    first = env.attempt(cli.send, b"into the void")
    reset_readable = env.readable(cli, 1.0)
    return {
        "eof": eof,
        "first send": first,
        "readable after": reset_readable,
        "second send": env.attempt(cli.send, b"x"),
        "third send": env.attempt(cli.send, b"x"),
        "recv": env.attempt(cli.recv, 10),
    }


def test_recv_after_reset_in_close_wait(env: Env) -> object:
    cli, conn, _ = env.connected()
    conn.close()
    cli.send(b"into the void")
    env.readable(cli, 1.0)
    return {
        "recv": env.attempt(cli.recv, 10),
        "send": env.attempt(cli.send, b"x"),
        "SO_ERROR": cli.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR),
    }


def test_sendall_to_a_closed_peer_breaks(env: Env) -> object:
    cli, conn, _ = env.connected()
    conn.close()
    cli.recv(10)
    outcomes = []
    for _ in range(3):
        outcomes.append(env.attempt(cli.sendall, b"x" * 1000))
        env.readable(cli, 0.2)
    return outcomes


def test_linger_zero_close_resets(env: Env) -> object:
    cli, conn, _ = env.connected()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    env.readable(cli, 1.0)
    return [env.attempt(cli.recv, 10), env.attempt(cli.recv, 10)]


def test_closing_a_listener_resets_unaccepted_connections(env: Env) -> object:
    lst = env.listener()
    cli = env.tcp()
    cli.connect(env.address(lst))
    cli.sendall(b"hello?")
    lst.close()
    env.readable(cli, 1.0)
    return env.attempt(cli.recv, 10)


def test_shutdown_of_a_listener_stops_it(env: Env) -> object:
    lst = env.listener()
    address = env.address(lst)
    shut = env.attempt(lst.shutdown, socket.SHUT_RDWR)
    probe = env.tcp()
    return {
        "shutdown": shut,
        "accept": env.attempt(lst.accept),
        "connect": env.attempt(probe.connect, address),
    }


def test_closed_socket_raises_ebadf(env: Env) -> object:
    cli, _, _ = env.connected()
    cli.close()
    return {
        "fileno": cli.fileno(),
        "recv": env.attempt(cli.recv, 1),
        "send": env.attempt(cli.send, b"x"),
        "getsockname": env.attempt(cli.getsockname),
        "getpeername": env.attempt(cli.getpeername),
        "shutdown": env.attempt(cli.shutdown, socket.SHUT_RDWR),
        "setsockopt": env.attempt(cli.setsockopt, socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
        "close again": env.attempt(cli.close),
    }


def test_with_statement_closes(env: Env) -> object:
    with socket.socket(env.family, socket.SOCK_STREAM) as s:
        s.bind((env.host, 0))
        inside = s.fileno() >= 0
    return {"open inside": inside, "fileno after": s.fileno(), "bind": env.attempt(s.listen)}


def test_shutdown_through_one_dup_affects_the_other(env: Env) -> object:
    cli, conn, _ = env.connected()
    extra = cli.dup()
    env.own(extra)
    cli.shutdown(socket.SHUT_WR)
    return {"peer reads": conn.recv(10), "send on the dup": env.attempt(extra.send, b"x")}
