"""The machinery under :class:`usersock.socket`: construction, the virtual and real modes,
the readiness descriptor, blocking and timeouts, errors, and socket options.

:mod:`usersock.sockets` builds the public class on :class:`SocketCore` with the calls a
program makes (bind, connect, send, recv...); the theory of operation is there.
"""

from __future__ import annotations

import _socket
import errno
import os
import socket as _stdlib_socket
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from usersock import net as _net
from usersock import sockopts
from usersock.errors import Err, StackError, to_oserror
from usersock.readiness import Readiness
from usersock.stack.route import format_address
from usersock.stack.wakeup import Waiter, wake_all
from usersock.transport.endpoint import Endpoint, wildcard
from usersock.transport.tcp.endpoint import TCPEndpoint
from usersock.transport.udp import UDPEndpoint

T = TypeVar("T")
Address = Any

_RealSocket: type[_stdlib_socket.socket] = _stdlib_socket.socket
_CSocket = _socket.socket
_AF_INET, _AF_INET6 = _socket.AF_INET, _socket.AF_INET6
_STREAM, _DGRAM = _socket.SOCK_STREAM, _socket.SOCK_DGRAM
_TYPE_FLAGS = getattr(_socket, "SOCK_NONBLOCK", 0) | getattr(_socket, "SOCK_CLOEXEC", 0)
_VERSION = {_AF_INET: 4, _AF_INET6: 6}
_MSG_PEEK, _MSG_DONTWAIT = _socket.MSG_PEEK, _socket.MSG_DONTWAIT
_MSG_WAITALL, _MSG_NOSIGNAL = _socket.MSG_WAITALL, getattr(_socket, "MSG_NOSIGNAL", 0)
_MSG_TRUNC = _socket.MSG_TRUNC
_V4_MAPPED = bytes(10) + b"\xff\xff"


def _oserror(code: int, detail: str = "") -> OSError:
    text = os.strerror(code)
    return OSError(code, f"{text} ({detail})" if detail else text)


def _ebadf() -> OSError:
    return _oserror(errno.EBADF)


def _as_c_int(value: Any) -> int:
    """CPython's ``"i"`` argument conversion: ints (and bools) only."""
    if isinstance(value, int):
        return value
    raise TypeError(f"'{type(value).__name__}' object cannot be interpreted as an integer")


