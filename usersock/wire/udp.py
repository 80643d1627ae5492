"""UDP header (RFC 768)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class UDPHeader:
    """A validated UDP header; length and checksum are computed when built."""

    src_port: int
    dst_port: int
