"""What TCP and UDP endpoints share: addresses, port ownership, demux, waiting.

Endpoints never block. An operation that cannot proceed raises
``StackError(Err.WOULD_BLOCK)``; the facade then waits on the endpoint's condition (which
shares the stack lock) and retries, as gVisor's endpoints and waiter queues do. Every state
change that could unblock a waiter calls :meth:`Endpoint.notify`, which also runs the
readiness watchers (the facade's readiness descriptors hook in there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from usersock.errors import Err, StackError
from usersock.network.ip import DEFAULT_TTL
from usersock.stack.ports import PortOwner
from usersock.stack.route import IPV4_ANY, IPV6_ANY
from usersock.stack.wakeup import Waiter, current_waiter
from usersock.wire import IPv4Header, IPv6Header

if TYPE_CHECKING:
    from usersock.stack.stack import Stack


def wildcard(version: int) -> bytes:
    """The unspecified address of IP *version* (``0.0.0.0`` or ``::``)."""
    return IPV4_ANY if version == 4 else IPV6_ANY


def lookup_bound(
    stack: Stack, protocol: int, addr: bytes, port: int, src: bytes = b"", src_port: int = 0
) -> Any | None:
    """Find the bound endpoint that receives packets for *addr*:*port* from *src*:*src_port*.

    Exact address first, then the wildcard of the packet's family, then (for IPv4 packets)
    a dual-stack IPv6 wildcard, as Linux's lookup orders them. Several ``SO_REUSEPORT``
    endpoints on one address share the traffic by a hash of the source, as
    ``reuseport_select_sock`` spreads it; of several sharing it through ``SO_REUSEADDR``
    (UDP), the one bound last takes it, as the head of Linux's hash chain does. Needs the
    stack lock.
    """
    bound = stack.bound
    eps = bound.get((protocol, addr, port))
    if not eps and len(addr) == 4:
        eps = bound.get((protocol, IPV4_ANY, port))
        if not eps:
            eps = [ep for ep in bound.get((protocol, IPV6_ANY, port), ()) if not ep.v6only]
    elif not eps:
        eps = bound.get((protocol, IPV6_ANY, port))
    if not eps:
        return None
    if len(eps) > 1 and eps[0].reuse_port:
        group = [ep for ep in eps if ep.reuse_port]
        return group[hash((src, src_port)) % len(group)]
    return eps[-1]


class Endpoint:
    """Base of transport endpoints. All methods need the stack lock unless they say so."""

    protocol = 0

    def __init__(self, stack: Stack, version: int) -> None:
        if version not in (4, 6):
            raise StackError(Err.ADDRESS_FAMILY_NOT_SUPPORTED)
        self.stack = stack
        #: The IP version of the endpoint's current traffic: 4 for an ``AF_INET6`` socket
        #: that carries IPv4-mapped traffic (see :meth:`check_family`).
        self.version = version
        #: The IP version of the socket's family (``AF_INET6`` stays 6 whatever it carries).
        self.family_version = version
        #: Threads blocked on this endpoint (their wake-up descriptors).
        self.waiting: list[Waiter] = []
        self.watchers: list[Callable[[], None]] = []
        self.local_addr: bytes | None = None
        self.local_port = 0
        self.remote_addr: bytes | None = None
        self.remote_port = 0
        self.owner: PortOwner | None = None
        self.reuse_addr = False
        self.reuse_port = False
        self.v6only = False
        #: IP_TTL / IPV6_UNICAST_HOPS (-1: the default, 64) and IP_TOS / IPV6_TCLASS of
        #: outgoing packets (the TTL of IPv4, the hop limit of IPv6).
        self.ttl = -1
        self.tos = 0
        self.hop_limit = -1
        self.tclass = 0
        self.registered_bound: tuple[int, bytes, int] | None = None
        self.closed = False
        #: Socket objects holding this endpoint (``dup`` makes two); the last one closes it.
        self.refs = 1
        self.timer_deadline: float | None = None
        self.timer_queued: float | None = None

    def ip_header(self, src: bytes, dst: bytes, protocol: int) -> IPv4Header | IPv6Header:
        """The network header of this endpoint's packets to *dst*, with its TTL or hop
        limit and TOS or traffic class (an IPv4 destination on a dual-stack IPv6 socket
        takes the IPv4 options, as Linux's mapped sockets do)."""
        if len(dst) == 4:
            ttl = DEFAULT_TTL if self.ttl < 0 else self.ttl
            return IPv4Header(src=src, dst=dst, protocol=protocol, ttl=ttl, tos=self.tos)
        hops = DEFAULT_TTL if self.hop_limit < 0 else self.hop_limit
        return IPv6Header(
            src=src, dst=dst, next_header=protocol, hop_limit=hops, traffic_class=self.tclass
        )

    # Addresses ---------------------------------------------------------------------------
    def check_family(self, addr: bytes, for_bind: bool = False) -> None:
        """Check that *addr* suits this endpoint, and set :attr:`version` to the traffic it
        makes. An ``AF_INET`` endpoint takes IPv4 only. An ``AF_INET6`` one takes IPv6, and
        an IPv4 address (the socket gave it as ``::ffff:a.b.c.d``) unless it is
        ``IPV6_V6ONLY``, as Linux's ``ipv6_mapped`` operations do; which one it carries
        follows the address, as long as no specific local address of the other version
        pins it (the unspecified ``::`` does not).

        Raises ``StackError``: ``ADDRESS_FAMILY_NOT_SUPPORTED`` for the wrong family; on an
        ``IPV6_V6ONLY`` endpoint an IPv4 address is refused as Linux refuses it:
        ``INVALID_ARGUMENT`` for a bind (``inet6_bind``), ``NETWORK_UNREACHABLE``
        otherwise (``tcp_v6_connect``, ``udpv6_sendmsg``)."""
        size = len(addr)
        if self.family_version == 4:
            if size == 4:
                return
            raise StackError(Err.ADDRESS_FAMILY_NOT_SUPPORTED)
        local = self.local_addr
        if size == 16:
            if local is None or len(local) == 16:
                self.version = 6
                return
            raise StackError(Err.ADDRESS_FAMILY_NOT_SUPPORTED)
        if self.v6only:
            raise StackError(Err.INVALID_ARGUMENT if for_bind else Err.NETWORK_UNREACHABLE)
        if local is None or not any(local) or len(local) == 4:
            self.version = 4
            return
        raise StackError(Err.ADDRESS_FAMILY_NOT_SUPPORTED)

    def bind(self, addr: bytes, port: int) -> None:
        """Claim *port* (0 picks an ephemeral one) on *addr* (a local address or the
        wildcard).

        Raises ``StackError`` with ``INVALID_ARGUMENT`` if already bound,
        ``ADDRESS_NOT_AVAILABLE`` for an address the stack neither owns nor broadcasts to, and
        ``ADDRESS_IN_USE`` for a port conflict.
        """
        self.check_family(addr, for_bind=True)
        if self.local_addr is not None:
            raise StackError(Err.INVALID_ARGUMENT, "already bound")
        if any(addr) and not self.stack.has_address(addr) and not self.stack.is_broadcast(addr):
            # inet_bind: a local, broadcast (or multicast) address
            raise StackError(Err.ADDRESS_NOT_AVAILABLE)
        owner = PortOwner(addr, self.reuse_addr, self.reuse_port, False, self.v6only)
        if port == 0:
            port = self.stack.ports.pick_ephemeral(self.protocol, owner)
        else:
            self.stack.ports.claim(self.protocol, port, owner)
        self.owner = owner
        self.local_addr = addr
        self.local_port = port

    def register_bound(self) -> None:
        """Enter the bound-endpoint demux table (listeners, unconnected UDP)."""
        assert self.local_addr is not None
        key = (self.protocol, self.local_addr, self.local_port)
        self.stack.bound.setdefault(key, []).append(self)
        self.registered_bound = key

    def unregister_bound(self) -> None:
        key = self.registered_bound
        if key is None:
            return
        eps = self.stack.bound.get(key)
        if eps is not None:
            if self in eps:
                eps.remove(self)
            if not eps:
                del self.stack.bound[key]
        self.registered_bound = None

    def release_port(self) -> None:
        """Give the port back to the table (idempotent)."""
        if self.owner is not None:
            self.stack.ports.release(self.protocol, self.local_port, self.owner)
            self.owner = None

    # Waiting -------------------------------------------------------------------------------
    def notify(self) -> None:
        """Wake threads waiting on this endpoint and run the readiness watchers."""
        waiting = self.waiting
        if waiting:
            self.waiting = []
            self.stack.wake(waiting)
        for watcher in self.watchers:
            watcher()

    def before_wait(self) -> None:
        """Called before a thread blocks on this endpoint (TCP sends a deferred ACK)."""

    def wait(self, timeout: float | None) -> None:
        """Release the stack lock until notified or *timeout* seconds pass (None: forever).

        The caller re-checks its condition afterwards; spurious wake-ups are harmless.
        """
        waiter = current_waiter()
        # Registered first: what before_wait sends may make this socket ready at once (the
        # ACK releases data the peer held back), and that wake-up must find the waiter.
        self.waiting.append(waiter)
        try:
            self.before_wait()
            self.stack.block(waiter, timeout)
        finally:
            if waiter in self.waiting:
                self.waiting.remove(waiter)

    def readable(self) -> bool:
        raise NotImplementedError

    def readiness(self) -> tuple[bool, bool, int]:
        """``(readable(), writable(), hangup())`` in one call, for the readiness mirror."""
        return self.readable(), self.writable(), self.hangup()

    def hangup(self) -> int:
        """0, 1 (read side shut: POLLRDHUP), 2 (both: POLLHUP), 3 (both, with an error
        pending: POLLERR too) or -1 (a TCP socket never connected); see ``Readiness``."""
        return 0

    def writable(self) -> bool:
        raise NotImplementedError

    def on_timer(self, now: float) -> None:
        """Endpoints with no timers ignore a stray one."""

    def flush(self, now: float) -> None:
        """Endpoints with nothing to flush ignore the call."""
