"""Thread wake-ups: one descriptor per thread, written without the GIL.

Why not ``threading.Condition``: a blocked thread is woken by releasing a lock, which the
waking thread does while it holds the GIL (and usually the stack lock). On one CPU the kernel
then often switches to the woken thread at once; it finds the GIL taken and sleeps again, and
a third switch follows when the waker finally blocks. Measured here, two threads echoing one
item through a ``Condition`` make six context switches and take about 20 µs per round trip.

A :class:`Waiter` is a thread's own eventfd (a pipe where there is none). A thread blocks by
reading it; another wakes it by writing it, which ``os`` does with the GIL released. The
stack defers the writes of a socket call until that call has released the stack lock (see
:meth:`usersock.stack.stack.Stack.take_wakes`), so the woken thread finds both the GIL and
the lock free: two switches per round trip, as with kernel sockets, and about 8 µs.

A wake-up that arrives after its waiter stopped waiting (it timed out, or was woken by
another endpoint) stays in the descriptor and makes the thread's next wait return at once:
a spurious wake-up, which every waiter tolerates by re-checking its condition.
"""

from __future__ import annotations

import math
import os
import select
import threading

__all__ = ["Waiter", "current_waiter", "wake_all"]

_HAS_EVENTFD = hasattr(os, "eventfd")
#: ``poll()`` takes a C int of milliseconds.
_POLL_MAX_MS = 2**31 - 1


class Waiter:
    """The wake-up descriptor of one thread. :meth:`block` is for the owning thread only;
    :meth:`wake` may be called from any thread, with or without the stack lock."""

    __slots__ = ("_eventfd", "_poll", "_rfd", "_wfd")

    def __init__(self) -> None:
        self._rfd = self._wfd = -1
        self._poll: select.poll | None = None
        self._eventfd = _HAS_EVENTFD
        if self._eventfd:
            self._rfd = self._wfd = os.eventfd(0, os.EFD_CLOEXEC)
        else:  # platforms without eventfd
            self._rfd, self._wfd = os.pipe()
            os.set_blocking(self._wfd, False)

    def wake(self) -> None:
        """Make the owner's current or next :meth:`block` return."""
        try:
            if self._eventfd:
                os.eventfd_write(self._wfd, 1)
            else:
                os.write(self._wfd, b"\1")
        except (BlockingIOError, OSError):
            pass  # a full pipe is awake already; a closed one has no owner left

    def block(self, timeout: float | None) -> None:
        """Wait until woken, or *timeout* seconds (``None``: no limit). May return early
        (a wait longer than ``poll`` takes, about 24 days, ends after that)."""
        if timeout is not None:
            poll = self._poll
            if poll is None:
                poll = self._poll = select.poll()
                poll.register(self._rfd, select.POLLIN)
            ms = math.ceil(max(timeout, 0.0) * 1000)
            if not poll.poll(ms if ms < _POLL_MAX_MS else _POLL_MAX_MS):
                return
        if self._eventfd:
            os.eventfd_read(self._rfd)
        else:
            os.read(self._rfd, 512)

    def close(self) -> None:
        """Close the descriptors. Only for when nothing can wake this waiter any more (its
        thread ended and no list holds it): runs from ``__del__``."""
        fds = {self._rfd, self._wfd}
        self._rfd = self._wfd = -1
        for fd in fds:
            if fd >= 0:
                os.close(fd)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - a half-built waiter, or an fd gone already
            pass


def wake_all(waiters: list[Waiter]) -> None:
    """Wake every one of *waiters*, even if an exception (``KeyboardInterrupt``) interrupts
    the loop: the rest are still woken before it propagates."""
    pending = iter(waiters)
    try:
        for waiter in pending:
            waiter.wake()
    finally:
        for waiter in pending:
            waiter.wake()


class _ThreadWaiter(threading.local):
    waiter: Waiter | None = None


_local = _ThreadWaiter()


def current_waiter() -> Waiter:
    """The calling thread's waiter, created on first use and closed when the thread ends."""
    waiter = _local.waiter
    if waiter is None:
        waiter = _local.waiter = Waiter()
    return waiter


def _forget_after_fork() -> None:
    # The child must not share wake-up descriptors with its parent's threads.
    _local.waiter = None


os.register_at_fork(after_in_child=_forget_after_fork)
