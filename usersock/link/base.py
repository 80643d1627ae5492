"""The link-layer interface shared by every link endpoint.

A link moves whole IP packets. The stack attaches to a link through a
:class:`NetworkDispatcher` (one per NIC); the link calls it for every packet that arrives and
the stack calls :meth:`LinkEndpoint.write_packet` for every packet that leaves.

Concurrency: ``write_packet`` is called with the stack lock held. A link must never call back
into the stack recursively from ``write_packet`` with the expectation that the packet is
processed at once: the dispatcher's ``deliver_*`` methods only enqueue when the stack is
already processing, and whoever holds the lock drains the queue (ARCHITECTURE.md section 3).
A link that receives packets from another thread (a test injecting into a channel) may call
``deliver_*`` from that thread: the dispatcher takes the lock itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from usersock.wire.packet import Packet


class NetworkDispatcher(Protocol):
    """The stack's side of a NIC, as a link sees it."""

    def deliver_packet(self, packet: Packet) -> None:
        """Hand a parsed packet to the stack; trusted, no checksum is verified."""

    def deliver_bytes(self, data: bytes) -> None:
        """Hand a raw IP packet to the stack; it is parsed, validated and checksum-verified,
        and dropped (and counted) if malformed."""

    def now(self) -> float:
        """The stack clock's current time, in seconds."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """Run *callback* with the stack lock held once *delay* seconds have passed on the
        stack clock (used by links that delay packets)."""


class LinkEndpoint:
    """Base class of link endpoints.

    ``mtu`` is the largest IP packet the link carries. ``checksum_offload`` says the link
    never corrupts packets, so the stack may pass packet objects without computing
    checksums (in-process loopback); links that carry bytes say False.
    """

    mtu: int = 1500
    checksum_offload: bool = False
    #: True when ``write_packet(p)`` does nothing but hand *p* back to the same NIC's
    #: ``deliver_packet`` (a bare in-process loopback), so the stack may enqueue the packet
    #: itself and skip the calls. Wrappers (sniffers, fault injectors) leave it False.
    loops_back: bool = False

    def __init__(self) -> None:
        self.dispatcher: NetworkDispatcher | None = None

    def attach(self, dispatcher: NetworkDispatcher | None) -> None:
        """Connect the link to a NIC's dispatcher (``None`` detaches)."""
        self.dispatcher = dispatcher

    def write_packet(self, packet: Packet) -> None:
        """Send *packet* out of this link. Called with the stack lock held."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the link's resources; later writes are dropped."""
        self.dispatcher = None
