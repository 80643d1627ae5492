"""``usersock.socket``: the ``socket.socket`` look-alike over a virtual network.

The class *is* a ``socket.socket`` (a subclass of the real class), so ``isinstance`` checks,
``makefile()``'s ``SocketIO`` with its reference counting, ``sendfile``'s fallback and the
context-manager protocol come from the standard library unchanged. Its C-level descriptor is
not a kernel socket: it is unset (-1) until ``fileno()`` is first asked for, and then the
exposed end of a readiness pair (:mod:`usersock.readiness`) whose readiness mirrors the
virtual socket. Every I/O method is overridden.

A socket is in one of two modes:

* **virtual** — the endpoint lives on a usersock stack. Every call follows one pattern
  (trio's ``_socket.py`` shape): take the stack lock, try the non-blocking endpoint
  operation, and only on ``WOULD_BLOCK`` wait on the endpoint's condition (which releases
  the lock) until notified or the timeout expires, then retry. Stack errors become
  ``OSError`` in one place (:func:`usersock.errors.to_oserror`); an expired timeout raises
  ``TimeoutError("timed out")``, a non-blocking socket ``BlockingIOError``, as CPython does.
* **real** — a connect (or UDP send) to an address the network does not own, which the
  user explicitly allowed (``patched(allow=[...])``), turns the socket into a kernel socket:
  the C half is re-initialised with a real descriptor (``dup2``-ed over the readiness
  descriptor if one was handed out, so selectors keep working) and every method then defers
  to the real implementation.

Construction (``socket(family, type, proto, fileno, *, network)``): with ``fileno`` or a
family other than ``AF_INET``/``AF_INET6`` (``AF_UNIX`` stays real) the call returns a plain
real socket. Otherwise the socket joins *network* — a :class:`usersock.Network`, a
:class:`usersock.Stack`, or by default the network of the innermost ``patched()``.

Socket timeouts are measured in real time.
"""

from __future__ import annotations

import _socket
import errno
import operator
import os
import socket as _stdlib_socket
import sys
import time
from typing import Any

from usersock.errors import Err, StackError, to_oserror
from usersock.socket_core import (
    _MSG_DONTWAIT,
    _MSG_NOSIGNAL,
    _MSG_PEEK,
    _MSG_TRUNC,
    _MSG_WAITALL,
    Address,
    SocketCore,
    _as_c_int,
    _oserror,
    _RealSocket,
)
from usersock.transport.endpoint import Endpoint
from usersock.transport.tcp.endpoint import TCPEndpoint
from usersock.transport.udp import UDPEndpoint


