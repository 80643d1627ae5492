"""Seeded fault injection on the packets a stack writes out through a link.

Theory of operation: ``Faults(inner, ...)`` is a :class:`LinkEndpoint` the stack writes to;
it passes each packet on to *inner* after applying, in this order:

1. **loss** — drop it;
2. **reorder** — hold it back until the next packet that is not held has gone out (or, so
   nothing is ever stuck, until ``reorder_timeout`` seconds have passed);
3. **duplicate** — send it twice;
4. **corrupt** (per copy) — serialise it and flip one bit that a receiver is bound to catch:
   for IPv4 any bit after the first byte (covered by the IPv4 header checksum or by the
   TCP/UDP/ICMP checksum), for IPv6 any bit from the source address on (covered by the
   upper-layer checksum through its pseudo-header; the one escape is an IPv4 UDP checksum
   of a single set bit flipped to 0, "no checksum", odds below one in a million). A packet
   whose transport the wire layer does not parse gets the bit in the IPv4 header, or the
   IPv6 version nibble;
5. **delay**, **jitter** and **rate** (per copy) — hand it on later through the NIC
   dispatcher's ``call_later``: ``delay`` plus a uniform draw in ``[-jitter, +jitter]``
   (clamped at 0, so, as with netem, jitter alone can reorder), plus the wait for the
   serialisation of the packets ahead of it at ``rate`` bytes per second.

Corrupted bytes cannot travel as a ``Packet``, so they go to ``inner.write_bytes`` when the
inner link has that method: :class:`~usersock.link.channel.Channel` queues them for the test
and :class:`~usersock.link.loopback.Loopback` hands them to its NIC's ``deliver_bytes`` (on
an in-process loopback, corruption is modelled as the corrupted bytes arriving at the same
NIC, which verifies checksums and drops and counts them). For an inner link without
``write_bytes`` the bytes are reparsed and, since they fail validation, dropped here.

Faults apply to the outbound direction only; inbound packets reach the dispatcher untouched
(``attach`` passes straight through to *inner*). To fault both directions of a path, wrap the
link at each end.

Replay: every random decision is drawn from the link's own ``random.Random(seed)`` in
``write_packet``, in a fixed order and only for the faults that are enabled, so the same seed
and the same packet sequence make the same decisions however the timers happen to fire.

Locking: ``write_packet`` and the ``call_later`` callbacks run with the stack lock held, which
also guards this link's state.

Counters (plain integers): ``sent`` copies handed to *inner*, ``dropped`` (lost, written while
detached or closed, or corrupted beyond delivery), ``duplicated``, ``reordered``, ``delayed``
(copies handed on through ``call_later``) and ``corrupted``.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from usersock.link.base import LinkEndpoint, NetworkDispatcher
from usersock.wire.errors import MalformedPacket
from usersock.wire.ipv4 import IPv4Header
from usersock.wire.packet import Packet

_IPV6_SRC_OFFSET = 8


@dataclass(slots=True)
class _Copy:
    """One copy of a packet on its way out: its corrupted bytes, if any, and its jitter."""

    packet: Packet
    corrupted: bytes | None = None
    jitter: float = 0.0


class Faults(LinkEndpoint):
    """Drop, reorder, duplicate, corrupt, delay and rate-limit packets written to *inner*.

    Probabilities are in ``[0, 1]``; ``delay``, ``jitter`` and ``reorder_timeout`` are
    seconds; ``rate`` is bytes per second (``None``: unlimited). ``seed=None`` seeds from the
    OS (no replay). Same ``mtu`` and ``checksum_offload`` as *inner*. Raises ``ValueError``
    for an argument out of range.
    """

    def __init__(
        self,
        inner: LinkEndpoint,
        *,
        seed: int | None = 0,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        delay: float = 0.0,
        jitter: float = 0.0,
        corrupt: float = 0.0,
        rate: float | None = None,
        reorder_timeout: float = 0.01,
    ) -> None:
        super().__init__()
        for name, value in (
            ("loss", loss),
            ("duplicate", duplicate),
            ("reorder", reorder),
            ("corrupt", corrupt),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], not {value!r}")
        for name, value in (("delay", delay), ("jitter", jitter)):
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, not {value!r}")
        if not (math.isfinite(reorder_timeout) and reorder_timeout > 0.0):
            raise ValueError(f"reorder_timeout must be finite and > 0, not {reorder_timeout!r}")
        if rate is not None and not (math.isfinite(rate) and rate > 0.0):
            raise ValueError(f"rate must be a finite number of bytes/s > 0, not {rate!r}")
        self.inner = inner
        self.mtu = inner.mtu
        self.checksum_offload = inner.checksum_offload
        self.seed = seed
        self.loss = loss
        self.duplicate = duplicate
        self.reorder = reorder
        self.delay = delay
        self.jitter = jitter
        self.corrupt = corrupt
        self.rate = rate
        self.reorder_timeout = reorder_timeout
        self.sent = 0
        self.dropped = 0
        self.duplicated = 0
        self.reordered = 0
        self.delayed = 0
        self.corrupted = 0
        self._random = random.Random(seed)
        self._held: dict[int, list[_Copy]] = {}  # token -> copies, oldest first
        self._held_token = 0
        self._busy_until = -math.inf
        self._closed = False

    def attach(self, dispatcher: NetworkDispatcher | None) -> None:
        """Attach this link and *inner* to *dispatcher* (inbound passes through)."""
        self.dispatcher = dispatcher
        self.inner.attach(dispatcher)

    def close(self) -> None:
        """Close *inner*; the held packet and packets still delayed are dropped."""
        self._closed = True
        self.dropped += sum(len(plan) for plan in self._held.values())
        self._held.clear()
        self.inner.close()
        super().close()

    def write_packet(self, packet: Packet) -> None:
        """Apply the faults to *packet* and pass what survives on to *inner*, now or later.

        Called with the stack lock held. Raises what *inner* raises. Dropped and counted when
        detached or closed.
        """
        dispatcher = self.dispatcher
        if dispatcher is None or self._closed:
            self.dropped += 1
            return
        rng = self._random
        if self.loss and rng.random() < self.loss:
            self.dropped += 1
            return
        hold = bool(self.reorder) and rng.random() < self.reorder
        copies = [packet, packet] if self.duplicate and rng.random() < self.duplicate else [packet]
        if len(copies) == 2:
            self.duplicated += 1
        plan = [self._plan_copy(p) for p in copies]
        if hold:
            self.reordered += 1
            self._held_token += 1
            self._held[self._held_token] = plan
            dispatcher.call_later(
                self.reorder_timeout, functools.partial(self._release_held, self._held_token)
            )
            return
        self._transmit(plan)
        while self._held:
            self._release_held(next(iter(self._held)))

    def write_bytes(self, data: bytes) -> None:
        """Pass raw bytes straight to *inner* (no faults applied), for stacked wrappers.
        Called with the stack lock held."""
        self._send_bytes(data)

    # -- internals ----------------------------------------------------------------------------

    def _plan_copy(self, packet: Packet) -> _Copy:
        copy = _Copy(packet)
        rng = self._random
        if self.corrupt and rng.random() < self.corrupt:
            self.corrupted += 1
            copy.corrupted = corrupt_bytes(packet, rng)
        if self.jitter:
            copy.jitter = rng.uniform(-self.jitter, self.jitter)
        return copy

    def _release_held(self, token: int) -> None:
        """Send the packet held under *token*, unless it is already gone (a stale timer)."""
        plan = self._held.pop(token, None)
        if plan is not None:
            self._transmit(plan)

    def _transmit(self, plan: list[_Copy]) -> None:
        dispatcher = self.dispatcher
        for copy in plan:
            wait = max(0.0, self.delay + copy.jitter)
            if self.rate is not None and dispatcher is not None:
                now = dispatcher.now()
                size = (
                    len(copy.corrupted)
                    if copy.corrupted is not None
                    else len(copy.packet.to_bytes())
                )
                self._busy_until = max(now, self._busy_until) + size / self.rate
                wait += self._busy_until - now
            if wait > 0.0 and dispatcher is not None:
                self.delayed += 1
                dispatcher.call_later(wait, functools.partial(self._emit, copy))
            else:
                self._emit(copy)

    def _emit(self, copy: _Copy) -> None:
        if self._closed:
            self.dropped += 1
        elif copy.corrupted is None:
            self.sent += 1
            self.inner.write_packet(copy.packet)
        else:
            self._send_bytes(copy.corrupted)

    def _send_bytes(self, data: bytes) -> None:
        write_bytes: Callable[[bytes], None] | None = getattr(self.inner, "write_bytes", None)
        if write_bytes is not None:
            self.sent += 1
            write_bytes(data)
            return
        try:
            packet = Packet.from_bytes(data)
        except MalformedPacket:
            self.dropped += 1
            return
        self.sent += 1
        self.inner.write_packet(packet)


def corrupt_bytes(packet: Packet, rng: random.Random) -> bytes:
    """Serialise *packet* and flip one bit, drawn from *rng*, that validation must catch
    (see the module docstring for which bits). Raises nothing for a well-formed packet."""
    data = bytearray(packet.to_bytes())
    if isinstance(packet.net, IPv4Header):
        end = len(data) if packet.transport is not None else (data[0] & 0x0F) * 4
        bit = rng.randrange(8, end * 8)
    elif packet.transport is not None:
        bit = rng.randrange(_IPV6_SRC_OFFSET * 8, len(data) * 8)
    else:
        # Version 6 becomes 7, 2 or 14 (never 4, which would be read as IPv4).
        bit = rng.choice((3, 1, 0))
    data[bit >> 3] ^= 0x80 >> (bit & 7)
    return bytes(data)
