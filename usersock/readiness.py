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

A TCP socket that was never connected (nor listened) polls ``POLLOUT|POLLHUP`` in Linux
(``tcp_poll`` in ``TCP_CLOSE``), a hang-up that ``connect()`` or ``listen()`` ends. An
unconnected ``AF_UNIX`` stream socket polls just that, so a mirror made for such a socket
starts as one, with no private end (hang-up level -1). When the socket leaves that state
the exposed end is connected, through a listener on a fresh abstract address that lives
for the one ``accept``, and the private end is the accepted socket. The descriptor, and any
``epoll`` registration on it, stay the same.

Hang-ups are final within one connection. A level lower than the mirrored one means the
socket started a new life (``connect()`` again after a failed or closed connection, or a
listener shut down, back to never connected): a new mirror is put on the same descriptor
number with ``dup2``, which ``select``/``poll`` follow but an ``epoll`` registration of the
old one does not. Running out of descriptors never makes :meth:`Readiness.set` raise (it
runs inside the stack's processing): the mirror keeps what it showed, a warning is logged,
and the next update tries again.

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
import errno
import logging
import os

logger = logging.getLogger(__name__)

_CHUNK = b"\0" * 4096

#: The hang-up level of a mirror whose pairing failed half-way: any level asked for is lower,
#: so the next :meth:`Readiness.set` replaces it.
_STALE = 4


class Readiness:
    """The descriptor pair of one virtual socket. Needs the stack lock."""

    __slots__ = ("exposed_fd", "hangup", "inner", "readable", "writable")

    def __init__(self, never_connected: bool = False) -> None:
        """A mirror that reports writable only, or, when *never_connected*, the
        ``POLLOUT|POLLHUP`` of a TCP socket never connected (level -1 until :meth:`set`
        says otherwise). Raises ``OSError`` if the descriptors cannot be made."""
        self.readable = False
        self.writable = True
        self.inner: _socket.socket | None = None
        if never_connected:
            exposed = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            self.hangup = -1
        else:
            exposed, self.inner = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
            self._tune(self.inner)
            self.hangup = 0
        # Small buffers: filling the exposed end's send side takes few writes.
        exposed.setsockopt(_socket.SOL_SOCKET, _socket.SO_SNDBUF, 1)
        exposed.setblocking(False)
        self.exposed_fd: int = exposed.detach()

    @staticmethod
    def _tune(inner: _socket.socket) -> None:
        inner.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVBUF, 1)
        inner.setblocking(False)

    def set(self, readable: bool, writable: bool, hangup: int = 0) -> None:
        """Make the exposed descriptor report *readable* and *writable*, and hang up
        (1: read side, 2: both, 3: both with an error pending) when *hangup* says so; -1
        is a TCP socket never connected. Hang-ups stay: a lower level means a new life
        (a reconnect after a final hang-up, a listener shut down), which gets a new mirror
        on the same descriptor number; only the error of level 3 goes back to 2 in place.

        Never raises for want of descriptors: a mirror that cannot be made now is logged,
        keeps what it showed, and is tried again on the next call."""
        mirrored = self.hangup
        if hangup != mirrored:
            if hangup == 2 and mirrored == 3:
                self._clear_error()
            elif hangup < mirrored and not self._renew(hangup < 0):
                return
            if self.hangup < 0 <= hangup and not self._connect_exposed():
                return
            if hangup > self.hangup:
                self._hang_up(hangup)
        if self.hangup:
            if self.hangup < 0:
                return  # never connected: POLLOUT|POLLHUP until it is
            readable = True  # EOF is readable for good
            if self.hangup >= 2:
                writable = True
        if readable is not self.readable:
            if readable:
                self._paired().send(b"r")
            else:
                self._take_byte()
            self.readable = readable
        if writable is not self.writable:
            if writable:
                self._drain_inner()
            else:
                self._fill()
            self.writable = writable

    def _renew(self, never_connected: bool) -> bool:
        """Start a new mirror (level 0, or -1 if *never_connected*) on the same descriptor
        number, with ``dup2``. An ``epoll`` registration of the old one does not carry over
        (the kernel's socket would have kept it). False, logged, if it cannot be made."""
        try:
            fresh = Readiness(never_connected)
        except OSError as exc:
            logger.warning("readiness descriptor %d not renewed: %s", self.exposed_fd, exc)
            return False
        os.dup2(fresh.exposed_fd, self.exposed_fd, inheritable=False)
        os.close(fresh.exposed_fd)
        self.close_inner()
        self.inner = fresh.inner
        self.hangup = fresh.hangup
        self.readable = False
        self.writable = True
        return True

    def _connect_exposed(self) -> bool:
        """Level -1 to 0: connect the exposed end to a private one of its own (see the
        module's docstring); it then polls writable only. False, logged, if that cannot be
        done now; the mirror then stays at -1, or, if it failed half-way, is marked stale
        so that the next :meth:`set` starts a new one."""
        exposed = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, self.exposed_fd)
        listener: _socket.socket | None = None
        reserve = -1
        try:
            try:
                listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                listener.bind(b"")  # autobind: a fresh abstract address
                listener.listen(1)
                reserve = os.dup(listener.fileno())  # keeps a descriptor free for accept()
                exposed.bind(b"")  # a name of its own, to tell its connection apart
                self.hangup = _STALE  # until the pair is whole: an interruption leaves it so
                exposed.connect(listener.getsockname())  # immediate, to a listener with room
            except OSError as exc:
                self.hangup = -1  # the exposed end is still unconnected
                logger.warning("readiness descriptor %d not connected: %s", self.exposed_fd, exc)
                return False
            os.close(reserve)
            reserve = -1
            name = exposed.getsockname()
            for _ in range(10):
                fd, peer = listener._accept()  # type: ignore[attr-defined]  # not in typeshed
                inner = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, fd)
                if peer == name:
                    break
                inner.close()  # another process found the address: not ours
            else:
                raise OSError(errno.EADDRINUSE, "connections from elsewhere took its place")
        except OSError as exc:
            logger.warning("readiness descriptor %d not paired: %s", self.exposed_fd, exc)
            return False  # stale: the next set() starts a new mirror
        finally:
            if reserve >= 0:
                os.close(reserve)
            if listener is not None:
                listener.close()
            exposed.detach()
        self._tune(inner)
        self.inner = inner
        self.hangup = 0
        self.readable = False
        self.writable = True
        return True

    def _hang_up(self, level: int) -> None:
        if level == 3:
            self._hang_up_with_error()
            return
        inner = self._paired()
        if self.hangup == 0 and not self.writable:
            self._drain_inner()  # make room: the mirror will not be filled again
            self.writable = True
        try:
            inner.shutdown(_socket.SHUT_RDWR if level == 2 else _socket.SHUT_WR)
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
        self._paired().close()
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
        recv = self._paired().recv
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
        """Close the private end, if any (the exposed one belongs to the socket object)."""
        if self.inner is not None:
            self.inner.close()

    def _paired(self) -> _socket.socket:
        inner = self.inner
        assert inner is not None, "no private end before the socket leaves level -1"
        return inner
