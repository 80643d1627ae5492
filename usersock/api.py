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
from typing import TYPE_CHECKING

from usersock.clock import Clock
from usersock.network.ip import IPv4Protocol, IPv6Protocol
from usersock.stack.route import IPV4_ANY, IPV6_ANY, parse_address
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
        self.hosts: dict[str, list[bytes]] = {}

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

    def resolve_host(self, host: str, version: int, for_bind: bool = False) -> bytes:
        """Resolve the host part of a socket address for IP *version*.

        ``""`` is the wildcard (for ``bind``) or the loopback address (for ``connect``, as
        Linux treats a connect to ``0.0.0.0``); ``"<broadcast>"`` is ``255.255.255.255``.
        Raises ``socket.gaierror`` for names not in the hosts table and for an address of
        the other family.
        """
        if host == "":
            any_addr = IPV4_ANY if version == 4 else IPV6_ANY
            return any_addr if for_bind else _LOOPBACK[version]
        if host == "<broadcast>" and version == 4:
            return b"\xff\xff\xff\xff"
        try:
            addr = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            addr = None
        if addr is not None:
            if addr.version != version:
                raise _socket.gaierror(
                    _socket.EAI_ADDRFAMILY, "Address family for hostname not supported"
                )
            packed = addr.packed
            if not for_bind and not any(packed):
                return _LOOPBACK[version]
            return packed
        name = host.lower().rstrip(".")
        candidates = self.hosts.get(name)
        if candidates is None and name == "localhost":
            candidates = [_LOOPBACK[4], _LOOPBACK[6]]
        if candidates:
            for packed in candidates:
                if len(packed) == (4 if version == 4 else 16):
                    return packed
            raise _socket.gaierror(
                _socket.EAI_ADDRFAMILY, "Address family for hostname not supported"
            )
        raise _socket.gaierror(_socket.EAI_NONAME, "Name or service not known")
