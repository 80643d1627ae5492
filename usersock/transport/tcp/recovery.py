"""Loss recovery: what the sender retransmits before the retransmission timer has to.

Theory of operation
-------------------
The retransmission timeout (RFC 6298) is the last resort: it waits at least ``rto_min``
(200 ms) and collapses the congestion window to one segment. Everything here repairs a loss
sooner, from what the ACKs say. The :class:`~usersock.transport.tcp.sender.Sender` owns one
recovery object, chosen when the handshake settles SACK, and calls it on a duplicate ACK
(:meth:`LossRecovery.on_dupack`), on an ACK that advances SND.UNA during recovery
(:meth:`LossRecovery.on_recovery_ack`), from its timers, and from its output routine while
``sender.recovery_due`` is set (:meth:`LossRecovery.output`, which sends retransmissions and
returns the congestion window new data may fill). As gVisor's ``reno_recovery.go`` and
``sack_recovery.go`` do, the objects hold their sender and work on its variables. While no
segment is lost the only work here is re-arming the probe timer, once per burst sent.

In the order a loss meets them:

* **Limited Transmit** (RFC 3042, RFC 5681 section 3.2): each of the first two duplicate ACKs
  lets one new segment out beyond cwnd. A small window — what a lossy path leaves — has too
  few segments after a loss to produce three duplicate ACKs; these extra segments make them.
* **Fast retransmit and recovery.** Without SACK, RFC 5681 section 3.2 with the NewReno
  partial-ACK rules of RFC 6582 (:class:`RenoRecovery`): one hole per round trip. With SACK,
  RFC 6675 (:class:`SACKRecovery`): a segment is lost once more than two segments' worth of
  data, or three ranges, above it are SACKed; a "duplicate ACK" is any ACK that SACKs new data
  (piggybacked on data or not); and in recovery the sender keeps ``pipe``, its estimate of the
  bytes in the network, below cwnd, sending holes (``NextSeg()`` rule 1), then new data
  (rule 2), then anything un-SACKed (rule 3), then one rescue retransmission (rule 4). The
  scoreboard arithmetic is in :mod:`.scoreboard`.
* **Lost retransmissions**, after RACK (RFC 8985 section 6): RFC 6675 never resends a hole
  twice, so a lost retransmission used to cost an RTO. The segment at SND.UNA is timed when
  retransmitted (``sender.rxt_time``); an ACK with news arriving more than ``SRTT +
  reo_wnd`` later reports segments sent after it, so it is lost and is resent. In recovery the
  probe timer also resends it once if no ACK comes at all. With SACK, a partial ACK marks the
  next hole lost when it was never retransmitted (RFC 6582's rule, which RFC 6675 lacks).
* **Tail loss probe**, after RFC 8985 section 7: when the last segments of a flight are lost no
  ACK comes back, so nothing above can start. With data in flight and no recovery under way a
  probe timer of ``PTO = max(2 * SRTT, 10 ms)`` runs beside the RTO; when it fires the sender
  sends one new segment if the peer's window takes one, else resends the highest un-SACKed
  segment, and restarts the RTO. The probe's ACK shows the tail arrived, or (with SACK)
  reports a hole below the probe, which starts recovery; if the ACKs already showed a hole when
  the timer fired, recovery starts at once instead of probing (RACK's reordering timeout). A
  retransmitted probe that the peer does not report as a duplicate (D-SACK, RFC 2883) repaired
  a loss, and cwnd is halved as for a fast recovery (RFC 8985 section 7.4). RFC 8985 adds
  WCDelAckT (200 ms) whenever one segment is in flight, since a receiver that acknowledges
  every second segment may hold that one's ACK; here it is added only for a segment sent on
  its own (a request, the last write), which leaves it to the RTO. The last segment of a
  longer flight, once the ACK for the rest came back, is probed at 2 * SRTT: that is the
  tail loss this exists for, and a needless probe against a delaying receiver costs one
  segment, not a cwnd cut, thanks to D-SACK. Unlike Linux, the probe also runs without SACK,
  where its ACK is one more duplicate ACK.

The congestion response to a loss is RFC 5681's ``ssthresh = max(FlightSize / 2, 2 * SMSS)``,
with FlightSize excluding the Limited Transmit segments (RFC 5681 section 3.2 step 2). After a
retransmission timeout no new recovery starts until SND.UNA passes the data outstanding at the
timeout (RFC 6675 section 5.1; RFC 6582 section 3.2 step 2, softened by its ACK heuristic of
section 4.1), so that the echoes of the go-back-N resend do not start one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from usersock.transport.tcp.scoreboard import DUP_THRESH
from usersock.transport.tcp.seqnum import HALF, MASK

if TYPE_CHECKING:
    from usersock.transport.tcp.sender import Sender

#: Lower bound of the probe timeout (RFC 8985 section 7.2 leaves it to the implementation;
#: 10 ms as Linux had it, enough for a loopback path whose SRTT reads as 0).
PTO_MIN = 0.01
#: WCDelAckT of RFC 8985 section 7.2: the worst-case delayed-ACK time of the peer, added to
#: the probe timeout of a lone segment, whose ACK a receiver may hold for a second one.
WC_DELACK = 0.2
#: Lower bound of the reordering window when judging a retransmission lost (RFC 8985
#: section 6.2 uses a quarter of the minimum RTT; a loopback path measures 0).
REO_WND_MIN = 0.001


class LossRecovery:
    """What both recoveries share: recovery entry, lost retransmissions, the tail probe."""

    __slots__ = ("lt_base", "rxt_probed", "s", "tlp_due", "tlp_end", "tlp_lo", "tlp_retrans")

    def __init__(self, sender: Sender) -> None:
        self.s = sender
        #: SND.MAX at the first duplicate ACK: what Limited Transmit sent lies above it.
        self.lt_base = sender.snd_max
        #: The probe timer fired: the next output sends the probe.
        self.tlp_due = False
        #: The probe out (``sender.tlp_high`` set): a retransmission or new data, its first
        #: sequence number and the stream offset after its data.
        self.tlp_retrans = False
        self.tlp_lo = 0
        self.tlp_end = 0
        #: In recovery the probe timer resent SND.UNA; no more until an ACK arrives.
        self.rxt_probed = False

    # -- the interface the sender calls ------------------------------------------------------

    def on_dupack(self, ack: int, now: float) -> None:
        """A duplicate ACK (as the subclass defines it) arrived; *ack* is SEG.ACK."""
        raise NotImplementedError

    def on_recovery_ack(self, ack: int, acked: int, now: float) -> None:
        """SEG.ACK advanced SND.UNA by *acked* data bytes while in recovery."""
        raise NotImplementedError

    def output(self, now: float) -> int:
        """Send what recovery must send before new data (a probe, retransmissions); return
        the congestion window the sender's new data may fill (in-flight bytes included)."""
        raise NotImplementedError

    def output_tail(self, now: float) -> None:
        """In recovery, after the sender sent what new data it could: use what is left of
        the window (RFC 6675 ``NextSeg()`` rules 3 and 4). Nothing to do without SACK."""

    def _resend_una(self) -> None:
        """The segment at SND.UNA is lost (again): resend it with the next output."""
        raise NotImplementedError

    # -- entering and leaving ----------------------------------------------------------------

    def _enter(self) -> None:
        """Fast retransmit: set ssthresh, remember where recovery ends, stop probing."""
        s = self.s
        if not s.dupacks:
            self.lt_base = s.snd_max
        # RFC 5681 section 3.2 step 2: FlightSize without the Limited Transmit segments,
        # which all went out after the first duplicate ACK.
        flight = (self.lt_base - s.snd_una) & MASK
        if flight >= HALF:
            flight = 0
        s.ssthresh = max(flight // 2, 2 * s.mss)
        s.recover = s.snd_max
        s.in_recovery = True
        s.recovery_due = True
        s.tlp_deadline = None
        s.tlp_high = None
        self.tlp_due = False
        self.rxt_probed = False

    def on_rto(self) -> None:
        """The retransmission timer fired: recovery and any probe end, and no new recovery
        starts before SND.UNA passes what is outstanding now (RFC 6582 section 4.1,
        RFC 6675 section 5.1)."""
        s = self.s
        s.in_recovery = False
        s.dupacks = 0
        s.recovery_due = False
        s.recover = s.snd_max
        s.tlp_deadline = None
        s.tlp_high = None
        s.rxt_time = None
        self.tlp_due = False
        self.rxt_probed = False

    # -- lost retransmissions (after RFC 8985 section 6) ---------------------------------------

    def _check_rxt_lost(self, now: float) -> None:
        """An ACK with new information arrived while the segment at SND.UNA is a
        retransmission: if that went out more than SRTT + reo_wnd ago, the ACK reports
        segments sent after it, so it is lost too (RACK's rule, RFC 8985 section 6.2,
        applied to the one segment whose loss stalls everything). Resend it."""
        s = self.s
        self.rxt_probed = False
        t = s.rxt_time
        srtt = s.srtt
        if t is None or srtt is None:
            return
        reo = srtt / 4
        if now - t > srtt + (reo if reo > REO_WND_MIN else REO_WND_MIN):
            s.rxt_time = None
            self._resend_una()
            s.recovery_due = True

    def _send(self, off: int, end: int, now: float) -> int:
        """``sender.send_range`` for a retransmission, timing it if it is at SND.UNA."""
        s = self.s
        if off == s.buf.start:
            s.rxt_time = now
        return s.send_range(off, end, now)

    # -- tail loss probe (RFC 8985 section 7) --------------------------------------------------

    def arm_probe(self, now: float, sent: bool) -> None:
        """Start or restart the probe timer after new data went out (*sent*) or SND.UNA
        advanced (RFC 8985 section 7.2), if a probe may be sent and would fire before the
        RTO. A lone segment just sent waits WCDelAckT more; see the module docstring.

        In recovery the same timer watches the retransmission at SND.UNA instead: if no ACK
        reports it within the probe timeout, it is resent once (the case RACK's reordering
        timer covers, RFC 8985 section 6.3, when no later ACK comes to show the loss).
        """
        s = self.s
        srtt = s.srtt
        rto_deadline = s.rtx_deadline
        if srtt is None or rto_deadline is None or s.backoff or s.snd_nxt != s.snd_max:
            s.tlp_deadline = None
            return
        pto = 2 * srtt
        if pto < PTO_MIN:
            pto = PTO_MIN
        if s.in_recovery:
            t = s.rxt_time
            if t is None or self.rxt_probed:
                s.tlp_deadline = None
                return
            deadline = t + pto
        else:
            if s.tlp_high is not None:
                s.tlp_deadline = None
                return
            if sent and ((s.snd_max - s.snd_una) & MASK) <= s.mss:
                pto += WC_DELACK
            deadline = now + pto
        s.tlp_deadline = deadline if deadline < rto_deadline else None

    def on_probe_timer(self, now: float) -> None:
        """The probe timer fired: in recovery, resend SND.UNA if it is still a retransmission
        no ACK reported; otherwise send a probe with the next output and restart the RTO
        (RFC 8985 section 7.3)."""
        s = self.s
        s.tlp_deadline = None
        if s.snd_max == s.snd_una:
            return
        if s.in_recovery:
            if s.rxt_time is not None and not self.rxt_probed:
                self.rxt_probed = True
                s.rxt_time = None
                self._resend_una()
                s.recovery_due = True
            return
        if s.tlp_high is not None:
            return
        if not self._on_quiet_hole():
            self.tlp_due = True
            s.recovery_due = True
        s.rtx_deadline = now + s.current_rto()

    def _on_quiet_hole(self) -> bool:
        """The probe timer fired: if the ACKs already showed a hole, act on it instead of
        probing and return True."""
        return False

    def _send_probe(self, now: float) -> None:
        """RFC 8985 section 7.3: one new segment if the peer's window takes one, else the
        highest un-SACKed segment sent; either way whatever cwnd says."""
        s = self.s
        self.tlp_due = False
        buf = s.buf
        flight = (s.snd_max - s.snd_una) & MASK
        sent_end = buf.start + flight
        room = s.snd_wnd - flight
        if sent_end < buf.end and room > 0:
            off = sent_end
            end = off + min(buf.end - off, s.mss, room)
            s.send_range(off, end + 1 if end == buf.end and s.fin_queued else end, now)
            self.tlp_retrans = False
        elif s.fin_queued and sent_end == buf.end:
            off = end = sent_end
            s.send_range(off, off + 1, now)  # the FIN is the new segment
            self.tlp_retrans = False
        else:
            gap = s.scoreboard.last_gap(buf.start, sent_end)
            if gap is None:
                return
            lo, hi = gap
            off = (hi if hi < buf.end else buf.end) - s.mss
            if off < lo:
                off = lo
            end = self._send(off, hi, now)
            if end > buf.end:
                end = buf.end
            self.tlp_retrans = True
        s.tlp_high = s.snd_max
        self.tlp_lo = (s.iss + 1 + off) & MASK
        self.tlp_end = end

    def on_probe_acked(self, blocks: tuple[tuple[int, int], ...]) -> None:
        """SND.UNA reached the probe's end (RFC 8985 section 7.4). A retransmitted probe that
        the peer reports as a duplicate (a D-SACK block within it, RFC 2883) repaired
        nothing; otherwise it repaired a loss, so cwnd is reduced as a fast recovery would
        have. A probe of new data just ends."""
        s = self.s
        high = s.tlp_high
        s.tlp_high = None
        if not self.tlp_retrans or s.in_recovery or high is None:
            return
        if blocks:
            left, right = blocks[0]
            if ((left - self.tlp_lo) & MASK) < HALF and ((high - right) & MASK) < HALF:
                return
        s.ssthresh = max(s.cwnd // 2, 2 * s.mss)
        s.cwnd = s.ssthresh
        s.ca_acked = 0

    def _probe_sacked(self) -> bool:
        """The outstanding probe arrived, reported in a SACK block: every hole below it was
        sent before it and is lost (RACK's rule, RFC 8985 section 6.2)."""
        s = self.s
        return s.tlp_high is not None and s.scoreboard.highest() >= self.tlp_end


class RenoRecovery(LossRecovery):
    """Without SACK: RFC 5681 section 3.2 with RFC 6582 (NewReno) and RFC 3042.

    A duplicate ACK is RFC 5681 section 2's: no data, no window change, SND.UNA unchanged,
    data outstanding. The first two let one new segment each beyond cwnd (Limited Transmit);
    the third starts fast retransmit of the segment at SND.UNA; further ones inflate cwnd by
    a segment each (RFC 5681 section 3.2 step 4). A partial ACK retransmits the next segment
    and deflates (RFC 6582 section 3.2 step 5); the ACK of ``recover`` ends recovery with
    ``cwnd = min(ssthresh, FlightSize + SMSS)`` (step 6, option 1).
    """

    __slots__ = ("after_rto", "rexmit_next", "rexmit_pending")

    def __init__(self, sender: Sender) -> None:
        super().__init__(sender)
        #: ``recover`` was last set by a retransmission timeout, not a fast retransmit.
        self.after_rto = False
        #: Stream offset after the last byte retransmitted in this recovery.
        self.rexmit_next = 0
        #: A retransmission of the segment at SND.UNA is due with the next output.
        self.rexmit_pending = False

    def _resend_una(self) -> None:
        self.rexmit_next = self.s.buf.start
        self.rexmit_pending = True

    def _may_fast_retransmit(self, ack: int) -> bool:
        """RFC 6582 section 3.2 step 2: only if SEG.ACK "covers more than recover" (which is
        SND.MAX - 1 at the last recovery or timeout), so that the echoes of a go-back-N
        resend after a timeout do not start a recovery of their own.

        Two exceptions. After a fast recovery, which resends only holes, an ACK equal to
        SND.MAX then already acknowledges all that was outstanding, and its duplicates are
        about newer data. After a timeout, the ACK heuristic of section 4.1 applies: if the
        last new ACK moved SND.UNA by at most four segments the duplicates show a loss.
        """
        s = self.s
        d = (ack - s.recover) & MASK
        if 0 < d < HALF or (d == 0 and not self.after_rto):
            return True
        return s.cwnd > s.mss and s.ack_advance <= 4 * s.mss

    def on_dupack(self, ack: int, now: float) -> None:
        s = self.s
        s.dupacks += 1
        self._check_rxt_lost(now)
        if s.in_recovery:
            s.cwnd += s.mss
            return
        if s.dupacks == 1:
            self.lt_base = s.snd_max
        if s.dupacks < DUP_THRESH:
            s.recovery_due = True  # Limited Transmit
        elif s.dupacks == DUP_THRESH and self._may_fast_retransmit(ack):
            self._enter()
            self.after_rto = False
            s.cwnd = s.ssthresh + DUP_THRESH * s.mss  # step 3: the three that left
            self._resend_una()

    def on_recovery_ack(self, ack: int, acked: int, now: float) -> None:
        s = self.s
        mss = s.mss
        if ((ack - s.recover) & MASK) < HALF:
            s.in_recovery = False
            flight = (s.snd_max - ack) & MASK
            s.cwnd = min(s.ssthresh, max(flight, mss) + mss)
            self.rexmit_pending = False
            return
        self.rxt_probed = False
        if self.rexmit_next <= s.buf.start:
            self.rexmit_pending = True
        s.cwnd -= min(acked, s.cwnd - mss)
        if acked >= mss:
            s.cwnd += mss

    def on_rto(self) -> None:
        super().on_rto()
        self.rexmit_pending = False
        self.after_rto = True

    def output(self, now: float) -> int:
        s = self.s
        if self.tlp_due:
            self._send_probe(now)
        if self.rexmit_pending:
            self.rexmit_pending = False
            start = s.buf.start
            if self.rexmit_next <= start:
                sent_end = start + ((s.snd_max - s.snd_una) & MASK)
                self.rexmit_next = self._send(start, sent_end, now)
        if s.in_recovery:
            return s.cwnd
        dupacks = s.dupacks
        s.recovery_due = dupacks > 0
        if 0 < dupacks < DUP_THRESH and s.snd_nxt == s.snd_max:
            # RFC 3042: FlightSize may reach cwnd plus one segment per duplicate ACK (not
            # while go-back-N after a timeout resends old data).
            return s.cwnd + dupacks * s.mss
        return s.cwnd


class SACKRecovery(LossRecovery):
    """With SACK: RFC 6675 conservative loss recovery (Limited Transmit is its step 3).

    ``high_rxt`` and ``rescue_rxt`` are RFC 6675's HighRxt and RescueRxt as stream offsets
    one past the byte; the sender's ``recover`` is RecoveryPoint. cwnd is set to ssthresh on
    entry and left there: the pipe, not cwnd inflation, clocks recovery.

    Two additions for small windows, where RFC 6675 alone stalls until the RTO: a partial ACK
    marks the segment at the new SND.UNA lost when it was never retransmitted (a segment sent
    after it — the retransmission just acknowledged — arrived first: RFC 6582 section 3.2
    step 5, and RACK's reasoning, RFC 8985 section 6), and a probe timeout with a hole already
    SACKed around starts recovery instead of probing (what RACK's reordering timer would do).
    """

    __slots__ = ("first_rxt", "high_rxt", "rescue_rxt")

    def __init__(self, sender: Sender) -> None:
        super().__init__(sender)
        self.high_rxt = 0
        self.rescue_rxt: int | None = None
        #: The segment at SND.UNA is to be (re)sent with the next output: step (4.3).
        self.first_rxt = False

    def _resend_una(self) -> None:
        self.first_rxt = True

    def _start(self) -> None:
        s = self.s
        self._enter()
        s.cwnd = s.ssthresh  # (4.2)
        self.high_rxt = s.buf.start
        self.rescue_rxt = None
        self.first_rxt = True

    def on_dupack(self, ack: int, now: float) -> None:
        """RFC 6675 section 5 steps (1) to (4), for an ACK that SACKed new data."""
        s = self.s
        self._check_rxt_lost(now)
        if s.in_recovery:
            return  # (B): the scoreboard is updated; output() recomputes the pipe
        s.dupacks += 1
        if s.dupacks == 1:
            self.lt_base = s.snd_max
        start = s.buf.start
        lost = (
            s.dupacks >= DUP_THRESH
            or s.scoreboard.lost_end(start, s.mss) > start
            or self._probe_sacked()
        )
        # Section 5.1: no new recovery until HighACK >= RecoveryPoint.
        if lost and ((ack - s.recover) & MASK) < HALF:
            self._start()
        else:
            s.recovery_due = True  # step (3): Limited Transmit, sized by the pipe

    def _on_quiet_hole(self) -> bool:
        s = self.s
        if not s.scoreboard.ranges or ((s.snd_una - s.recover) & MASK) >= HALF:
            return False
        self._start()
        return True

    def on_recovery_ack(self, ack: int, acked: int, now: float) -> None:
        s = self.s
        start = s.buf.start
        if ((ack - s.recover) & MASK) < HALF:
            s.in_recovery = False  # (A): RecoveryPoint is acknowledged
            self.first_rxt = False
            return
        self.rxt_probed = False
        if self.high_rxt <= start:
            self.high_rxt = start
            self.first_rxt = True  # the partial-ACK rule (see the class docstring)
        else:
            s.rxt_time = now  # retransmitted before: time it from now, to be safe

    def on_rto(self) -> None:
        super().on_rto()
        self.first_rxt = False

    def output(self, now: float) -> int:
        s = self.s
        if self.tlp_due:
            self._send_probe(now)
        start = s.buf.start
        flight = (s.snd_max - s.snd_una) & MASK
        sent_end = start + flight
        board = s.scoreboard
        if self.first_rxt:
            # (4.3): the first segment presumed dropped, whatever the pipe says.
            self.first_rxt = False
            gap = board.next_gap(start, sent_end)
            if gap is not None and gap[0] == start:
                end = self._send(start, gap[1], now)
                if end > self.high_rxt:
                    self.high_rxt = end
        mss = s.mss
        cwnd = s.cwnd
        if not s.in_recovery:
            s.recovery_due = s.dupacks > 0
            if not s.dupacks or s.snd_nxt != s.snd_max:
                return cwnd  # nothing to add, or go-back-N after a timeout (section 5.1)
            # Step (3): (3.1) HighRxt = HighACK, (3.2) SetPipe, (3.3) send while it allows.
            pipe = board.pipe(start, sent_end, board.lost_end(start, mss), start)
            return flight + cwnd - pipe if cwnd - pipe >= mss else flight
        lost_end = board.lost_end(start, mss)
        pipe = board.pipe(start, sent_end, lost_end, self.high_rxt)
        # (C) with NextSeg() rule (1): un-SACKed, above HighRxt, lost.
        pipe = self._resend_gaps(start, lost_end, pipe, cwnd, mss, now)
        # Rule (2), previously unsent data, is the sender's: the window left is its share.
        return flight + cwnd - pipe if cwnd - pipe >= mss else flight

    def _resend_gaps(
        self, start: int, limit: int, pipe: int, cwnd: int, mss: int, now: float
    ) -> int:
        """Resend un-SACKed gaps above HighRxt and below *limit* while the window allows
        (NextSeg rules 1 and 3); returns the new pipe."""
        board = self.s.scoreboard
        while cwnd - pipe >= mss:
            off = self.high_rxt if self.high_rxt > start else start
            gap = board.next_gap(off, limit)
            if gap is None:
                break
            self.high_rxt = end = self._send(gap[0], gap[1], now)
            if end <= gap[0]:
                break  # nothing to send there (cannot happen with a sane scoreboard)
            pipe += end - gap[0]
        return pipe

    def output_tail(self, now: float) -> None:
        s = self.s
        start = s.buf.start
        sent_end = start + ((s.snd_max - s.snd_una) & MASK)
        board = s.scoreboard
        mss = s.mss
        cwnd = s.cwnd
        pipe = board.pipe(start, sent_end, board.lost_end(start, mss), self.high_rxt)
        # Rule (3): un-SACKed data above HighRxt below the highest SACKed byte, lost or not.
        pipe = self._resend_gaps(start, board.highest(), pipe, cwnd, mss, now)
        # Rule (4): once per recovery, a segment ending at the highest un-SACKed byte of
        # the data outstanding when recovery began (not data sent since, not data resent
        # already); RescueRxt = RecoveryPoint, HighRxt unchanged.
        rescue = self.rescue_rxt
        if cwnd - pipe >= mss and (rescue is None or rescue < start):
            point = start + ((s.recover - s.snd_una) & MASK)
            gap = board.last_gap(self.high_rxt if self.high_rxt > start else start, point)
            if gap is not None:
                lo, hi = gap
                off = (hi if hi < s.buf.end else s.buf.end) - mss
                self._send(off if off > lo else lo, hi, now)
                self.rescue_rxt = point
