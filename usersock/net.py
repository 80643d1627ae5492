"""``usersock.Network``: the virtual network that ``patched()`` and the pytest plugin hand out.

A network is one :class:`usersock.Stack` laid out like a host's loopback: NIC 1 is an
in-process loopback owning 127.0.0.0/8 and ::1, the names ``localhost`` and the machine's
own (``socket.gethostname()``), and every virtual host the test adds
(``net.add_host("api.test")`` picks an address from 198.18.0.0/15, the benchmarking range
of RFC 2544 that is never routed on the internet;
``net.add_host("db.test", "10.1.2.3")`` uses the given one). All hosts live on the one
stack, so a server bound to a host's address is reachable by that name from every socket.

Addresses the network does not own are *real*. Sockets may reach them only if the user
allowed them (``allow=["127.0.0.1:5432", "db.example.com"]``); otherwise the call fails with
:class:`RealNetworkBlocked`, an ``OSError`` naming the address and the option that allows it.
"""

from __future__ import annotations

import errno
import ipaddress
import socket as _socket
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from usersock.api import Stack
from usersock.clock import Clock
from usersock.link.loopback import Loopback
from usersock.stack.route import Route, format_address, parse_address
from usersock.transport.tcp.endpoint import TCPEndpoint

if TYPE_CHECKING:
    from usersock.sockets import socket as VirtualSocket

#: Where ``add_host`` takes addresses from when none is given (RFC 2544 benchmarking range).
AUTO_SUBNET = ipaddress.ip_network("198.18.0.0/15")


_active: list[Network] = []
_active_lock = threading.Lock()


def current() -> Network | None:
    """The innermost network entered with ``patched()`` (process-wide), or ``None``."""
    return _active[-1] if _active else None


def push(network: Network) -> bool:
    """Make *network* current; returns True if it is the first (patches must go in)."""
    with _active_lock:
        _active.append(network)
        return len(_active) == 1


def pop(network: Network) -> bool:
    """Leave *network*; returns True if no network remains (patches must come out).
    Raises ``RuntimeError`` if *network* is not active."""
    with _active_lock:
        for i in range(len(_active) - 1, -1, -1):
            if _active[i] is network:
                del _active[i]
                return not _active
        raise RuntimeError("that network is not active")


class RealNetworkBlocked(OSError):
    """A socket inside ``patched()`` tried to reach an address that is not virtual."""


@dataclass(frozen=True)
class Allowed:
    """One ``allow=`` entry: a host (name or address) and an optional port."""

    host: str
    port: int | None

    @classmethod
    def parse(cls, entry: str) -> Allowed:
        """Parse ``"host"``, ``"host:port"``, ``"[v6]:port"``. Raises ``ValueError``."""
        entry = entry.strip()
        if not entry:
            raise ValueError("empty allow entry")
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else None
            return cls(host.lower(), port)
        if entry.count(":") == 1:
            host, port_text = entry.split(":")
            return cls(host.lower(), int(port_text))
        return cls(entry.lower(), None)


@dataclass(frozen=True)
class ConnectionInfo:
    """One TCP socket as ``ss -tan`` shows it: ``send_queue`` is the bytes not yet
    acknowledged by the peer (Send-Q), ``receive_queue`` the bytes not yet read (Recv-Q; for a
    listener, the connections waiting for ``accept``)."""

    state: str
    local: tuple[str, int]
    remote: tuple[str, int] | None
    bytes_sent: int
    bytes_received: int
    retransmissions: int
    send_queue: int
    receive_queue: int


