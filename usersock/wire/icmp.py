"""ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) headers.

Both share one layout: type, code, checksum, four type-specific bytes (``rest``), body. The
ICMPv4 checksum covers the message only (RFC 792); the ICMPv6 checksum also covers the IPv6
pseudo-header (RFC 4443 section 2.3). Parsers always verify the checksum.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from usersock.wire.checksum import Buffer, checksum, ones_sum, pseudo_header_sum
from usersock.wire.errors import MalformedPacket

PROTO_ICMP = 1
PROTO_ICMPV6 = 58
ICMP_HEADER = 8

# ICMPv4 types and codes used by the stack.
ICMPV4_ECHO_REPLY = 0
ICMPV4_DEST_UNREACHABLE = 3
ICMPV4_ECHO_REQUEST = 8
ICMPV4_TIME_EXCEEDED = 11
ICMPV4_CODE_NET_UNREACHABLE = 0
ICMPV4_CODE_HOST_UNREACHABLE = 1
ICMPV4_CODE_PROTO_UNREACHABLE = 2
ICMPV4_CODE_PORT_UNREACHABLE = 3

# ICMPv6 types and codes used by the stack.
ICMPV6_DEST_UNREACHABLE = 1
ICMPV6_PACKET_TOO_BIG = 2
ICMPV6_TIME_EXCEEDED = 3
ICMPV6_PARAM_PROBLEM = 4
ICMPV6_ECHO_REQUEST = 128
ICMPV6_ECHO_REPLY = 129
ICMPV6_CODE_NO_ROUTE = 0
ICMPV6_CODE_ADDR_UNREACHABLE = 3
ICMPV6_CODE_PORT_UNREACHABLE = 4
ICMPV6_CODE_UNRECOGNIZED_NEXT_HEADER = 1  # with ICMPV6_PARAM_PROBLEM


@dataclass(slots=True)
class ICMPv4Header:
    """ICMPv4 header: ``rest`` is the 4 bytes after the checksum (identifier and sequence
    for echo, unused or next-hop MTU for errors). The body follows as the payload."""

    type: int
    code: int
    rest: bytes = b"\x00\x00\x00\x00"


@dataclass(slots=True)
class ICMPv6Header:
    """ICMPv6 header; same shape as :class:`ICMPv4Header`, checksum over a pseudo-header."""

    type: int
    code: int
    rest: bytes = b"\x00\x00\x00\x00"


# type, code, checksum, rest.
_HEADER = struct.Struct("!BBH4s")


def _unpack(data: Buffer, family: str) -> tuple[int, int, bytes]:
    n = len(data)
    if n < ICMP_HEADER:
        raise MalformedPacket("truncated", f"{family} header needs 8 bytes, got {n}")
    kind, code, _csum, rest = _HEADER.unpack_from(data)
    return kind, code, rest


def _pack(kind: int, code: int, rest: bytes, family: str) -> bytes:
    if len(rest) != 4:
        raise ValueError(f"{family} rest must be 4 bytes, got {len(rest)}")
    try:
        return _HEADER.pack(kind, code, 0, rest)
    except struct.error as exc:
        raise ValueError(f"{family} header field out of range: {exc}") from None


def parse_icmpv4(data: Buffer) -> tuple[ICMPv4Header, memoryview]:
    """Parse an ICMPv4 message (RFC 792): *data* is the whole IP payload. Returns the header
    and the body as a view into *data*. Raises :class:`MalformedPacket` ``"truncated"`` or
    ``"bad-checksum"``."""
    kind, code, rest = _unpack(data, "ICMPv4")
    if checksum(data):
        raise MalformedPacket("bad-checksum", "ICMPv4 checksum")
    return ICMPv4Header(kind, code, rest), memoryview(data)[ICMP_HEADER:]


def parse_icmpv6(data: Buffer, src: bytes, dst: bytes) -> tuple[ICMPv6Header, memoryview]:
    """Parse an ICMPv6 message (RFC 4443 section 2.1): *data* is the upper-layer payload,
    *src* and *dst* the packed IPv6 addresses of the pseudo-header. Returns the header and
    the body as a view into *data*. Raises :class:`MalformedPacket` ``"truncated"`` or
    ``"bad-checksum"`` (RFC 4443 section 2.3)."""
    kind, code, rest = _unpack(data, "ICMPv6")
    if checksum(data, pseudo_header_sum(src, dst, PROTO_ICMPV6, len(data))):
        raise MalformedPacket("bad-checksum", "ICMPv6 checksum")
    return ICMPv6Header(kind, code, rest), memoryview(data)[ICMP_HEADER:]


def build_icmpv4_header(hdr: ICMPv4Header, payload: Buffer) -> bytes:
    """Build the 8-byte ICMPv4 header for *payload*, checksum filled (RFC 792). Raises
    :class:`ValueError` for a type or code out of 0..255 or ``rest`` not 4 bytes."""
    header = _pack(hdr.type, hdr.code, hdr.rest, "ICMPv4")
    csum = checksum(payload, ones_sum(header))
    return header[:2] + csum.to_bytes(2, "big") + header[4:]


def build_icmpv6_header(hdr: ICMPv6Header, payload: Buffer, src: bytes, dst: bytes) -> bytes:
    """Build the 8-byte ICMPv6 header for *payload*, checksum filled over the pseudo-header
    of *src* and *dst* (RFC 4443 section 2.3). Raises :class:`ValueError` as
    :func:`build_icmpv4_header`, or for addresses that are not 16 bytes."""
    if len(src) != 16 or len(dst) != 16:
        raise ValueError("ICMPv6 pseudo-header addresses must be 16 bytes")
    header = _pack(hdr.type, hdr.code, hdr.rest, "ICMPv6")
    pseudo = pseudo_header_sum(src, dst, PROTO_ICMPV6, ICMP_HEADER + len(payload))
    csum = checksum(payload, ones_sum(header, pseudo))
    return header[:2] + csum.to_bytes(2, "big") + header[4:]


def build_icmpv4(hdr: ICMPv4Header, payload: Buffer = b"") -> bytes:
    """Build an ICMPv4 message: header and *payload* (RFC 792)."""
    return build_icmpv4_header(hdr, payload) + payload


def build_icmpv6(hdr: ICMPv6Header, payload: Buffer, src: bytes, dst: bytes) -> bytes:
    """Build an ICMPv6 message: header and *payload* (RFC 4443 section 2.1)."""
    return build_icmpv6_header(hdr, payload, src, dst) + payload
