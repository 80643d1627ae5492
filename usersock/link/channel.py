"""The channel link: the test seam where a test plays the peer.

Theory of operation: what the stack sends is serialised (``Packet.to_bytes()``, lengths and
checksums filled, since ``checksum_offload`` is False) and queued as bytes; the test takes it
with :meth:`Channel.read` / :meth:`Channel.read_packet` and answers with
:meth:`Channel.inject` / :meth:`Channel.inject_packet`, which hand bytes to the NIC's
dispatcher (parsed, validated and checksum-verified there, exactly as from a wire). This is
gVisor's ``channel.Endpoint``: end-to-end tests assert on the very bytes the stack emits.

Locking: the outbound queue has its own :class:`threading.Condition`, never held while
calling into the stack. ``write_packet`` runs on a stack thread with the stack lock held;
``read`` runs on a test thread and may block there; ``inject`` may be called from any thread
without holding the stack lock (the dispatcher takes it). Like a NIC ring, the queue is
bounded: when ``limit`` packets wait unread, further ones are dropped and counted.
"""

from __future__ import annotations

import threading
from collections import deque

from usersock.link.base import LinkEndpoint
from usersock.wire.packet import Packet


class Channel(LinkEndpoint):
    """A link whose other end is the test.

    Counters: ``dropped`` (outbound packets lost to a full queue or written while closed),
    ``dropped_inbound`` (packets injected while detached).
    """

    checksum_offload = False

    def __init__(self, mtu: int = 1500, limit: int = 1024) -> None:
        """*limit* bounds the packets queued for the test. Raises ``ValueError`` for an
        *mtu* below 68 or a *limit* below 1."""
        super().__init__()
        if mtu < 68:
            raise ValueError(f"mtu {mtu} is below the IPv4 minimum of 68")
        if limit < 1:
            raise ValueError(f"queue limit must be at least 1, not {limit}")
        self.mtu = mtu
        self.limit = limit
        self.dropped = 0
        self.dropped_inbound = 0
        self._queue: deque[bytes] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._closed = False

    # -- the stack's side -------------------------------------------------------------------

    def write_packet(self, packet: Packet) -> None:
        """Serialise *packet* and queue the bytes for the test, waking one blocked reader.

        Called with the stack lock held; takes the queue lock briefly. Never blocks; drops
        and counts when the queue is full or the channel is closed.
        """
        self.write_bytes(packet.to_bytes())

    def write_bytes(self, data: bytes) -> None:
        """Queue raw, possibly invalid, bytes for the test (used by
        :class:`~usersock.link.faults.Faults` to deliver corrupted packets).

        Same locking and dropping as :meth:`write_packet`.
        """
        with self._cond:
            if self._closed or len(self._queue) >= self.limit:
                self.dropped += 1
                return
            self._queue.append(data)
            self._cond.notify()

    def close(self) -> None:
        """Detach, drop later writes and wake every blocked reader (they return what is
        still queued, then ``None``). Queued packets stay readable."""
        super().close()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- the test's side --------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Packets queued and not yet read."""
        with self._cond:
            return len(self._queue)

    def read(self, timeout: float | None = None) -> bytes | None:
        """Take the oldest packet the stack sent, as bytes.

        Blocks until one is queued; *timeout* (seconds) bounds the wait: ``None`` waits
        forever, ``0`` does not wait. Returns ``None`` on timeout, or at once when the
        channel is closed and empty. Must not be called with the stack lock held (it would
        wait for a packet that only a lock holder can send).
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._queue or self._closed, timeout):
                return None
            return self._queue.popleft() if self._queue else None

    def read_packet(self, timeout: float | None = None) -> Packet | None:
        """Like :meth:`read`, parsed with ``Packet.from_bytes`` (headers and checksums
        validated). Raises :class:`~usersock.wire.errors.MalformedPacket` if the stack sent
        something invalid: in a test, that is the failure to see."""
        data = self.read(timeout)
        return None if data is None else Packet.from_bytes(data)

    def drain(self) -> list[bytes]:
        """Take every queued packet at once, oldest first, without waiting."""
        with self._cond:
            items = list(self._queue)
            self._queue.clear()
            return items

    def inject(self, data: bytes) -> None:
        """Deliver raw IP bytes to the stack as if they had arrived on the wire.

        Call from any thread, without the stack lock or with it (the dispatcher takes the
        lock itself and only enqueues when the stack is already processing). Malformed
        bytes are the stack's to drop and count. Dropped and counted in
        ``dropped_inbound`` while the channel is detached.
        """
        dispatcher = self.dispatcher
        if dispatcher is None:
            self.dropped_inbound += 1
            return
        dispatcher.deliver_bytes(bytes(data))

    def inject_packet(self, packet: Packet) -> None:
        """Serialise *packet* (lengths and checksums filled) and :meth:`inject` it."""
        self.inject(packet.to_bytes())