class Network:
    """A virtual network: a stack with a loopback NIC, a hosts table and an allow list.

    Thread-safe: the hosts table and the allow list take their own lock; sockets take the
    stack lock.
    """

    def __init__(self, allow: Iterable[str] = (), clock: Clock | None = None) -> None:
        self.stack = Stack(clock)
        self.stack.create_nic(1, Loopback(), name="lo")
        self.stack.add_address(1, "127.0.0.1/8")
        self.stack.add_local_subnet(1, "127.0.0.0/8")
        self.stack.add_address(1, "::1/128")
        self.stack.set_route_table([Route("0.0.0.0/0", nic=1), Route("::/0", nic=1)])
        self._lock = threading.Lock()
        loopback = [parse_address("127.0.0.1"), parse_address("::1")]
        self.hosts: dict[str, list[bytes]] = {"localhost": loopback}
        self.stack.hosts = self.hosts
        self._next_auto = int(AUTO_SUBNET.network_address) + 1
        self.allow: list[Allowed] = [Allowed.parse(e) for e in allow]
        # The machine's own name is on the loopback too, as /etc/hosts has it, so that
        # gethostbyname(gethostname()) and getfqdn() work as they do outside; unless the
        # user allowed that name, which then goes to the real resolver like any allowed one.
        own = _socket.gethostname().lower().rstrip(".")
        if own and " " not in own and not self.name_allowed(own):
            self.hosts.setdefault(own, list(loopback))
        self._allowed_addresses: set[tuple[bytes, int | None]] = set()
        for rule in self.allow:
            try:
                self._allowed_addresses.add((parse_address(rule.host), rule.port))
            except ValueError:
                pass  # a name: its addresses are added when it is resolved
        self.sockets: weakref.WeakSet[Any] = weakref.WeakSet()
        self.closed = False

    # Hosts ---------------------------------------------------------------------------------
    def add_host(self, name: str, *addresses: str) -> str:
        """Add a virtual host *name* with *addresses* (one is picked from 198.18.0.0/15 if
        none is given). Returns the first address. The stack owns the addresses, so servers
        can bind to them. Raises ``ValueError`` for a bad name or address."""
        key = name.lower().rstrip(".")
        if not key or " " in key:
            raise ValueError(f"bad host name {name!r}")
        with self._lock:
            if not addresses:
                addresses = (str(ipaddress.ip_address(self._next_auto)),)
                self._next_auto += 1
            packed = [parse_address(a) for a in addresses]
            for addr in packed:
                if not self.stack.has_address(addr):
                    bits = 32 if len(addr) == 4 else 128
                    self.stack.add_address(1, f"{format_address(addr)}/{bits}")
            self.hosts[key] = packed
        return format_address(packed[0])

    def lookup(self, name: str) -> list[bytes] | None:
        """The addresses of a virtual host name, or ``None`` if the name is not virtual."""
        return self.stack.lookup(name)

    def name_of(self, addr: bytes) -> str | None:
        """The first virtual host name for *addr* (reverse lookup), or ``None``."""
        return self.stack.name_of(addr)

    # Real addresses ------------------------------------------------------------------------
    def is_virtual(self, addr: bytes) -> bool:
        """True if *addr* is on the virtual network (sockets to it stay in-process)."""
        return self.stack.has_address(addr)

    def resolve_host(self, host: str, version: int, for_bind: bool = False) -> bytes:
        """The packed address a socket's ``connect``/``bind``/``sendto`` uses for *host*
        (:func:`usersock.dns.resolve_socket_address`): literals (``"127.1"`` too), virtual
        names, ``""``; a name the user allowed goes to the real resolver. Raises
        ``socket.gaierror`` for other names."""
        from usersock import dns

        return dns.resolve_socket_address(self, host, version, for_bind)

    def name_allowed(self, name: str) -> bool:
        """True if *name* may be resolved by the real resolver."""
        key = name.lower().rstrip(".")
        return any(rule.host == key for rule in self.allow)

    def allow_resolved(self, name: str, addresses: Iterable[bytes]) -> None:
        """Record the real addresses an allowed name resolved to."""
        key = name.lower().rstrip(".")
        ports = [rule.port for rule in self.allow if rule.host == key]
        with self._lock:
            for addr in addresses:
                for port in ports:
                    self._allowed_addresses.add((addr, port))

    def allows(self, addr: bytes, port: int) -> bool:
        """True if the user allowed *addr*:*port* to reach the real network."""
        allowed = self._allowed_addresses
        return bool(allowed) and ((addr, port) in allowed or (addr, None) in allowed)

    def check_real(self, addr: bytes, port: int) -> None:
        """Return if the real address *addr*:*port* was allowed, else raise
        :class:`RealNetworkBlocked` naming it and the ``allow=`` entry that would allow it."""
        if self.allows(addr, port):
            return
        text = format_address(addr)
        shown = f"[{text}]:{port}" if len(addr) == 16 else f"{text}:{port}"
        raise RealNetworkBlocked(
            errno.ENETUNREACH,
            f"usersock: {shown} is not on the virtual network and real traffic is not allowed;"
            f" add a virtual host (net.add_host(...)) or allow it with"
            f" usersock.patched(allow=[{shown!r}])",
        )

    # Sockets -------------------------------------------------------------------------------
    def socket(
        self, family: int = _socket.AF_INET, type: int = _socket.SOCK_STREAM, proto: int = 0
    ) -> VirtualSocket:
        """A virtual socket on this network."""
        from usersock.sockets import socket as VirtualSocket

        return VirtualSocket(family, type, proto, network=self)

    def track(self, sock: Any) -> None:
        """Remember *sock* so :meth:`close` can close it."""
        self.sockets.add(sock)

    def connections(self) -> list[ConnectionInfo]:
        """Every TCP socket on the network, like ``ss -tan``: listeners, connections in every
        state (TIME-WAIT included), with byte and retransmission counters."""
        out: list[ConnectionInfo] = []
        stack = self.stack
        with stack.lock:
            seen: set[int] = set()
            endpoints = [ep for group in stack.bound.values() for ep in group]
            endpoints += list(stack.connections.values())
            for ep in endpoints:
                if not isinstance(ep, TCPEndpoint) or id(ep) in seen:
                    continue
                seen.add(id(ep))
                local = (format_address(ep.local_addr or bytes(4)), ep.local_port)
                conn = ep.conn
                if ep.listener is not None:
                    out.append(
                        ConnectionInfo(
                            "LISTEN", local, None, 0, 0, 0, 0, len(ep.listener.accept_queue)
                        )
                    )
                elif conn is not None:
                    remote = (format_address(ep.remote_addr or bytes(4)), ep.remote_port)
                    out.append(
                        ConnectionInfo(
                            conn.state.name.replace("_", "-"),
                            local,
                            remote,
                            conn.bytes_sent,
                            conn.bytes_received,
                            conn.retransmissions,
                            len(conn.snd.buf),
                            conn.readable_bytes(),
                        )
                    )
        return out

    def close(self) -> None:
        """Close every socket made on the network (and its descriptor) and the stack."""
        if self.closed:
            return
        self.closed = True
        for sock in list(self.sockets):
            try:
                sock.close()
            except OSError:
                pass
        self.stack.close()

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
