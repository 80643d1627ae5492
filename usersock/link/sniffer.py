"""A wrapper link that logs, and optionally captures, every packet in and out.

Theory of operation: ``Sniffer(inner)`` is a :class:`LinkEndpoint` the stack writes to; it
logs and forwards each packet to *inner*. For the inbound direction, :meth:`Sniffer.attach`
puts an intercepting dispatcher between *inner* and the NIC's dispatcher, so packets that
*inner* delivers are logged before the stack sees them. Each packet is one ``logging`` line,
``"send <describe>"`` or ``"recv <describe>"`` (``Packet.describe()``); raw inbound bytes are
parsed for the log only, and bytes that do not parse show as ``"malformed N bytes
(reason)"``. Every log call is guarded by ``logger.isEnabledFor``, so a disabled sniffer costs
one method call per packet and never builds a description.

With a :class:`~usersock.link.pcap.PcapWriter`, every packet is also written to the capture,
serialised with ``Packet.to_bytes()`` (which always fills checksums, even on a link with
checksum offload). A packet that leaves through *inner* and comes straight back in as the
same object (the in-process loopback) is one packet on the wire: like ``tcpdump -i lo`` the
capture holds it once, while the log shows both its ``send`` and its ``recv``.

Locking: ``write_packet`` and the intercepted ``deliver_packet`` run with the stack lock held;
``deliver_bytes`` may arrive from any thread (a test injecting into a channel). The pcap
writer and the small echo ring have their own locks.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from usersock.link.base import LinkEndpoint, NetworkDispatcher
from usersock.link.pcap import PcapWriter
from usersock.wire.errors import MalformedPacket
from usersock.wire.packet import Packet

_DEFAULT_LOGGER = logging.getLogger(__name__)

# How many outbound objects are remembered to recognise their echo on a loopback.
_ECHO_RING = 256


def describe_bytes(data: bytes | bytearray | memoryview) -> str:
    """One-line description of raw IP bytes: ``Packet.describe()`` if they parse, else
    ``"malformed N bytes (reason)"``. Never raises for bad input."""
    try:
        return Packet.from_bytes(bytes(data)).describe()
    except MalformedPacket as exc:
        return f"malformed {len(data)} bytes ({exc.reason})"


class Sniffer(LinkEndpoint):
    """Log (and capture) every packet through *inner*; same ``mtu`` and
    ``checksum_offload`` as *inner*.

    *logger* defaults to ``logging.getLogger("usersock.link.sniffer")``; lines are logged at
    *level*. *pcap* is not closed by :meth:`close`: its owner closes it.
    """

    def __init__(
        self,
        inner: LinkEndpoint,
        logger: logging.Logger | None = None,
        pcap: PcapWriter | None = None,
        level: int = logging.INFO,
    ) -> None:
        super().__init__()
        self.inner = inner
        self.mtu = inner.mtu
        self.checksum_offload = inner.checksum_offload
        self.logger = _DEFAULT_LOGGER if logger is None else logger
        self.pcap = pcap
        self.level = level
        self._echoes: deque[object] = deque(maxlen=_ECHO_RING)
        self._echo_lock = threading.Lock()

    def attach(self, dispatcher: NetworkDispatcher | None) -> None:
        """Attach to *dispatcher*, with the sniffing dispatcher in front of it on *inner*
        (``None`` detaches both)."""
        self.dispatcher = dispatcher
        self.inner.attach(None if dispatcher is None else _SniffingDispatcher(self, dispatcher))

    def close(self) -> None:
        """Close *inner* and detach (the pcap writer stays open)."""
        self.inner.close()
        super().close()

    def write_packet(self, packet: Packet) -> None:
        """Log ``send``, capture, then forward to *inner*.

        Called with the stack lock held. Raises what *inner* raises, and ``ValueError`` if
        the pcap writer was closed while still in use. Detached: forwarded unlogged (*inner*
        drops it).
        """
        dispatcher = self.dispatcher
        if dispatcher is not None:
            if self.logger.isEnabledFor(self.level):
                self.logger.log(self.level, "send %s", packet.describe())
            if self.pcap is not None:
                self.pcap.write(packet.to_bytes(), dispatcher.now())
                self._remember(packet)
        self.inner.write_packet(packet)

    def write_bytes(self, data: bytes) -> None:
        """Log ``send``, capture, then forward raw, possibly invalid, bytes: to
        ``inner.write_bytes`` when *inner* has it, else as a parsed packet, or not at all if
        they do not parse. Used by :class:`~usersock.link.faults.Faults` for corruption.

        Called with the stack lock held.
        """
        dispatcher = self.dispatcher
        if dispatcher is not None:
            if self.logger.isEnabledFor(self.level):
                self.logger.log(self.level, "send %s", describe_bytes(data))
            if self.pcap is not None:
                self.pcap.write(data, dispatcher.now())
                self._remember(data)
        write_bytes: Callable[[bytes], None] | None = getattr(self.inner, "write_bytes", None)
        if write_bytes is not None:
            write_bytes(data)
            return
        try:
            packet = Packet.from_bytes(data)
        except MalformedPacket:
            return
        self.inner.write_packet(packet)

    def _remember(self, sent: object) -> None:
        with self._echo_lock:
            self._echoes.append(sent)

    def _is_echo(self, received: object) -> bool:
        """True (and forgotten) if *received* is an object this sniffer just sent."""
        with self._echo_lock:
            for i, sent in enumerate(self._echoes):
                if sent is received:
                    del self._echoes[i]
                    return True
            return False


class _SniffingDispatcher:
    """The dispatcher *inner* sees: logs and captures inbound packets, then passes them on.
    Implements :class:`~usersock.link.base.NetworkDispatcher`."""

    __slots__ = ("_sniffer", "_target")

    def __init__(self, sniffer: Sniffer, target: NetworkDispatcher) -> None:
        self._sniffer = sniffer
        self._target = target

    def deliver_packet(self, packet: Packet) -> None:
        sniffer = self._sniffer
        if sniffer.logger.isEnabledFor(sniffer.level):
            sniffer.logger.log(sniffer.level, "recv %s", packet.describe())
        if sniffer.pcap is not None and not sniffer._is_echo(packet):
            sniffer.pcap.write(packet.to_bytes(), self._target.now())
        self._target.deliver_packet(packet)

    def deliver_bytes(self, data: bytes) -> None:
        sniffer = self._sniffer
        if sniffer.logger.isEnabledFor(sniffer.level):
            sniffer.logger.log(sniffer.level, "recv %s", describe_bytes(data))
        if sniffer.pcap is not None and not sniffer._is_echo(data):
            sniffer.pcap.write(data, self._target.now())
        self._target.deliver_bytes(data)

    def now(self) -> float:
        return self._target.now()

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        self._target.call_later(delay, callback)
