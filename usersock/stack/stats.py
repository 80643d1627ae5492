"""Per-stack counters: plain integers, bumped under the stack lock."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Stats:
    """What a stack has seen. ``dropped`` counts packets dropped, by reason
    (``"bad-checksum"``, ``"no-route"``, ``"no-listener"``...)."""

    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    tcp_segments_in: int = 0
    tcp_segments_out: int = 0
    tcp_retransmissions: int = 0
    tcp_resets_sent: int = 0
    tcp_active_opens: int = 0
    tcp_passive_opens: int = 0
    tcp_failed_attempts: int = 0
    udp_datagrams_in: int = 0
    udp_datagrams_out: int = 0
    icmp_in: int = 0
    icmp_out: int = 0
    malformed: int = 0
    internal_errors: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    def drop(self, reason: str) -> None:
        """Count one packet dropped for *reason*."""
        self.dropped[reason] += 1
