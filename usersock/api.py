"""``usersock.Stack``: a stack with IPv4, IPv6, TCP and UDP, and ``socket()`` on top.

This is the facade's view of the stack layer's :class:`usersock.stack.Stack`: it injects the
default protocols (gVisor's ``stack.New`` with ``ipv4``, ``ipv6``, ``tcp``, ``udp``) and
creates :class:`usersock.socket` objects. Host names are resolved against the stack's own
small hosts table (``localhost`` and whatever :meth:`Stack.add_host` adds); nothing ever
reaches a real resolver.
"""

from __future__ import annotations

import ipaddress
import socket as _socket
from collections.abc import Iterable
from typing import TYPE_CHECKING

from usersock import dns
from usersock.clock import Clock
from usersock.network.ip import IPv4Protocol, IPv6Protocol
from usersock.stack.route import parse_address
from usersock.stack.stack import Stack as _CoreStack
from usersock.transport.tcp.protocol import TCPProtocol
from usersock.transport.udp import UDPProtocol

if TYPE_CHECKING:
    from usersock.sockets import socket as VirtualSocket

_LOOPBACK = {4: ipaddress.IPv4Address("127.0.0.1").packed, 6: ipaddress.IPv6Address("::1").packed}


class Stack(_CoreStack):
    """A userspace TCP/IP stack with IPv4, IPv6, TCP and UDP.

    >>> stack = Stack()
    >>> stack.create_nic(1, Loopback())
    >>> stack.add_address(1, "192.168.1.1/32")
    >>> stack.set_route_table([Route(destination="0.0.0.0/0", nic=1)])
    >>> srv = stack.socket(socket.AF_INET, socket.SOCK_STREAM)
    """

    def __init__(self, clock: Clock | None = None, *, secret: bytes | None = None) -> None:
        super().__init__(
            clock,
            network_protocols=(IPv4Protocol, IPv6Protocol),
            transport_protocols=(TCPProtocol, UDPProtocol),
            secret=secret,
        )
        self.hosts: dict[str, list[bytes]] = {"localhost": [_LOOPBACK[4], _LOOPBACK[6]]}

    def socket(
        self,
        family: int = _socket.AF_INET,
        type: int = _socket.SOCK_STREAM,
        proto: int = 0,
    ) -> VirtualSocket:
        """Create a :class:`usersock.socket` on this stack (``AF_INET``/``AF_INET6``,
        ``SOCK_STREAM``/``SOCK_DGRAM``). Raises ``OSError`` for other families or types."""
        from usersock.sockets import socket

        return socket(family, type, proto, network=self)

    def is_virtual(self, addr: bytes) -> bool:
        """Every address is the stack's business: routes decide (no real network here)."""
        return True

    def allows(self, addr: bytes, port: int) -> bool:
        """A bare stack never reaches the real network."""
        return False

    def check_real(self, addr: bytes, port: int) -> None:
        """Never called for a bare stack (every address is virtual)."""

    def track(self, sock: object) -> None:
        """A bare stack does not track its sockets; ``close()`` aborts their endpoints."""

    @property
    def stack(self) -> Stack:
        """A stack is its own network (the socket's view of where it lives)."""
        return self

    def add_host(self, name: str, *addresses: str) -> None:
        """Make *name* resolve to *addresses* for sockets on this stack."""
        self.hosts[name.lower().rstrip(".")] = [parse_address(a) for a in addresses]

    def lookup(self, name: str) -> list[bytes] | None:
        """The addresses of a host name in the stack's table, or ``None``."""
        return self.hosts.get(name.lower().rstrip("."))

    def name_of(self, addr: bytes) -> str | None:
        """The first host name for *addr* (reverse lookup), or ``None``."""
        for name, addrs in self.hosts.items():
            if addr in addrs:
                return name
        return None

    def name_allowed(self, name: str) -> bool:
        """A bare stack never asks the real resolver."""
        return False

    def allow_resolved(self, name: str, addresses: Iterable[bytes]) -> None:
        """Nothing is ever resolved for real on a bare stack."""

    def resolve_host(self, host: str, version: int, for_bind: bool = False) -> bytes:
        """The packed address a socket's ``bind`` or ``connect`` uses for *host*, resolved
        over the stack's hosts table as CPython does (:mod:`usersock.dns`). Raises
        ``socket.gaierror`` for names not in the table and for an address of the other
        family."""
        return dns.resolve_socket_address(self, host, version, for_bind)
