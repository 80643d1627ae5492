"""NICs and the addresses a stack owns on them.

A :class:`NIC` is a link plus its addresses; it is the link layer's dispatcher and hands
every packet to the stack's queue. The :class:`AddressTable` says which NIC owns an address:
its own addresses, whole local subnets (Linux owns all of 127.0.0.0/8), and the directed
broadcast address of each IPv4 subnet, which Linux's routes flag as broadcast.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from usersock.errors import Err, StackError
from usersock.link.base import LinkEndpoint
from usersock.stack.route import AddressWithPrefix, Subnet, format_address
from usersock.wire.errors import MalformedPacket
from usersock.wire.packet import Packet

if TYPE_CHECKING:
    from usersock.stack.stack import Stack

logger = logging.getLogger("usersock.stack")

#: 255.255.255.255, the limited broadcast address (RFC 919).
LIMITED_BROADCAST = b"\xff\xff\xff\xff"


class NIC:
    """A network interface: a link plus the addresses the stack owns on it.

    Implements the link layer's ``NetworkDispatcher`` for its link.
    """

    def __init__(self, stack: Stack, nic_id: int, link: LinkEndpoint, name: str) -> None:
        self.stack = stack
        self.id = nic_id
        self.link = link
        self.name = name
        self.addresses: list[AddressWithPrefix] = []
        self.enabled = True

    # NetworkDispatcher -------------------------------------------------------------------
    def deliver_packet(self, packet: Packet) -> None:
        self.stack.deliver(self, packet)

    def deliver_bytes(self, data: bytes) -> None:
        stack = self.stack
        with stack.lock:
            try:
                packet = Packet.from_bytes(data)
            except MalformedPacket as exc:
                stack.stats.malformed += 1
                stack.stats.drop(exc.reason)
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("nic %d: dropped malformed packet: %s", self.id, exc)
                return
            stack.deliver(self, packet)

    def now(self) -> float:
        return self.stack.clock.now()

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        self.stack.call_later(delay, callback)

    def __repr__(self) -> str:
        addrs = ", ".join(str(a) for a in self.addresses)
        return f"<NIC {self.id} {self.name} [{addrs}]>"


class AddressTable:
    """Which NIC owns which address. Changes need the stack lock; lookups need none (the
    broadcast set is replaced whole, the dictionary read in one step)."""

    def __init__(self) -> None:
        self._owners: dict[bytes, NIC] = {}
        self._subnets: list[tuple[Subnet, NIC]] = []
        self._broadcasts: frozenset[bytes] = frozenset()

    def add(self, nic: NIC, awp: AddressWithPrefix) -> None:
        """Give *nic* the address (again: nothing changes). Raises
        ``StackError(ADDRESS_IN_USE)`` if another NIC owns it."""
        owner = self._owners.get(awp.address)
        if owner is not None and owner is not nic:
            raise StackError(Err.ADDRESS_IN_USE, f"{awp} is on NIC {owner.id}")
        if owner is None:
            nic.addresses.append(awp)
            self._owners[awp.address] = nic
            self._update_broadcasts()

    def add_subnet(self, nic: NIC, subnet: Subnet) -> None:
        """Make *nic* own every address of *subnet*."""
        self._subnets.append((subnet, nic))

    def remove(self, nic: NIC, addr: bytes) -> None:
        """Take the address *addr* from *nic*. Raises ``ValueError`` if it does not have it."""
        for awp in nic.addresses:
            if awp.address == addr:
                nic.addresses.remove(awp)
                del self._owners[addr]
                self._update_broadcasts()
                return
        raise ValueError(f"NIC {nic.id} has no address {format_address(addr)}")

    def assigned(self, addr: bytes) -> bool:
        """True if *addr* was given to a NIC itself (not only owned through a subnet)."""
        return addr in self._owners

    def owner(self, addr: bytes) -> NIC | None:
        """The NIC that owns *addr*, or None if the address is not the stack's."""
        nic = self._owners.get(addr)
        if nic is not None:
            return nic
        for subnet, owner in self._subnets:
            if subnet.contains(addr):
                return owner
        return None

    def is_broadcast(self, addr: bytes) -> bool:
        """True for 255.255.255.255 and the directed broadcast address of a NIC's IPv4
        subnet (127.255.255.255 on the loopback)."""
        return addr == LIMITED_BROADCAST or addr in self._broadcasts

    def _update_broadcasts(self) -> None:
        nics = {id(nic): nic for nic in self._owners.values()}.values()
        found = {awp.broadcast for nic in nics for awp in nic.addresses}
        self._broadcasts = frozenset(b for b in found if b is not None)
