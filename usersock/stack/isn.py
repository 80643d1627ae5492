"""Initial sequence numbers per RFC 6528: ``ISN = M + F(4-tuple, secret)``.

``M`` is a timer that ticks every 4 microseconds; ``F`` is a keyed hash of the connection
identifier, so an off-path attacker cannot predict another connection's ISN.
"""

from __future__ import annotations

import hashlib
import os


class ISNGenerator:
    """RFC 6528 section 3 generator; *secret* is fixed per stack (random by default)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret if secret is not None else os.urandom(16)

    def isn(
        self, local: bytes, local_port: int, remote: bytes, remote_port: int, now: float
    ) -> int:
        """Return the ISN for the given 4-tuple at time *now* (seconds)."""
        ident = b"%b%b%d,%d" % (local, remote, local_port, remote_port)
        f = int.from_bytes(hashlib.blake2s(ident, key=self._secret, digest_size=4).digest(), "big")
        m = int(now * 250_000)  # one tick per 4 microseconds
        return (m + f) & 0xFFFFFFFF
