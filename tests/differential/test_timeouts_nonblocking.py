"""Waiting and not waiting: timeouts that expire (``TimeoutError``), non-blocking calls that
would block (``BlockingIOError``), non-blocking connect completed through ``select`` and
``SO_ERROR``, and the timeout attributes.

Each test is a scenario run on real sockets and under ``usersock.patched()`` (see
``conftest.py``); it returns what the code observed. Timeouts are at most 0.3 s.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.differential.conftest import Env

pytestmark = pytest.mark.timeout(60)


# Timeouts ----------------------------------------------------------------------------------
def test_recv_times_out(env: Env) -> object:
    cli, _, _ = env.connected()
    cli.settimeout(0.2)
    return [env.attempt(cli.recv, 10), env.attempt(cli.recv_into, bytearray(4))]


def test_recv_after_timeout_still_gets_data(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.settimeout(0.1)
    timed_out = env.attempt(cli.recv, 10)
    conn.sendall(b"later")
    cli.settimeout(1.0)
    return {"first": timed_out, "then": cli.recv(10)}


def test_accept_times_out(env: Env) -> object:
    lst = env.listener()
    lst.settimeout(0.2)
    return env.attempt(lst.accept)


def test_sendall_times_out_when_the_peer_does_not_read(env: Env) -> object:
    cli, _, _ = env.connected()
    cli.settimeout(0.3)
    return env.attempt(cli.sendall, b"x" * (64 << 20))


def test_timeout_error_is_an_oserror(env: Env) -> object:
    cli, _, _ = env.connected()
    cli.settimeout(0.05)
    try:
        cli.recv(1)
    except OSError as exc:
        return {
            "type": type(exc).__name__,
            "is socket.timeout": isinstance(exc, socket.timeout),
            "errno": exc.errno,
            "args": list(exc.args),
        }
    return "no timeout"


def test_socket_with_timeout_waits_for_readiness_before_failing(env: Env) -> object:
    # CPython polls a timeout socket before the call: a listener never becomes readable for
    # recv() or writable for send(), so those time out instead of failing at once.
    lst = env.listener()
    lst.settimeout(0.1)
    return {"recv": env.attempt(lst.recv, 1), "send": env.attempt(lst.send, b"x")}


def test_accept_on_a_connected_timeout_socket_times_out(env: Env) -> object:
    cli, _, _ = env.connected()
    cli.settimeout(0.1)
    return env.attempt(cli.accept)


def test_default_timeout_applies_to_new_sockets(env: Env) -> object:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(0.25)
    try:
        s = socket.socket(env.family, socket.SOCK_STREAM)
        env.own(s)
        observed = {"timeout": s.gettimeout(), "blocking": s.getblocking()}
    finally:
        socket.setdefaulttimeout(previous)
    return observed


def test_accepted_socket_timeout(env: Env) -> object:
    lst = env.listener()
    lst.settimeout(0.7)
    cli = env.tcp()
    cli.connect(env.address(lst))
    conn, _ = lst.accept()
    env.own(conn)
    nb = env.listener()
    nb.setblocking(False)
    cli2 = env.tcp()
    cli2.connect(env.address(nb))
    env.readable(nb, 1.0)
    conn2, _ = nb.accept()
    env.own(conn2)
    return {
        "from a timeout listener": [conn.gettimeout(), conn.getblocking()],
        "from a non-blocking listener": [conn2.gettimeout(), conn2.getblocking()],
    }


def test_timeout_attributes(env: Env) -> object:
    s = socket.socket(env.family, socket.SOCK_STREAM)
    env.own(s)
    seen = [[s.timeout, s.gettimeout(), s.getblocking()]]
    action: Callable[[], None]
    for action in (
        lambda: s.settimeout(0.5),
        lambda: s.settimeout(0),
        lambda: s.setblocking(True),
        lambda: s.setblocking(False),
        lambda: s.settimeout(None),
        lambda: s.settimeout(3),
    ):
        action()
        seen.append([s.timeout, s.gettimeout(), s.getblocking()])
    return seen


def test_nonblocking_type_flag(env: Env) -> object:
    s = socket.socket(env.family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    env.own(s)
    return {"type": s.type, "timeout": s.gettimeout(), "blocking": s.getblocking()}


# Would block -------------------------------------------------------------------------------
def test_nonblocking_recv_would_block(env: Env) -> object:
    cli, _, _ = env.connected()
    cli.setblocking(False)
    return {
        "recv": env.attempt(cli.recv, 10),
        "recv_into": env.attempt(cli.recv_into, bytearray(2)),
        "recvfrom": env.attempt(cli.recvfrom, 10),
    }


def test_would_block_errno_is_eagain(env: Env) -> object:
    cli, _, _ = env.connected()
    cli.setblocking(False)
    try:
        cli.recv(1)
    except BlockingIOError as exc:
        return {"EAGAIN": exc.errno == errno.EAGAIN, "EWOULDBLOCK": exc.errno == errno.EWOULDBLOCK}
    return "no error"


def test_nonblocking_recv_gets_data_then_would_block(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.setblocking(False)
    conn.sendall(b"abc")
    env.readable(cli, 1.0)
    return [env.attempt(cli.recv, 10), env.attempt(cli.recv, 10)]


def test_nonblocking_recv_at_eof(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.setblocking(False)
    conn.close()
    env.readable(cli, 1.0)
    return [env.attempt(cli.recv, 10), env.attempt(cli.recv, 10)]


def test_nonblocking_accept_would_block_then_accepts(env: Env) -> object:
    lst = env.listener()
    lst.setblocking(False)
    empty = env.attempt(lst.accept)
    cli = env.tcp()
    cli.connect(env.address(lst))
    env.readable(lst, 1.0)
    conn, peer = lst.accept()
    env.own(conn)
    return {
        "empty": empty,
        "accepted peer is the client": peer == cli.getsockname(),
        "then": env.attempt(lst.accept),
    }


def test_nonblocking_send_fills_the_buffer(env: Env) -> object:
    cli, _, _ = env.connected()
    cli.setblocking(False)
    chunk = b"x" * 65536
    total, outcome = 0, None
    for _ in range(4096):
        try:
            n = cli.send(chunk)
        except BlockingIOError as exc:
            outcome = exc
            break
        total += n
    return {
        "stopped with": outcome,
        "sent something": total > 0,
        "writable when full": env.writable(cli),
        "send again": env.attempt(cli.send, chunk),
    }


def test_full_send_buffer_becomes_writable_after_the_peer_reads(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.setblocking(False)
    total = 0
    try:
        while True:
            total += cli.send(b"y" * 65536)
    except BlockingIOError:
        pass
    received = 0
    while received < total and not env.writable(cli):
        received += len(conn.recv(1 << 20))
    writable = env.writable(cli, 1.0)
    return {"became writable": writable, "then send": cli.send(b"z") == 1}


def test_msg_dontwait_send_on_full_buffer(env: Env) -> object:
    cli, _, _ = env.connected()
    cli.settimeout(None)
    outcome = None
    for _ in range(4096):
        try:
            cli.send(b"w" * 65536, socket.MSG_DONTWAIT)
        except OSError as exc:
            outcome = exc
            break
    return outcome


# Non-blocking connect ---------------------------------------------------------------------
def test_nonblocking_connect_in_progress_then_connected(env: Env) -> object:
    lst = env.listener()
    s = env.tcp()
    s.setblocking(False)
    started = env.attempt(s.connect, env.address(lst))
    writable = env.writable(s, 1.0)
    return {
        "connect": started,
        "writable": writable,
        "SO_ERROR": s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR),
        "peer": s.getpeername(),
    }


def test_nonblocking_connect_ex_returns_einprogress(env: Env) -> object:
    lst = env.listener()
    s = env.tcp()
    s.setblocking(False)
    code = s.connect_ex(env.address(lst))
    env.writable(s, 1.0)
    again = s.connect_ex(env.address(lst))
    return {"connect_ex": errno.errorcode[code], "again": errno.errorcode.get(again, again)}


def test_nonblocking_connect_then_connect_again(env: Env) -> object:
    lst = env.listener()
    s = env.tcp()
    s.setblocking(False)
    first = env.attempt(s.connect, env.address(lst))
    env.writable(s, 1.0)
    second = env.attempt(s.connect, env.address(lst))
    return [first, second, env.attempt(s.connect, env.address(lst))]


def test_nonblocking_connect_refused_reported_by_so_error(env: Env) -> object:
    port = env.closed_port()
    s = env.tcp()
    s.setblocking(False)
    started = env.attempt(s.connect, (env.host, port))
    writable = env.writable(s, 1.0)
    readable = env.readable(s, 0.0)
    return {
        "connect": started,
        "writable": writable,
        "readable": readable,
        "SO_ERROR": errno.errorcode.get(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), 0),
        "SO_ERROR again": s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR),
        "getpeername": env.attempt(s.getpeername),
    }


def test_nonblocking_connect_refused_then_connect_again(env: Env) -> object:
    port = env.closed_port()
    s = env.tcp()
    s.setblocking(False)
    started = env.attempt(s.connect, (env.host, port))
    env.writable(s, 1.0)
    second = env.attempt(s.connect, (env.host, port))
    return [started, second, env.attempt(s.connect, (env.host, port))]


def test_nonblocking_connect_refused_after_so_error_is_aborted(env: Env) -> object:
    port = env.closed_port()
    s = env.tcp()
    s.setblocking(False)
    env.attempt(s.connect, (env.host, port))
    env.writable(s, 1.0)
    s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    return env.attempt(s.connect, (env.host, port))


def test_nonblocking_connect_then_send_and_recv(env: Env) -> object:
    lst = env.listener()
    s = env.tcp()
    s.setblocking(False)
    env.attempt(s.connect, env.address(lst))
    conn, _ = lst.accept()
    env.own(conn)
    env.writable(s, 1.0)
    sent = s.send(b"ping")
    got = conn.recv(10)
    conn.sendall(b"pong")
    env.readable(s, 1.0)
    return {"sent": sent, "server got": got, "client got": s.recv(10)}
