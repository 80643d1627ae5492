"""The one error every parser in :mod:`usersock.wire` raises."""

from __future__ import annotations


class MalformedPacket(ValueError):
    """Bytes that are not a valid header. ``reason`` is a short, stable tag used as a drop
    counter name (``"truncated"``, ``"bad-checksum"``, ``"bad-version"``...)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
