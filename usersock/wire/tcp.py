"""TCP header and options (RFC 9293 section 3.1, RFC 7323, RFC 2018)."""

from __future__ import annotations

from dataclasses import dataclass

FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20
ECE = 0x40
CWR = 0x80


@dataclass(slots=True)
class TCPOptions:
    """The TCP options usersock understands; unknown kinds are skipped when parsing.

    ``timestamps`` is ``(tsval, tsecr)``; ``sack_blocks`` are ``(left, right)`` edges.
    Treat instances as immutable: :data:`NO_OPTIONS` is shared.
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
