"""The sending half of a TCP connection: send buffer, retransmission, RTO, congestion control.

Theory of operation
-------------------
:class:`SendBuffer` holds every byte from SND.UNA to the end of what the user queued, as a
list of immutable chunks; segments are ``memoryview`` slices of those chunks, so no byte is
copied after :meth:`SendBuffer.append` (which copies once, and only if the caller's object is
mutable). Positions inside the buffer are *stream offsets*: unbounded Python integers counting
data bytes from the first one, so they never wrap. Offset ``o`` is sequence number
``ISS + 1 + o``; a sequence number is mapped back relative to SND.UNA.

The data between SND.UNA and SND.MAX *is* the retransmission queue (as in BSD and Linux there
are no per-segment records): a retransmission re-slices the buffer. ``snd_nxt`` goes back to
SND.UNA after a retransmission timeout (go-back-N, skipping what the peer SACKed) and moves
forward again under the congestion window.

* RTO: RFC 6298 (SRTT/RTTVAR, exponential backoff, ``rto_min``/``rto_max``). RTT samples come
  from the timestamp echo when RFC 7323 timestamps are in use, else from one timed segment
  per RTT under Karn's algorithm (a retransmission cancels the sample).
* Congestion control: RFC 5681 slow start (with RFC 3465 byte counting, L = 2*SMSS) and
  congestion avoidance, fast retransmit on the third duplicate ACK and fast recovery with the
  NewReno partial-ACK rules of RFC 6582. With SACK (RFC 2018) a scoreboard of SACKed ranges
  lets recovery retransmit the holes below the highest SACKed byte, one per ACK, and never
  resend SACKed data.
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

from bisect import bisect_right
from collections.abc import Callable
from typing import TYPE_CHECKING

from usersock.transport.tcp.seqnum import HALF, MASK
from usersock.wire.tcp import FIN, PSH

if TYPE_CHECKING:
    from usersock.transport.tcp.connection import TCPConfig

#: ``emit(seq, flags, payload)``: hand one segment to the connection (flags beyond ACK).
Emit = Callable[[int, int, "bytes | memoryview"], None]

#: Clock granularity G of RFC 6298 section 2 (seconds).
_GRANULARITY = 0.001
#: Upper bound on the congestion window, so an application-limited flow cannot grow it
#: without limit (RFC 7661 discusses the problem; this is the blunt fix).
_CWND_MAX = 1 << 30


class SendBuffer:
    """The bytes from SND.UNA to the end of the user's queued data.

    ``start`` and ``end`` are stream offsets. Chunks are kept as ``memoryview`` objects over
    immutable ``bytes``; :meth:`get` returns a zero-copy slice unless a segment spans chunks.
    """

    __slots__ = ("_chunks", "_head", "_starts", "end", "start")

    def __init__(self) -> None:
        self._chunks: list[memoryview] = []
        self._starts: list[int] = []
        self._head = 0
        self.start = 0
        self.end = 0

    def __len__(self) -> int:
        return self.end - self.start

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Queue *data* (copied once if it is mutable)."""
        if not isinstance(data, bytes):
            data = bytes(data)
        if data:
            self._chunks.append(memoryview(data))
            self._starts.append(self.end)
            self.end += len(data)

    def get(self, off: int, n: int) -> bytes | memoryview:
        """Return *n* bytes starting at stream offset *off* (a view when in one chunk)."""
        i = bisect_right(self._starts, off, self._head) - 1
        chunk = self._chunks[i]
        rel = off - self._starts[i]
        if rel + n <= len(chunk):
            return chunk[rel : rel + n]
        parts = [chunk[rel:]]
        n -= len(chunk) - rel
        while n > 0:
            i += 1
            chunk = self._chunks[i]
            parts.append(chunk[:n])
            n -= len(chunk)
        return b"".join(parts)

    def release(self, upto: int) -> None:
        """Forget everything before stream offset *upto* (acknowledged data)."""
        if upto <= self.start:
            return
        self.start = upto
        chunks, starts = self._chunks, self._starts
        head = self._head
        last = len(chunks)
        while head < last and starts[head] + len(chunks[head]) <= upto:
            head += 1
        if head == last:
            chunks.clear()
            starts.clear()
            head = 0
        elif head > 64 and head * 2 > last:
            del chunks[:head]
            del starts[:head]
            head = 0
        self._head = head