class SocketCore(_stdlib_socket.socket):
    """State and plumbing of a virtual socket (see :class:`usersock.socket`). Every
    attribute lives here, in ``__slots__``; subclasses add methods only."""

    __slots__ = (
        "_broadcast",
        "_buffers",
        "_ep",
        "_keepalive",
        "_linger",
        "_net",
        "_options",
        "_quickack",
        "_ready",
        "_real",
        "_stack",
        "_vfamily",
        "_vproto",
        "_vtimeout",
        "_vtype",
    )

    def __new__(
        cls,
        family: int = -1,
        type: int = -1,
        proto: int = -1,
        fileno: int | None = None,
        *,
        network: Any = None,
        _endpoint: Endpoint | None = None,
    ) -> Any:
        if family == -1:
            family = _AF_INET
        if fileno is not None or (isinstance(family, int) and family not in _VERSION):
            return _RealSocket(family, type, proto, fileno)
        return _CSocket.__new__(cls)

    def __init__(
        self,
        family: int = -1,
        type: int = -1,
        proto: int = -1,
        fileno: int | None = None,
        *,
        network: Any = None,
        _endpoint: Endpoint | None = None,
    ) -> None:
        self._io_refs = 0
        self._closed = True  # until fully built: a failed constructor leaves nothing to close
        self._ep: Endpoint | None = None
        self._ready: Readiness | None = None
        self._real = False
        self._vfamily = _stdlib_socket.AddressFamily.AF_INET
        self._vtype = _stdlib_socket.SocketKind.SOCK_STREAM
        self._vproto = 0
        family, type, proto = _as_c_int(family), _as_c_int(type), _as_c_int(proto)
        if family == -1:
            family = _AF_INET
        if type == -1:
            type = _STREAM
        if proto == -1:
            proto = 0
        base = type & ~_TYPE_FLAGS
        if not 0 < base < 11 or not 0 <= proto < 263:  # SOCK_MAX, IPPROTO_MAX
            raise _oserror(errno.EINVAL)
        if base == _STREAM and proto in (0, _socket.IPPROTO_TCP):
            kind = TCPEndpoint
        elif base == _DGRAM and proto in (0, _socket.IPPROTO_UDP):
            kind = UDPEndpoint  # type: ignore[assignment]
        else:
            raise _oserror(
                errno.EPROTONOSUPPORT,
                "usersock supports SOCK_STREAM/TCP and SOCK_DGRAM/UDP,"
                f" not type={type} proto={proto}",
            )
        if network is None:
            network = _net.current()
            if network is None:
                raise RuntimeError(
                    "a usersock.socket needs a network: create it inside usersock.patched(),"
                    " or with stack.socket() / network.socket()"
                )
        self._net = network
        self._stack = network.stack
        self._vfamily = _stdlib_socket.AddressFamily(family)
        self._vtype = _stdlib_socket.SocketKind(base)
        self._vproto = proto
        self._vtimeout: float | None = _stdlib_socket.getdefaulttimeout()
        if type & getattr(_socket, "SOCK_NONBLOCK", 0):
            self._vtimeout = 0.0
        self._linger = (False, 0)
        self._broadcast = False
        self._keepalive = False
        self._quickack = True
        self._buffers: dict[str, int] = {}
        #: Every option set, in order, to be set again on the kernel socket if this one
        #: becomes real (:meth:`_become_real`); shared with ``dup()`` copies.
        self._options: dict[tuple[int, int], Any] = {}
        if _endpoint is None:
            with self._stack.lock:
                _endpoint = kind(self._stack, _VERSION[family])
        self._ep = _endpoint
        self._closed = False
        self._note_blocking()
        network.track(self)

    # Plumbing ------------------------------------------------------------------------------
    def _note_blocking(self) -> None:
        """Tell a TCP endpoint whether its owner waits inside this socket's own calls: a
        blocking socket with no readiness descriptor, which nobody can ``select()`` on. The
        endpoint paces held-back ACKs by it (see ``TCPEndpoint.flush``)."""
        ep = self._ep
        if isinstance(ep, TCPEndpoint):
            ep.owner_waits_in_calls = self._vtimeout != 0.0 and self._ready is None

    @property
    def family(self) -> _stdlib_socket.AddressFamily:
        return self._vfamily

    @property
    def type(self) -> _stdlib_socket.SocketKind:
        return self._vtype

    @property
    def proto(self) -> int:
        return self._vproto

    @property
    def timeout(self) -> float | None:
        return self._vtimeout

    def _endpoint(self) -> Endpoint:
        ep = self._ep
        if ep is None:
            raise _ebadf()
        return ep

    def _tcp(self) -> TCPEndpoint:
        ep = self._endpoint()
        if not isinstance(ep, TCPEndpoint):
            raise _oserror(errno.EOPNOTSUPP)
        return ep

    def _sync(self) -> None:
        """Mirror the endpoint's readiness on the descriptor (stack lock held)."""
        ready = self._ready
        ep = self._ep
        if ready is not None and ep is not None:
            ready.set(*ep.readiness())

    def _op_timeout(self, flags: int) -> float | None:
        return 0.0 if flags & _MSG_DONTWAIT else self._vtimeout

    def _call(self, op: Callable[[], T], timeout: float | None, write: bool = False) -> T:
        """Run *op* under the stack lock, waiting while it would block, up to *timeout*
        seconds (``None``: forever, ``0``: not at all).

        With a positive timeout, CPython polls for readiness (writable if *write*, else
        readable) *before* each call, so a call that would fail at once on a blocking
        socket times out instead when the socket never becomes ready; that order is kept.
        Raises the translated ``OSError``, ``BlockingIOError`` when non-blocking, or
        ``TimeoutError`` when the timeout expires.
        """
        ep = self._endpoint()
        deadline = None if timeout is None else time.monotonic() + timeout
        return self._locked(lambda: self._attempt(ep, op, deadline, timeout, write))

    def _attempt(
        self,
        ep: Endpoint,
        op: Callable[[], T],
        deadline: float | None,
        timeout: float | None,
        write: bool,
    ) -> T:
        """The body of :meth:`_call`, with the lock held."""
        if deadline is not None and timeout:
            ready = ep.writable if write else ep.readable
            while True:
                while not ready():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError("timed out")
                    ep.wait(remaining)
                try:
                    return op()
                except StackError as exc:
                    if exc.err is not Err.WOULD_BLOCK:
                        raise to_oserror(exc.err, exc.detail) from None
                if deadline - time.monotonic() <= 0:
                    raise TimeoutError("timed out")
                ep.wait(deadline - time.monotonic())
        while True:
            try:
                return op()
            except StackError as exc:
                if exc.err is not Err.WOULD_BLOCK:
                    raise to_oserror(exc.err, exc.detail) from None
            if deadline is None:
                ep.wait(None)
                continue
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))

    def _locked(self, op: Callable[[], T]) -> T:
        """Run *op* under the lock, translating stack errors, then mirror the readiness.

        Wake-ups the call raises are deferred and sent once the lock is released (see
        :mod:`usersock.stack.wakeup`).
        """
        stack = self._stack
        wakes: list[Waiter] = []
        try:
            with stack.lock:
                depth = stack.defer_depth
                try:
                    stack.defer_depth = depth + 1
                    return op()
                except StackError as exc:
                    raise to_oserror(exc.err, exc.detail) from None
                finally:
                    stack.defer_depth = depth  # first, and no call: see Stack.take_wakes
                    if not depth and stack.pending_wakes:
                        wakes = stack.take_wakes()
                    if self._ready is not None:
                        self._sync()
        finally:
            wake_all(wakes)

    def _resolve(self, address: Any, for_bind: bool = False) -> tuple[bytes, int]:
        """Turn an ``(host, port[, flowinfo, scope_id])`` tuple into packed form."""
        version = 4 if self._vfamily == _AF_INET else 6
        if not isinstance(address, tuple):
            name = "AF_INET" if version == 4 else "AF_INET6"
            raise TypeError(f"{name} address must be tuple, not {type(address).__name__}")
        if version == 4 and len(address) != 2:
            raise TypeError(f"AF_INET address must be a pair (host, port), got {address!r}")
        if version == 6 and not 2 <= len(address) <= 4:
            raise TypeError("AF_INET6 address must be a tuple (host, port[, flowinfo[, scopeid]])")
        host, port = address[0], address[1]
        if not isinstance(port, int):
            raise TypeError(f"'{type(port).__name__}' object cannot be interpreted as an integer")
        if not 0 <= port <= 0xFFFF:
            raise OverflowError(f"{'bind' if for_bind else 'connect'}(): port must be 0-65535.")
        if version == 6 and len(address) > 2:
            flowinfo = address[2]
            if isinstance(flowinfo, int) and not 0 <= flowinfo <= 0xFFFFF:
                raise OverflowError(
                    f"{'bind' if for_bind else 'connect'}(): flowinfo must be 0-1048575."
                )
        if isinstance(host, (bytes, bytearray)):
            host = bytes(host).decode("idna")
        if not isinstance(host, str):
            raise TypeError(f"str, bytes or bytearray expected, not {type(host).__name__}")
        packed = self._net.resolve_host(host, version, for_bind)
        if version == 6 and packed[:12] == _V4_MAPPED:
            return packed[12:], port  # an IPv4-mapped address: IPv4 on a dual-stack socket
        return packed, port

    def _format(self, addr: bytes | None, port: int) -> Address:
        if self._vfamily == _AF_INET:
            return (format_address(addr if addr is not None else wildcard(4)), port)
        if addr is None:
            addr = wildcard(6)
        elif len(addr) == 4:
            addr = _V4_MAPPED + addr  # IPv4 on a dual-stack socket shows as ::ffff:a.b.c.d
        return (format_address(addr), port, 0, 0)

    # Real mode -----------------------------------------------------------------------------
    def _become_real(self) -> None:
        """Turn into a kernel socket (an allowed real destination). Stack lock held."""
        real = _CSocket(self._vfamily, self._vtype, self._vproto)
        for (level, name), value in self._options.items():
            real.setsockopt(level, name, value)  # the options the virtual socket took
        ep = self._ep
        if ep is not None and ep.local_addr is not None and ep.local_port:
            real.bind(self._format(None, ep.local_port))
        ready = self._ready
        if ready is not None:
            os.dup2(real.fileno(), ready.exposed_fd, inheritable=False)
            real.close()
            ready.close_inner()
            _CSocket.__init__(self, self._vfamily, self._vtype, self._vproto, ready.exposed_fd)
            self._ready = None
        else:
            _CSocket.__init__(self, self._vfamily, self._vtype, self._vproto, real.detach())
        _CSocket.settimeout(self, self._vtimeout)
        if ep is not None:
            self._release_endpoint(ep)
        self._ep = None
        self._real = True

    def _release_endpoint(self, ep: Endpoint) -> None:
        """Drop this object's hold on *ep*; the last holder closes it (``dup`` semantics)."""
        if self._ready is not None and self._sync in ep.watchers:
            ep.watchers.remove(self._sync)
        ep.refs -= 1
        if ep.refs > 0:
            return
        if isinstance(ep, TCPEndpoint):
            ep.close(abort=self._linger == (True, 0))
        elif isinstance(ep, UDPEndpoint):
            ep.close()

    def _maybe_real(self, addr: bytes, port: int) -> bool:
        """Decide where a destination lives. One the user allowed goes real (even on
        127.0.0.1: ``allow=["127.0.0.1:5432"]`` reaches a real local database); one the
        network owns stays virtual; any other raises (``check_real``). Returns True if the
        socket is now real."""
        net = self._net
        if not net.allows(addr, port):
            if net.is_virtual(addr):
                return False
            net.check_real(addr, port)
        with self._stack.lock:
            self._become_real()
        return True

    # Descriptor ----------------------------------------------------------------------------
    def fileno(self) -> int:
        """A real descriptor whose readiness mirrors this socket (created on first use);
        -1 once closed."""
        if self._real or self._closed:
            return _CSocket.fileno(self)
        if self._ready is None:
            with self._stack.lock:
                if self._ready is None and self._ep is not None:
                    if "asyncio.unix_events" in sys.modules:
                        from usersock.patch import hook_asyncio_sendfile

                        hook_asyncio_sendfile()
                    ready = Readiness(never_connected=self._ep.hangup() < 0)
                    _CSocket.__init__(self, _socket.AF_UNIX, _STREAM, 0, ready.exposed_fd)
                    self._ready = ready
                    self._ep.watchers.append(self._sync)
                    self._sync()
                    self._note_blocking()
        return _CSocket.fileno(self)

    def _real_close(self, _ss: Any = _CSocket) -> None:
        ep, self._ep = self._ep, None
        if ep is not None:
            with self._stack.lock:
                self._release_endpoint(ep)
        ready, self._ready = self._ready, None
        if ready is not None:
            ready.close_inner()
        _ss.close(self)

    def close(self) -> None:
        """Close the socket; a TCP connection finishes (FIN, TIME-WAIT) in the background,
        or is reset with ``SO_LINGER`` 0. Closing twice is harmless."""
        self._closed = True
        if self._io_refs <= 0:
            self._real_close()

    def detach(self) -> int:
        """Close the socket object; a real socket keeps its descriptor, which is returned.
        A virtual socket has no kernel socket to hand over: this raises ``OSError``."""
        if self._real:
            return super().detach()
        raise _oserror(errno.EOPNOTSUPP, "a virtual socket has no kernel descriptor to detach")

    def dup(self) -> SocketCore:
        """A second socket object on the same connection (``dup(2)``): closing one leaves
        the other working. The copy takes this socket's timeout, as ``socket.dup`` does."""
        if self._real:
            return super().dup()
        ep = self._endpoint()
        twin = type(self)(self._vfamily, self._vtype, self._vproto, network=self._net, _endpoint=ep)
        twin.settimeout(self._vtimeout)
        twin._options = self._options  # options belong to the shared socket
        with self._stack.lock:
            ep.refs += 1
        return twin

    def __del__(self) -> None:
        if getattr(self, "_closed", True):
            return
        if sys.is_finalizing():
            return  # the interpreter is going away: no warnings, no locks, no threads
        warnings.warn(
            f"unclosed <usersock.socket fd={_CSocket.fileno(self)}, family={self._vfamily},"
            f" type={self._vtype}, proto={self._vproto}>",
            ResourceWarning,
            stacklevel=2,
            source=self,
        )
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        closed = getattr(self, "_closed", True)
        fd = _CSocket.fileno(self)
        text = (
            f"<usersock.socket{' [closed]' if closed else ''} fd={fd}, family={self._vfamily},"
            f" type={self._vtype}, proto={self._vproto}"
        )
        if not closed and (self._ep is not None or self._real):
            try:
                text += f", laddr={self.getsockname()}"
            except OSError:
                pass
            try:
                text += f", raddr={self.getpeername()}"
            except OSError:
                pass
        return text + ">"

    # Configuration -------------------------------------------------------------------------
    def settimeout(self, value: float | None) -> None:
        """Set the timeout in seconds (``None`` blocks forever, ``0`` is non-blocking)."""
        if value is not None:
            if not isinstance(value, (int, float)):
                raise TypeError(
                    f"'{type(value).__name__}' object cannot be interpreted as an integer"
                )
            value = float(value)
            if value != value:
                raise ValueError("Invalid value NaN (not a number)")
            if value < 0:
                raise ValueError("Timeout value out of range")
            if value > 9.2e18:
                raise OverflowError("timestamp out of range for platform time_t")
        self._vtimeout = value
        self._note_blocking()
        if self._real:
            super().settimeout(value)

    def gettimeout(self) -> float | None:
        return self._vtimeout

    def setblocking(self, flag: bool) -> None:
        self.settimeout(None if flag else 0.0)

    def getblocking(self) -> bool:
        return self._vtimeout != 0.0

    def setsockopt(self, level: int, optname: int, value: Any, optlen: int | None = None) -> None:
        """``setsockopt``; the supported options are in :mod:`usersock.sockopts`."""
        if self._real:
            if optlen is None:
                return super().setsockopt(level, optname, value)
            return super().setsockopt(level, optname, None, optlen)
        if optlen is not None:
            raise _oserror(errno.EINVAL, "usersock does not support setsockopt with optlen")
        if value is None:
            raise TypeError("a bytes-like object is required, not 'NoneType'")
        ep = self._endpoint()
        with self._stack.lock:
            sockopts.set_option(self, ep, level, optname, value)
            self._options[(level, optname)] = value

    def getsockopt(self, level: int, optname: int, buflen: int | None = None) -> Any:
        """``getsockopt``; with *buflen* the value comes back as bytes."""
        if self._real:
            if buflen is None:
                return super().getsockopt(level, optname)
            return super().getsockopt(level, optname, buflen)
        if buflen is not None and not 0 <= buflen <= 1024:
            raise OSError("getsockopt buflen out of range")
        if buflen == 0:
            buflen = None  # CPython reads an int when buflen is 0
        ep = self._endpoint()
        with self._stack.lock:
            value = sockopts.get_option(self, ep, level, optname)
            if self._ready is not None:
                self._sync()
        if buflen is None:
            if isinstance(value, bytes):
                return int.from_bytes(value[:4], "little", signed=True)
            return value
        data = value if isinstance(value, bytes) else int(value).to_bytes(4, "little", signed=True)
        return data[:buflen]
