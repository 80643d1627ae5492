"""The in-process loopback link: every packet written comes back in to the same NIC.

Theory of operation: a loopback never serialises. ``write_packet`` hands the very same
:class:`~usersock.wire.packet.Packet` object to the NIC's dispatcher, whose
``deliver_packet`` only enqueues it (the stack is already processing, since
``write_packet`` runs with the stack lock held); the lock holder drains the queue before it
returns. So the link is a FIFO, never a recursive call (ARCHITECTURE.md section 3), and
because the packet never exists as bytes it cannot be corrupted: ``checksum_offload`` is
True and the stack may skip checksums altogether (as gVisor's loopback does).

The MTU defaults to 64 KiB, as Linux's ``lo``, so bulk data moves in few, large segments.
"""

from __future__ import annotations

from usersock.link.base import LinkEndpoint
from usersock.wire.packet import Packet


class Loopback(LinkEndpoint):
    """A FIFO from the NIC back to itself.

    ``dropped`` counts packets written while detached (before :meth:`attach` or after
    :meth:`close`); they are discarded silently, as an interface that is down would.
    """

    checksum_offload = True
    loops_back = True

    def __init__(self, mtu: int = 65536) -> None:
        """Raises ``ValueError`` if *mtu* is below the IPv4 minimum of 68 bytes."""
        super().__init__()
        if mtu < 68:
            raise ValueError(f"mtu {mtu} is below the IPv4 minimum of 68")
        self.mtu = mtu
        self.dropped = 0

    def write_packet(self, packet: Packet) -> None:
        """Hand *packet* itself (not a copy) to the dispatcher, which enqueues it.

        Called with the stack lock held. Never raises; drops and counts when detached.
        """
        dispatcher = self.dispatcher
        if dispatcher is None:
            self.dropped += 1
            return
        dispatcher.deliver_packet(packet)

    def write_bytes(self, data: bytes) -> None:
        """Send raw, possibly invalid, IP bytes round the loop: they arrive at the same NIC
        through ``deliver_bytes``, which parses, verifies checksums and drops what is
        malformed. Used by :class:`~usersock.link.faults.Faults` to model corruption.

        Called with the stack lock held. Never raises; drops and counts when detached.
        """
        dispatcher = self.dispatcher
        if dispatcher is None:
            self.dropped += 1
            return
        dispatcher.deliver_bytes(data)
