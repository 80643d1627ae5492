"""UDP header (RFC 768).

The checksum covers the pseudo-header, the UDP header and the data. Over IPv4 a zero checksum
field means "no checksum" (RFC 768); over IPv6 the checksum is mandatory and a zero field is
an error (RFC 8200 section 8.1). A computed checksum of zero is sent as ``0xFFFF``, its
ones'-complement equal.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from usersock.wire.checksum import Buffer, checksum, ones_sum, pseudo_header_sum
from usersock.wire.errors import MalformedPacket

PROTO_UDP = 17
UDP_HEADER = 8
UDP_MAX_PAYLOAD = 0xFFFF - UDP_HEADER

# source port, destination port, length, checksum.
_HEADER = struct.Struct("!HHHH")


@dataclass(slots=True)
class UDPHeader:
    """A validated UDP header; length and checksum are computed when built."""

    src_port: int
    dst_port: int


def parse_udp(
    data: Buffer, src: bytes | None = None, dst: bytes | None = None
) -> tuple[UDPHeader, memoryview]:
    """Parse and validate a UDP datagram (RFC 768): *data* is the whole IP payload.

    Returns the header and the data as a view into *data*, trimmed to the UDP length. With
    both *src* and *dst* (packed IP addresses) the checksum is verified (see the module
    docstring for the zero field). Raises :class:`MalformedPacket` with reason
    ``"truncated"`` (buffer shorter than 8 bytes or than the UDP length), ``"bad-length"``
    (UDP length < 8) or ``"bad-checksum"``.
    """
    n = len(data)
    if n < UDP_HEADER:
        raise MalformedPacket("truncated", f"UDP header needs 8 bytes, got {n}")
    sport, dport, length, csum = _HEADER.unpack_from(data)
    if length < UDP_HEADER:
        raise MalformedPacket("bad-length", f"UDP length {length} < 8")
    if length > n:
        raise MalformedPacket("truncated", f"UDP length {length} > {n} bytes received")
    view = memoryview(data)
    if src is not None and dst is not None:
        if csum == 0:
            if len(src) == 16:
                raise MalformedPacket("bad-checksum", "zero UDP checksum over IPv6")
        elif checksum(view[:length], pseudo_header_sum(src, dst, PROTO_UDP, length)):
            raise MalformedPacket("bad-checksum", "UDP checksum")
    return UDPHeader(sport, dport), view[UDP_HEADER:length]


def build_udp_header(
    hdr: UDPHeader, payload: Buffer, src: bytes | None = None, dst: bytes | None = None
) -> bytes:
    """Build the 8-byte UDP header for *payload*, with the checksum filled when both *src*
    and *dst* are given, else 0 ("no checksum", IPv4 only). Raises :class:`ValueError` for
    a port out of range or a payload longer than 65527 bytes."""
    length = UDP_HEADER + len(payload)
    if length > 0xFFFF:
        raise ValueError(f"UDP payload too long: {len(payload)} bytes")
    try:
        header = _HEADER.pack(hdr.src_port, hdr.dst_port, length, 0)
    except struct.error as exc:
        raise ValueError(f"UDP header field out of range: {exc}") from None
    if src is None or dst is None:
        return header
    partial = ones_sum(header, pseudo_header_sum(src, dst, PROTO_UDP, length))
    csum = checksum(payload, partial) or 0xFFFF
    return header[:6] + csum.to_bytes(2, "big")


def build_udp(
    hdr: UDPHeader, payload: Buffer = b"", src: bytes | None = None, dst: bytes | None = None
) -> bytes:
    """Build a UDP datagram: header and *payload* (RFC 768). Raises :class:`ValueError` as
    :func:`build_udp_header`."""
    return build_udp_header(hdr, payload, src, dst) + payload
