"""Thread wake-ups: a waiter's descriptor, deferred wake-ups in the stack, and wakes raised
outside any socket call (a stack closing, a timer) reaching a blocked thread."""

from __future__ import annotations

import gc
import os
import socket
import threading
import time

import pytest

import usersock
from usersock.link.loopback import Loopback
from usersock.stack import wakeup
from usersock.stack.wakeup import Waiter, current_waiter
from usersock.transport.endpoint import Endpoint
from usersock.transport.tcp.endpoint import TCPEndpoint


@pytest.fixture(params=["eventfd", "pipe"])
def descriptor(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with waiters made on eventfds, and again on pipes (platforms without
    eventfd); waiters keep the kind they were made with."""
    kind: str = request.param
    if kind == "eventfd" and not hasattr(os, "eventfd"):
        pytest.skip("no eventfd here")
    monkeypatch.setattr(wakeup, "_HAS_EVENTFD", kind == "eventfd")
    return kind


def test_a_wake_before_the_wait_is_kept(descriptor: str) -> None:
    waiter = Waiter()
    try:
        waiter.wake()
        waiter.wake()
        waiter.block(None)  # returns at once: the wake-up was stored
        waiter.block(0)  # both were consumed by one read
    finally:
        waiter.close()


def test_block_with_a_timeout_returns_without_a_wake(descriptor: str) -> None:
    waiter = Waiter()
    try:
        start = time.monotonic()
        waiter.block(0.01)
        assert time.monotonic() - start >= 0.005
    finally:
        waiter.close()


def test_each_thread_has_its_own_waiter_closed_when_the_thread_ends() -> None:
    seen: list[Waiter] = []

    def run() -> None:
        seen.append(current_waiter())
        assert current_waiter() is seen[0]

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert current_waiter() is not seen[0]
    fd = seen[0]._rfd
    del seen[:]
    gc.collect()
    with pytest.raises(OSError):
        os.fstat(fd)


def loopback_stack() -> usersock.Stack:
    stack = usersock.Stack()
    stack.create_nic(1, Loopback())
    stack.add_address(1, "127.0.0.1/8")
    return stack


def connected(
    stack: usersock.Stack, port: int
) -> tuple[usersock.socket, usersock.socket, usersock.socket]:
    """(listener, client, accepted) of one TCP connection on 127.0.0.1:*port*."""
    srv = stack.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", port))
    srv.listen()
    cli = stack.socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.connect(("127.0.0.1", port))
    conn, _ = srv.accept()
    return srv, cli, conn


def wait_until_blocked(ep: Endpoint) -> None:
    for _ in range(5000):
        with ep.stack.lock:
            if ep.waiting:
                return
        time.sleep(0.001)
    raise AssertionError("the thread never blocked")


def test_a_blocked_reader_is_woken_by_a_stack_closing_outside_any_socket_call() -> None:
    stack = loopback_stack()
    srv, cli, conn = connected(stack, 9000)
    outcome: list[object] = []

    def reader() -> None:
        try:
            outcome.append(conn.recv(10))
        except OSError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    ep = conn._ep
    assert isinstance(ep, Endpoint)
    wait_until_blocked(ep)
    stack.close()  # aborts every connection and wakes its waiters, with no socket call under way
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(outcome) == 1
    for s in (cli, conn, srv):
        s.close()


def test_wakes_deferred_by_a_call_are_sent_when_it_returns(descriptor: str) -> None:
    stack = loopback_stack()
    srv, cli, conn = connected(stack, 9001)
    got: list[bytes] = []
    thread = threading.Thread(target=lambda: got.append(conn.recv(10)))
    thread.start()
    ep = conn._ep
    assert isinstance(ep, Endpoint)
    wait_until_blocked(ep)
    with stack.lock:
        assert [w._eventfd for w in ep.waiting] == [descriptor == "eventfd"]
    cli.sendall(b"ping")
    thread.join(timeout=10)
    assert got == [b"ping"]
    with stack.lock:
        assert stack.defer_depth == 0
        assert stack.pending_wakes == []
    for s in (cli, conn, srv):
        s.close()
    stack.close()


def test_the_timer_thread_fires_a_timer_armed_while_it_sleeps_on_a_later_one() -> None:
    stack = usersock.Stack()
    fired: list[str] = []
    soon = threading.Event()
    try:
        stack.call_later(30.0, lambda: fired.append("late"))
        for _ in range(5000):  # let the timer thread start and go to sleep
            with stack.lock:
                if stack._timer_wait_until is not None:
                    break
            time.sleep(0.001)

        def early() -> None:
            fired.append("early")
            soon.set()

        stack.call_later(0.01, early)
        assert soon.wait(timeout=10)
        assert fired == ["early"]
    finally:
        stack.close()
    assert stack._timer_thread is None


class _Probe:
    """A timed object recording when it fired."""

    def __init__(self) -> None:
        self.timer_deadline: float | None = None
        self.timer_queued: float | None = None
        self.fired = threading.Event()

    def on_timer(self, now: float) -> None:
        self.fired.set()


@pytest.mark.parametrize("lazy", [False, True])
def test_a_timer_armed_lazily_or_not_fires_while_the_thread_sleeps(lazy: bool) -> None:
    stack = usersock.Stack()
    try:
        stack.call_later(30.0, lambda: None)  # the timer thread runs and sleeps
        for _ in range(5000):
            with stack.lock:
                if stack._timer_wait_until is not None:
                    break
            time.sleep(0.001)
        probe = _Probe()
        with stack.lock:
            stack.schedule(probe, stack.now() + 0.001, lazy=lazy)
        assert probe.fired.wait(timeout=10)
    finally:
        stack.close()


def test_a_held_back_ack_of_a_blocking_socket_leaves_without_any_socket_call() -> None:
    """The owner of a blocking socket neither reads nor answers: the ACK still goes out
    (the lazily armed backstop timer), so the sender's data is acknowledged."""
    stack = loopback_stack()
    try:
        srv, cli, conn = connected(stack, 9002)
        cli.sendall(b"small")
        ep = cli._ep
        assert isinstance(ep, TCPEndpoint) and ep.conn is not None
        for _ in range(10000):
            with stack.lock:
                if ep.conn.snd.flight() == 0:
                    break
            time.sleep(0.001)
        with stack.lock:
            assert ep.conn.snd.flight() == 0
        assert conn.recv(10) == b"small"
        for s in (cli, conn, srv):
            s.close()
    finally:
        stack.close()


def test_data_released_by_the_ack_a_reader_sends_before_blocking_wakes_that_reader() -> None:
    """before_wait() sends the held-back ACK; the peer's Nagle-held byte then arrives during
    the same drain. The reader is registered first, so that arrival wakes it (on a manual
    clock no timer would ever come to the rescue)."""
    stack = usersock.Stack(clock=usersock.ManualClock())
    stack.create_nic(1, Loopback())
    stack.add_address(1, "127.0.0.1/8")
    srv, cli, conn = connected(stack, 9003)
    cli.sendall(b"w")  # settle the first window update
    assert conn.recv(1) == b"w"
    conn.sendall(b"w")
    assert cli.recv(1) == b"w"
    cli.send(b"a")  # conn holds its ACK back
    cli.send(b"b")  # Nagle: held until "a" is acknowledged
    assert conn.recv(1) == b"a"
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(conn.recv(1)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert got == [b"b"]
    for s in (cli, conn, srv):
        s.close()
    stack.close()


def test_a_non_lazy_deadline_wakes_the_timer_thread_even_behind_a_lazy_one() -> None:
    stack = usersock.Stack()
    woken: list[Waiter] = []
    real_wake = stack.wake

    def recording_wake(waiters: list[Waiter]) -> None:
        woken.extend(waiters)
        real_wake(waiters)

    stack.wake = recording_wake  # type: ignore[method-assign]
    try:
        stack.call_later(30.0, lambda: None)
        for _ in range(5000):
            with stack.lock:
                if stack._timer_wait_until is not None:
                    break
            time.sleep(0.001)
        lazy, exact = _Probe(), _Probe()
        with stack.lock:
            timer_waiter = stack._timer_waiter
            now = stack.now()
            stack.schedule(lazy, now + 0.001, lazy=True)
            assert timer_waiter not in woken
            stack.schedule(exact, now + 0.002)
            assert timer_waiter is not None and timer_waiter in woken
        assert exact.fired.wait(timeout=10)
    finally:
        stack.close()


def test_a_wait_longer_than_poll_can_take_is_accepted(descriptor: str) -> None:
    waiter = Waiter()
    try:
        waiter.wake()
        waiter.block(30 * 86400.0)  # 30 days: more milliseconds than a C int holds
    finally:
        waiter.close()


@pytest.mark.parametrize("exc", [ValueError("boom"), KeyboardInterrupt()])
def test_an_exception_in_a_socket_call_leaves_no_deferral_behind(exc: BaseException) -> None:
    stack = loopback_stack()
    sock = stack.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def failing() -> None:
        raise exc

    try:
        with pytest.raises(type(exc)):
            sock._locked(failing)
        with pytest.raises(type(exc)):
            sock._call(failing, None)
        with stack.lock:
            assert stack.defer_depth == 0
    finally:
        sock.close()
        stack.close()


def test_after_fork_a_stack_forgets_the_parent_threads() -> None:
    stack = loopback_stack()
    try:
        stack.call_later(30.0, lambda: None)
        with stack.lock:
            stack._forget_threads()
            assert stack._timer_thread is None and stack._timer_waiter is None
            assert stack.defer_depth == 0 and stack.pending_wakes == []
    finally:
        stack.close()


def test_held_back_acks_are_paced_lazily_only_for_owners_that_wait_inside_their_calls() -> None:
    stack = loopback_stack()
    try:
        srv, cli, conn = connected(stack, 9004)
        ep = conn._ep
        assert isinstance(ep, TCPEndpoint)
        assert ep.owner_waits_in_calls  # blocking, no descriptor: its recv() waits
        conn.fileno()  # a readiness descriptor: the owner may sit in select() instead
        assert not ep.owner_waits_in_calls
        other = cli._ep
        assert isinstance(other, TCPEndpoint)
        cli.setblocking(False)
        assert not other.owner_waits_in_calls
        cli.settimeout(5.0)
        assert other.owner_waits_in_calls
        for s in (cli, conn, srv):
            s.close()
    finally:
        stack.close()
