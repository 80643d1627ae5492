"""Bad arguments: the exception *type* CPython raises before (or instead of) a system call —
``TypeError``, ``OverflowError``, ``ValueError`` — and the ``OSError`` of values the kernel
rejects. Messages are not compared (they are CPython's prose), only types and errnos.

Each test is a scenario run on real sockets and under ``usersock.patched()`` (see
``conftest.py``); it returns what the code observed.
"""

from __future__ import annotations

import gc
import socket
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.differential.conftest import Env

pytestmark = pytest.mark.timeout(60)


def test_bad_addresses_for_bind(env: Env) -> object:
    s = env.tcp()
    return {
        "string": env.attempt(s.bind, env.host),
        "list": env.attempt(s.bind, [env.host, 0]),
        "one item": env.attempt(s.bind, (env.host,)),
        "five items": env.attempt(s.bind, (env.host, 0, 0, 0, 0)),
        "port as str": env.attempt(s.bind, (env.host, "0")),
        "port as float": env.attempt(s.bind, (env.host, 0.0)),
        "port too large": env.attempt(s.bind, (env.host, 65536)),
        "negative port": env.attempt(s.bind, (env.host, -1)),
        "host as int": env.attempt(s.bind, (127, 0)),
        "host as None": env.attempt(s.bind, (None, 0)),
        "still unbound": s.getsockname(),
    }


def test_bad_addresses_for_connect(env: Env) -> object:
    s = env.tcp()
    return {
        "string": env.attempt(s.connect, env.host),
        "port too large": env.attempt(s.connect, (env.host, 70000)),
        "port as str": env.attempt(s.connect, (env.host, "80")),
        "connect_ex port too large": env.attempt(s.connect_ex, (env.host, 70000)),
        "connect_ex string": env.attempt(s.connect_ex, env.host),
    }


def test_bad_addresses_for_sendto(env: Env) -> object:
    u = env.udp()
    return {
        "string": env.attempt(u.sendto, b"x", env.host),
        "port too large": env.attempt(u.sendto, b"x", (env.host, 65536)),
        "too many arguments": env.attempt(u.sendto, b"x", 0, (env.host, 9), 1),
        "flags as str": env.attempt(u.sendto, b"x", "0", (env.host, 9)),
    }


def test_address_of_the_other_family(env: Env) -> object:
    s = env.tcp()
    other = "::1" if env.family == socket.AF_INET else "127.0.0.1"
    return env.attempt(s.bind, (other, 0))


def test_bytes_and_bytearray_host(env: Env) -> object:
    s, t = env.tcp(), env.tcp()
    s.bind((env.host.encode(), 0))
    t.bind((bytearray(env.host.encode()), 0))
    return [s.getsockname(), t.getsockname()]


def test_port_zero_connect(env: Env) -> object:
    s = env.tcp()
    return env.attempt(s.connect, (env.host, 0))


def test_bad_sizes_for_recv(env: Env) -> object:
    cli, _, _ = env.connected()
    return {
        "recv(-1)": env.attempt(cli.recv, -1),
        "recv('1')": env.attempt(cli.recv, "1"),
        "recv(1.5)": env.attempt(cli.recv, 1.5),
        "recv_into nbytes > len": env.attempt(cli.recv_into, bytearray(2), 5),
        "recv_into nbytes < 0": env.attempt(cli.recv_into, bytearray(2), -1),
        "recvfrom(-1)": env.attempt(cli.recvfrom, -1),
        "recvfrom_into too big": env.attempt(cli.recvfrom_into, bytearray(2), 5),
        "recv flags str": env.attempt(cli.recv, 1, "0"),
    }


def test_recv_into_a_read_only_buffer(env: Env) -> object:
    cli, conn, _ = env.connected()
    nothing_queued = env.attempt(cli.recv_into, b"immutable")
    conn.sendall(b"data")
    env.readable(cli, 1.0)
    return {
        "nothing queued": nothing_queued,
        "data queued": env.attempt(cli.recv_into, b"immutable"),
        "then": cli.recv(10),
    }


def test_zero_byte_reads_never_touch_the_socket(env: Env) -> object:
    # CPython answers recv(0) and recv_into(<empty>) without a system call.
    unconnected = env.tcp()
    cli, _, _ = env.connected()
    return {
        "unconnected recv(0)": env.attempt(unconnected.recv, 0),
        "unconnected recv_into(empty)": env.attempt(unconnected.recv_into, bytearray(0)),
        "connected recv(0)": env.attempt(cli.recv, 0),
    }


