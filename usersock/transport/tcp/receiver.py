"""The receiving half of a TCP connection: reassembly, receive window, ACK policy.

Theory of operation
-------------------
In-sequence data waits in a queue of read-only ``memoryview`` pieces. A segment's payload
over immutable ``bytes`` (every payload on the in-process loopback is a view of the sender's
buffer; a parsed packet's is a view of its datagram) is queued as it is, without a copy, and
anything else is copied once into ``bytes``. ``recv_into`` copies the pieces straight into
the caller's buffer and ``recv`` produces one ``bytes``, so a byte is copied once between
the sender's buffer and the reader's. ``queued`` counts the bytes waiting.

Segments that arrive ahead of RCV.NXT are kept in a sorted list of disjoint
``(start, end, bytes)`` pieces keyed by stream offset (an unbounded count of data bytes, so
it never wraps). A new piece is trimmed against what is already held (first copy wins, as
RFC 9293 section 3.10.7.4 allows) and against the window; when RCV.NXT reaches a piece it is
moved to the buffer. These pieces are what SACK blocks describe (RFC 2018 section 4).

The window (RFC 9293 section 3.8.6.2.2, RFC 7323 section 2): the right edge RCV.NXT + free
space never moves left, and moves right only by at least min(buffer / 2, MSS) so the peer is
never invited to send silly small segments. Out-of-order pieces are inside the window already
offered, so they do not shrink it.

ACK policy (RFC 9293 section 3.8.6.3, RFC 5681 section 4.2):

* out-of-order, duplicate or hole-filling segments and FINs are acknowledged at once (these
  duplicate ACKs drive the peer's fast retransmit);
* with ``delayed_ack == 0`` in-sequence data only marks an ACK pending: it leaves with the
  next segment we send, or when the stack goes idle and calls ``flush_ack`` (the TCP
  endpoint holds it back while less than two full-sized segments are unacknowledged, for
  the answer to carry it, until its reader blocks, and at most 1 ms, or 40 ms on a blocking
  socket; see ``TCPEndpoint.flush``);
* with ``delayed_ack > 0`` a timer bounds the delay, and every second full-sized segment is
  acknowledged at once.

Timestamps (RFC 7323 section 4.3): TS.Recent is taken from a segment that covers the last
ACK we sent; PAWS (section 5) is applied by the connection before the segment gets here.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from usersock.transport.tcp.seqnum import HALF, MASK, MOD
from usersock.wire.tcp import TCPOptions

if TYPE_CHECKING:
    from usersock.transport.tcp.config import TCPConfig


class Receiver:
    """Receive sequence space, receive buffer, reassembly queue and ACK policy."""

    __slots__ = (
        "ack_now",
        "ack_pending",
        "bytes_received",
        "config",
        "delack_deadline",
        "dsack",
        "fin_off",
        "fin_received",
        "irs",
        "last_ack_sent",
        "mss",
        "ooo",
        "opts_cache",
        "queue",
        "queued",
        "rcv_adv",
        "rcv_nxt",
        "rcv_off",
        "rcv_wscale",
        "sack_enabled",
        "sack_recent",
        "ts_recent",
        "unacked_bytes",
    )

    def __init__(self, config: TCPConfig) -> None:
        self.config = config
        self.irs = 0
        #: RCV.NXT, and the stream offset it stands for.
        self.rcv_nxt = 0
        self.rcv_off = 0
        #: Right edge of the window we last advertised (RCV.NXT + RCV.WND when sent).
        self.rcv_adv = 0
        #: Our Window Scale shift (RFC 7323 section 2.2); 0 until negotiated.
        self.rcv_wscale = 0
        self.mss = config.mss
        #: In-sequence data not yet read: read-only byte views, oldest first.
        self.queue: deque[memoryview] = deque()
        self.queued = 0
        #: Out-of-order pieces ``[start, end, data]`` by stream offset, sorted, disjoint.
        self.ooo: list[tuple[int, int, bytes]] = []
        #: Stream offsets of recently received out-of-order segments, newest first.
        self.sack_recent: list[int] = []
        self.sack_enabled = False
        #: A duplicate segment to report in the next ACK's first SACK block (RFC 2883).
        self.dsack: tuple[int, int] | None = None
        self.fin_received = False
        #: Stream offset of a FIN that arrived ahead of RCV.NXT.
        self.fin_off: int | None = None
        self.ack_pending = False
        self.ack_now = False
        self.delack_deadline: float | None = None
        self.unacked_bytes = 0
        self.last_ack_sent = 0
        self.ts_recent = 0
        self.bytes_received = 0
        #: The last timestamp-only options built, reused while TSval and TS.Recent stay the
        #: same (options are immutable; many segments go out within one millisecond).
        self.opts_cache: TCPOptions | None = None

    def start(self, irs: int) -> None:
        """The peer's SYN arrived: RCV.NXT = IRS + 1 (RFC 9293 section 3.10.7.3)."""
        self.irs = irs
        self.rcv_nxt = (irs + 1) & MASK
        self.last_ack_sent = self.rcv_nxt
        self.rcv_adv = self.rcv_nxt

    # -- window ----------------------------------------------------------------------------

    def free_space(self) -> int:
        """Receive buffer space not holding unread in-sequence data."""
        free = self.config.rcv_buf - self.queued
        return free if free > 0 else 0

    def rcv_wnd(self) -> int:
        """RCV.WND as last advertised (bytes from RCV.NXT to the right edge)."""
        w = (self.rcv_adv - self.rcv_nxt) & MASK
        return 0 if w >= HALF else w

    def window_field(self) -> int:
        """The 16-bit window to put in an outgoing segment; records the new right edge.

        The right edge moves forward only by at least min(RCV.BUFF / 2, MSS) (RFC 9293
        section 3.8.6.2.2) and never backward (RFC 9293 section 3.8.6.2.2, "shrinking").
        """
        nxt = self.rcv_nxt
        cur = (self.rcv_adv - nxt) & MASK
        if cur >= HALF:
            cur = 0
        free = self.config.rcv_buf - self.queued
        if free > cur:
            thresh = self.config.rcv_buf >> 1
            if self.mss < thresh:
                thresh = self.mss
            if free - cur >= thresh:
                cur = free
        ws = self.rcv_wscale
        field = (cur + (1 << ws) - 1) >> ws
        if field > 0xFFFF:
            field = 0xFFFF
        self.rcv_adv = (nxt + (field << ws)) & MASK
        return field

    def acceptable(self, rel: int, seglen: int) -> bool:
        """RFC 9293 section 3.10.7.4 step 1 for a segment starting *rel* (mod 2**32) past
        RCV.NXT. RCV.WND is what we advertised, or the free space if larger; a segment at
        RCV.NXT is always acceptable, so a zero window still lets ACKs through."""
        if rel == 0:
            return True
        wnd = (self.rcv_adv - self.rcv_nxt) & MASK
        if wnd >= HALF:
            wnd = 0
        free = self.config.rcv_buf - self.queued
        if free > wnd:
            wnd = free
        if rel < wnd:
            return True
        return seglen > 0 and ((rel + seglen - 1) & MASK) < wnd

    def window_update_due(self) -> bool:
        """After the user read: would the window open enough to be worth a segment?

        As Linux (``tcp_cleanup_rbuf``): when the window the peer may use would at least
        double, and by at least the silly-window threshold.
        """
        cur = (self.rcv_adv - self.rcv_nxt) & MASK
        if cur >= HALF:
            cur = 0
        free = self.config.rcv_buf - self.queued
        most = 0xFFFF << self.rcv_wscale
        if free > most:
            free = most
        thresh = self.config.rcv_buf >> 1
        if self.mss < thresh:
            thresh = self.mss
        return free - cur >= thresh and free >= 2 * cur

    # -- data ------------------------------------------------------------------------------

    def on_segment(self, seq: int, payload: bytes | memoryview, fin: bool, now: float) -> bool:
        """Take the text (and FIN) of an acceptable segment (RFC 9293 3.10.7.4 steps 7-8).

        The segment may start before RCV.NXT and end beyond the window: both are trimmed.
        Returns True when the peer's FIN became in-sequence with this segment.
        """
        n = len(payload)
        rel = (seq - self.rcv_nxt) & MASK
        if rel >= HALF:
            rel -= MOD
        if rel < 0:
            if -rel >= n:
                # Entirely old data (the FIN, if any, may still be new: it sits at seq + n).
                if n or not fin or rel + n < 0:
                    self.ack_now = True
                    if n and self.sack_enabled:
                        # RFC 2883 section 4: tell the sender it was a duplicate, so a
                        # needless retransmission (a tail loss probe) costs it nothing.
                        self.dsack = (seq, (seq + n) & MASK)
                if not fin or rel + n != 0:
                    return False
                payload = b""
                n = 0
            else:
                payload = payload[-rel:]
                n += rel
            rel = 0
        # Trim to the window: what we advertised, or more if the buffer has room.
        limit = (self.rcv_adv - self.rcv_nxt) & MASK
        if limit >= HALF:
            limit = 0
        free = self.config.rcv_buf - self.queued
        if free > limit:
            limit = free
        if rel + n > limit:
            n = limit - rel
            if n <= 0:
                self.ack_now = True
                return False
            payload = payload[:n]
            fin = False
        if rel == 0:
            if n:
                self._enqueue(payload)
                self.rcv_nxt = (self.rcv_nxt + n) & MASK
                self.rcv_off += n
                self.bytes_received += n
                if self.ooo:
                    self._drain_ooo()
                    self.ack_now = True  # filled (part of) a hole: RFC 5681 section 4.2
                else:
                    self.unacked_bytes += n
                    delay = self.config.delayed_ack
                    if delay > 0:
                        if self.unacked_bytes >= 2 * self.mss:
                            self.ack_now = True
                        elif self.delack_deadline is None:
                            self.delack_deadline = now + delay
                    self.ack_pending = True
            if fin:
                self.fin_off = self.rcv_off
            if self.fin_off is not None and self.fin_off == self.rcv_off and not self.fin_received:
                self.fin_received = True
                self.fin_off = None
                self.rcv_nxt = (self.rcv_nxt + 1) & MASK
                self.ack_now = True
                return True
            return False
        # Out of order: keep it and send a duplicate ACK at once.
        self.ack_now = True
        start = self.rcv_off + rel
        if n:
            self._insert_ooo(start, payload)
        if fin:
            self.fin_off = start + n
        return False

    def _insert_ooo(self, start: int, payload: bytes | memoryview) -> None:
        end = start + len(payload)
        ooo = self.ooo
        pieces: list[tuple[int, int, bytes]] = []
        pos = start
        i = 0
        while i < len(ooo) and ooo[i][1] <= start:
            i += 1
        first = i
        while i < len(ooo) and ooo[i][0] < end:
            lo, hi, _ = ooo[i]
            if lo > pos:
                pieces.append((pos, lo, bytes(payload[pos - start : lo - start])))
            if hi > pos:
                pos = hi
            i += 1
        if pos < end:
            pieces.append((pos, end, bytes(payload[pos - start :])))
        if pieces:
            ooo[first:first] = pieces
            ooo.sort(key=_piece_start)
        recent = self.sack_recent
        if start in recent:
            recent.remove(start)
        recent.insert(0, start)
        del recent[4:]

    def _drain_ooo(self) -> None:
        ooo = self.ooo
        off = self.rcv_off
        moved = 0
        while ooo and ooo[0][0] <= off:
            lo, hi, data = ooo.pop(0)
            if hi > off:
                chunk = memoryview(data)[off - lo :]
                self._enqueue(chunk)
                off = hi
                moved += len(chunk)
        self.rcv_off = off
        self.rcv_nxt = (self.rcv_nxt + moved) & MASK
        self.bytes_received += moved
        self.sack_recent = [s for s in self.sack_recent if s > off]

    def _enqueue(self, data: bytes | memoryview) -> None:
        """Queue in-sequence *data*: kept as a view when it lies over immutable ``bytes``,
        copied once otherwise (a view of a mutable buffer could change under us)."""
        if type(data) is memoryview:
            if type(data.obj) is not bytes or data.format != "B" or not data.c_contiguous:
                data = memoryview(bytes(data))
        elif type(data) is bytes:
            data = memoryview(data)
        else:
            data = memoryview(bytes(data))
        self.queue.append(data)
        self.queued += len(data)

    def discard(self) -> None:
        """Drop every unread byte (the connection was aborted)."""
        self.queue.clear()
        self.queued = 0

    def sack_blocks(self, limit: int) -> tuple[tuple[int, int], ...]:
        """Up to *limit* SACK blocks, the most recently changed first (RFC 2018 section 4)."""
        ooo = self.ooo
        if not ooo:
            return ()
        blocks: list[list[int]] = []
        for lo, hi, _ in ooo:
            if blocks and blocks[-1][1] == lo:
                blocks[-1][1] = hi
            else:
                blocks.append([lo, hi])
        ordered: list[list[int]] = []
        for s in self.sack_recent:
            for b in blocks:
                if b[0] <= s < b[1] and b not in ordered:
                    ordered.append(b)
        for b in reversed(blocks):
            if b not in ordered:
                ordered.append(b)
        base_off = self.rcv_off
        nxt = self.rcv_nxt if self.fin_received is False else (self.rcv_nxt - 1) & MASK
        return tuple(
            ((nxt + lo - base_off) & MASK, (nxt + hi - base_off) & MASK)
            for lo, hi in ordered[:limit]
        )

    # -- ACK policy --------------------------------------------------------------------------

    def ack_options(self, tsval: int | None, sack: bool) -> TCPOptions:
        """Options for an outgoing segment: our timestamp with TS.Recent echoed (RFC 7323
        section 3.2) and, with holes in the sequence space, SACK blocks (RFC 2018) — led by
        a D-SACK block once after a duplicate segment arrived (RFC 2883 section 4)."""
        if tsval is not None and not (sack and (self.ooo or self.dsack is not None)):
            cached = self.opts_cache
            if cached is not None:
                ts_cached = cached.timestamps
                assert ts_cached is not None
                if ts_cached[0] == tsval and ts_cached[1] == self.ts_recent:
                    return cached
            cached = TCPOptions(None, None, False, (tsval, self.ts_recent), ())
            self.opts_cache = cached
            return cached
        limit = 3 if tsval is not None else 4
        blocks = self.sack_blocks(limit) if sack and self.ooo else ()
        dsack = self.dsack
        if dsack is not None and sack:
            self.dsack = None
            blocks = (dsack, *blocks[: limit - 1])
        ts = (tsval, self.ts_recent) if tsval is not None else None
        return TCPOptions(None, None, False, ts, blocks)

    def on_timer(self, now: float) -> None:
        """The delayed-ACK timer (RFC 9293 section 3.8.6.3): a pending ACK becomes due."""
        d = self.delack_deadline
        if d is not None and now >= d:
            self.delack_deadline = None
            if self.ack_pending:
                self.ack_now = True

    def teardown(self) -> None:
        """The connection closed: nothing to acknowledge, no reassembly any more."""
        self.delack_deadline = None
        self.ack_now = self.ack_pending = False
        self.dsack = None
        self.ooo.clear()

    def on_ack_sent(self) -> None:
        """Any segment carrying our current ACK left: nothing is pending any more."""
        self.ack_pending = False
        self.ack_now = False
        self.delack_deadline = None
        self.unacked_bytes = 0
        self.last_ack_sent = self.rcv_nxt

    def update_ts_recent(self, seq: int, tsval: int) -> None:
        """RFC 7323 section 4.3: TS.Recent = SEG.TSval if SEG.SEQ <= Last.ACK.sent and
        SEG.TSval >= TS.Recent (the caller checked the second with PAWS)."""
        if ((self.last_ack_sent - seq) & MASK) < HALF:
            self.ts_recent = tsval

    # -- the user side ---------------------------------------------------------------------

    def readable(self) -> int:
        """Bytes the user can read now."""
        return self.queued

    def read(self, n: int, peek: bool) -> bytes:
        """Return up to *n* bytes (one copy); consumed unless *peek*."""
        queue = self.queue
        if n <= 0 or not queue:
            return b""
        first = queue[0]
        if n <= len(first):
            data = bytes(first[:n])
            if not peek:
                self._consume(n)
            return data
        if n > self.queued:
            n = self.queued
        parts: list[memoryview] = []
        need = n
        for piece in queue:
            if len(piece) >= need:
                parts.append(piece[:need])
                break
            parts.append(piece)
            need -= len(piece)
        data = b"".join(parts)
        if not peek:
            self._consume(n)
        return data

    def read_into(self, dest: bytearray | memoryview, n: int, peek: bool) -> int:
        """Copy up to *n* bytes (all of *dest* if *n* <= 0) straight into *dest*; consumed
        unless *peek*. Returns the count."""
        view = memoryview(dest)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        if n <= 0 or n > len(view):
            n = len(view)
        if n > self.queued:
            n = self.queued
        if n <= 0:
            return 0
        pos = 0
        for piece in self.queue:
            k = len(piece)
            if k >= n - pos:
                view[pos:n] = piece[: n - pos]
                break
            view[pos : pos + k] = piece
            pos += k
        if not peek:
            self._consume(n)
        return n

    def _consume(self, n: int) -> None:
        """Drop the first *n* queued bytes (the caller checked that many are queued)."""
        queue = self.queue
        self.queued -= n
        while n:
            first = queue[0]
            k = len(first)
            if k > n:
                queue[0] = first[n:]
                return
            queue.popleft()
            n -= k


def _piece_start(piece: tuple[int, int, bytes]) -> int:
    return piece[0]
