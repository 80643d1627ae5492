"""Readiness: ``select.select``, ``select.poll``, ``select.epoll`` and every ``selectors`` class
on virtual sockets mixed with real descriptors (``os.pipe``).

One story runs against each waiting mechanism: an idle connection and an idle pipe do not
wake the waiter; data on either wakes exactly that one; reading the data away makes the socket
idle again; a full send buffer makes it unwritable until the peer reads; EOF and a pending
connection make a socket readable. "Idle" is checked with a real timeout: the waiter must
return nothing and must not return early (no busy loop).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import selectors
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import usersock

pytestmark = pytest.mark.timeout(60)

IDLE = 0.2  # how long an idle waiter must stay asleep, seconds
SETTLE = 0.5  # how long a full send buffer must stay full (> RTO_min: a window probe's ACK)

Waiter = Callable[[list[Any], list[Any], float], tuple[set[int], set[int]]]


def _fd(obj: Any) -> int:
    return obj if isinstance(obj, int) else obj.fileno()


def _select(rlist: list[Any], wlist: list[Any], timeout: float) -> tuple[set[int], set[int]]:
    r, w, _ = select.select(rlist, wlist, [], timeout)
    return {_fd(o) for o in r}, {_fd(o) for o in w}


def _poll_like(make: Callable[[], Any], rbit: int, wbit: int, ms: bool) -> Waiter:
    def wait(rlist: list[Any], wlist: list[Any], timeout: float) -> tuple[set[int], set[int]]:
        poller = make()
        try:
            masks: dict[int, int] = {}
            for o in rlist:
                masks[_fd(o)] = masks.get(_fd(o), 0) | rbit
            for o in wlist:
                masks[_fd(o)] = masks.get(_fd(o), 0) | wbit
            for fd, mask in masks.items():
                poller.register(fd, mask)
            events = poller.poll(timeout * 1000 if ms else timeout)
            return (
                {fd for fd, ev in events if ev & rbit and fd in {_fd(o) for o in rlist}},
                {fd for fd, ev in events if ev & wbit and fd in {_fd(o) for o in wlist}},
            )
        finally:
            if hasattr(poller, "close"):
                poller.close()

    return wait


def _selector(cls: type[selectors.BaseSelector]) -> Waiter:
    def wait(rlist: list[Any], wlist: list[Any], timeout: float) -> tuple[set[int], set[int]]:
        with cls() as sel:
            masks: dict[Any, int] = {}
            for o in rlist:
                masks[o] = masks.get(o, 0) | selectors.EVENT_READ
            for o in wlist:
                masks[o] = masks.get(o, 0) | selectors.EVENT_WRITE
            for o, mask in masks.items():
                sel.register(o, mask)
            r: set[int] = set()
            w: set[int] = set()
            for key, ev in sel.select(timeout):
                if ev & selectors.EVENT_READ:
                    r.add(key.fd)
                if ev & selectors.EVENT_WRITE:
                    w.add(key.fd)
            return r, w

    return wait


WAITERS: dict[str, Waiter] = {
    "select.select": _select,
    "select.poll": _poll_like(select.poll, select.POLLIN, select.POLLOUT, ms=True),
    "select.epoll": _poll_like(select.epoll, select.EPOLLIN, select.EPOLLOUT, ms=False),
}
for _name in ("SelectSelector", "PollSelector", "EpollSelector", "DevpollSelector"):
    if hasattr(selectors, _name):
        WAITERS[f"selectors.{_name}"] = _selector(getattr(selectors, _name))
WAITERS["selectors.DefaultSelector"] = _selector(selectors.DefaultSelector)


@contextlib.contextmanager
def connected_pair() -> Iterator[tuple[socket.socket, socket.socket, socket.socket]]:
    """(listener, client, server-side connection), all virtual, all non-blocking."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname(), timeout=5)
    conn, _ = listener.accept()
    for s in (listener, client, conn):
        s.setblocking(False)
    try:
        yield listener, client, conn
    finally:
        for s in (conn, client, listener):
            s.close()


@contextlib.contextmanager
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    try:
        yield r, w
    finally:
        os.close(r)
        os.close(w)


def assert_idle(wait: Waiter, rlist: list[Any], wlist: list[Any]) -> None:
    """Nothing in *rlist*/*wlist* is ready: the waiter sleeps its whole timeout."""
    start = time.monotonic()
    r, w = wait(rlist, wlist, IDLE)
    elapsed = time.monotonic() - start
    assert (r, w) == (set(), set())
    assert elapsed >= IDLE * 0.9, f"woke after {elapsed:.3f}s with nothing ready"


