"""IPv4 header (RFC 791 section 3.1).

:func:`parse_ipv4` validates a received header once (version, IHL, total length against the
buffer, option framing, header checksum) and refuses fragments: usersock does not reassemble,
so a fragment is dropped as ``MalformedPacket("fragmented")``. :func:`build_ipv4` emits the
header only; the caller appends the payload (so a large payload is copied once, by whoever
joins the pieces).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from usersock.wire.checksum import Buffer, checksum
from usersock.wire.errors import MalformedPacket

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17

IPV4_MIN_HEADER = 20
IPV4_MAX_HEADER = 60
IPV4_MAX_TOTAL = 0xFFFF

# Flags and fragment offset share one 16-bit field (RFC 791 section 3.1).
_FLAG_RESERVED = 0x8000
_FLAG_DF = 0x4000
_FLAG_MF = 0x2000
_OFFSET_MASK = 0x1FFF

# version/IHL, TOS, total length, identification, flags/offset, TTL, protocol, checksum,
# source, destination.
_HEADER = struct.Struct("!BBHHHBBH4s4s")
_U16 = struct.Struct("!H")


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


def _option_error(options: Buffer) -> str | None:
    """Check the framing of IPv4 options (RFC 791 section 3.1, "Options"): End of Option
    List (0) ends the list, No Operation (1) is one byte, every other option is
    type, length (>= 2), data, and lies inside the header. Returns what is wrong, or None."""
    end = len(options)
    i = 0
    while i < end:
        kind = options[i]
        if kind == 0:
            return None
        if kind == 1:
            i += 1
            continue
        if i + 1 >= end:
            return f"option {kind} has no length byte"
        length = options[i + 1]
        if length < 2 or i + length > end:
            return f"option {kind} has bad length {length}"
        i += length
    return None


def parse_ipv4(data: Buffer) -> tuple[IPv4Header, memoryview]:
    """Parse and validate an IPv4 header at the start of *data*.

    Returns the header and the payload as a view into *data*, trimmed to the total length
    (bytes after it, such as link padding, are ignored). Raises :class:`MalformedPacket`
    with reason ``"truncated"`` (buffer shorter than the header or the total length),
    ``"bad-version"``, ``"bad-header-length"`` (IHL < 5), ``"bad-length"`` (total length
    shorter than the header), ``"bad-flags"`` (reserved flag set), ``"fragmented"`` (MF set
    or a fragment offset: RFC 791 section 3.2 reassembly is not implemented),
    ``"bad-option"`` or ``"bad-checksum"`` (RFC 791 section 3.1, "Header Checksum").
    """
    n = len(data)
    if n < IPV4_MIN_HEADER:
        raise MalformedPacket("truncated", f"IPv4 header needs 20 bytes, got {n}")
    (vihl, tos, total, ident, frag, ttl, protocol, _csum, src, dst) = _HEADER.unpack_from(data)
    if vihl >> 4 != 4:
        raise MalformedPacket("bad-version", f"IPv4 version field is {vihl >> 4}")
    ihl = (vihl & 0x0F) << 2
    if ihl < IPV4_MIN_HEADER:
        raise MalformedPacket("bad-header-length", f"IHL {ihl >> 2} < 5")
    if total < ihl:
        raise MalformedPacket("bad-length", f"total length {total} < header length {ihl}")
    if total > n:
        raise MalformedPacket("truncated", f"total length {total} > {n} bytes received")
    if frag & _FLAG_RESERVED:
        raise MalformedPacket("bad-flags", "reserved IPv4 flag set")
    if frag & (_FLAG_MF | _OFFSET_MASK):
        raise MalformedPacket("fragmented", f"flags/offset 0x{frag:04x}")
    if checksum(data[:ihl]):
        raise MalformedPacket("bad-checksum", "IPv4 header checksum")
    if ihl > IPV4_MIN_HEADER:
        options = bytes(data[IPV4_MIN_HEADER:ihl])
        problem = _option_error(options)
        if problem is not None:
            raise MalformedPacket("bad-option", problem)
    else:
        options = b""
    header = IPv4Header(
        src, dst, protocol, ttl, tos, ident, bool(frag & _FLAG_DF), False, 0, options
    )
    return header, memoryview(data)[ihl:total]


def build_ipv4(hdr: IPv4Header, payload_len: int) -> bytes:
    """Build the IPv4 header for a payload of *payload_len* bytes, with total length and
    header checksum filled (RFC 791 section 3.1). Returns the header only.

    Raises :class:`ValueError` for a field out of range, addresses that are not 4 bytes,
    options that are not a multiple of 4 bytes, longer than 40 bytes or badly framed, or a
    total length above 65535. Fragment fields are emitted as given (a test may want to send
    a fragment), although :func:`parse_ipv4` refuses them.
    """
    options = hdr.options
    olen = len(options)
    if olen:
        if olen & 3 or olen > IPV4_MAX_HEADER - IPV4_MIN_HEADER:
            raise ValueError(f"IPv4 options must be a multiple of 4 and <= 40 bytes: {olen}")
        problem = _option_error(options)
        if problem is not None:
            raise ValueError(f"bad IPv4 options: {problem}")
    if len(hdr.src) != 4 or len(hdr.dst) != 4:
        raise ValueError("IPv4 addresses must be 4 bytes")
    offset = hdr.fragment_offset
    if not 0 <= offset <= _OFFSET_MASK:
        raise ValueError(f"IPv4 fragment offset out of range: {offset}")
    ihl = IPV4_MIN_HEADER + olen
    if payload_len < 0 or ihl + payload_len > IPV4_MAX_TOTAL:
        raise ValueError(f"IPv4 payload length out of range: {payload_len}")
    frag = offset
    if hdr.dont_fragment:
        frag |= _FLAG_DF
    if hdr.more_fragments:
        frag |= _FLAG_MF
    try:
        header = _HEADER.pack(
            0x40 | (ihl >> 2),
            hdr.tos,
            ihl + payload_len,
            hdr.ident,
            frag,
            hdr.ttl,
            hdr.protocol,
            0,
            hdr.src,
            hdr.dst,
        )
    except struct.error as exc:
        raise ValueError(f"IPv4 header field out of range: {exc}") from None
    if olen:
        header += options
    return header[:10] + _U16.pack(checksum(header)) + header[12:]
