"""Readiness descriptors: a real file descriptor whose readiness mirrors a virtual socket.

``selectors``, ``select``, asyncio and urllib3 wait on ``fileno()``. A virtual socket's
``fileno()`` is therefore one end (*exposed*) of a private ``AF_UNIX`` socket pair
(ARCHITECTURE.md section 4):

* **readable**: while the virtual socket is readable (data, EOF, a pending accept, an error)
  one byte waits in the exposed end; it is read back when the socket stops being readable;
* **writable**: while the virtual socket is *not* writable (send buffer full, handshake
  under way) the exposed end's send buffer is filled until the kernel refuses more; it is
  drained from the other end (*inner*) when the socket becomes writable again.

Hang-ups are mirrored when they are final: once the virtual socket's read side is shut
(peer FIN, ``SHUT_RD``) the private end shuts its write side, so the exposed end polls
``POLLRDHUP`` (and stays readable); once both sides are (closed), it shuts both, so the
exposed end polls ``POLLHUP``, as ``tcp_poll`` reports.

A connection that ended with an error (reset, refused, timed out) also polls ``POLLERR``
until the error is taken (by ``recv``, ``SO_ERROR``...). The kernel's ``AF_UNIX`` code sets
that error on one end when the other is released with data unread (``unix_release_sock``:
``ECONNRESET``), so the private end is given a byte and closed; reading the exposed end
later returns the error once and clears it, which is how the mirror drops ``POLLERR``.
An error that comes after a clean hang-up (both sides already shut) is not mirrored.

Updates are edge-driven: :meth:`Readiness.set` compares the wanted state with the mirrored
one and makes a system call only when it changes, so a socket whose readiness does not
change costs nothing. A socket that is neither readable nor writable leaves the exposed end
idle and no selector wakes (no busy loop). The pair is created lazily, on the first
``fileno()``, so sockets used only in blocking mode cost no descriptors.

Concurrency: :meth:`set` runs with the stack lock held (it is called from the endpoint's
watchers and after socket calls), which also guards the mirrored state.
"""

from __future__ import annotations

import _socket
import os

_CHUNK = b"\0" * 4096


class Readiness:
    """The descriptor pair of one virtual socket. Needs the stack lock."""

    __slots__ = ("exposed_fd", "hangup", "inner", "readable", "writable")

    def __init__(self) -> None:
        exposed, inner = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
        # Small buffers: filling the exposed end's send side takes few writes.
        exposed.setsockopt(_socket.SOL_SOCKET, _socket.SO_SNDBUF, 1)
        inner.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVBUF, 1)
        exposed.setblocking(False)
        inner.setblocking(False)
        self.exposed_fd: int = exposed.detach()
        self.inner = inner
        self.readable = False
        self.writable = True
        self.hangup = 0

    def set(self, readable: bool, writable: bool, hangup: int = 0) -> None:
        """Make the exposed descriptor report *readable* and *writable*, and hang up
        (1: read side, 2: both, 3: both with an error pending) when *hangup* says so.
        Hang-ups are never undone; only the error of level 3 is, once *hangup* says 2."""
        if hangup > self.hangup:
            self._hang_up(hangup)
        elif hangup == 2 and self.hangup == 3:
            self._clear_error()
        if self.hangup:
            readable = True  # EOF is readable for good
            if self.hangup >= 2:
                writable = True
        if readable is not self.readable:
            if readable:
                self.inner.send(b"r")
            else:
                self._take_byte()
            self.readable = readable
        if writable is not self.writable:
            if writable:
                self._drain_inner()
            else:
                self._fill()
            self.writable = writable

    def _hang_up(self, level: int) -> None:
        if level == 3:
            self._hang_up_with_error()
            return
        if self.hangup == 0 and not self.writable:
            self._drain_inner()  # make room: the mirror will not be filled again
            self.writable = True
        try:
            self.inner.shutdown(_socket.SHUT_RDWR if level == 2 else _socket.SHUT_WR)
        except OSError:
            pass
        self.hangup = level
        self.readable = True

    def _hang_up_with_error(self) -> None:
        """Release the private end with data unread, so the exposed end gets ``sk_err``
        (POLLERR) on top of the hang-up; its own queue is emptied first, so that its next
        read returns the error (see :meth:`_clear_error`)."""
        if self.hangup == 2:
            return  # the private end already refuses data: POLLERR cannot be raised now
        if self.writable:
            os.write(self.exposed_fd, b"e")  # unread, it turns the release into an error
        self._drain(self.exposed_fd)
        self.inner.close()
        self.hangup = 3
        self.readable = self.writable = True

    def _clear_error(self) -> None:
        """The socket's error was taken: read it off the exposed end too (POLLERR goes)."""
        try:
            os.read(self.exposed_fd, 1)
        except OSError:
            pass  # ECONNRESET, the expected answer
        self.hangup = 2

    def _fill(self) -> None:
        fd = self.exposed_fd
        while True:
            try:
                os.write(fd, _CHUNK)
            except (BlockingIOError, BrokenPipeError):
                return

    def _drain_inner(self) -> None:
        recv = self.inner.recv
        while True:
            try:
                if not recv(65536):
                    return
            except BlockingIOError:
                return

    def _take_byte(self) -> None:
        """Read back the one byte that marks the exposed end readable (one system call;
        a stray extra byte, which this class never writes, is drained too)."""
        try:
            data = os.read(self.exposed_fd, 4096)
        except BlockingIOError:
            return
        if len(data) > 1:
            self._drain(self.exposed_fd)

    @staticmethod
    def _drain(fd: int) -> None:
        while True:
            try:
                if not os.read(fd, 4096):
                    return
            except BlockingIOError:
                return

    def close_inner(self) -> None:
        """Close the private end (the exposed one belongs to the socket object)."""
        self.inner.close()
