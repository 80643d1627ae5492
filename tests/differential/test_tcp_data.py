"""Moving bytes over an established TCP connection: echo, partial reads, large transfers, the
``recv`` family and its flags, scatter/gather, ``sendfile``, ``dup``.

Each test is a scenario run on real sockets and under ``usersock.patched()`` (see
``conftest.py``); it returns what the code observed.
"""

from __future__ import annotations

import os
import socket
import struct
import tempfile
import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.differential.conftest import Env

pytestmark = pytest.mark.timeout(60)


def test_echo(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"hello")
    got = conn.recv(100)
    conn.sendall(got.upper())
    return {"server got": got, "client got": cli.recv(100)}


def test_send_returns_count_for_small_data(env: Env) -> object:
    cli, conn, _ = env.connected()
    return {"send": cli.send(b"abcdef"), "empty send": cli.send(b""), "recv": conn.recv(10)}


def test_partial_reads_take_bytes_in_order(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"abcdefghij")
    return [conn.recv(3), conn.recv(3), conn.recv(100)]


def test_recv_zero_bytes(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"xy")
    env.readable(conn, 1.0)
    return {"recv(0)": conn.recv(0), "then": conn.recv(10)}


def test_many_small_sends_arrive_as_one_stream(env: Env) -> object:
    cli, conn, _ = env.connected()
    for i in range(50):
        cli.sendall(b"%02d," % i)
    cli.shutdown(socket.SHUT_WR)
    return env.recv_all(conn)


def test_large_sendall_from_a_thread(env: Env) -> object:
    cli, conn, _ = env.connected()
    payload = os.urandom(256 * 1024) * 4

    def send() -> None:
        cli.sendall(payload)
        cli.shutdown(socket.SHUT_WR)

    env.spawn(send)
    got = env.recv_all(conn)
    return {"same bytes": got == payload, "len": len(got)}


def test_large_transfer_both_directions_at_once(env: Env) -> object:
    cli, conn, _ = env.connected()
    up = os.urandom(300_000)
    down = os.urandom(200_000)

    def serve() -> None:
        conn.sendall(down)
        conn.shutdown(socket.SHUT_WR)

    env.spawn(serve)
    cli.sendall(up)
    cli.shutdown(socket.SHUT_WR)
    return {"up": env.recv_all(conn) == up, "down": env.recv_all(cli) == down}


