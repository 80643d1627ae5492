"""``usersock.socket``: the ``socket.socket`` look-alike over a usersock stack.

Every call follows one pattern (trio's ``_socket.py`` shape): take the stack lock, try the
non-blocking endpoint operation, and only on ``WOULD_BLOCK`` wait on the endpoint's condition
(which releases the lock) until it is notified or the socket's timeout expires, then retry.
Stack errors become ``OSError`` in one place (:func:`usersock.errors.to_oserror`); an expired
timeout raises ``TimeoutError("timed out")`` and a non-blocking socket ``BlockingIOError``,
as CPython's socket module does. Socket timeouts are measured in real time.
"""

from __future__ import annotations

import errno
import os
import socket as _socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from usersock.errors import Err, StackError, to_oserror
from usersock.stack.route import format_address
from usersock.transport.endpoint import Endpoint, wildcard
from usersock.transport.tcp.endpoint import TCPEndpoint
from usersock.transport.udp import UDPEndpoint

if TYPE_CHECKING:
    from usersock.api import Stack

T = TypeVar("T")
Address = tuple[Any, ...]

_FAMILY_VERSION: dict[int, int] = {_socket.AF_INET: 4, _socket.AF_INET6: 6}


def _ebadf() -> OSError:
    return OSError(errno.EBADF, os.strerror(errno.EBADF))


