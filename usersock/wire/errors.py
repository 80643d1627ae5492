"""The one error every parser in :mod:`usersock.wire` raises."""

from __future__ import annotations

#: Every ``reason`` a parser uses; stable, so the stack may use them as drop-counter names.
#:
#: - ``truncated``: the buffer is shorter than a header or a length field says
#: - ``bad-version``: IP version nibble is not the expected 4 or 6
#: - ``bad-header-length``: IPv4 IHL < 5, TCP data offset < 5
#: - ``bad-length``: a length field is smaller than its own header (IPv4 total, UDP length)
#: - ``bad-checksum``: IPv4 header, TCP, UDP or ICMP checksum mismatch
#: - ``bad-option``: IPv4, IPv6 or TCP option framing or length, or an IPv6 option that
#:   demands a discard
#: - ``bad-flags``: reserved IPv4 flag, TCP SYN with FIN or RST
#: - ``bad-extension``: IPv6 extension chain too long, misplaced or unprocessable
#: - ``fragmented``: an IPv4 or IPv6 fragment (reassembly is not implemented)
MALFORMED_REASONS = frozenset(
    (
        "truncated",
        "bad-version",
        "bad-header-length",
        "bad-length",
        "bad-checksum",
        "bad-option",
        "bad-flags",
        "bad-extension",
        "fragmented",
    )
)


class MalformedPacket(ValueError):
    """Bytes that are not a valid header. ``reason`` is a short, stable tag used as a drop
    counter name (``"truncated"``, ``"bad-checksum"``, ``"bad-version"``...); all of them
    are in :data:`MALFORMED_REASONS`. ``detail`` is free text for logs."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