def test_sendall_accepts_any_buffer(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(bytearray(b"ab"))
    cli.sendall(memoryview(b"xcdx")[1:3])
    cli.sendall(memoryview(bytes(range(8))).cast("I"))
    cli.shutdown(socket.SHUT_WR)
    return env.recv_all(conn)


def test_recv_into(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"0123456789")
    buf = bytearray(6)
    first = conn.recv_into(buf)
    whole = bytes(buf)
    second = conn.recv_into(buf, 2)
    return {"first": first, "buffer": whole, "second": second, "after": bytes(buf)}


def test_recv_into_memoryview_slice(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"abc")
    buf = bytearray(b"--------")
    n = conn.recv_into(memoryview(buf)[2:], 3)
    return {"n": n, "buffer": bytes(buf)}


def test_recvfrom_on_tcp_has_no_address(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"data")
    data, addr = conn.recvfrom(10)
    buf = bytearray(4)
    cli.sendall(b"more")
    n, addr2 = conn.recvfrom_into(buf)
    return {"data": data, "addr": addr, "into": [n, bytes(buf), addr2]}


def test_msg_peek_leaves_data_queued(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"peekaboo")
    env.readable(conn, 1.0)
    return {
        "peek 4": conn.recv(4, socket.MSG_PEEK),
        "peek all": conn.recv(100, socket.MSG_PEEK),
        "recv": conn.recv(100),
        "then readable": env.readable(conn),
    }


def test_msg_peek_into_buffer(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"xyz")
    env.readable(conn, 1.0)
    buf = bytearray(2)
    n = conn.recv_into(buf, 2, socket.MSG_PEEK)
    return {"peeked": [n, bytes(buf)], "recv": conn.recv(10)}


def test_msg_dontwait_on_blocking_socket(env: Env) -> object:
    cli, conn, _ = env.connected()
    conn.settimeout(None)
    empty = env.attempt(conn.recv, 10, socket.MSG_DONTWAIT)
    cli.sendall(b"now")
    env.readable(conn, 1.0)
    return {
        "empty": empty,
        "with data": conn.recv(10, socket.MSG_DONTWAIT),
        "blocking": conn.getblocking(),
    }


def test_msg_waitall_collects_two_sends(env: Env) -> object:
    cli, conn, _ = env.connected()
    conn.settimeout(None)
    cli.sendall(b"hello")
    env.readable(conn, 1.0)
    env.spawn(cli.sendall, b"world")
    return conn.recv(10, socket.MSG_WAITALL)


def test_msg_waitall_stops_at_eof(env: Env) -> object:
    cli, conn, _ = env.connected()
    conn.settimeout(None)
    cli.sendall(b"short")
    cli.shutdown(socket.SHUT_WR)
    return [conn.recv(10, socket.MSG_WAITALL), conn.recv(10, socket.MSG_WAITALL)]


def test_msg_waitall_with_timeout_returns_what_arrived(env: Env) -> object:
    cli, conn, _ = env.connected()
    conn.settimeout(0.2)
    cli.sendall(b"half")
    env.readable(conn, 1.0)
    return env.attempt(conn.recv, 10, socket.MSG_WAITALL)


def test_msg_waitall_with_timeout_does_not_wait_for_the_rest(env: Env) -> object:
    """With a timeout CPython reads a non-blocking descriptor, so Linux returns what is
    there at once instead of waiting for the rest (or the timeout)."""
    cli, conn, _ = env.connected()
    conn.settimeout(2.0)
    cli.sendall(b"abc")
    env.readable(conn, 1.0)
    started = time.monotonic()
    data = conn.recv(10, socket.MSG_WAITALL)
    return {"data": data, "before the timeout": time.monotonic() - started < 1.0}


def test_msg_waitall_keeps_the_reset_for_the_next_call(env: Env) -> object:
    """A blocking ``MSG_WAITALL`` read that got data and then meets a reset returns the
    data; the error is reported by the next call, then EOF."""
    cli, conn, _ = env.connected()
    conn.settimeout(None)
    cli.sendall(b"abc")
    env.readable(conn, 1.0)
    cli.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    cli.close()  # RST
    return [env.attempt(conn.recv, 10, socket.MSG_WAITALL) for _ in range(3)]


def test_sendmsg_gathers_and_recvmsg_returns_no_address(env: Env) -> object:
    cli, conn, _ = env.connected()
    sent = cli.sendmsg([b"ab", memoryview(b"cd"), bytearray(b"ef")])
    env.readable(conn, 1.0)
    data, ancdata, flags, addr = conn.recvmsg(100)
    return {"sent": sent, "recvmsg": [data, ancdata, flags, addr]}


def test_recvmsg_into_scatters(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"abcdefg")
    env.readable(conn, 1.0)
    a, b = bytearray(3), bytearray(10)
    n, _, flags, addr = conn.recvmsg_into([a, b])
    return {"n": n, "a": bytes(a), "b": bytes(b), "flags": flags, "addr": addr}


def test_sendfile(env: Env) -> object:
    cli, conn, _ = env.connected()
    with tempfile.TemporaryFile() as f:
        f.write(b"0123456789" * 1000)
        f.flush()
        sent = cli.sendfile(f, offset=5, count=20_000)
        position = f.tell()
    cli.shutdown(socket.SHUT_WR)
    got = env.recv_all(conn)
    return {"sent": sent, "file position": position, "got": got}


def test_dup_shares_the_connection(env: Env) -> object:
    cli, conn, _ = env.connected()
    twin = conn.dup()
    env.own(twin)
    different_fd = twin.fileno() != conn.fileno()
    conn.close()
    cli.sendall(b"to twin")
    twin.sendall(b"from twin")
    return {
        "different fd": different_fd,
        "twin got": twin.recv(100),
        "client got": cli.recv(100),
        "original fileno": conn.fileno(),
    }


def test_dup_takes_the_timeout(env: Env) -> object:
    """``socket.dup`` gives the copy the original's timeout (blocking, non-blocking or a
    number), and each keeps its own afterwards."""
    seen = []
    for timeout in (None, 0.0, 2.5):
        s = env.tcp(timeout)
        twin = s.dup()
        env.own(twin)
        copied = twin.gettimeout()
        twin.settimeout(1.0)
        seen.append((timeout, copied, s.gettimeout(), twin.getblocking(), s.getblocking()))
    return seen


def test_last_close_of_a_dup_sends_fin(env: Env) -> object:
    cli, conn, _ = env.connected()
    twin = conn.dup()
    env.own(twin)
    conn.close()
    still_open = env.readable(cli, 0.2)
    twin.close()
    return {"readable after first close": still_open, "after last close": cli.recv(10)}


def test_bytes_written_before_close_arrive_then_eof(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"last words")
    cli.close()
    return [conn.recv(100), conn.recv(100), conn.recv(100)]


def test_client_closes_before_accept(env: Env) -> object:
    lst = env.listener()
    cli = env.tcp()
    cli.connect(env.address(lst))
    cli.sendall(b"early")
    cli.close()
    conn, _ = lst.accept()
    env.own(conn)
    conn.settimeout(1.0)
    return [conn.recv(100), conn.recv(100)]


@pytest.mark.parametrize("flag", ["MSG_MORE", "MSG_EOR", "MSG_DONTROUTE", "MSG_CONFIRM"])
def test_send_hint_flags_are_accepted(env: Env, flag: str) -> object:
    """Send flags that are hints on Linux: the data arrives as without them."""
    cli, conn, _ = env.connected()
    f = getattr(socket, flag)
    sent = [cli.send(b"ab", f), env.attempt(cli.sendall, b"cd", f)]
    sent.append(cli.sendto(b"ef", f, env.address(conn)))
    cli.send(b"!")
    got = b""
    while len(got) < 7:
        got += conn.recv(100)
    return {"sent": sent, "got": got}