class socket(SocketCore):
    """A TCP or UDP socket on a usersock network; see the module docstring."""

    __slots__ = ()

    # Addresses ---------------------------------------------------------------------------
    def bind(self, address: Address) -> None:
        """Bind to a local address (``EADDRINUSE``, ``EADDRNOTAVAIL``, ``EINVAL``)."""
        if self._real:
            return super().bind(address)
        ep = self._endpoint()
        addr, port = self._resolve(address, for_bind=True)
        self._locked(lambda: ep.bind(addr, port))

    def getsockname(self) -> Address:
        if self._real:
            return super().getsockname()
        ep = self._endpoint()
        with self._stack.lock:
            local = ep.connected_local if isinstance(ep, UDPEndpoint) else ep.local_addr
            return self._format(local, ep.local_port)

    def getpeername(self) -> Address:
        """The connected peer. Raises ``OSError(ENOTCONN)`` when not connected."""
        if self._real:
            return super().getpeername()
        ep = self._endpoint()
        with self._stack.lock:
            # inet_getname: a UDP socket with no peer port has no peer.
            connected = ep.is_connected() if isinstance(ep, TCPEndpoint) else ep.remote_port != 0
            if not connected or ep.remote_addr is None:
                raise to_oserror(Err.NOT_CONNECTED)
            return self._format(ep.remote_addr, ep.remote_port)

    # Connection set-up ---------------------------------------------------------------------
    def listen(self, backlog: int = min(_socket.SOMAXCONN, 128)) -> None:
        """Start listening (``EINVAL`` when connected, ``EOPNOTSUPP`` for UDP)."""
        if self._real:
            return super().listen(backlog)
        ep = self._tcp()
        self._locked(lambda: ep.listen(backlog))

    def _accept(self) -> tuple[int, Address]:
        """The C-level accept, which ``socket.accept`` of a real-mode socket uses; a virtual
        socket has no kernel descriptor to accept on."""
        if self._real:
            return super()._accept()  # type: ignore[misc,no-any-return]
        raise _oserror(errno.EOPNOTSUPP, "virtual sockets accept through accept()")

    def accept(self) -> tuple[Any, Address]:
        """Wait for a connection; returns ``(socket, address)`` like ``socket.accept``."""
        if self._real:
            return super().accept()
        ep = self._tcp()
        child = self._call(ep.accept, self._vtimeout)
        sock = type(self)(
            self._vfamily, self._vtype, self._vproto, network=self._net, _endpoint=child
        )
        if _stdlib_socket.getdefaulttimeout() is None and self._vtimeout:
            sock._vtimeout = None
            sock._note_blocking()
        with self._stack.lock:
            return sock, self._format(child.remote_addr, child.remote_port)

    def connect(self, address: Address) -> None:
        """Connect; blocks until the handshake completes unless non-blocking.

        Raises ``ConnectionRefusedError``, ``TimeoutError``, ``BlockingIOError(EINPROGRESS)``
        for a non-blocking socket, ``OSError(EISCONN/EALREADY)`` on repeats, and
        :class:`usersock.net.RealNetworkBlocked` for a real address that was not allowed.
        """
        if self._real:
            return super().connect(address)
        ep = self._endpoint()
        addr, port = self._resolve(address)
        self._check_broadcast(ep, addr)
        if self._maybe_real(addr, port):
            return super().connect(self._format(addr, port))
        if isinstance(ep, UDPEndpoint):
            self._locked(lambda: ep.connect(addr, port))
            return
        assert isinstance(ep, TCPEndpoint)
        timeout = self._vtimeout
        with self._stack.lock:
            try:
                started = ep.connect(addr, port)
            except StackError as exc:
                raise to_oserror(exc.err, exc.detail) from None
            finally:
                if self._ready is not None:
                    self._sync()
            if started is Err.ALREADY_CONNECTING and timeout is not None:
                # The kernel's EALREADY path: report the outcome of the earlier connect.
                try:
                    ep.connect_result()
                except StackError as exc:
                    err = Err.ALREADY_CONNECTING if exc.err is Err.WOULD_BLOCK else exc.err
                    raise to_oserror(err) from None
                return
            if timeout == 0:
                # Linux answers the first non-blocking connect with EINPROGRESS even on
                # loopback (the SYN is processed after the call returns).
                raise BlockingIOError(errno.EINPROGRESS, os.strerror(errno.EINPROGRESS))
        if timeout is None:
            self._call(ep.connect_result, None)  # a blocking connect(2)
            return

        def finished() -> None:
            # CPython with a timeout: non-blocking connect, wait writable, read SO_ERROR.
            # The socket stays "connecting" for the kernel, so a second connect() reports
            # success (or ECONNABORTED after a failure) and only a third says EISCONN.
            if ep.is_connecting():
                raise StackError(Err.WOULD_BLOCK)
            err = ep.take_error()
            if err is not None:
                raise StackError(err)

        self._call(finished, timeout, True)

    def connect_ex(self, address: Address) -> int:
        """Like :meth:`connect` but returns an errno (0 on success); bad arguments and
        unknown names still raise."""
        try:
            self.connect(address)
        except TimeoutError as exc:
            return exc.errno if exc.errno is not None else errno.EAGAIN
        except _stdlib_socket.gaierror:
            raise
        except OSError as exc:
            if exc.errno is None:
                raise
            return exc.errno
        return 0

    # Data ----------------------------------------------------------------------------------
    @staticmethod
    def _check_flags(flags: int, allowed: int) -> None:
        if flags & ~allowed:
            raise _oserror(
                errno.EOPNOTSUPP, f"usersock does not support socket flags {flags & ~allowed:#x}"
            )

    def send(self, data: Any, flags: int = 0) -> int:
        """Send some of *data*; returns how many bytes were taken."""
        if self._real:
            return super().send(data, flags)
        ep = self._endpoint()
        self._check_flags(flags, _MSG_DONTWAIT | _send_hints(ep))
        view = memoryview(data).cast("B")
        if isinstance(ep, UDPEndpoint):
            return self._call(lambda: ep.send_to(view, None, 0), self._op_timeout(flags), True)
        assert isinstance(ep, TCPEndpoint)
        return self._call(lambda: ep.send(view), self._op_timeout(flags), True)

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Send all of *data*, waiting as needed; the timeout covers the whole call."""
        if self._real:
            return super().sendall(data, flags)
        ep = self._endpoint()
        self._check_flags(flags, _send_hints(ep))
        view = memoryview(data).cast("B")
        if isinstance(ep, UDPEndpoint):
            self.send(view, flags)
            return
        assert isinstance(ep, TCPEndpoint)
        timeout = self._vtimeout
        deadline = None if timeout is None else time.monotonic() + timeout
        sent, total = 0, len(view)
        while True:
            remaining: float | None = None
            if deadline is not None:
                remaining = max(0.0, deadline - time.monotonic())
                if remaining == 0 and timeout != 0:
                    raise TimeoutError("timed out")
            piece = view[sent:]

            def send_piece(p: memoryview = piece) -> int:
                return ep.send(p)

            sent += self._call(send_piece, remaining, True)
            if sent >= total:
                return

    def sendto(self, data: Any, flags_or_address: Any, address: Any = None) -> int:
        """``sendto(data, address)`` or ``sendto(data, flags, address)``."""
        if address is None:
            flags, address = 0, flags_or_address
        else:
            flags = flags_or_address
        if self._real:
            return super().sendto(data, flags, address)
        ep = self._endpoint()
        self._check_flags(flags, _MSG_DONTWAIT | _send_hints(ep))
        addr, port = self._resolve(address)
        if isinstance(ep, TCPEndpoint):
            return self.send(data, flags)  # TCP ignores the address, as tcp_sendmsg does
        assert isinstance(ep, UDPEndpoint)
        self._check_broadcast(ep, addr)
        if self._maybe_real(addr, port):
            return super().sendto(data, flags, self._format(addr, port))
        view = memoryview(data).cast("B")
        return self._call(lambda: ep.send_to(view, addr, port), self._op_timeout(flags), True)

    def _check_broadcast(self, ep: Endpoint, addr: bytes) -> None:
        """Linux refuses a broadcast destination: ``EACCES`` for UDP without
        ``SO_BROADCAST`` (``ip4_datagram_connect``, ``udp_sendmsg``), ``ENETUNREACH`` for
        TCP (``tcp_v4_connect``)."""
        if len(addr) != 4 or not self._stack.is_broadcast(addr):
            return
        if isinstance(ep, TCPEndpoint):
            raise _oserror(errno.ENETUNREACH)
        if not self._broadcast:
            raise _oserror(errno.EACCES)

    def sendmsg(self, buffers: Any, ancdata: Any = (), flags: int = 0, address: Any = None) -> int:
        """Gather *buffers* into one send; ancillary data is not supported (``EOPNOTSUPP``)."""
        if self._real:
            return super().sendmsg(buffers, ancdata, flags, address)
        if list(ancdata):
            raise _oserror(errno.EOPNOTSUPP, "usersock does not support ancillary data")
        data = b"".join(bytes(memoryview(b).cast("B")) for b in buffers)
        if address is not None:
            return self.sendto(data, flags, address)
        return self.send(data, flags)

    def _recv_flags(self, flags: int) -> tuple[bool, float | None]:
        self._check_flags(flags, _MSG_PEEK | _MSG_DONTWAIT | _MSG_WAITALL | _MSG_TRUNC)
        return bool(flags & _MSG_PEEK), self._op_timeout(flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Receive up to *bufsize* bytes; ``b""`` at EOF. ``MSG_WAITALL`` waits for all."""
        if self._real:
            return super().recv(bufsize, flags)
        bufsize = operator.index(bufsize)  # TypeError for a float, as CPython
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        if bufsize == 0:
            return b""  # CPython answers without a system call: nothing is consumed
        if not flags & _MSG_WAITALL:
            # Straight from the receive queue: one copy of what is there, never a buffer of
            # *bufsize* bytes (asyncio asks for 256 KiB at a time).
            peek, timeout = self._recv_flags(flags)
            ep = self._endpoint()
            if isinstance(ep, TCPEndpoint):
                return self._call(lambda: ep.recv(bufsize, peek), timeout)
        buf = bytearray(bufsize)
        n = self.recv_into(buf, bufsize, flags)
        if n > bufsize:  # UDP with MSG_TRUNC: CPython grows the result to the real length
            return bytes(buf).ljust(n, b"\0")
        return bytes(buf[:n]) if n != bufsize else bytes(buf)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """Receive into *buffer* (up to *nbytes*, default its length); returns the count."""
        if self._real:
            return super().recv_into(buffer, nbytes, flags)
        view = memoryview(buffer).cast("B")
        if view.readonly:
            raise TypeError(
                "recv_into() argument 1 must be read-write bytes-like object,"
                f" not {type(buffer).__name__}"
            )
        if nbytes < 0:
            raise ValueError("negative buffersize in recv_into")
        if nbytes == 0:
            nbytes = len(view)
        elif nbytes > len(view):
            raise ValueError("buffer too small for requested bytes")
        if nbytes == 0:
            return 0  # CPython answers without a system call
        peek, timeout = self._recv_flags(flags)
        ep = self._endpoint()
        if isinstance(ep, UDPEndpoint):
            size = _datagram_size(nbytes, flags)
            data, _, _ = self._call(lambda: ep.recv_from(size, peek, timeout is None), timeout)
            view[: min(len(data), nbytes)] = data[:nbytes]
            return len(data)  # with MSG_TRUNC, the datagram's real length
        assert isinstance(ep, TCPEndpoint)
        if nbytes == 0:
            return 0
        got = self._call(lambda: ep.recv_into(view, nbytes, peek), timeout)
        # MSG_WAITALL waits for the rest only on a blocking socket: with a timeout CPython
        # reads a non-blocking descriptor, so Linux returns what was there.
        if flags & _MSG_WAITALL and not peek and timeout is None:
            while 0 < got < nbytes:
                rest = view[got:nbytes]
                more = self._call(lambda r=rest: ep.recv_into(r, len(r), False, True), None)  # type: ignore[misc]
                if more == 0:
                    break  # EOF, or an error left for the next call
                got += more
        return got

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Address]:
        """Receive a datagram and its sender; on TCP the address is ``None`` as on Linux."""
        if self._real:
            return super().recvfrom(bufsize, flags)
        if bufsize < 0:
            raise ValueError("negative buffersize in recvfrom")
        ep = self._endpoint()
        if isinstance(ep, TCPEndpoint):
            return self.recv(bufsize, flags), None
        assert isinstance(ep, UDPEndpoint)
        peek, timeout = self._recv_flags(flags)
        size = _datagram_size(bufsize, flags)
        data, src, port = self._call(lambda: ep.recv_from(size, peek, timeout is None), timeout)
        if len(data) > bufsize:  # MSG_TRUNC: the real length; CPython leaves the rest unset
            data = data[:bufsize].ljust(len(data), b"\0")
        return data, (self._format(src, port) if src else None)

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> tuple[int, Address]:
        """Like :meth:`recvfrom`, into *buffer*."""
        if self._real:
            return super().recvfrom_into(buffer, nbytes, flags)
        view = memoryview(buffer).cast("B")
        if nbytes < 0:
            raise ValueError("negative buffersize in recvfrom_into")
        if nbytes == 0:
            nbytes = len(view)
        elif nbytes > len(view):
            raise ValueError("nbytes is greater than the length of the buffer")
        data, addr = self.recvfrom(nbytes, flags)
        view[: min(len(data), nbytes)] = data[:nbytes]
        return len(data), addr  # with MSG_TRUNC on UDP, the datagram's real length

    def recvmsg(
        self, bufsize: int, ancbufsize: int = 0, flags: int = 0
    ) -> tuple[bytes, list[Any], int, Address]:
        """``(data, ancdata, msg_flags, address)``; no ancillary data is ever returned.
        ``MSG_TRUNC`` is set in *msg_flags* when a datagram was cut."""
        if self._real:
            return super().recvmsg(bufsize, ancbufsize, flags)
        if bufsize < 0:
            raise ValueError("negative buffer size in recvmsg()")
        ep = self._endpoint()
        if isinstance(ep, UDPEndpoint):
            peek, timeout = self._recv_flags(flags)
            full, src, port = self._call(
                lambda: ep.recv_from(1 << 20, peek, timeout is None), timeout
            )
            msg_flags = _MSG_TRUNC if len(full) > bufsize else 0
            return full[:bufsize], [], msg_flags, (self._format(src, port) if src else None)
        return self.recv(bufsize, flags), [], 0, None

    def recvmsg_into(
        self, buffers: Any, ancbufsize: int = 0, flags: int = 0
    ) -> tuple[int, list[Any], int, Address]:
        """Scatter one receive over *buffers*."""
        if self._real:
            return super().recvmsg_into(buffers, ancbufsize, flags)
        views = [memoryview(b).cast("B") for b in buffers]
        data, anc, msg_flags, addr = self.recvmsg(sum(len(v) for v in views), ancbufsize, flags)
        offset = 0
        for v in views:
            chunk = data[offset : offset + len(v)]
            v[: len(chunk)] = chunk
            offset += len(chunk)
        return len(data), anc, msg_flags, addr

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """Send a file with ``send()`` (there is no kernel ``sendfile`` to a virtual socket)."""
        if self._real:
            return super().sendfile(file, offset, count)
        return self._sendfile_use_send(file, offset, count)  # type: ignore[attr-defined,no-any-return]

    # Teardown ------------------------------------------------------------------------------
    def shutdown(self, how: int) -> None:
        """``SHUT_RD``, ``SHUT_WR`` or ``SHUT_RDWR``. Raises ``OSError(ENOTCONN)``."""
        how = _as_c_int(how)
        if self._real:
            return super().shutdown(how)
        if how not in (_socket.SHUT_RD, _socket.SHUT_WR, _socket.SHUT_RDWR):
            raise _oserror(errno.EINVAL)
        ep = self._endpoint()
        read = how in (_socket.SHUT_RD, _socket.SHUT_RDWR)
        write = how in (_socket.SHUT_WR, _socket.SHUT_RDWR)
        assert isinstance(ep, (TCPEndpoint, UDPEndpoint))
        self._locked(lambda: ep.shutdown(read, write))


