"""The sending half of a TCP connection: what to send when, RTO, congestion control.

Theory of operation
-------------------
The :class:`~usersock.transport.tcp.sendbuffer.SendBuffer` holds every byte from SND.UNA to
the end of what the user queued. Positions inside it are *stream offsets*: unbounded Python
integers counting data bytes from the first one, so they never wrap. Offset ``o`` is sequence
number ``ISS + 1 + o``; a sequence number is mapped back relative to SND.UNA.

The data between SND.UNA and SND.MAX *is* the retransmission queue (as in BSD and Linux there
are no per-segment records): a retransmission re-slices the buffer. ``snd_nxt`` goes back to
SND.UNA after a retransmission timeout (go-back-N, skipping what the peer SACKed) and moves
forward again under the congestion window; every other retransmission is one segment sent by
:meth:`Sender.send_range` for the recovery object, with SND.NXT left at SND.MAX.

* RTO: RFC 6298 (SRTT/RTTVAR, exponential backoff, ``rto_min``/``rto_max``). RTT samples come
  from the timestamp echo when RFC 7323 timestamps are in use, else from one timed segment
  per RTT under Karn's algorithm (a retransmission cancels the sample).
* Congestion control: RFC 5681 slow start (with RFC 3465 byte counting, L = 2*SMSS) and
  congestion avoidance here; the reaction to loss — Limited Transmit, fast retransmit and
  recovery (NewReno without SACK, RFC 6675 with it) and the tail loss probe — in
  :mod:`.recovery`, with the SACK scoreboard in :mod:`.scoreboard`.
* Segmentation: the effective MSS of RFC 9293 section 3.7.1 minus the timestamp option;
  Nagle (RFC 9293 section 3.7.4, RFC 896) unless ``nodelay``; sender-side silly window
  avoidance (RFC 9293 section 3.8.6.2.1).
* Peer window: RFC 9293 section 3.10.7.4 update rule (SND.WL1/SND.WL2), scaled by the
  peer's window shift (RFC 7323 section 2). When data waits on a window too small to use and
  nothing is in flight, the persist timer (RFC 9293 section 3.8.6.1) fires probes.

The sender never builds headers: it calls ``emit(seq, flags, payload)``, which the connection
turns into a segment carrying ACK, window and options.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from usersock.transport.tcp.recovery import LossRecovery, RenoRecovery, SACKRecovery
from usersock.transport.tcp.scoreboard import Scoreboard
from usersock.transport.tcp.sendbuffer import SendBuffer
from usersock.transport.tcp.seqnum import HALF, MASK
from usersock.wire.tcp import FIN, PSH

if TYPE_CHECKING:
    from usersock.transport.tcp.config import TCPConfig

#: ``emit(seq, flags, payload)``: hand one segment to the connection (flags beyond ACK).
Emit = Callable[[int, int, "bytes | memoryview"], None]

#: Clock granularity G of RFC 6298 section 2 (seconds).
_GRANULARITY = 0.001
#: Upper bound on the congestion window, so an application-limited flow cannot grow it
#: without limit (RFC 7661 discusses the problem; this is the blunt fix).
_CWND_MAX = 1 << 30


class Sender:
    """Send sequence space, send buffer, RTO, congestion control and the persist timer.

    Owned by one :class:`~usersock.transport.tcp.connection.Connection`, which feeds it the
    ACK fields of every acceptable segment (:meth:`on_ack`), fires its timers
    (:meth:`on_timer`) and asks it to transmit (:meth:`output`). Loss recovery is delegated
    to ``lr`` (:mod:`.recovery`), which works on the variables here.
    """

    __slots__ = (
        "ack_advance",
        "backoff",
        "buf",
        "bytes_sent",
        "ca_acked",
        "config",
        "cwnd",
        "dupacks",
        "emit",
        "fin_acked",
        "fin_queued",
        "force_send",
        "in_recovery",
        "iss",
        "lr",
        "max_snd_wnd",
        "mss",
        "persist_backoff",
        "persist_deadline",
        "probe_pending",
        "probes_out",
        "recover",
        "recovery_due",
        "retransmissions",
        "rto",
        "rtt_seq",
        "rtt_time",
        "rttvar",
        "rtx_deadline",
        "rxt_time",
        "sack_enabled",
        "scoreboard",
        "snd_max",
        "snd_nxt",
        "snd_una",
        "snd_wl1",
        "snd_wl2",
        "snd_wnd",
        "snd_wscale",
        "srtt",
        "ssthresh",
        "syn_acked",
        "tlp_deadline",
        "tlp_high",
        "ts_enabled",
    )

    def __init__(self, config: TCPConfig, iss: int, emit: Emit) -> None:
        self.config = config
        self.emit = emit
        self.iss = iss
        #: RFC 9293 section 3.3.1 send sequence variables; SND.MAX is the highest sent.
        self.snd_una = iss
        self.snd_nxt = iss
        self.snd_max = iss
        self.snd_wnd = 0
        self.snd_wl1 = 0
        self.snd_wl2 = 0
        self.max_snd_wnd = 0
        #: Shift applied to the peer's window field (its Window Scale option).
        self.snd_wscale = 0
        self.buf = SendBuffer()
        self.syn_acked = False
        self.fin_queued = False
        self.fin_acked = False
        #: Effective send MSS (RFC 9293 section 3.7.1), set after the handshake.
        self.mss = max(config.mss, 64)
        # Congestion control (RFC 5681 section 3.1).
        self.cwnd = self.initial_window()
        self.ssthresh = _CWND_MAX
        self.ca_acked = 0
        # Loss recovery (:mod:`.recovery`): duplicate ACKs counted, whether a fast recovery
        # runs, where it ends (RFC 6582 "recover", RFC 6675 RecoveryPoint), and whether the
        # next output has recovery work (retransmissions, Limited Transmit, a probe).
        self.dupacks = 0
        self.in_recovery = False
        self.recover = iss
        #: How far the last new ACK moved SND.UNA (RFC 6582 section 4.1's heuristic).
        self.ack_advance = 0
        self.recovery_due = False
        self.lr: LossRecovery = RenoRecovery(self)
        # RTO (RFC 6298).
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.rto = config.rto_initial
        self.backoff = 0
        self.rtt_seq: int | None = None
        self.rtt_time = 0.0
        self.rtx_deadline: float | None = None
        # Tail loss probe (RFC 8985 section 7): its timer, and TLP.end_seq while one is out.
        self.tlp_deadline: float | None = None
        self.tlp_high: int | None = None
        #: When the segment at SND.UNA was last retransmitted (:mod:`.recovery`).
        self.rxt_time: float | None = None
        # Persist timer (RFC 9293 section 3.8.6.1).
        self.persist_deadline: float | None = None
        self.persist_backoff = 0
        self.probes_out = 0
        self.probe_pending = False
        self.force_send = False
        self.ts_enabled = False
        self.sack_enabled = False
        #: What the peer SACKed above SND.UNA (RFC 2018), by stream offset.
        self.scoreboard = Scoreboard()
        self.bytes_sent = 0
        self.retransmissions = 0

    def set_sack(self, enabled: bool) -> None:
        """The handshake settled SACK (RFC 2018 section 2): pick the loss recovery."""
        self.sack_enabled = enabled
        self.lr = SACKRecovery(self) if enabled else RenoRecovery(self)

    # -- sizes -----------------------------------------------------------------------------

    def initial_window(self) -> int:
        """RFC 5681 section 3.1 initial window for the current MSS."""
        mss = self.mss
        if mss > 2190:
            return 2 * mss
        if mss > 1095:
            return 3 * mss
        return 4 * mss

    def space(self) -> int:
        """Free bytes in the send buffer."""
        return max(0, self.config.snd_buf - len(self.buf))

    def fin_seq(self) -> int:
        """Sequence number of our FIN (meaningful once ``fin_queued``)."""
        return (self.iss + 1 + self.buf.end) & MASK

    def flight(self) -> int:
        """Sequence space sent and not acknowledged (SND.MAX - SND.UNA)."""
        return (self.snd_max - self.snd_una) & MASK

    def has_unsent(self) -> bool:
        """True if data or a FIN waits to be sent for the first time."""
        if self.fin_acked:
            return False
        end = self.buf.end + (1 if self.fin_queued else 0)
        sent = self.buf.start + ((self.snd_max - self.snd_una) & MASK)
        if not self.syn_acked:
            return end > 0
        return sent < end

    def current_rto(self) -> float:
        """The retransmission timeout including exponential backoff (RFC 6298 section 5.5)."""
        rto = self.rto * (1 << min(self.backoff, 30))
        cap = self.config.rto_max
        return cap if rto > cap else rto

    # -- RTT estimation (RFC 6298 section 2) ----------------------------------------------

    def rtt_sample(self, r: float) -> None:
        """Fold one round-trip measurement *r* (seconds) into SRTT, RTTVAR and RTO."""
        if r < 0.0:
            return
        srtt = self.srtt
        if srtt is None:
            self.srtt = r
            self.rttvar = r / 2
        else:
            delta = srtt - r
            self.rttvar = 0.75 * self.rttvar + 0.25 * (delta if delta >= 0 else -delta)
            self.srtt = 0.875 * srtt + 0.125 * r
        assert self.srtt is not None
        var = 4 * self.rttvar
        rto = self.srtt + (var if var > _GRANULARITY else _GRANULARITY)
        cfg = self.config
        self.rto = cfg.rto_min if rto < cfg.rto_min else cfg.rto_max if rto > cfg.rto_max else rto

    # -- the ACK side ----------------------------------------------------------------------

    def update_window(self, seq: int, ack: int, window: int) -> None:
        """RFC 9293 section 3.10.7.4: take SEG.WND if the segment is newer than SND.WL1/WL2."""
        wl1 = self.snd_wl1
        d = (seq - wl1) & MASK
        if (0 < d < HALF) or (d == 0 and ((ack - self.snd_wl2) & MASK) < HALF):
            self.snd_wnd = window
            self.snd_wl1 = seq
            self.snd_wl2 = ack
            if window > self.max_snd_wnd:
                self.max_snd_wnd = window

    def on_ack(
        self,
        seq: int,
        ack: int,
        window: int,
        pure: bool,
        tsecr_rtt: float | None,
        sack_blocks: tuple[tuple[int, int], ...],
        now: float,
    ) -> int:
        """Process SEG.ACK of an acceptable segment whose ACK is within [SND.UNA, SND.MAX].

        *window* is already scaled; *pure* says the segment carried no data, SYN or FIN (so
        it may be a duplicate ACK, RFC 5681 section 2); *tsecr_rtt* is the RTT measured from
        the timestamp echo, if any. Returns the sequence space newly acknowledged.
        """
        una = self.snd_una
        adv = (ack - una) & MASK
        self.probes_out = 0  # the peer answers (Linux resets icsk_probes_out here too)
        newly = 0
        if sack_blocks and self.sack_enabled:
            base = self.buf.start
            newly = self.scoreboard.update(
                sack_blocks, base, (self.iss + 1 + base) & MASK, (self.snd_max - una) & MASK
            )
        if adv == 0:
            old_wnd = self.snd_wnd
            self.update_window(seq, ack, window)
            # A duplicate ACK: with SACK, one that SACKs new data (RFC 6675 section 2);
            # without, one with no data and no window change (RFC 5681 section 2).
            if self.snd_max != una and (newly if self.sack_enabled else pure and window == old_wnd):
                self.lr.on_dupack(ack, now)
            return 0
        # New data acknowledged (RFC 9293 section 3.10.7.4, RFC 5681 section 3).
        acked = adv
        if not self.syn_acked:
            self.syn_acked = True
            acked -= 1
        buf = self.buf
        if self.fin_queued and ack == ((self.iss + 2 + buf.end) & MASK):
            self.fin_acked = True
            acked -= 1
        if acked > 0:
            buf.release(buf.start + acked)
        self.snd_una = ack
        if ((ack - self.snd_nxt) & MASK) - 1 < HALF - 1:
            self.snd_nxt = ack
        self.update_window(seq, ack, window)
        # RTT sample: timestamps (RFC 7323 section 4) or the one timed segment (Karn).
        if tsecr_rtt is not None:
            self.rtt_sample(tsecr_rtt)
        elif self.rtt_seq is not None and ((ack - self.rtt_seq) & MASK) - 1 < HALF - 1:
            self.rtt_sample(now - self.rtt_time)
            self.rtt_seq = None
        self.backoff = 0
        self.ack_advance = adv
        mss = self.mss
        self.rxt_time = None
        if self.in_recovery:
            self.lr.on_recovery_ack(ack, acked, now)
        elif self.cwnd < self.ssthresh:
            # Slow start with appropriate byte counting (RFC 5681 3.1, RFC 3465 L=2*SMSS).
            self.cwnd += acked if acked < 2 * mss else 2 * mss
        else:
            # Congestion avoidance: one SMSS per cwnd of data acknowledged.
            self.ca_acked += acked
            if self.ca_acked >= self.cwnd:
                self.ca_acked -= self.cwnd
                self.cwnd += mss
        if self.cwnd > _CWND_MAX:
            self.cwnd = _CWND_MAX
        self.dupacks = 0
        if self.scoreboard.ranges:
            self.scoreboard.advance(buf.start)
        tlp_high = self.tlp_high
        if tlp_high is not None and ((ack - tlp_high) & MASK) < HALF:
            self.lr.on_probe_acked(sack_blocks)
        if newly and not self.in_recovery:
            self.lr.on_dupack(ack, now)  # SACKed new data: a duplicate ACK too (RFC 6675 section 5)
        # RFC 6298 section 5.2/5.3: stop the timer when all is acknowledged, else restart it;
        # RFC 8985 section 7.2: likewise the probe timer.
        if self.snd_max == ack:
            self.rtx_deadline = None
            self.tlp_deadline = None
        else:
            self.rtx_deadline = now + self.current_rto()
            self.lr.arm_probe(now, False)
        return adv

    def on_rto(self, now: float) -> None:
        """The retransmission timer expired (RFC 6298 section 5.4-5.6, RFC 5681 eq. 4).

        Collapses cwnd to one segment, ends any recovery, goes back to SND.UNA and doubles the
        timeout. The SACK scoreboard is cleared as RFC 2018 section 8 recommends (the peer
        may have reneged); ACKs refill it and go-back-N skips what they SACK (RFC 6675
        section 5.1).
        """
        mss = self.mss
        flight = (self.snd_max - self.snd_una) & MASK
        if self.backoff == 0:
            self.ssthresh = max(flight // 2, 2 * mss)
        self.backoff += 1
        self.cwnd = mss
        self.ca_acked = 0
        self.lr.on_rto()
        self.snd_nxt = self.snd_una
        self.rtt_seq = None
        self.scoreboard.clear()
        self.rtx_deadline = now + self.current_rto()

    def on_timer(self, now: float, handshake: bool) -> bool:
        """Fire the retransmission, probe and persist timers due at *now*.

        Returns True when the connection must give up: ``syn_retries`` (handshake) or
        ``retries2`` retransmissions or unanswered probes went by (RFC 9293 3.8.3, R2).
        In the handshake only the timeout backs off and SND.NXT returns to ISS: the
        connection resends its SYN (RFC 6298 section 5.5; no cwnd change, RFC 5681 3.1).
        """
        cfg = self.config
        d = self.rtx_deadline
        if d is not None and now >= d:
            if handshake:
                if self.backoff >= cfg.syn_retries:
                    return True
                self.backoff += 1
                self.rtx_deadline = now + self.current_rto()
                self.snd_nxt = self.iss
            elif self.snd_max != self.snd_una:
                if self.backoff >= cfg.retries2:
                    return True
                self.on_rto(now)
            else:
                self.rtx_deadline = None
        d = self.tlp_deadline
        if d is not None and now >= d:
            self.lr.on_probe_timer(now)
        d = self.persist_deadline
        if d is not None and now >= d:
            if self.probes_out >= cfg.retries2:
                return True
            self.on_persist(now)
        return False

    def teardown(self) -> None:
        """The connection closed: stop the timers, drop unsent and unacknowledged data."""
        self.rtx_deadline = None
        self.tlp_deadline = None
        self.persist_deadline = None
        self.probe_pending = False
        self.recovery_due = False
        self.buf.release(self.buf.end)

    def on_persist(self, now: float) -> None:
        """The persist timer expired: probe the window (RFC 9293 section 3.8.6.1).

        A zero window is probed with a segment the peer must answer with an ACK carrying its
        window (Linux's probe: sequence SND.UNA - 1, no data). A small non-zero window that
        silly-window avoidance would not use is filled anyway (the override timeout of RFC
        9293 section 3.8.6.2.1). The interval backs off exponentially.
        """
        self.probes_out += 1
        if self.snd_wnd == 0:
            self.probe_pending = True
        else:
            self.force_send = True
        self.persist_backoff += 1
        self.persist_deadline = None
        self._arm_persist(now)

    def _arm_persist(self, now: float) -> None:
        base = self.rto if self.rto > self.config.rto_min else self.config.rto_min
        delay = base * (1 << min(self.persist_backoff, 30))
        cap = self.config.rto_max
        self.persist_deadline = now + (cap if delay > cap else delay)

    # -- output ----------------------------------------------------------------------------

    def output(self, now: float) -> None:
        """Transmit what the windows, Nagle and silly-window avoidance allow."""
        if not self.syn_acked or self.fin_acked:
            self.persist_deadline = None
            return
        recovering = self.recovery_due
        buf = self.buf
        if not recovering and not self.in_recovery and not self.force_send:
            # Fast path, taken by most calls: nothing waits to be sent for the first time
            # (or again, after an RTO pulled SND.NXT back), so no segment, timer or persist
            # change can follow from the loop below.
            remaining = buf.end - buf.start - ((self.snd_nxt - self.snd_una) & MASK)
            if remaining < 0 or (remaining == 0 and not self.fin_queued):
                self.persist_deadline = None
                self.persist_backoff = 0
                return
        cwnd = self.lr.output(now) if recovering else self.cwnd
        mss = self.mss
        una = self.snd_una
        wnd = self.snd_wnd if self.snd_wnd < cwnd else cwnd
        snd_max = self.snd_max
        force = self.force_send
        self.force_send = False
        emit = self.emit
        while True:
            nxt = self.snd_nxt
            flight = (nxt - una) & MASK
            off = buf.start + flight
            remaining = buf.end - off
            avail = wnd - flight
            if remaining <= 0:
                if remaining == 0 and self.fin_queued and (avail > 0 or force):
                    retrans = nxt != self.snd_max
                    emit(nxt, FIN, b"")
                    self._sent(nxt, (nxt + 1) & MASK, 0, retrans, now)
                break
            if avail <= 0:
                if force and self.snd_wnd > 0 and flight < self.snd_wnd:
                    avail = self.snd_wnd - flight
                elif flight == 0 and nxt != self.snd_max:
                    # The RTO retransmission of the first segment goes out whatever the
                    # window says (RFC 6298 section 5.4); it doubles as a window probe.
                    avail = mss
                else:
                    break
            n = remaining if remaining < mss else mss
            if avail < n:
                n = avail
            retrans = nxt != self.snd_max
            if retrans and self.scoreboard.ranges:
                # Go-back-N after an RTO: never resend what the peer SACKed.
                skip = False
                for lo, hi in self.scoreboard.ranges:
                    if off < lo:
                        if off + n > lo:
                            n = lo - off
                        break
                    if off < hi:
                        self.snd_nxt = (self.iss + 1 + hi) & MASK
                        skip = True
                        break
                if skip:
                    continue
            elif n < mss and not retrans and not force:
                if n < remaining:
                    # Window-limited: RFC 9293 3.8.6.2.1 wants >= Fs * max(SND.WND).
                    if n < (self.max_snd_wnd >> 1):
                        break
                elif not self.config.nodelay and self.snd_max != una and not self.fin_queued:
                    break  # Nagle: a small segment waits while data is unacknowledged
            end = off + n
            flags = 0
            if end == buf.end:
                flags = PSH
                if self.fin_queued and n < avail:
                    flags = PSH | FIN
            emit(nxt, flags, buf.get(off, n))
            self._sent(nxt, (nxt + n + (flags & FIN)) & MASK, n, retrans, now)
        if recovering and self.in_recovery:
            self.lr.output_tail(now)
        if (self.snd_max != snd_max or self.in_recovery) and self.srtt is not None:
            # New data went out (RFC 8985 section 7.2), or a recovery retransmission did.
            self.lr.arm_probe(now, True)
        # Persist timer: data waits, nothing is in flight, so no ACK will come to clock us.
        if self.snd_max == una and self.rtx_deadline is None and self.has_unsent():
            if self.persist_deadline is None:
                self._arm_persist(now)
        else:
            self.persist_deadline = None
            self.persist_backoff = 0

    def _sent(self, seq: int, new_nxt: int, n: int, retrans: bool, now: float) -> None:
        """Book-keeping after transmitting ``[seq, new_nxt)``."""
        self.snd_nxt = new_nxt
        self.bytes_sent += n
        if ((new_nxt - self.snd_max) & MASK) - 1 < HALF - 1:
            self.snd_max = new_nxt
        if retrans:
            self.retransmissions += 1
            self.rtt_seq = None  # Karn: never time a retransmitted segment
            if seq == self.snd_una:
                self.rxt_time = now
        elif self.rtt_seq is None and not self.ts_enabled:
            self.rtt_seq = seq
            self.rtt_time = now
        if self.rtx_deadline is None:
            self.rtx_deadline = now + self.current_rto()

    def send_range(self, off: int, end: int, now: float) -> int:
        """Send one segment for loss recovery: at most an MSS of data from stream offset
        *off*, not reaching *end* (a SACKed byte, or the end of what was sent, one past the
        data if it includes our FIN). The FIN goes with the last data byte when *end* covers
        it. Data at SND.MAX is new (a probe); anything below is a retransmission, which
        leaves SND.NXT alone. Returns the offset after the segment (the FIN counts one).
        """
        buf = self.buf
        n = (end if end < buf.end else buf.end) - off
        if n > self.mss:
            n = self.mss
        elif n < 0:
            n = 0
        flags = 0
        if off + n == buf.end:
            flags = PSH
            if self.fin_queued and end > buf.end:
                flags = PSH | FIN
        seq = (self.iss + 1 + off) & MASK
        fin = flags & FIN
        self.emit(seq, flags, buf.get(off, n) if n else b"")
        if seq == self.snd_max:
            self._sent(seq, (seq + n + fin) & MASK, n, False, now)
        else:
            self.retransmissions += 1
            self.bytes_sent += n
            self.rtt_seq = None  # Karn: never time a retransmitted segment
            if self.rtx_deadline is None:
                self.rtx_deadline = now + self.current_rto()
        return off + n + fin