def fill(sock: socket.socket, wait: Waiter) -> int:
    """Send until the socket would block and stays so for :data:`SETTLE` seconds (the ACK of
    the first zero-window probe, one RTO later, may free a few bytes); returns the bytes
    taken. Raises ``AssertionError`` if the socket never settles."""
    total = 0
    chunk = b"f" * 65536
    for _ in range(50):
        while True:
            try:
                total += sock.send(chunk)
            except BlockingIOError:
                break
        if wait([], [sock], SETTLE) == (set(), set()):
            return total
    raise AssertionError(f"{sock!r} still writable after {total} bytes")


def drain(sock: socket.socket, expected: int) -> None:
    got = 0
    deadline = time.monotonic() + 10
    while got < expected:
        assert time.monotonic() < deadline, f"drained {got} of {expected}"
        select.select([sock], [], [], 1)
        try:
            got += len(sock.recv(1 << 20))
        except BlockingIOError:
            continue


@pytest.mark.parametrize("name", list(WAITERS))
def test_virtual_sockets_mixed_with_pipes(name: str) -> None:
    wait = WAITERS[name]
    with usersock.patched(), connected_pair() as (listener, client, conn), pipe() as (pr, pw):
        cfd, sfd, lfd = client.fileno(), conn.fileno(), listener.fileno()

        # Idle: nothing to read anywhere.
        assert_idle(wait, [client, conn, listener, pr], [])

        # A byte in the pipe wakes only the pipe.
        os.write(pw, b"p")
        assert wait([client, conn, pr], [], 5) == ({pr}, set())
        assert os.read(pr, 1) == b"p"

        # Data on the connection wakes only the receiving socket.
        conn.send(b"hello")
        assert wait([client, conn, listener, pr], [], 5) == ({cfd}, set())
        assert client.recv(100) == b"hello"
        assert_idle(wait, [client, conn, pr], [])

        # Both at once.
        os.write(pw, b"q")
        client.send(b"up")
        assert wait([client, conn, pr], [], 5) == ({sfd, pr}, set())
        assert conn.recv(100) == b"up"
        os.read(pr, 1)

        # Writability: a fresh connection and a pipe are writable ...
        assert wait([], [client, pw], 5) == (set(), {cfd, pw})
        # ... a full send buffer is not, and then the socket is neither readable nor
        # writable: the waiter must sleep.
        sent = fill(client, wait)
        assert sent > 0
        assert_idle(wait, [client], [client])
        assert wait([client, pr], [client, pw], 5) == (set(), {pw})
        # The peer reads everything: writable again.
        drain(conn, sent)
        assert wait([client], [client], 5) == (set(), {cfd})

        # A pending connection makes the listener readable; accepting clears it.
        extra = socket.socket()
        extra.setblocking(False)
        with extra:
            with contextlib.suppress(BlockingIOError):
                extra.connect(listener.getsockname())
            assert wait([listener, pr], [], 5) == ({lfd}, set())
            accepted, _ = listener.accept()
            accepted.close()
            assert_idle(wait, [listener], [])

        # EOF is readable.
        conn.shutdown(socket.SHUT_WR)
        assert wait([client, pr], [], 5) == ({cfd}, set())
        assert client.recv(10) == b""


@pytest.mark.parametrize("name", ["select.select", "selectors.DefaultSelector"])
def test_udp_readiness(name: str) -> None:
    wait = WAITERS[name]
    with usersock.patched():
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        with a, b, pipe() as (pr, _):
            a.bind(("127.0.0.1", 0))
            b.bind(("::1", 0))
            a.setblocking(False)
            b.setblocking(False)
            assert_idle(wait, [a, b, pr], [])
            assert wait([], [a, b], 5) == (set(), {a.fileno(), b.fileno()})
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as c:
                c.sendto(b"to b", b.getsockname())
                c.sendto(b"again", b.getsockname())
            assert wait([a, b, pr], [], 5) == ({b.fileno()}, set())
            assert b.recvfrom(100)[0] == b"to b"
            assert wait([a, b, pr], [], 5) == ({b.fileno()}, set())
            assert b.recv(100) == b"again"
            assert_idle(wait, [a, b, pr], [])


def test_connect_completion_wakes_writer() -> None:
    """Non-blocking connect: EINPROGRESS, then writable with SO_ERROR 0 (how asyncio, trio and
    urllib3-style code connect); to a closed port, writable with SO_ERROR ECONNREFUSED."""
    with usersock.patched(), contextlib.closing(socket.create_server(("127.0.0.1", 0))) as srv:
        port = srv.getsockname()[1]
        with socket.socket() as s:
            s.setblocking(False)
            assert s.connect_ex(("127.0.0.1", port)) in (0, errno.EINPROGRESS)
            _, w, _ = select.select([], [s], [], 5)
            assert w == [s]
            assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        with socket.socket() as probe, socket.socket() as s:
            probe.bind(("127.0.0.1", 0))  # bound, not listening
            s.setblocking(False)
            s.connect_ex(probe.getsockname())
            _, w, _ = select.select([], [s], [], 5)
            assert w == [s]
            assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNREFUSED
