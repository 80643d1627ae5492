"""Port ownership and ephemeral port selection.

Binding follows Linux's rules (``inet_csk_bind_conflict``): two sockets may hold the same
port on overlapping addresses only if both set ``SO_REUSEADDR`` and the existing one is not
listening, or both set ``SO_REUSEPORT``. Accepted and connected sockets keep holding their
port, which is why a server restarted without ``SO_REUSEADDR`` gets ``EADDRINUSE`` while old
connections linger.

Ephemeral ports are chosen with RFC 6056 section 3.3.3 (Algorithm 3, "simple hash-based"):
the search starts at an offset keyed on the destination, plus a counter, so consecutive
connections to one server get consecutive-looking but unpredictable ports.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from usersock.errors import Err, StackError

EPHEMERAL_LOW = 32768
EPHEMERAL_HIGH = 60999  # inclusive, as Linux's net.ipv4.ip_local_port_range


@dataclass(slots=True, eq=False)
class PortOwner:
    """A socket's claim on a port. ``listening`` is updated when the socket listens.

    ``v6only`` matters only for the IPv6 wildcard, which also covers IPv4 unless set.
    """

    address: bytes
    reuse_addr: bool = False
    reuse_port: bool = False
    listening: bool = False
    v6only: bool = False


def _overlap(a: PortOwner, b: PortOwner) -> bool:
    """True if two bindings can receive the same packet (same address, or a wildcard)."""
    if a.address == b.address:
        return True
    for x, y in ((a, b), (b, a)):
        if not any(x.address):
            if len(x.address) == len(y.address):
                return True
            if len(x.address) == 16 and len(y.address) == 4 and not x.v6only:
                return True
    return False


class PortTable:
    """Who holds which port, per transport protocol. Needs the stack lock."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._owners: dict[tuple[int, int], list[PortOwner]] = {}
        self._secret = secret if secret is not None else os.urandom(16)
        self._counter = 0

    def owners(self, protocol: int, port: int) -> list[PortOwner]:
        return self._owners.get((protocol, port), [])

    def conflicts(self, protocol: int, port: int, new: PortOwner) -> bool:
        """True if *new* may not join the current holders of *port*."""
        for old in self._owners.get((protocol, port), ()):
            if not _overlap(old, new):
                continue
            if new.reuse_port and old.reuse_port:
                continue
            if new.reuse_addr and old.reuse_addr and not old.listening:
                continue  # only a listener blocks a SO_REUSEADDR port (inet_csk_bind_conflict)
            return True
        return False

    def claim(self, protocol: int, port: int, owner: PortOwner) -> None:
        """Add *owner* to *port*. Raises ``StackError(ADDRESS_IN_USE)`` on a conflict."""
        if self.conflicts(protocol, port, owner):
            raise StackError(Err.ADDRESS_IN_USE)
        self._owners.setdefault((protocol, port), []).append(owner)

    def add(self, protocol: int, port: int, owner: PortOwner) -> None:
        """Add *owner* without a conflict check (accepted connections share the listener's
        port)."""
        self._owners.setdefault((protocol, port), []).append(owner)

    def release(self, protocol: int, port: int, owner: PortOwner) -> None:
        """Remove *owner*; releasing twice is harmless."""
        holders = self._owners.get((protocol, port))
        if holders is None:
            return
        for i, held in enumerate(holders):
            if held is owner:
                del holders[i]
                break
        if not holders:
            del self._owners[(protocol, port)]

    def pick_ephemeral(
        self,
        protocol: int,
        owner: PortOwner,
        destination: bytes = b"",
        usable: Callable[[int], bool] | None = None,
    ) -> int:
        """Choose a free ephemeral port for *owner* and claim it (RFC 6056 Algorithm 3).

        *usable* adds a check of the caller's own (a 4-tuple not yet in use, for connect).
        Raises ``StackError(ADDRESS_NOT_AVAILABLE)`` when the range is exhausted, as Linux's
        ``connect`` does (``EADDRNOTAVAIL``).
        """
        span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1
        digest = hashlib.blake2s(destination, key=self._secret, digest_size=4).digest()
        offset = int.from_bytes(digest, "big")
        for i in range(span):
            port = EPHEMERAL_LOW + (offset + self._counter + i) % span
            if self.conflicts(protocol, port, owner):
                continue
            if usable is not None and not usable(port):
                continue
            self._counter += i + 1
            self._owners.setdefault((protocol, port), []).append(owner)
            return port
        raise StackError(Err.ADDRESS_NOT_AVAILABLE, "no free ephemeral port")
