"""Sequence-number arithmetic modulo 2**32 (RFC 9293 section 3.4).

TCP sequence numbers wrap, so ``<`` on raw integers is wrong once a connection has moved
2 GiB past its ISN. Every comparison in the core goes through these functions (or their
inlined form ``(a - b) & MASK`` on the hottest paths): ``a`` is "less than" ``b`` when the
distance from ``a`` forward to ``b`` is in ``(0, 2**31)``. They are plain module-level
functions because a function call is the cheapest abstraction CPython offers.
"""

from __future__ import annotations

#: One more than the largest sequence number.
MOD = 1 << 32
#: Mask that reduces an integer to a sequence number.
MASK = MOD - 1
#: Distances at or above this are "negative" (RFC 1982 serial number arithmetic).
HALF = 1 << 31


def seq_add(a: int, n: int) -> int:
    """Return ``a + n`` modulo 2**32 (``n`` may be negative)."""
    return (a + n) & MASK


def seq_diff(a: int, b: int) -> int:
    """Return the signed distance ``a - b`` in ``[-2**31, 2**31)``."""
    d = (a - b) & MASK
    return d - MOD if d >= HALF else d


def seq_lt(a: int, b: int) -> bool:
    """``a < b`` in sequence space."""
    return 0 < ((b - a) & MASK) < HALF


def seq_le(a: int, b: int) -> bool:
    """``a <= b`` in sequence space."""
    return ((b - a) & MASK) < HALF


def seq_gt(a: int, b: int) -> bool:
    """``a > b`` in sequence space."""
    return 0 < ((a - b) & MASK) < HALF


def seq_ge(a: int, b: int) -> bool:
    """``a >= b`` in sequence space."""
    return ((a - b) & MASK) < HALF


def in_window(seq: int, start: int, size: int) -> bool:
    """``start <= seq < start + size`` in sequence space (RFC 9293 section 3.4).

    An empty window (``size == 0``) contains nothing.
    """
    return ((seq - start) & MASK) < size


def seq_max(a: int, b: int) -> int:
    """The later of two sequence numbers."""
    return a if ((a - b) & MASK) < HALF else b


def seq_min(a: int, b: int) -> int:
    """The earlier of two sequence numbers."""
    return b if ((a - b) & MASK) < HALF else a
