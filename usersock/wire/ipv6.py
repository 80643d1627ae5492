"""IPv6 header (RFC 8200)."""

from __future__ import annotations

from dataclasses import dataclass

PROTO_ICMPV6 = 58


@dataclass(slots=True)
class IPv6Header:
    """A validated IPv6 header. Addresses are packed 16-byte ``bytes``.

    After parsing, ``next_header`` is the upper-layer protocol found after any extension
    headers (which are skipped); ``payload_length`` is computed when built.
    """

    src: bytes
    dst: bytes
    next_header: int
    hop_limit: int = 64
    traffic_class: int = 0
    flow_label: int = 0
