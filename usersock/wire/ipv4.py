"""IPv4 header (RFC 791)."""

from __future__ import annotations

from dataclasses import dataclass

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17


@dataclass(slots=True)
class IPv4Header:
    """A validated IPv4 header. Addresses are packed 4-byte ``bytes``.

    ``total_length`` and the header checksum are computed when built; ``options`` holds the
    raw option bytes (a multiple of 4 bytes when built).
    """

    src: bytes
    dst: bytes
    protocol: int
    ttl: int = 64
    tos: int = 0
    ident: int = 0
    dont_fragment: bool = True
    more_fragments: bool = False
    fragment_offset: int = 0
    options: bytes = b""
