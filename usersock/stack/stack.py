"""The Stack: NICs, routes, demux, ports, timers, the clock and the one lock (the NIC and
the addresses it owns are in :mod:`.nic`).

Theory of operation (ARCHITECTURE.md section 3):

* One ``threading.RLock`` per stack; every protocol action runs under it.
* Links deliver packets through a NIC's dispatcher, which only *enqueues*. Whoever holds the
  lock drains the queue: link -> network protocol -> transport protocol -> endpoint. Endpoints
  that have something to send are marked dirty and flushed when the queue goes idle, so a
  burst of segments is answered by one ACK and a loopback ``send()`` has delivered its data
  and processed the ACK before it returns.
* Threads block outside the lock on their own wake-up descriptor (:mod:`.wakeup`).
  Wake-ups raised during a socket call are deferred until that call has released the lock
  (:meth:`Stack.take_wakes`), so the woken thread finds the lock and the GIL free.
* Timers live in one heap. With a real clock, one daemon thread runs them, started lazily
  while timers are pending and stopped with the stack; with a :class:`ManualClock` there is
  no thread and ``clock.advance()`` fires them.

The stack imports no concrete protocol: network protocols (by IP version) and transport
protocols (by IP protocol number) are injected as factories taking the stack.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from usersock.clock import Clock, MonotonicClock
from usersock.errors import Err, StackError
from usersock.link.base import LinkEndpoint
from usersock.stack.isn import ISNGenerator
from usersock.stack.nic import NIC, AddressTable
from usersock.stack.ports import PortTable
from usersock.stack.route import (
    AddressWithPrefix,
    Route,
    RouteTable,
    Subnet,
    format_address,
    parse_address,
)
from usersock.stack.stats import Stats
from usersock.stack.timers import Timed, TimerQueue
from usersock.stack.wakeup import Waiter, current_waiter, wake_all
from usersock.wire.ipv4 import IPv4Header
from usersock.wire.packet import Packet

logger = logging.getLogger("usersock.stack")

#: Seconds the timer thread waits for new timers before it exits.
TIMER_THREAD_LINGER = 1.0
#: Longest the timer thread sleeps (see ``Stack._timer_loop``): a timer armed lazily fires at
#: most this late. 40 ms is Linux's shortest delayed-ACK timeout.
TIMER_SLICE = 0.04


#: Every live stack, for the after-fork reset.
_STACKS: weakref.WeakSet[Stack] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for stack in list(_STACKS):
        stack._forget_threads()


os.register_at_fork(after_in_child=_after_fork_in_child)


class NetworkProtocol(Protocol):
    """An injected network protocol (IPv4 or IPv6)."""

    version: int

    def handle_packet(self, nic: NIC, packet: Packet) -> None:
        """Process an inbound packet; the stack lock is held."""


class TransportProtocol(Protocol):
    """An injected transport protocol (TCP, UDP)."""

    number: int

    def handle_packet(self, nic: NIC, packet: Packet) -> None:
        """Process an inbound packet addressed to this stack; the stack lock is held."""

    def handle_icmp_error(
        self, err: Err, local: bytes, local_port: int, remote: bytes, remote_port: int
    ) -> None:
        """Process an ICMP error about a packet we sent from *local* to *remote*."""

    def close(self) -> None:
        """Abort every endpoint (the stack is closing)."""


class Flushable(Protocol):
    def flush(self, now: float) -> None:
        """Send what the endpoint has pending; called when the packet queue is idle."""


@dataclass(slots=True)
class RouteInfo:
    """A resolved route for one destination: where packets leave and with which source."""

    nic: NIC
    local: bytes
    remote: bytes
    next_hop: bytes
    mtu: int
    local_delivery: bool


class _Callback:
    """A one-shot timer for ``call_later``."""

    __slots__ = ("callback", "timer_deadline", "timer_queued")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.timer_deadline: float | None = None
        self.timer_queued: float | None = None

    def on_timer(self, now: float) -> None:
        self.callback()


class Stack:
    """A userspace TCP/IP stack.

    *network_protocols* and *transport_protocols* are factories called with the stack;
    *clock* defaults to real monotonic time. Many stacks can live in one process; nothing is
    shared between them.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        network_protocols: Iterable[Callable[[Stack], NetworkProtocol]] = (),
        transport_protocols: Iterable[Callable[[Stack], TransportProtocol]] = (),
        *,
        secret: bytes | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.lock = threading.RLock()
        self.stats = Stats()
        self.nics: dict[int, NIC] = {}
        self.routes = RouteTable()
        self.ports = PortTable(secret)
        self.isn = ISNGenerator(secret)
        #: Connected endpoints by (protocol, local addr, local port, remote addr, port).
        self.connections: dict[tuple[int, bytes, int, bytes, int], Any] = {}
        #: Bound (unconnected) endpoints by (protocol, local addr, local port).
        self.bound: dict[tuple[int, bytes, int], list[Any]] = {}
        self._addresses = AddressTable()
        self._queue: deque[tuple[NIC, Packet]] = deque()
        self._dirty: dict[Flushable, None] = {}
        self._draining = False
        self._timers = TimerQueue()
        #: The timer thread's wake-up descriptor while it runs (woken like socket waiters).
        self._timer_waiter: Waiter | None = None
        self._timer_thread: threading.Thread | None = None
        self._timer_wait_until: float | None = None
        #: Nesting of socket calls deferring wake-ups (see take_wakes), and those deferred.
        self.defer_depth = 0
        self.pending_wakes: list[Waiter] = []
        self.closed = False
        self.network_protocols: dict[int, NetworkProtocol] = {}
        self.transport_protocols: dict[int, TransportProtocol] = {}
        for make_net in network_protocols:
            net = make_net(self)
            self.network_protocols[net.version] = net
        for make_transport in transport_protocols:
            transport = make_transport(self)
            self.transport_protocols[transport.number] = transport
        if self.clock.manual:
            self.clock.attach(self)
        _STACKS.add(self)

    # Configuration ----------------------------------------------------------------------
    def create_nic(self, nic_id: int, link: LinkEndpoint, name: str = "") -> NIC:
        """Add a NIC with id *nic_id* on *link*. Raises ``ValueError`` if the id is taken."""
        with self.lock:
            if nic_id in self.nics:
                raise ValueError(f"NIC {nic_id} already exists")
            nic = NIC(self, nic_id, link, name or f"nic{nic_id}")
            self.nics[nic_id] = nic
            link.attach(nic)
            return nic

    def _nic(self, nic_id: int) -> NIC:
        try:
            return self.nics[nic_id]
        except KeyError:
            raise ValueError(f"no NIC {nic_id}") from None

    def add_address(self, nic_id: int, address: str) -> None:
        """Give NIC *nic_id* the address ``"192.168.1.1/24"`` (or ``"fd00::1/64"``).

        The stack owns the address: packets to it are delivered locally, listeners may bind
        to it. Raises ``ValueError`` for an unknown NIC or bad text, and
        ``StackError(ADDRESS_IN_USE)`` if another NIC owns the address.
        """
        with self.lock:
            self._addresses.add(self._nic(nic_id), AddressWithPrefix.parse(address))

    def add_local_subnet(self, nic_id: int, subnet: str) -> None:
        """Own every address of *subnet* on NIC *nic_id*, as Linux owns all of 127.0.0.0/8."""
        with self.lock:
            self._addresses.add_subnet(self._nic(nic_id), Subnet.parse(subnet))

    def remove_address(self, nic_id: int, address: str) -> None:
        """Remove an address. Raises ``ValueError`` if the NIC does not have it."""
        with self.lock:
            self._addresses.remove(self._nic(nic_id), parse_address(address.split("/")[0]))

    def set_route_table(self, routes: list[Route]) -> None:
        """Replace the route table. Raises ``ValueError`` if a route names an unknown NIC."""
        with self.lock:
            for route in routes:
                self._nic(route.nic)
            self.routes.set(list(routes))

    def route_table(self) -> list[Route]:
        return self.routes.routes()

    def addresses(self) -> list[tuple[int, str]]:
        """Every address the stack owns, as ``(nic_id, "addr/prefix")``."""
        with self.lock:
            return [(nic.id, str(a)) for nic in self.nics.values() for a in nic.addresses]

    def local_nic(self, addr: bytes) -> NIC | None:
        """The NIC that owns *addr*, or None if the address is not this stack's."""
        return self._addresses.owner(addr)

    def has_address(self, addr: bytes) -> bool:
        return self._addresses.owner(addr) is not None

    def is_broadcast(self, addr: bytes) -> bool:
        """True for 255.255.255.255 and the directed broadcast address of a NIC's IPv4
        subnet (see :class:`~usersock.stack.nic.AddressTable`). Needs no lock."""
        return self._addresses.is_broadcast(addr)

    def find_route(self, remote: bytes, local: bytes | None = None) -> RouteInfo:
        """Resolve how to reach *remote*, choosing a source address unless *local* is given.

        Local destinations are delivered through the NIC that owns them (Linux's local
        table). Raises ``StackError`` with ``NETWORK_UNREACHABLE`` when no route matches and
        ``ADDRESS_NOT_AVAILABLE`` when *local* is not ours or no source address fits.
        """
        if local is not None and any(local) and not self.has_address(local):
            raise StackError(Err.ADDRESS_NOT_AVAILABLE, format_address(local))
        owner = self.local_nic(remote)
        if owner is not None:
            if local is not None and any(local):
                src = local
            elif self._addresses.assigned(remote):
                src = remote  # an address of ours: the local table's "src" is itself
            else:
                # Owned through a local subnet (127.0.0.0/8): Linux's local route for it has
                # the NIC's own address as "src", so 127.1.2.3 is reached from 127.0.0.1.
                src = next(
                    (a.address for a in owner.addresses if a.subnet.contains(remote)), remote
                )
            return RouteInfo(owner, src, remote, remote, owner.link.mtu, True)
        route = self.routes.lookup(remote)
        nic = self._nic(route.nic)
        next_hop = parse_address(route.gateway) if route.gateway else remote
        if local is not None and any(local):
            src = local
        else:
            candidates = [a for a in nic.addresses if len(a.address) == len(remote)]
            if not candidates:
                raise StackError(
                    Err.ADDRESS_NOT_AVAILABLE,
                    f"NIC {nic.id} has no address to reach {format_address(remote)} from",
                )
            on_link = [a for a in candidates if a.subnet.contains(remote)]
            src = (on_link or candidates)[0].address
        return RouteInfo(nic, src, remote, next_hop, nic.link.mtu, False)

    # Packet path ------------------------------------------------------------------------
    def deliver(self, nic: NIC, packet: Packet) -> None:
        """Enqueue an inbound packet and drain the queue unless already draining."""
        with self.lock:
            self._queue.append((nic, packet))
            if not self._draining:
                self.process()

    def send_packet(self, route: RouteInfo, packet: Packet) -> None:
        """Send *packet* along *route*. Needs the stack lock.

        Local destinations on a NIC whose link carries bytes (a channel) skip the link, so a
        stack talking to itself never puts its own packets on the wire; on a bare loopback
        they skip it too, as the link would only hand the packet back. Either way the packet
        is processed before this returns unless the queue is already being drained. A
        broadcast that leaves on a link is also looped back to this stack's own sockets,
        as Linux's ``ip_mc_output`` does.
        """
        self.stats.packets_out += 1
        nic = route.nic
        link = nic.link
        if route.local_delivery:
            if link.checksum_offload and not (link.loops_back and link.dispatcher is nic):
                link.write_packet(packet)
                return
            # A bare loopback would only hand the packet back to this queue: skip the calls.
        else:
            link.write_packet(packet)
            dst = packet.net.dst
            if len(dst) != 4 or not self.is_broadcast(dst):
                return
        self._queue.append((nic, packet))
        if not self._draining:
            self.process()

    def process(self) -> None:
        """Drain the packet queue and flush dirty endpoints until both are empty.

        Needs the stack lock. Exceptions raised by protocol code are counted in
        ``stats.internal_errors`` and logged; they never escape to the caller.
        """
        if self._draining:
            return
        self._draining = True
        queue = self._queue
        try:
            while True:
                while queue:
                    nic, packet = queue.popleft()
                    self._dispatch(nic, packet)
                if not self._dirty:
                    break
                dirty = self._dirty
                self._dirty = {}
                now = self.clock.now()
                for endpoint in dirty:
                    try:
                        endpoint.flush(now)
                    except Exception:
                        self.stats.internal_errors += 1
                        logger.exception("endpoint flush failed")
        finally:
            self._draining = False

    def _dispatch(self, nic: NIC, packet: Packet) -> None:
        self.stats.packets_in += 1
        if not nic.enabled:
            self.stats.drop("nic-disabled")
            return
        version = 4 if type(packet.net) is IPv4Header else 6
        proto = self.network_protocols.get(version)
        if proto is None:
            self.stats.drop("no-network-protocol")
            return
        try:
            proto.handle_packet(nic, packet)
        except Exception:
            self.stats.internal_errors += 1
            logger.exception("packet processing failed")

    def mark_dirty(self, endpoint: Flushable) -> None:
        """Ask for ``endpoint.flush(now)`` when the queue is next idle. Needs the lock."""
        self._dirty[endpoint] = None

    # Waiting ----------------------------------------------------------------------------
    def take_wakes(self) -> list[Waiter]:
        """The wake-ups deferred so far, for the caller to send with
        :func:`~.wakeup.wake_all` once it has released the lock. Needs the lock.

        Deferral protocol (a socket call, and the timer thread): under the lock read
        ``depth = stack.defer_depth``; in a ``try`` set ``stack.defer_depth = depth + 1``;
        in its ``finally`` first restore ``stack.defer_depth = depth`` (a plain store, so no
        signal handler's exception can come between), then, at depth 0, take the wake-ups.
        """
        wakes = self.pending_wakes
        self.pending_wakes = []
        return wakes

    def wake(self, waiters: list[Waiter]) -> None:
        """Wake the threads of *waiters*: now, or when the socket call under way releases the
        lock. Needs the lock."""
        if self.defer_depth:
            self.pending_wakes.extend(waiters)
        else:
            wake_all(waiters)

    def block(self, waiter: Waiter, timeout: float | None) -> None:
        """Release the lock (however deeply this thread holds it), send the deferred
        wake-ups, wait on *waiter* up to *timeout* seconds, and take the lock back.

        Needs the lock. The caller registers *waiter* where it will be woken first, and
        re-checks its condition afterwards (the wait may end early or spuriously).
        """
        depth = self.defer_depth
        wakes = self.pending_wakes
        self.defer_depth = 0
        self.pending_wakes = []
        lock: Any = self.lock
        try:
            saved = lock._release_save()
            try:
                wake_all(wakes)
                waiter.block(timeout)
            finally:
                lock._acquire_restore(saved)
        finally:
            self.defer_depth = depth

    # Timers -----------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now()

    def schedule(self, obj: Timed, deadline: float | None, lazy: bool = False) -> None:
        """Arm *obj*'s timer for *deadline* (``None`` disarms). Needs the stack lock.

        With a real clock the timer thread is woken when it sleeps past *deadline*, unless
        *lazy*: then the timer may fire up to :data:`TIMER_SLICE` late, for a deadline that
        something else usually makes moot first (a held-back ACK), which saves the thread a
        wake-up each time.
        """
        self._timers.arm(obj, deadline)
        if deadline is not None and not self.clock.manual and not self.closed:
            if self._timer_thread is None:
                if sys.is_finalizing():
                    return  # no new threads while the interpreter shuts down
                self._timer_thread = threading.Thread(
                    target=self._timer_loop, name="usersock-timers", daemon=True
                )
                self._timer_thread.start()
            else:
                waiting_until = self._timer_wait_until
                waiter = self._timer_waiter
                if (
                    not lazy
                    and waiter is not None
                    and waiting_until is not None
                    and deadline < waiting_until
                ):
                    self.wake([waiter])  # it sleeps past the new deadline

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """Run *callback* under the lock after *delay* seconds of stack time."""
        with self.lock:
            self.schedule(_Callback(callback), self.clock.now() + max(0.0, delay))

    def next_deadline(self) -> float | None:
        """The earliest pending timer (for :class:`ManualClock`)."""
        with self.lock:
            return self._timers.next_deadline()

    def fire_due_timers(self) -> None:
        """Run every timer whose deadline has passed, then drain. Takes the lock."""
        with self.lock:
            now = self.clock.now()
            for obj in self._timers.pop_due(now):
                try:
                    obj.on_timer(now)
                except Exception:
                    self.stats.internal_errors += 1
                    logger.exception("timer failed")
            self.process()

    def _timer_loop(self) -> None:
        wakes: list[Waiter] = []
        with self.lock:
            # Wake-ups raised by timers go out when this thread next releases the lock.
            depth = self.defer_depth
            idle_since: float | None = None
            try:
                self.defer_depth = depth + 1
                waiter = self._timer_waiter = current_waiter()
                while not self.closed:
                    deadline = self._timers.next_deadline()
                    if deadline is None:
                        # Linger before exiting: request/response traffic arms and clears
                        # timers constantly, and a thread start per round trip is costly.
                        # Look every TIMER_SLICE meanwhile, for timers armed lazily.
                        now = self.clock.now()
                        if idle_since is None:
                            idle_since = now
                        elif now - idle_since >= TIMER_THREAD_LINGER:
                            break
                        self._timer_wait_until = now + TIMER_SLICE
                        self.block(waiter, TIMER_SLICE)
                        self._timer_wait_until = None
                        continue
                    idle_since = None
                    now = self.clock.now()
                    delay = deadline - now
                    if delay > 0:
                        # Sleep at most TIMER_SLICE: a deadline armed later than that needs
                        # no wake-up (schedule() wakes this thread only for one due before
                        # it would look again), and most are (RTO, TIME-WAIT, keepalive).
                        if delay > TIMER_SLICE:
                            delay = TIMER_SLICE
                        self._timer_wait_until = now + delay
                        self.block(waiter, delay)
                        self._timer_wait_until = None
                        continue
                    self.fire_due_timers()
            finally:
                self._timer_thread = None
                self._timer_wait_until = None
                self._timer_waiter = None
                self.defer_depth = depth
                wakes = self.take_wakes() if not depth else []
        wake_all(wakes)

    # Lifetime ---------------------------------------------------------------------------
    def _forget_threads(self) -> None:
        """In a child after ``fork()``: the parent's threads (the timer thread, blocked
        socket callers) do not exist here; forget them so a timer starts a new thread and no
        wake-up goes to the parent's descriptors."""
        self._timer_thread = None
        self._timer_waiter = None
        self._timer_wait_until = None
        self.defer_depth = 0
        self.pending_wakes = []
        bound = [ep for group in self.bound.values() for ep in group]
        for ep in [*self.connections.values(), *bound]:
            if hasattr(ep, "waiting"):
                ep.waiting = []

    def close(self) -> None:
        """Abort every endpoint, stop the timer thread and detach the links. Idempotent."""
        with self.lock:
            if self.closed:
                return
            for transport in self.transport_protocols.values():
                try:
                    transport.close()
                except Exception:
                    logger.exception("closing a transport protocol failed")
            self.process()
            self.closed = True
            self._timers.clear()
            self._queue.clear()
            if self._timer_waiter is not None:
                self._timer_waiter.wake()
            thread = self._timer_thread
            for nic in self.nics.values():
                nic.link.close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
