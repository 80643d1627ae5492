"""The SACK scoreboard: which bytes above SND.UNA the peer holds (RFC 2018, RFC 6675 section 4).

Theory of operation
-------------------
The sender keeps no per-segment records (its retransmission queue is the send buffer itself),
so the scoreboard is a sorted list of disjoint ``[lo, hi)`` ranges of *stream offsets* (see
:mod:`.sender`) that the peer reported in SACK blocks. Offsets never wrap, so every question
below is plain integer arithmetic; the sender translates sequence numbers once, in
:meth:`Scoreboard.update`.

The queries are the routines of RFC 6675 section 4, computed from the ranges rather than octet
by octet:

* ``IsLost(o)`` is true when more than ``(DupThresh - 1) * SMSS`` bytes or at least
  ``DupThresh`` discontiguous ranges above ``o`` are SACKed. Both counts only grow as ``o``
  moves down, and are constant across an un-SACKed gap, so "lost" is everything un-SACKed
  below one boundary, :meth:`Scoreboard.lost_end`.
* ``SetPipe()`` counts an un-SACKed byte once if it is not lost and once more if it was
  retransmitted: :meth:`Scoreboard.pipe`.
* ``NextSeg()`` rules 1, 3 and 4 need the first un-SACKed byte at or after a point and the
  highest un-SACKed byte: :meth:`Scoreboard.next_gap` and :meth:`Scoreboard.last_gap`.

The list is short (a receiver reports at most four blocks per ACK, and ranges merge as holes
fill), so linear scans are the fast choice; nothing here runs unless the peer SACKed.
"""

from __future__ import annotations

from usersock.transport.tcp.seqnum import MASK

__all__ = ["DUP_THRESH", "Scoreboard"]

#: DupThresh of RFC 6675 section 2 (and RFC 5681 section 3.2's third duplicate ACK).
DUP_THRESH = 3


class Scoreboard:
    """SACKed stream-offset ranges above SND.UNA, sorted and disjoint."""

    __slots__ = ("ranges",)

    def __init__(self) -> None:
        #: ``[lo, hi)`` pairs (lists, so a merge can widen one in place).
        self.ranges: list[list[int]] = []

    def __repr__(self) -> str:
        return f"<Scoreboard {self.ranges}>"

    def update(
        self, blocks: tuple[tuple[int, int], ...], base: int, base_seq: int, limit: int
    ) -> int:
        """Merge SACK blocks (sequence numbers) into the ranges (RFC 6675 ``Update()``).

        *base* is the stream offset of SND.UNA and *base_seq* its sequence number; *limit*
        is the sequence space sent (SND.MAX - SND.UNA). A block below SND.UNA (a D-SACK,
        RFC 2883) or beyond SND.MAX is ignored. Returns how many bytes were SACKed for the
        first time: more than zero makes the ACK a duplicate ACK (RFC 6675 section 2).
        """
        ranges = self.ranges
        newly = 0
        for left, right in blocks:
            lo = (left - base_seq) & MASK
            hi = (right - base_seq) & MASK
            if lo >= hi or hi > limit:
                continue
            lo += base
            hi += base
            i = 0
            n = len(ranges)
            while i < n and ranges[i][1] < lo:
                i += 1
            j = i
            covered = 0
            new_lo, new_hi = lo, hi
            while j < n and ranges[j][0] <= hi:
                r_lo, r_hi = ranges[j]
                overlap = (r_hi if r_hi < hi else hi) - (r_lo if r_lo > lo else lo)
                if overlap > 0:
                    covered += overlap
                if r_lo < new_lo:
                    new_lo = r_lo
                if r_hi > new_hi:
                    new_hi = r_hi
                j += 1
            ranges[i:j] = [[new_lo, new_hi]]
            newly += hi - lo - covered
        return newly

    def advance(self, start: int) -> None:
        """SND.UNA moved to stream offset *start*: forget what it covers."""
        ranges = self.ranges
        while ranges and ranges[0][1] <= start:
            del ranges[0]
        if ranges and ranges[0][0] < start:
            ranges[0][0] = start

    def clear(self) -> None:
        """Forget everything (after a retransmission timeout, RFC 2018 section 8)."""
        self.ranges.clear()

    def highest(self) -> int:
        """One past the highest SACKed byte (0 when nothing is SACKed)."""
        return self.ranges[-1][1] if self.ranges else 0

    def sacked_between(self, lo: int, hi: int) -> int:
        """Bytes in ``[lo, hi)`` that are SACKed."""
        total = 0
        for r_lo, r_hi in self.ranges:
            if r_hi <= lo:
                continue
            if r_lo >= hi:
                break
            total += (r_hi if r_hi < hi else hi) - (r_lo if r_lo > lo else lo)
        return total

    def lost_end(self, start: int, mss: int) -> int:
        """The boundary of RFC 6675 ``IsLost()``: an un-SACKed byte is lost iff below it.

        Walking down from the highest range, the first range whose lower edge has more than
        ``(DupThresh - 1) * mss`` SACKed bytes, or ``DupThresh`` ranges, at or above it gives
        the boundary. Returns *start* (SND.UNA: nothing lost) when no range qualifies.
        """
        sacked = 0
        limit = (DUP_THRESH - 1) * mss
        for count, (lo, hi) in enumerate(reversed(self.ranges), 1):
            sacked += hi - lo
            if sacked > limit or count >= DUP_THRESH:
                return lo
        return start

    def pipe(self, start: int, end: int, lost_end: int, high_rxt: int) -> int:
        """RFC 6675 ``SetPipe()`` over ``[start, end)``: the bytes believed in the network.

        An un-SACKed byte counts once unless it is lost (below *lost_end*), and once more if
        it was retransmitted in this recovery (below *high_rxt*).
        """
        lo = lost_end if lost_end > start else start
        pipe = (end - lo) - self.sacked_between(lo, end) if end > lo else 0
        hi = high_rxt if high_rxt < end else end
        if hi > start:
            pipe += (hi - start) - self.sacked_between(start, hi)
        return pipe

    def next_gap(self, off: int, end: int) -> tuple[int, int] | None:
        """The first un-SACKed run at or after *off* and below *end*: ``(lo, hi)``, where
        *hi* is the next SACKed byte or *end*; ``None`` if there is none."""
        for r_lo, r_hi in self.ranges:
            if off < r_lo:
                return (off, r_lo if r_lo < end else end) if off < end else None
            if off < r_hi:
                off = r_hi
        return (off, end) if off < end else None

    def last_gap(self, start: int, end: int) -> tuple[int, int] | None:
        """The highest un-SACKed run in ``[start, end)``: ``(lo, hi)``, or ``None``."""
        hi = end
        ranges = self.ranges
        i = len(ranges) - 1
        while i >= 0 and ranges[i][1] >= hi:
            if ranges[i][0] < hi:
                hi = ranges[i][0]
            i -= 1
        if hi <= start:
            return None
        lo = ranges[i][1] if i >= 0 else start
        return (lo if lo > start else start, hi)