class Sender:
    """Send sequence space, send buffer, RTO, congestion control and the persist timer.

    Owned by one :class:`~usersock.transport.tcp.connection.Connection`, which feeds it the
    ACK fields of every acceptable segment (:meth:`on_ack`), fires its timers
    (:meth:`on_rto`, :meth:`on_persist`) and asks it to transmit (:meth:`output`).
    """

    __slots__ = (
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
        "max_snd_wnd",
        "mss",
        "persist_backoff",
        "persist_deadline",
        "probe_pending",
        "probes_out",
        "recover",
        "retransmissions",
        "rexmit_next",
        "rexmit_pending",
        "rto",
        "rtt_seq",
        "rtt_time",
        "rttvar",
        "rtx_deadline",
        "sack_enabled",
        "sacked",
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
        self.dupacks = 0
        self.in_recovery = False
        self.recover = iss
        self.rexmit_pending = 0
        self.rexmit_next = 0
        # RTO (RFC 6298).
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.rto = config.rto_initial
        self.backoff = 0
        self.rtt_seq: int | None = None
        self.rtt_time = 0.0
        self.rtx_deadline: float | None = None
        # Persist timer (RFC 9293 section 3.8.6.1).
        self.persist_deadline: float | None = None
        self.persist_backoff = 0
        self.probes_out = 0
        self.probe_pending = False
        self.force_send = False
        self.ts_enabled = False
        self.sack_enabled = False
        #: SACKed stream-offset ranges above SND.UNA, sorted and disjoint (RFC 2018).
        self.sacked: list[list[int]] = []
        self.bytes_sent = 0
        self.retransmissions = 0

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
        if sack_blocks and self.sack_enabled:
            self._update_sacked(sack_blocks)
        if adv == 0:
            old_wnd = self.snd_wnd
            self.update_window(seq, ack, window)
            if pure and self.snd_max != una and window == old_wnd:
                self._on_dupack(ack)
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
        mss = self.mss
        if self.in_recovery:
            if ((ack - self.recover) & MASK) < HALF:
                # Full acknowledgment: leave fast recovery (RFC 6582 section 3.2 step 3).
                self.in_recovery = False
                flight = (self.snd_max - ack) & MASK
                self.cwnd = min(self.ssthresh, max(flight, mss) + mss)
            else:
                # Partial acknowledgment: retransmit the next hole, deflate (RFC 6582 3.2 4).
                if self.rexmit_next <= buf.start:
                    self.rexmit_pending += 1
                self.cwnd -= min(acked, self.cwnd - mss)
                if acked >= mss:
                    self.cwnd += mss
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
        sacked = self.sacked
        if sacked:
            while sacked and sacked[0][1] <= buf.start:
                del sacked[0]
            if sacked and sacked[0][0] < buf.start:
                sacked[0][0] = buf.start
        # RFC 6298 section 5.2/5.3: stop the timer when all is acknowledged, else restart it.
        if self.snd_max == ack:
            self.rtx_deadline = None
        else:
            self.rtx_deadline = now + self.current_rto()
        return adv

    def _on_dupack(self, ack: int) -> None:
        """A duplicate ACK (RFC 5681 section 3.2, RFC 6582 section 3.2)."""
        self.dupacks += 1
        mss = self.mss
        if self.in_recovery:
            # Each further duplicate ACK means a segment left the network: inflate.
            self.cwnd += mss
            if self.sack_enabled and self._next_hole() is not None:
                self.rexmit_pending += 1
        elif self.dupacks == 3 and ((ack - 1 - self.recover) & MASK) - 1 < HALF - 1:
            # Fast retransmit; enter fast recovery.
            flight = (self.snd_max - self.snd_una) & MASK
            self.ssthresh = max(flight // 2, 2 * mss)
            self.recover = self.snd_max
            self.cwnd = self.ssthresh + 3 * mss
            self.in_recovery = True
            self.rexmit_next = self.buf.start
            self.rexmit_pending = 1

    def _update_sacked(self, blocks: tuple[tuple[int, int], ...]) -> None:
        """Merge the peer's SACK blocks into the scoreboard (RFC 2018 section 5)."""
        base = self.buf.start
        base_seq = (self.iss + 1 + base) & MASK
        limit = (self.snd_max - base_seq) & MASK
        sacked = self.sacked
        for left, right in blocks:
            lo = (left - base_seq) & MASK
            hi = (right - base_seq) & MASK
            if lo >= hi or hi > limit:
                continue  # stale (below SND.UNA, e.g. D-SACK) or bogus
            lo += base
            hi += base
            i = 0
            n = len(sacked)
            while i < n and sacked[i][1] < lo:
                i += 1
            j = i
            while j < n and sacked[j][0] <= hi:
                lo = min(lo, sacked[j][0])
                hi = max(hi, sacked[j][1])
                j += 1
            sacked[i:j] = [[lo, hi]]

    def _next_hole(self) -> tuple[int, int] | None:
        """The next (offset, length) to retransmit in fast recovery, skipping SACKed data.

        Without SACK only the segment at SND.UNA is a known hole; with SACK, every
        un-SACKed range below the highest SACKed byte is (RFC 6675's "lost" rule,
        simplified). A length of 0 means only our FIN is missing.
        """
        if not self.syn_acked:
            return None
        buf = self.buf
        off = self.rexmit_next if self.rexmit_next > buf.start else buf.start
        sent_end = buf.start + ((self.snd_max - self.snd_una) & MASK)
        if self.sacked:
            limit = -1
            for lo, hi in self.sacked:
                if off < lo:
                    limit = lo
                    break
                if off < hi:
                    off = hi
            if limit < 0:
                return None
        else:
            if off > buf.start:
                return None
            limit = sent_end
        if off >= sent_end:
            return None
        n = min(self.mss, limit - off, buf.end - off)
        return off, n if n > 0 else 0

    def on_rto(self, now: float) -> None:
        """The retransmission timer expired (RFC 6298 section 5.4-5.6, RFC 5681 eq. 4).

        Collapses cwnd to one segment, goes back to SND.UNA and doubles the timeout. The
        SACK scoreboard is cleared as RFC 2018 section 8 recommends.
        """
        mss = self.mss
        flight = (self.snd_max - self.snd_una) & MASK
        if self.backoff == 0:
            self.ssthresh = max(flight // 2, 2 * mss)
        self.backoff += 1
        self.cwnd = mss
        self.ca_acked = 0
        self.in_recovery = False
        self.dupacks = 0
        self.rexmit_pending = 0
        self.recover = self.snd_max
        self.snd_nxt = self.snd_una
        self.rtt_seq = None
        self.sacked.clear()
        self.rtx_deadline = now + self.current_rto()

    def on_timer(self, now: float, handshake: bool) -> bool:
        """Fire the retransmission and persist timers due at *now*.

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
        d = self.persist_deadline
        if d is not None and now >= d:
            if self.probes_out >= cfg.retries2:
                return True
            self.on_persist(now)
        return False

    def teardown(self) -> None:
        """The connection closed: stop the timers, drop unsent and unacknowledged data."""
        self.rtx_deadline = None
        self.persist_deadline = None
        self.probe_pending = False
        self.rexmit_pending = 0
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
        if self.rexmit_pending:
            self._retransmit_holes(now)
        buf = self.buf
        mss = self.mss
        una = self.snd_una
        wnd = self.snd_wnd if self.snd_wnd < self.cwnd else self.cwnd
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
            if retrans and self.sacked:
                # Go-back-N after an RTO: never resend what the peer SACKed.
                skip = False
                for lo, hi in self.sacked:
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
        elif self.rtt_seq is None and not self.ts_enabled:
            self.rtt_seq = seq
            self.rtt_time = now
        if self.rtx_deadline is None:
            self.rtx_deadline = now + self.current_rto()

    def _retransmit_holes(self, now: float) -> None:
        """Fast retransmit / recovery: resend ``rexmit_pending`` holes (RFC 5681, 6582)."""
        buf = self.buf
        while self.rexmit_pending > 0:
            self.rexmit_pending -= 1
            hole = self._next_hole()
            if hole is None:
                self.rexmit_pending = 0
                break
            off, n = hole
            flags = 0
            if off + n == buf.end:
                flags = PSH
                if self.fin_queued and buf.start + ((self.snd_max - self.snd_una) & MASK) > buf.end:
                    flags = PSH | FIN
            self.emit((self.iss + 1 + off) & MASK, flags, buf.get(off, n) if n else b"")
            self.retransmissions += 1
            self.bytes_sent += n
            self.rtt_seq = None
            self.rexmit_next = off + (n if n else 1)
        if self.rtx_deadline is None:
            self.rtx_deadline = now + self.current_rto()