class socket:
    """A TCP or UDP socket on a usersock :class:`~usersock.api.Stack`.

    Same signatures, return values and exceptions as :class:`socket.socket` for the calls
    listed in the README. Create one with ``stack.socket(family, type)``.
    """

    def __init__(
        self,
        stack: Stack,
        family: int = _socket.AF_INET,
        type: int = _socket.SOCK_STREAM,
        proto: int = 0,
        *,
        _endpoint: Endpoint | None = None,
    ) -> None:
        version = _FAMILY_VERSION.get(family)
        if version is None:
            raise OSError(errno.EAFNOSUPPORT, os.strerror(errno.EAFNOSUPPORT))
        base_type = type & ~(_socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC)
        if base_type == _socket.SOCK_STREAM and proto in (0, _socket.IPPROTO_TCP):
            proto = _socket.IPPROTO_TCP
        elif base_type == _socket.SOCK_DGRAM and proto in (0, _socket.IPPROTO_UDP):
            proto = _socket.IPPROTO_UDP
        else:
            raise OSError(errno.EPROTONOSUPPORT, os.strerror(errno.EPROTONOSUPPORT))
        self._stack = stack
        self.family = _socket.AddressFamily(family)
        self.type = _socket.SocketKind(base_type)
        self.proto = proto
        self._version = version
        if _endpoint is None:
            with stack.lock:
                _endpoint = (
                    TCPEndpoint(stack, version)
                    if base_type == _socket.SOCK_STREAM
                    else UDPEndpoint(stack, version)
                )
        self._ep: Endpoint | None = _endpoint
        self._timeout: float | None = _socket.getdefaulttimeout()
        if type & _socket.SOCK_NONBLOCK:
            self._timeout = 0.0

    # Plumbing ------------------------------------------------------------------------------
    def _endpoint(self) -> Endpoint:
        ep = self._ep
        if ep is None:
            raise _ebadf()
        return ep

    def _tcp(self) -> TCPEndpoint:
        ep = self._endpoint()
        if not isinstance(ep, TCPEndpoint):
            raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))
        return ep

    def _op_timeout(self, flags: int) -> float | None:
        """The timeout for one call: ``MSG_DONTWAIT`` makes it non-blocking."""
        return 0.0 if flags & _socket.MSG_DONTWAIT else self._timeout

    def _call(self, op: Callable[[], T], timeout: float | None) -> T:
        """Run *op* under the stack lock, waiting while it would block, up to *timeout*
        seconds (``None``: forever, ``0``: not at all).

        Raises the translated ``OSError``, ``BlockingIOError`` when non-blocking, or
        ``TimeoutError`` when the timeout expires.
        """
        ep = self._endpoint()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._stack.lock:
            while True:
                try:
                    return op()
                except StackError as exc:
                    if exc.err is not Err.WOULD_BLOCK:
                        raise to_oserror(exc.err, exc.detail) from None
                if deadline is None:
                    ep.wait(None)
                    continue
                remaining = deadline - time.monotonic()
                if timeout == 0:
                    raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
                if remaining <= 0:
                    raise TimeoutError("timed out")
                ep.wait(remaining)

    def _locked(self, op: Callable[[], T]) -> T:
        """Run a non-blocking *op* under the lock, translating stack errors."""
        with self._stack.lock:
            try:
                return op()
            except StackError as exc:
                raise to_oserror(exc.err, exc.detail) from None

    def _resolve(self, address: Any, for_bind: bool = False) -> tuple[bytes, int]:
        """Turn an ``(host, port[, flowinfo, scope_id])`` tuple into packed form."""
        if not isinstance(address, tuple):
            raise TypeError(
                f"{'AF_INET' if self._version == 4 else 'AF_INET6'} address must be tuple, "
                f"not {type(address).__name__}"
            )
        if (self._version == 4 and len(address) != 2) or (
            self._version == 6 and not (2 <= len(address) <= 4)
        ):
            raise TypeError("address tuple has the wrong number of items")
        host, port = address[0], address[1]
        if not isinstance(port, int):
            raise TypeError(f"'{type(port).__name__}' object cannot be interpreted as an integer")
        if not 0 <= port <= 0xFFFF:
            raise OverflowError("port must be 0-65535.")
        if isinstance(host, bytes):
            host = host.decode("idna")
        if not isinstance(host, str):
            raise TypeError(f"str, bytes or bytearray expected, not {type(host).__name__}")
        return self._stack.resolve_host(host, self._version, for_bind), port

    def _format(self, addr: bytes | None, port: int) -> Address:
        text = format_address(addr) if addr is not None else format_address(wildcard(self._version))
        if self._version == 4:
            return (text, port)
        return (text, port, 0, 0)

    # Configuration -------------------------------------------------------------------------
    def settimeout(self, value: float | None) -> None:
        """Set the timeout in seconds (``None`` blocks forever, ``0`` is non-blocking)."""
        if value is not None:
            value = float(value)
            if value < 0:
                raise ValueError("Timeout value out of range")
        self._timeout = value

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def getblocking(self) -> bool:
        return self._timeout != 0.0

    @property
    def timeout(self) -> float | None:
        return self._timeout

    # Addresses ---------------------------------------------------------------------------
    def bind(self, address: Address) -> None:
        """Bind to a local address. Raises ``OSError`` (``EADDRINUSE``, ``EADDRNOTAVAIL``,
        ``EINVAL`` if already bound)."""
        ep = self._endpoint()
        addr, port = self._resolve(address, for_bind=True)
        self._locked(lambda: ep.bind(addr, port))

    def getsockname(self) -> Address:
        ep = self._endpoint()
        with self._stack.lock:
            local = ep.local_addr
            if isinstance(ep, UDPEndpoint) and ep.route is not None:
                local = ep.route.local
            return self._format(local, ep.local_port)

    def getpeername(self) -> Address:
        """The connected peer. Raises ``OSError(ENOTCONN)`` when not connected."""
        ep = self._endpoint()
        with self._stack.lock:
            connected = (
                ep.is_connected() if isinstance(ep, TCPEndpoint) else ep.remote_addr is not None
            )
            if not connected or ep.remote_addr is None:
                raise to_oserror(Err.NOT_CONNECTED)
            return self._format(ep.remote_addr, ep.remote_port)

    # TCP connection set-up ------------------------------------------------------------------
    def listen(self, backlog: int = min(_socket.SOMAXCONN, 128)) -> None:
        """Start listening. Raises ``OSError`` (``EINVAL``, ``EADDRINUSE``, ``EOPNOTSUPP``
        for UDP)."""
        ep = self._tcp()
        self._locked(lambda: ep.listen(backlog))

    def accept(self) -> tuple[socket, Address]:
        """Wait for a connection; returns ``(socket, address)`` like ``socket.accept``."""
        ep = self._tcp()
        child = self._call(ep.accept, self._timeout)
        sock = socket(self._stack, self.family, self.type, self.proto, _endpoint=child)
        if _socket.getdefaulttimeout() is None and self._timeout is not None:
            sock._timeout = None
        with self._stack.lock:
            return sock, self._format(child.remote_addr, child.remote_port)

    def connect(self, address: Address) -> None:
        """Connect; blocks until the handshake completes unless non-blocking.

        Raises ``ConnectionRefusedError``, ``TimeoutError``, ``BlockingIOError(EINPROGRESS)``
        for a non-blocking socket, ``OSError(EISCONN/EALREADY)`` on repeats.
        """
        ep = self._endpoint()
        addr, port = self._resolve(address)
        if isinstance(ep, UDPEndpoint):
            self._locked(lambda: ep.connect(addr, port))
            return
        assert isinstance(ep, TCPEndpoint)
        with self._stack.lock:
            try:
                started = ep.connect(addr, port)
            except StackError as exc:
                raise to_oserror(exc.err, exc.detail) from None
            if self._timeout == 0:
                if started is Err.IN_PROGRESS:
                    # Linux answers the first non-blocking connect with EINPROGRESS even
                    # on loopback (the SYN is processed after the call returns).
                    raise BlockingIOError(errno.EINPROGRESS, os.strerror(errno.EINPROGRESS))
                try:
                    ep.connect_result()
                except StackError as exc:
                    err = started if exc.err is Err.WOULD_BLOCK else exc.err
                    raise to_oserror(err) from None
                return
        self._call(ep.connect_result, self._timeout)

    def connect_ex(self, address: Address) -> int:
        """Like :meth:`connect` but returns an errno (0 on success) instead of raising
        ``OSError``; bad arguments still raise."""
        try:
            self.connect(address)
        except TimeoutError as exc:
            return exc.errno if exc.errno is not None else errno.EAGAIN
        except OSError as exc:
            if exc.errno is None:
                raise
            return exc.errno
        return 0

    # Data ----------------------------------------------------------------------------------
    def _check_flags(self, flags: int, allowed: int) -> None:
        if flags & ~allowed:
            raise OSError(
                errno.EOPNOTSUPP, f"usersock does not support socket flags {flags & ~allowed:#x}"
            )

    def send(self, data: Any, flags: int = 0) -> int:
        """Send some of *data*; returns how many bytes were taken."""
        self._check_flags(flags, _socket.MSG_DONTWAIT | _socket.MSG_NOSIGNAL)
        view = memoryview(data).cast("B")
        timeout = self._op_timeout(flags)
        ep = self._endpoint()
        if isinstance(ep, UDPEndpoint):
            return self._call(lambda: ep.send_to(view, None, 0), timeout)
        assert isinstance(ep, TCPEndpoint)
        return self._call(lambda: ep.send(view), timeout)

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Send all of *data*, waiting as needed; the timeout covers the whole call."""
        self._check_flags(flags, _socket.MSG_NOSIGNAL)
        view = memoryview(data).cast("B")
        ep = self._endpoint()
        if isinstance(ep, UDPEndpoint):
            self.send(view)
            return
        assert isinstance(ep, TCPEndpoint)
        timeout = self._timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        sent = 0
        total = len(view)
        while sent < total or total == 0:
            remaining: float | None = None
            if deadline is not None:
                remaining = max(0.0, deadline - time.monotonic())
                if remaining == 0 and timeout != 0:
                    raise TimeoutError("timed out")
            piece = view[sent:]

            def send_piece(p: memoryview = piece) -> int:
                return ep.send(p)

            sent += self._call(send_piece, remaining)
            if total == 0:
                break

    def sendto(self, data: Any, flags_or_address: Any, address: Any = None) -> int:
        """``sendto(data, address)`` or ``sendto(data, flags, address)``."""
        if address is None:
            flags, address = 0, flags_or_address
        else:
            flags = flags_or_address
        self._check_flags(flags, _socket.MSG_DONTWAIT)
        ep = self._endpoint()
        if isinstance(ep, TCPEndpoint):
            if ep.is_connected():
                raise OSError(errno.EISCONN, os.strerror(errno.EISCONN))
            raise OSError(errno.EPIPE, os.strerror(errno.EPIPE))
        assert isinstance(ep, UDPEndpoint)
        addr, port = self._resolve(address)
        view = memoryview(data).cast("B")
        timeout = self._op_timeout(flags)
        return self._call(lambda: ep.send_to(view, addr, port), timeout)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Receive up to *bufsize* bytes; ``b""`` at EOF."""
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        self._check_flags(flags, _socket.MSG_PEEK | _socket.MSG_DONTWAIT)
        peek = bool(flags & _socket.MSG_PEEK)
        timeout = self._op_timeout(flags)
        ep = self._endpoint()
        if isinstance(ep, UDPEndpoint):
            return self._call(lambda: ep.recv_from(bufsize, peek)[0], timeout)
        assert isinstance(ep, TCPEndpoint)
        if bufsize == 0:
            return b""
        return self._call(lambda: ep.recv(bufsize, peek), timeout)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """Receive into *buffer* (up to *nbytes*, default its length); returns the count."""
        view = memoryview(buffer).cast("B")
        if nbytes < 0:
            raise ValueError("negative buffersize in recv_into")
        if nbytes == 0:
            nbytes = len(view)
        elif nbytes > len(view):
            raise ValueError("buffer too small for requested bytes")
        self._check_flags(flags, _socket.MSG_PEEK | _socket.MSG_DONTWAIT)
        peek = bool(flags & _socket.MSG_PEEK)
        timeout = self._op_timeout(flags)
        ep = self._endpoint()
        if isinstance(ep, UDPEndpoint):
            data = self.recv(nbytes, flags)
            view[: len(data)] = data
            return len(data)
        assert isinstance(ep, TCPEndpoint)
        if nbytes == 0:
            return 0
        return self._call(lambda: ep.recv_into(view, nbytes, peek), timeout)

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Address | None]:
        """Receive a datagram and its sender; on TCP the address is ``None`` as on Linux."""
        if bufsize < 0:
            raise ValueError("negative buffersize in recvfrom")
        self._check_flags(flags, _socket.MSG_PEEK | _socket.MSG_DONTWAIT)
        ep = self._endpoint()
        if isinstance(ep, TCPEndpoint):
            return self.recv(bufsize, flags), None
        assert isinstance(ep, UDPEndpoint)
        peek = bool(flags & _socket.MSG_PEEK)
        timeout = self._op_timeout(flags)
        data, src, port = self._call(lambda: ep.recv_from(bufsize, peek), timeout)
        if not src:
            return data, None
        return data, self._format(src, port)

    # Teardown ------------------------------------------------------------------------------
    def shutdown(self, how: int) -> None:
        """``SHUT_RD``, ``SHUT_WR`` or ``SHUT_RDWR``. Raises ``OSError(ENOTCONN)``."""
        if how not in (_socket.SHUT_RD, _socket.SHUT_WR, _socket.SHUT_RDWR):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        ep = self._endpoint()
        read = how in (_socket.SHUT_RD, _socket.SHUT_RDWR)
        write = how in (_socket.SHUT_WR, _socket.SHUT_RDWR)
        if isinstance(ep, UDPEndpoint):

            def shut_udp() -> None:
                if ep.remote_addr is None:
                    raise StackError(Err.NOT_CONNECTED)
                ep.shut_rd = ep.shut_rd or read
                ep.shut_wr = ep.shut_wr or write
                ep.notify()

            self._locked(shut_udp)
            return
        assert isinstance(ep, TCPEndpoint)
        self._locked(lambda: ep.shutdown(read, write))

    def close(self) -> None:
        """Close the socket; a TCP connection finishes (FIN, TIME-WAIT) in the background.
        Closing twice is harmless."""
        ep = self._ep
        if ep is None:
            return
        self._ep = None
        with self._stack.lock:
            if isinstance(ep, (TCPEndpoint, UDPEndpoint)):
                ep.close()

    def __enter__(self) -> socket:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def __repr__(self) -> str:
        closed = " [closed]" if self._ep is None else ""
        parts = [
            f"family={self.family!s}",
            f"type={self.type!s}",
            f"proto={self.proto}",
        ]
        if self._ep is not None:
            try:
                parts.append(f"laddr={self.getsockname()}")
                parts.append(f"raddr={self.getpeername()}")
            except OSError:
                pass
        return f"<usersock.socket{closed} {', '.join(parts)}>"
