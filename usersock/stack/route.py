"""Addresses with prefixes and the route table (longest-prefix match).

Addresses inside the stack are packed ``bytes`` (4 for IPv4, 16 for IPv6). Text forms are
accepted at this API edge and converted once with :mod:`ipaddress`.
"""

from __future__ import annotations

import ipaddress
import socket as _socket
from dataclasses import dataclass, field

from usersock.errors import Err, StackError

IPV4_ANY = bytes(4)
IPV6_ANY = bytes(16)


def parse_address(text: str | bytes) -> bytes:
    """Return the packed form of an IPv4 or IPv6 address given as text or packed bytes.

    Raises ``ValueError`` if *text* is not an address.
    """
    if isinstance(text, bytes):
        if len(text) not in (4, 16):
            raise ValueError(f"a packed address is 4 or 16 bytes, not {len(text)}")
        return text
    return ipaddress.ip_address(text).packed


def format_address(addr: bytes) -> str:
    """Return the text form of a packed address as the socket module gives it
    (``inet_ntop``: ``"192.168.1.1"``, ``"::1"``, ``"::ffff:127.0.0.1"`` on every Python)."""
    return _socket.inet_ntop(_socket.AF_INET if len(addr) == 4 else _socket.AF_INET6, addr)


@dataclass(frozen=True, slots=True)
class Subnet:
    """An address prefix: ``network`` packed, ``prefix_len`` bits."""

    network: bytes
    prefix_len: int

    @classmethod
    def parse(cls, text: str) -> Subnet:
        """Parse ``"10.0.0.0/8"`` (host bits are masked off). Raises ``ValueError``."""
        net = ipaddress.ip_network(text, strict=False)
        return cls(net.network_address.packed, net.prefixlen)

    def contains(self, addr: bytes) -> bool:
        """True if *addr* (same family) lies inside this prefix."""
        if len(addr) != len(self.network):
            return False
        shift = len(addr) * 8 - self.prefix_len
        return int.from_bytes(addr, "big") >> shift == int.from_bytes(self.network, "big") >> shift

    def __str__(self) -> str:
        return f"{format_address(self.network)}/{self.prefix_len}"


@dataclass(frozen=True, slots=True)
class AddressWithPrefix:
    """An address a NIC owns, with the prefix of its on-link subnet (``192.168.1.1/24``)."""

    address: bytes
    prefix_len: int

    @classmethod
    def parse(cls, text: str) -> AddressWithPrefix:
        """Parse ``"192.168.1.1/24"``; a bare address gets a full-length prefix.

        Raises ``ValueError`` for text that is not an address.
        """
        iface = ipaddress.ip_interface(text)
        return cls(iface.ip.packed, iface.network.prefixlen)

    @property
    def subnet(self) -> Subnet:
        return Subnet.parse(f"{format_address(self.address)}/{self.prefix_len}")

    @property
    def broadcast(self) -> bytes | None:
        """The subnet's directed broadcast address (all host bits set), for IPv4 subnets of
        /30 and wider; ``None`` for /31, /32 and IPv6, which have none."""
        if len(self.address) != 4 or self.prefix_len > 30:
            return None
        host_mask = (1 << (32 - self.prefix_len)) - 1
        return (int.from_bytes(self.address, "big") | host_mask).to_bytes(4, "big")

    def __str__(self) -> str:
        return f"{format_address(self.address)}/{self.prefix_len}"


@dataclass(frozen=True)
class Route:
    """One route table entry, as the user writes it.

    ``destination`` is a prefix (``"0.0.0.0/0"`` is the IPv4 default route, ``"::/0"`` the
    IPv6 one); ``nic`` the NIC id packets leave through; ``gateway`` an optional next hop.
    """

    destination: str
    nic: int
    gateway: str | None = None
    subnet: Subnet = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "subnet", Subnet.parse(self.destination))


class RouteTable:
    """Longest-prefix match over a list of :class:`Route`, with a per-destination cache.

    Lookups run per connection, not per packet (an endpoint keeps its route), but the cache
    keeps them O(1) for UDP senders too. Needs the stack lock for writes.
    """

    def __init__(self) -> None:
        self._routes: list[Route] = []
        self._cache: dict[bytes, Route] = {}

    def set(self, routes: list[Route]) -> None:
        """Replace the table. Longer prefixes win; among equals the first listed wins."""
        self._routes = sorted(routes, key=lambda r: -r.subnet.prefix_len)
        self._cache.clear()

    def routes(self) -> list[Route]:
        return list(self._routes)

    def lookup(self, dst: bytes) -> Route:
        """Return the most specific route for *dst*.

        Raises ``StackError(NETWORK_UNREACHABLE)`` if no route matches.
        """
        route = self._cache.get(dst)
        if route is not None:
            return route
        for candidate in self._routes:
            if candidate.subnet.contains(dst):
                if len(self._cache) > 4096:
                    self._cache.clear()
                self._cache[dst] = candidate
                return candidate
        raise StackError(Err.NETWORK_UNREACHABLE, f"no route to {format_address(dst)}")