#: Send flags Linux takes as hints that change nothing a peer can see here: the end of a
#: record, no routing (the destination is local or refused anyway), a neighbour confirmed.
_MSG_MORE = getattr(_socket, "MSG_MORE", 0)
_HINTS = _MSG_NOSIGNAL | _socket.MSG_EOR | _socket.MSG_DONTROUTE | _socket.MSG_CONFIRM


def _send_hints(ep: Endpoint) -> int:
    """The send flags accepted besides ``MSG_DONTWAIT``. ``MSG_MORE`` too on TCP, where it
    does not hold the data back (Linux corks it for up to 200 ms; a peer only sees other
    segment boundaries). On UDP it would join datagrams, which is not implemented, so it
    fails with ``EOPNOTSUPP``, like ``MSG_OOB`` everywhere."""
    return _HINTS | _MSG_MORE if isinstance(ep, TCPEndpoint) else _HINTS


def _datagram_size(n: int, flags: int) -> int:
    """How much of a datagram to take: all of it with ``MSG_TRUNC`` (Linux then returns
    the real length, ``udp_recvmsg``), else *n* bytes."""
    return sys.maxsize if flags & _MSG_TRUNC else n


class _PatchedSocketType(type):
    """While patched, ``socket.socket`` must still describe real sockets too: real and
    virtual sockets both pass ``isinstance(x, socket.socket)``."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, _RealSocket)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, _RealSocket)


class PatchedSocket(socket, metaclass=_PatchedSocketType):
    """What ``patched()`` installs as ``socket.socket``: the virtual class, with an
    ``isinstance`` that also accepts real sockets (and their subclasses, ``ssl.SSLSocket``)."""

    __slots__ = ()


PatchedSocket.__name__ = PatchedSocket.__qualname__ = "socket"


def is_virtual(sock: Any) -> bool:
    """True if *sock* is a usersock socket still on its virtual network."""
    return isinstance(sock, socket) and not sock._real
