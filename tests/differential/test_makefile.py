"""``makefile()``: buffered binary and text files over a connection, line reading, writing and
flushing, EOF, timeouts through the file, and the reference counting that keeps the
connection open until both the socket and its files are closed.

Each test is a scenario run on real sockets and under ``usersock.patched()`` (see
``conftest.py``); it returns what the code observed.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.differential.conftest import Env

pytestmark = pytest.mark.timeout(60)


def test_readline_and_read(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"first line\nsecond line\nrest of it")
    cli.shutdown(socket.SHUT_WR)
    with conn.makefile("rb") as f:
        return {
            "readline": f.readline(),
            "readline limit": f.readline(3),
            "readline rest": f.readline(),
            "read(4)": f.read(4),
            "read()": f.read(),
            "read at eof": f.read(),
            "readline at eof": f.readline(),
        }


def test_iterate_lines(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"a\nbb\nccc\n")
    cli.close()
    with conn.makefile("rb") as f:
        return list(f)


def test_write_and_flush(env: Env) -> object:
    cli, conn, _ = env.connected()
    with cli.makefile("wb") as f:
        written = f.write(b"buffered ")
        before_flush = env.readable(conn, 0.05)
        f.write(b"bytes")
        f.flush()
        after_flush = conn.recv(100)
    return {"written": written, "seen before flush": before_flush, "after flush": after_flush}


def test_unbuffered_write(env: Env) -> object:
    cli, conn, _ = env.connected()
    with cli.makefile("wb", buffering=0) as f:
        n = f.write(b"direct")
    return {"written": n, "peer got": conn.recv(100)}


def test_read_write_file(env: Env) -> object:
    cli, conn, _ = env.connected()
    with cli.makefile("rwb") as f, conn.makefile("rwb") as g:
        f.write(b"question?\n")
        f.flush()
        question = g.readline()
        g.write(question.upper())
        g.flush()
        return {"server read": question, "client read": f.readline()}


def test_text_mode(env: Env) -> object:
    cli, conn, _ = env.connected()
    with cli.makefile("w", encoding="utf-8", newline="\r\n") as w:
        w.write("héllo\nwörld\n")
    cli.shutdown(socket.SHUT_WR)
    with conn.makefile("r", encoding="utf-8", newline="") as r:
        return r.readlines()


def test_text_mode_decoding_error(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"\xff\xfe bad\n")
    cli.shutdown(socket.SHUT_WR)
    with conn.makefile("r", encoding="utf-8") as r:
        return env.attempt(r.readline)


def test_readinto_through_the_raw_file(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"raw data")
    raw = conn.makefile("rb", buffering=0)
    buf = bytearray(3)
    n = raw.readinto(buf)
    raw.close()
    return {"n": n, "buf": bytes(buf), "closed": raw.closed}


def test_file_keeps_the_connection_open_after_socket_close(env: Env) -> object:
    cli, conn, _ = env.connected()
    f = conn.makefile("rwb")
    conn.close()
    peer_saw_eof_early = env.readable(cli, 0.1)
    f.write(b"still open")
    f.flush()
    got = cli.recv(100)
    f.close()
    return {
        "peer readable before file close": peer_saw_eof_early,
        "peer got": got,
        "after file close": cli.recv(100),
        "socket fileno": conn.fileno(),
    }


def test_closing_file_first_keeps_the_socket(env: Env) -> object:
    cli, conn, _ = env.connected()
    f = conn.makefile("rb")
    f.close()
    cli.sendall(b"socket still works")
    return {"file closed": f.closed, "recv": conn.recv(100)}


def test_read_timeout_through_the_file(env: Env) -> object:
    _, conn, _ = env.connected()
    conn.settimeout(0.1)
    f = conn.makefile("rb", buffering=0)
    first = env.attempt(f.read, 10)
    second = env.attempt(f.read, 10)
    f.close()
    return {"first": first, "after a timeout": second}


def test_nonblocking_file_read_returns_none(env: Env) -> object:
    cli, conn, _ = env.connected()
    conn.setblocking(False)
    raw = conn.makefile("rb", buffering=0)
    empty = raw.read(10)
    cli.sendall(b"now")
    env.readable(conn, 1.0)
    data = raw.read(10)
    raw.close()
    return {"empty": empty, "with data": data}


def test_file_reads_after_reset(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"unread")
    env.readable(conn, 1.0)
    conn.close()
    env.readable(cli, 1.0)
    with cli.makefile("rb") as f:
        return env.attempt(f.read)


def test_makefile_attributes(env: Env) -> object:
    cli, _, _ = env.connected()
    files = [cli.makefile(m) for m in ("rb", "wb", "rwb", "r", "w")]
    try:
        return [[type(f).__name__, f.mode if hasattr(f, "mode") else None] for f in files]
    finally:
        for f in files:
            f.close()
