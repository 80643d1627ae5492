"""TCP header and options (RFC 9293 section 3.1, RFC 7323, RFC 2018).

Parsing (:func:`parse_tcp`) checks the data offset, option framing, flag sanity and, when the
addresses are given, the checksum over the pseudo-header. The reserved bits of the header
(including the former NS/AE bit) are ignored, as RFC 9293 section 3.1 requires of a receiver.

Options are built in one fixed layout, the one Linux uses (``tcp_options_write``), so every
option lands 4-byte aligned with NOP padding only and no EOL is ever needed::

    MSS(4)  [SACK-permitted(2) TS(10) | NOP NOP TS(10) | NOP NOP SACK-permitted(2)]
    NOP WScale(3)  NOP NOP SACK(2 + 8n)

A SYN with every option is therefore ``mss, sackOK, TS, nop, wscale`` (20 bytes). The option
space is 40 bytes, so SACK blocks fit 4 at most without timestamps, 3 with timestamps, and 2
on a SYN carrying every option; :func:`build_options` raises :class:`ValueError` beyond that.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from usersock.wire.checksum import Buffer, checksum, ones_sum, pseudo_header_sum
from usersock.wire.errors import MalformedPacket

FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20
ECE = 0x40
CWR = 0x80

PROTO_TCP = 6
TCP_MIN_HEADER = 20
TCP_MAX_OPTIONS = 40

# Option kinds (IANA "TCP Option Kind Numbers").
OPT_EOL = 0
OPT_NOP = 1
OPT_MSS = 2  # RFC 9293 section 3.2
OPT_WSCALE = 3  # RFC 7323 section 2
OPT_SACK_PERMITTED = 4  # RFC 2018 section 2
OPT_SACK = 5  # RFC 2018 section 3
OPT_TIMESTAMPS = 8  # RFC 7323 section 3

#: Largest shift count honoured; RFC 7323 section 2.3: a larger one is used as 14.
MAX_WSCALE = 14

# source port, destination port, seq, ack, data offset/reserved, flags, window, checksum,
# urgent pointer.
_HEADER = struct.Struct("!HHIIBBHHH")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_TWO_U32 = struct.Struct("!II")
_MSS = struct.Struct("!BBH")
_TS_OPTION = struct.Struct("!BBII")
_TS_ALONE = b"\x01\x01\x08\x0a"  # NOP NOP TS: every data segment of a timestamps connection


@dataclass(slots=True, frozen=True)
class TCPOptions:
    """The TCP options usersock understands; unknown kinds are skipped when parsing.

    ``timestamps`` is ``(tsval, tsecr)``; ``sack_blocks`` are ``(left, right)`` edges.
    Instances are immutable (frozen): :data:`NO_OPTIONS` is shared, and is the default of
    :attr:`TCPHeader.options` (a dataclass default must be hashable). Use
    ``dataclasses.replace`` to derive a variant.
    """

    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False
    timestamps: tuple[int, int] | None = None
    sack_blocks: tuple[tuple[int, int], ...] = ()


NO_OPTIONS = TCPOptions()


@dataclass(slots=True)
class TCPHeader:
    """A validated TCP header. ``flags`` is a bit mask of :data:`FIN`, :data:`SYN`...;
    ``window`` is the raw 16-bit field (unscaled). Data offset and checksum are computed
    when built."""

    src_port: int
    dst_port: int
    seq: int
    ack: int
    flags: int
    window: int
    urgent: int = 0
    options: TCPOptions = NO_OPTIONS


def _bad_option(kind: int, detail: str) -> MalformedPacket:
    return MalformedPacket("bad-option", f"TCP option {kind}: {detail}")


def parse_options(opts: bytes) -> TCPOptions:
    """Parse TCP option bytes (RFC 9293 section 3.2): EOL ends the list, NOP is one byte,
    every other option is kind, length (>= 2), data and must lie inside the header. The
    known kinds must have their fixed length (MSS 4, window scale 3, SACK-permitted 2,
    timestamps 10, SACK 2 + 8n with n >= 1); unknown kinds are skipped; a later duplicate
    wins. A window scale above 14 is read as 14 (RFC 7323 section 2.3). Raises
    :class:`MalformedPacket` ``"bad-option"``."""
    end = len(opts)
    if end == 12 and opts[:4] == _TS_ALONE:
        return TCPOptions(timestamps=_TWO_U32.unpack_from(opts, 4))
    mss: int | None = None
    wscale: int | None = None
    sack_permitted = False
    timestamps: tuple[int, int] | None = None
    sack_blocks: tuple[tuple[int, int], ...] = ()
    i = 0
    while i < end:
        kind = opts[i]
        if kind == OPT_EOL:
            break
        if kind == OPT_NOP:
            i += 1
            continue
        if i + 1 >= end:
            raise _bad_option(kind, "no length byte")
        length = opts[i + 1]
        if length < 2 or i + length > end:
            raise _bad_option(kind, f"bad length {length}")
        if kind == OPT_MSS:
            if length != 4:
                raise _bad_option(kind, f"length {length} != 4")
            mss = _U16.unpack_from(opts, i + 2)[0]
        elif kind == OPT_WSCALE:
            if length != 3:
                raise _bad_option(kind, f"length {length} != 3")
            wscale = min(opts[i + 2], MAX_WSCALE)
        elif kind == OPT_SACK_PERMITTED:
            if length != 2:
                raise _bad_option(kind, f"length {length} != 2")
            sack_permitted = True
        elif kind == OPT_TIMESTAMPS:
            if length != 10:
                raise _bad_option(kind, f"length {length} != 10")
            timestamps = _TWO_U32.unpack_from(opts, i + 2)
        elif kind == OPT_SACK:
            if length < 10 or (length - 2) & 7:
                raise _bad_option(kind, f"length {length} is not 2 + 8n")
            sack_blocks = tuple(_TWO_U32.unpack_from(opts, j) for j in range(i + 2, i + length, 8))
        i += length
    return TCPOptions(mss, wscale, sack_permitted, timestamps, sack_blocks)


def build_options(options: TCPOptions) -> bytes:
    """Build option bytes in the fixed layout of the module docstring, a multiple of 4
    bytes. Raises :class:`ValueError` for a value out of range (MSS 16-bit, window scale
    0..14, timestamps and SACK edges 32-bit) or options longer than 40 bytes."""
    if options is NO_OPTIONS:
        return b""
    parts: list[bytes] = []
    try:
        if options.mss is not None:
            parts.append(_MSS.pack(OPT_MSS, 4, options.mss))
        timestamps = options.timestamps
        if timestamps is not None:
            parts.append(b"\x04\x02" if options.sack_permitted else b"\x01\x01")
            parts.append(_TS_OPTION.pack(OPT_TIMESTAMPS, 10, timestamps[0], timestamps[1]))
        elif options.sack_permitted:
            parts.append(b"\x01\x01\x04\x02")
        wscale = options.wscale
        if wscale is not None:
            if not 0 <= wscale <= MAX_WSCALE:
                raise ValueError(f"TCP window scale out of range: {wscale}")
            parts.append(bytes((OPT_NOP, OPT_WSCALE, 3, wscale)))
        blocks = options.sack_blocks
        if blocks:
            parts.append(bytes((OPT_NOP, OPT_NOP, OPT_SACK, 2 + 8 * len(blocks))))
            parts.extend(_TWO_U32.pack(left, right) for left, right in blocks)
    except struct.error as exc:
        raise ValueError(f"TCP option value out of range: {exc}") from None
    out = b"".join(parts)
    if len(out) > TCP_MAX_OPTIONS:
        raise ValueError(f"TCP options need {len(out)} bytes, more than 40")
    return out


def describe_options(options: TCPOptions) -> str:
    """Render options as tcpdump does, in the layout :func:`build_options` emits, e.g.
    ``mss 65495,sackOK,TS val 1 ecr 0,nop,wscale 7``; never raises."""
    items: list[str] = []
    if options.mss is not None:
        items.append(f"mss {options.mss}")
    timestamps = options.timestamps
    if timestamps is not None:
        items += ["sackOK"] if options.sack_permitted else ["nop", "nop"]
        items.append(f"TS val {timestamps[0]} ecr {timestamps[1]}")
    elif options.sack_permitted:
        items += ["nop", "nop", "sackOK"]
    if options.wscale is not None:
        items += ["nop", f"wscale {options.wscale}"]
    blocks = options.sack_blocks
    if blocks:
        edges = "".join(f"{{{left}:{right}}}" for left, right in blocks)
        items += ["nop", "nop", f"sack {len(blocks)} {edges}"]
    return ",".join(items)


_FLAG_LETTERS = tuple(
    "".join(letter for bit, letter in enumerate("FSRPAUEC") if flags >> bit & 1) or "none"
    for flags in range(256)
)


def describe_flags(flags: int) -> str:
    """Render a flag mask as letters in bit order, ``F S R P A U E C`` (a SYN-ACK is
    ``"SA"``); ``"none"`` for no flags."""
    return _FLAG_LETTERS[flags & 0xFF]


def parse_tcp(
    data: Buffer, src: bytes | None = None, dst: bytes | None = None
) -> tuple[TCPHeader, memoryview]:
    """Parse and validate a TCP segment (RFC 9293 section 3.1): *data* is the whole IP
    payload. Returns the header and the segment data as a view into *data*.

    With both *src* and *dst* (packed IP addresses) the checksum is verified over the
    pseudo-header. Raises :class:`MalformedPacket` with reason ``"truncated"``,
    ``"bad-header-length"`` (data offset < 5), ``"bad-flags"`` (SYN with FIN or RST),
    ``"bad-option"`` or ``"bad-checksum"``.
    """
    n = len(data)
    if n < TCP_MIN_HEADER:
        raise MalformedPacket("truncated", f"TCP header needs 20 bytes, got {n}")
    (sport, dport, seq, ack, offset, flags, window, _csum, urgent) = _HEADER.unpack_from(data)
    hlen = (offset >> 4) << 2
    if hlen < TCP_MIN_HEADER:
        raise MalformedPacket("bad-header-length", f"TCP data offset {hlen >> 2} < 5")
    if hlen > n:
        raise MalformedPacket("truncated", f"TCP header length {hlen} > {n} bytes")
    if flags & SYN and flags & (FIN | RST):
        raise MalformedPacket("bad-flags", f"TCP flags {describe_flags(flags)}")
    if (
        src is not None
        and dst is not None
        and checksum(data, pseudo_header_sum(src, dst, PROTO_TCP, n))
    ):
        raise MalformedPacket("bad-checksum", "TCP checksum")
    options = NO_OPTIONS if hlen == TCP_MIN_HEADER else parse_options(bytes(data[20:hlen]))
    header = TCPHeader(sport, dport, seq, ack, flags, window, urgent, options)
    return header, memoryview(data)[hlen:]


def build_tcp_header(
    hdr: TCPHeader, payload: Buffer, src: bytes | None = None, dst: bytes | None = None
) -> bytes:
    """Build the TCP header (with options) that goes in front of *payload*; the checksum
    is filled when both *src* and *dst* are given, else 0. :func:`build_tcp` without the
    payload copy, for callers that join the pieces themselves.

    Raises :class:`ValueError` for a field out of range (ports and window 16-bit, seq and
    ack 32-bit, flags 8-bit) or bad options. Flag combinations are not checked, so a test
    can send a segment :func:`parse_tcp` would refuse.
    """
    options = build_options(hdr.options) if hdr.options is not NO_OPTIONS else b""
    hlen = TCP_MIN_HEADER + len(options)
    try:
        header = _HEADER.pack(
            hdr.src_port,
            hdr.dst_port,
            hdr.seq,
            hdr.ack,
            hlen << 2,
            hdr.flags,
            hdr.window,
            0,
            hdr.urgent,
        )
    except struct.error as exc:
        raise ValueError(f"TCP header field out of range: {exc}") from None
    if options:
        header += options
    if src is None or dst is None:
        return header
    partial = ones_sum(header, pseudo_header_sum(src, dst, PROTO_TCP, hlen + len(payload)))
    return header[:16] + _U16.pack(checksum(payload, partial)) + header[18:]


def build_tcp(
    hdr: TCPHeader, payload: Buffer = b"", src: bytes | None = None, dst: bytes | None = None
) -> bytes:
    """Build a TCP segment: header, options and *payload*, with the checksum filled when
    both *src* and *dst* are given, else 0 (RFC 9293 section 3.1). Raises
    :class:`ValueError` as :func:`build_tcp_header`."""
    return build_tcp_header(hdr, payload, src, dst) + payload