def test_zero_byte_read_on_a_closed_socket(env: Env) -> object:
    closed = env.tcp()
    closed.close()
    return {
        "recv(0)": env.attempt(closed.recv, 0),
        "recv_into(empty)": env.attempt(closed.recv_into, bytearray(0)),
        "recv(1)": env.attempt(closed.recv, 1),
    }


def test_bad_data_for_send(env: Env) -> object:
    cli, _, _ = env.connected()
    return {
        "send(str)": env.attempt(cli.send, "text"),
        "sendall(str)": env.attempt(cli.sendall, "text"),
        "send(int)": env.attempt(cli.send, 5),
        "send(None)": env.attempt(cli.send, None),
        "sendall(list)": env.attempt(cli.sendall, [1, 2]),
        "send flags str": env.attempt(cli.send, b"x", "0"),
    }


def test_bad_timeouts(env: Env) -> object:
    s = env.tcp()
    return {
        "-1": env.attempt(s.settimeout, -1),
        "nan": env.attempt(s.settimeout, float("nan")),
        "list": env.attempt(s.settimeout, [1]),
        "after": s.gettimeout(),
        "setdefaulttimeout(-1)": env.attempt(socket.setdefaulttimeout, -1),
    }


def test_timeout_type_and_range(env: Env) -> object:
    s = env.tcp()
    return {
        "str": env.attempt(s.settimeout, "1"),
        "1e300": env.attempt(s.settimeout, 1e300),
        "after": s.gettimeout(),
    }


def test_bad_listen_arguments(env: Env) -> object:
    s = env.tcp()
    s.bind((env.host, 0))
    return {
        "listen(str)": env.attempt(s.listen, "5"),
        "listen(-5)": env.attempt(s.listen, -5),
        "listening after": s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN),
    }


def test_shutdown_with_a_non_integer(env: Env) -> object:
    cli, conn, _ = env.connected()
    return {
        "shutdown(str)": env.attempt(cli.shutdown, "both"),
        "shutdown(None)": env.attempt(cli.shutdown, None),
        "shutdown(1.0)": env.attempt(cli.shutdown, 1.0),
        "connection intact": [cli.send(b"x"), conn.recv(1)],
    }


def test_bad_option_arguments(env: Env) -> object:
    s = env.tcp()
    return {
        "value str": env.attempt(s.setsockopt, socket.SOL_SOCKET, socket.SO_KEEPALIVE, "1"),
        "value float": env.attempt(s.setsockopt, socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1.0),
        "too few arguments": env.attempt(s.setsockopt, socket.SOL_SOCKET, socket.SO_KEEPALIVE),
    }


def test_setsockopt_none_and_getsockopt_buflen(env: Env) -> object:
    s = env.tcp()
    return {
        "value None": env.attempt(s.setsockopt, socket.SOL_SOCKET, socket.SO_KEEPALIVE, None),
        "getsockopt buflen 0": env.attempt(s.getsockopt, socket.SOL_SOCKET, socket.SO_KEEPALIVE, 0),
        "getsockopt buflen 2000": env.attempt(
            s.getsockopt, socket.SOL_SOCKET, socket.SO_KEEPALIVE, 2000
        ),
        "getsockopt buflen -1": env.attempt(
            s.getsockopt, socket.SOL_SOCKET, socket.SO_KEEPALIVE, -1
        ),
    }


def test_bad_constructor_arguments(env: Env) -> object:
    return {
        "family as str": env.attempt(socket.socket, "inet"),
    }


def test_non_integer_family_or_protocol(env: Env) -> object:
    return {
        "family as float": env.attempt(socket.socket, float(env.family)),
        "proto as str": env.attempt(socket.socket, env.family, socket.SOCK_STREAM, "tcp"),
    }


def test_unknown_type_and_protocol_numbers(env: Env) -> object:
    return {
        "type 999": env.attempt(socket.socket, env.family, 999),
        "proto 999": env.attempt(socket.socket, env.family, socket.SOCK_STREAM, 999),
    }


def test_makefile_bad_modes(env: Env) -> object:
    cli, _, _ = env.connected()
    return {
        "x": env.attempt(cli.makefile, "x"),
        "text with buffering 0": env.attempt(cli.makefile, "r", buffering=0),
        "a": env.attempt(cli.makefile, "a"),
    }


def test_failed_constructor_leaves_nothing_behind(env: Env) -> object:
    unraisable = []
    saved = sys.unraisablehook
    sys.unraisablehook = lambda u: unraisable.append(type(u.exc_value).__name__)
    try:
        raised = env.attempt(socket.socket, env.family, "stream")
        gc.collect()
    finally:
        sys.unraisablehook = saved
    return {"raised": raised, "errors while collecting": unraisable}
