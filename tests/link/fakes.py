"""Test doubles for link tests: a dispatcher with a manual clock, and packet factories."""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable

from usersock.link.base import LinkEndpoint
from usersock.wire.icmp import ICMPV6_ECHO_REQUEST, PROTO_ICMPV6, ICMPv6Header
from usersock.wire.ipv4 import IPv4Header
from usersock.wire.ipv6 import IPv6Header
from usersock.wire.packet import Packet
from usersock.wire.tcp import ACK, PROTO_TCP, PSH, SYN, TCPHeader, TCPOptions
from usersock.wire.udp import PROTO_UDP, UDPHeader

V4_A = bytes([192, 168, 1, 1])
V4_B = bytes([192, 168, 1, 2])
V6_A = bytes.fromhex("20010db8000000000000000000000001")
V6_B = bytes.fromhex("20010db8000000000000000000000002")


class FakeDispatcher:
    """Records what a link delivers, in order, with the (manual) time of delivery.

    ``call_later`` callbacks wait in a heap until :meth:`advance` or :meth:`run_all` runs
    them, each at its own instant, ties in the order they were scheduled.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.time = start
        self.arrivals: list[Packet | bytes] = []
        self.arrival_times: list[float] = []
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self.wake = threading.Condition(self._lock)

    @property
    def packets(self) -> list[Packet]:
        return [a for a in self.arrivals if isinstance(a, Packet)]

    @property
    def raw(self) -> list[bytes]:
        return [a for a in self.arrivals if isinstance(a, bytes)]

    def deliver_packet(self, packet: Packet) -> None:
        self._record(packet)

    def deliver_bytes(self, data: bytes) -> None:
        self._record(data)

    def _record(self, item: Packet | bytes) -> None:
        with self.wake:
            self.arrivals.append(item)
            self.arrival_times.append(self.time)
            self.wake.notify_all()

    def now(self) -> float:
        return self.time

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        assert delay >= 0
        heapq.heappush(self._timers, (self.time + delay, next(self._seq), callback))

    @property
    def pending_timers(self) -> int:
        return len(self._timers)

    def advance(self, seconds: float) -> None:
        target = self.time + seconds
        while self._timers and self._timers[0][0] <= target:
            when, _, callback = heapq.heappop(self._timers)
            self.time = max(self.time, when)
            callback()
        self.time = target

    def run_all(self) -> None:
        while self._timers:
            self.advance(max(0.0, self._timers[0][0] - self.time))


class RecordingLink(LinkEndpoint):
    """A link that keeps what is written to it and has no ``write_bytes``."""

    def __init__(self, mtu: int = 1500) -> None:
        super().__init__()
        self.mtu = mtu
        self.written: list[Packet] = []
        self.closed = False

    def write_packet(self, packet: Packet) -> None:
        self.written.append(packet)

    def close(self) -> None:
        self.closed = True
        super().close()


def tcp4(
    seq: int = 1000,
    flags: int = ACK,
    payload: bytes = b"",
    *,
    src_port: int = 40000,
    dst_port: int = 80,
    options: TCPOptions | None = None,
) -> Packet:
    hdr = TCPHeader(src_port, dst_port, seq, 2000 if flags & ACK else 0, flags, 65535)
    if options is not None:
        hdr.options = options
    return Packet(IPv4Header(V4_A, V4_B, PROTO_TCP, ident=seq & 0xFFFF), hdr, payload)


def tcp6(seq: int = 1000, flags: int = ACK | PSH, payload: bytes = b"hello") -> Packet:
    hdr = TCPHeader(40000, 443, seq, 7, flags, 1024)
    return Packet(IPv6Header(V6_A, V6_B, PROTO_TCP), hdr, payload)


def udp4(payload: bytes = b"ping") -> Packet:
    return Packet(IPv4Header(V4_A, V4_B, PROTO_UDP), UDPHeader(5353, 53), payload)


def udp6(payload: bytes = b"ping6") -> Packet:
    return Packet(IPv6Header(V6_A, V6_B, PROTO_UDP), UDPHeader(5353, 53), payload)


def icmp6_echo(payload: bytes = b"abc") -> Packet:
    hdr = ICMPv6Header(ICMPV6_ECHO_REQUEST, 0, b"\x12\x34\x00\x01")
    return Packet(IPv6Header(V6_A, V6_B, PROTO_ICMPV6), hdr, payload)


def syn4() -> Packet:
    return tcp4(seq=1, flags=SYN, options=TCPOptions(mss=1460, wscale=7, sack_permitted=True))


def sample_packets() -> list[Packet]:
    """One of each kind the link tests serialise."""
    return [syn4(), tcp4(payload=b"x" * 100), tcp6(), udp4(), udp6(), icmp6_echo()]
