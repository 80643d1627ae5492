"""IPv6 header (RFC 8200 section 3) and the extension headers usersock skips.

:func:`parse_ipv6` walks the extension header chain (RFC 8200 section 4) to the upper-layer
protocol: Hop-by-Hop Options (0, only directly after the IPv6 header, section 4.3), Routing
(43, section 4.4) and Destination Options (60, section 4.6) are checked and skipped. The chain
is bounded (:data:`MAX_EXTENSION_HEADERS`) and every length is checked against the payload
length. A Fragment header (44) raises ``MalformedPacket("fragmented")``: reassembly is not
implemented. Option TLVs are framed-checked, and an unrecognised option whose type asks for
the packet to be discarded (high-order bits not ``00``, section 4.2) makes the packet
malformed. A Routing header with Segments Left > 0 means this host is not the final
destination, which usersock never forwards for: malformed as well (section 4.4).

:func:`build_ipv6` emits the fixed 40-byte header only; usersock sends no extension headers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from usersock.wire.checksum import Buffer
from usersock.wire.errors import MalformedPacket

PROTO_ICMPV6 = 58

IPV6_HEADER = 40
IPV6_MAX_PAYLOAD = 0xFFFF

EXT_HOP_BY_HOP = 0
EXT_ROUTING = 43
EXT_FRAGMENT = 44
EXT_DEST_OPTIONS = 60
NO_NEXT_HEADER = 59

#: At most this many skippable extension headers before the upper layer (RFC 8200 section
#: 4.1 recommends at most one of each, destination options twice).
MAX_EXTENSION_HEADERS = 8

_SKIPPED = frozenset((EXT_HOP_BY_HOP, EXT_ROUTING, EXT_DEST_OPTIONS))
_OPT_PAD1 = 0
_OPT_PADN = 1
_OPT_ROUTER_ALERT = 5  # RFC 2711; meaningless to a host, safe to skip

# version/traffic class/flow label, payload length, next header, hop limit, source, dest.
_HEADER = struct.Struct("!IHBB16s16s")


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


def _check_tlv_options(data: Buffer, start: int, end: int) -> None:
    """Check the options of a Hop-by-Hop or Destination Options header (RFC 8200 section
    4.2): Pad1 is one byte, every other option is type, length, data, inside the header; an
    unrecognised type whose two high-order bits are not ``00`` requires a discard."""
    i = start
    while i < end:
        kind = data[i]
        if kind == _OPT_PAD1:
            i += 1
            continue
        if i + 1 >= end:
            raise MalformedPacket("bad-option", f"IPv6 option {kind} has no length byte")
        nxt = i + 2 + data[i + 1]
        if nxt > end:
            raise MalformedPacket("bad-option", f"IPv6 option {kind} overruns its header")
        if kind >> 6 and kind != _OPT_PADN and kind != _OPT_ROUTER_ALERT:
            raise MalformedPacket("bad-option", f"unrecognised IPv6 option 0x{kind:02x}")
        i = nxt


def _skip_extensions(data: Buffer, next_header: int, end: int) -> tuple[int, int]:
    """Skip the extension headers starting at offset 40; return the upper-layer protocol
    and the offset of its header."""
    offset = IPV6_HEADER
    count = 0
    while next_header in _SKIPPED:
        if next_header == EXT_HOP_BY_HOP and count:
            raise MalformedPacket("bad-extension", "hop-by-hop header not first")
        if count == MAX_EXTENSION_HEADERS:
            raise MalformedPacket("bad-extension", "extension header chain too long")
        if offset + 8 > end:
            raise MalformedPacket("truncated", f"extension header {next_header} truncated")
        length = (data[offset + 1] + 1) << 3
        if offset + length > end:
            raise MalformedPacket("truncated", f"extension header {next_header} overruns")
        if next_header == EXT_ROUTING:
            if data[offset + 3]:
                raise MalformedPacket("bad-extension", "routing header with segments left")
        else:
            _check_tlv_options(data, offset + 2, offset + length)
        next_header = data[offset]
        offset += length
        count += 1
    return next_header, offset


def parse_ipv6(data: Buffer) -> tuple[IPv6Header, memoryview]:
    """Parse and validate an IPv6 header and its extension headers at the start of *data*.

    Returns the header, whose ``next_header`` is the upper-layer protocol, and the
    upper-layer payload as a view into *data*, trimmed to the payload length. Raises
    :class:`MalformedPacket` with reason ``"truncated"`` (buffer shorter than 40 bytes plus
    the payload length, or an extension header overrunning it), ``"bad-version"``,
    ``"fragmented"``, ``"bad-extension"`` or ``"bad-option"`` (see the module docstring).
    Jumbograms (RFC 2675) are not supported: their hop-by-hop option is unrecognised.
    """
    n = len(data)
    if n < IPV6_HEADER:
        raise MalformedPacket("truncated", f"IPv6 header needs 40 bytes, got {n}")
    word, plen, next_header, hop_limit, src, dst = _HEADER.unpack_from(data)
    if word >> 28 != 6:
        raise MalformedPacket("bad-version", f"IPv6 version field is {word >> 28}")
    end = IPV6_HEADER + plen
    if end > n:
        raise MalformedPacket("truncated", f"payload length {plen} > {n - IPV6_HEADER}")
    offset = IPV6_HEADER
    if next_header in _SKIPPED:
        next_header, offset = _skip_extensions(data, next_header, end)
    if next_header == EXT_FRAGMENT:
        raise MalformedPacket("fragmented", "IPv6 fragment header")
    header = IPv6Header(src, dst, next_header, hop_limit, (word >> 20) & 0xFF, word & 0xFFFFF)
    return header, memoryview(data)[offset:end]


def build_ipv6(hdr: IPv6Header, payload_len: int) -> bytes:
    """Build the fixed IPv6 header (RFC 8200 section 3) for a payload of *payload_len*
    bytes. Raises :class:`ValueError` for a field out of range, addresses that are not 16
    bytes, or a payload longer than 65535 bytes."""
    if len(hdr.src) != 16 or len(hdr.dst) != 16:
        raise ValueError("IPv6 addresses must be 16 bytes")
    tclass = hdr.traffic_class
    flow = hdr.flow_label
    if not 0 <= tclass <= 0xFF:
        raise ValueError(f"IPv6 traffic class out of range: {tclass}")
    if not 0 <= flow <= 0xFFFFF:
        raise ValueError(f"IPv6 flow label out of range: {flow}")
    try:
        return _HEADER.pack(
            0x60000000 | (tclass << 20) | flow,
            payload_len,
            hdr.next_header,
            hdr.hop_limit,
            hdr.src,
            hdr.dst,
        )
    except struct.error as exc:
        raise ValueError(f"IPv6 header field out of range: {exc}") from None
