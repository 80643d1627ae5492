"""The sans-IO TCP connection: RFC 9293 segment processing around a sender and a receiver.

Theory of operation
-------------------
A :class:`Connection` is a state machine fed from outside. Segments come in through
:meth:`Connection.handle_segment`, the user's calls through :meth:`~Connection.send`,
:meth:`~Connection.recv`, :meth:`~Connection.close`..., and time through the ``now``
arguments and :meth:`~Connection.handle_timer`. Nothing is sent from inside: every call only
changes state, and the caller then collects what must go out with
:meth:`~Connection.segments_to_send` and re-arms its timer from
:meth:`~Connection.next_deadline`. The module imports no ``socket``, ``threading`` or
``time`` and never reads a clock, so a test drives it with a list of segments and a number.

:meth:`Connection.handle_segment` follows the event processing of RFC 9293 section 3.10.7
(with the RST/SYN/ACK hardening of RFC 5961 and PAWS of RFC 7323 section 5); the sending
and receiving halves live in :mod:`.sender` and :mod:`.receiver`, and every state change goes
through :meth:`Connection._set_state` and the table in :mod:`.state`.

Calls are not thread-safe: the stack calls them with its lock held.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from usersock.errors import Err, StackError
from usersock.transport.tcp.receiver import Receiver
from usersock.transport.tcp.sender import Sender
from usersock.transport.tcp.seqnum import HALF, MASK
from usersock.transport.tcp.state import (
    CAN_RECEIVE,
    CAN_SEND,
    TRANSITIONS,
    Event,
    IllegalTransition,
    State,
)
from usersock.wire.tcp import ACK, FIN, NO_OPTIONS, RST, SYN, TCPHeader, TCPOptions

__all__ = ["Connection", "State", "TCPConfig", "reset_for"]

_logger = logging.getLogger("usersock.tcp")

#: RFC 9293 section 3.7.1: the MSS to assume when the peer sends no MSS option (IPv4).
DEFAULT_PEER_MSS = 536
#: Bytes the timestamp option takes in every segment (RFC 7323 section 3, padded).
TS_OPTION_LEN = 12

Segment = tuple[TCPHeader, "bytes | memoryview"]

_S = State


@dataclass
class TCPConfig:
    """Per-connection settings; mutable before and (for most fields) while connected.

    ``mss`` is what we announce and the largest segment we send (route MTU minus 40 for
    IPv4, 60 for IPv6). ``delayed_ack == 0`` acknowledges when the stack goes idle
    (:meth:`Connection.flush_ack`), ``> 0`` is the maximum delay of RFC 9293 section 3.8.6.3.
    Times are in seconds; the retry counts are as Linux's ``tcp_syn_retries`` and
    ``tcp_retries2``.
    """

    mss: int = 1460
    rcv_buf: int = 262144
    snd_buf: int = 262144
    nodelay: bool = False
    delayed_ack: float = 0.0
    window_scaling: bool = True
    sack: bool = True
    timestamps: bool = True
    rto_initial: float = 1.0
    rto_min: float = 0.2
    rto_max: float = 120.0
    syn_retries: int = 6
    retries2: int = 15
    time_wait: float = 60.0
    keepalive: bool = False
    keepidle: float = 7200.0
    keepintvl: float = 75.0
    keepcnt: int = 9
    fin_wait2_timeout: float = 60.0


def reset_for(hdr: TCPHeader, payload_len: int) -> TCPHeader | None:
    """The RST answering a segment that matches no connection (RFC 9293 section 3.10.7.1).

    Returns ``None`` for an incoming RST (never answer a reset). If the segment has ACK set
    the reset is ``<SEQ=SEG.ACK><CTL=RST>``; otherwise ``<SEQ=0><ACK=SEG.SEQ+SEG.LEN>
    <CTL=RST,ACK>``, where SEG.LEN counts SYN and FIN.
    """
    flags = hdr.flags
    if flags & RST:
        return None
    if flags & ACK:
        return TCPHeader(hdr.dst_port, hdr.src_port, hdr.ack, 0, RST, 0)
    seglen = payload_len + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
    return TCPHeader(hdr.dst_port, hdr.src_port, 0, (hdr.seq + seglen) & MASK, RST | ACK, 0)


def _wscale_for(buf: int) -> int:
    """The smallest window shift that lets a 16-bit field describe *buf* (max 14)."""
    shift = 0
    while shift < 14 and (buf >> shift) > 0xFFFF:
        shift += 1
    return shift


class Connection:
    """One TCP connection, driven by its caller (see the module docstring).

    ``state`` is the RFC 9293 state; ``error`` is set when the connection ended in an error
    the user must see (refused, reset, timed out) and stays ``None`` for orderly ends and
    local aborts. Counters are plain integers.
    """

    __slots__ = (
        "_close_pending",
        "_keep_probe_pending",
        "_keep_probes",
        "_last_heard",
        "_last_probe",
        "_now",
        "_orphaned",
        "_our_wscale",
        "_out",
        "_passive",
        "_peer_mss",
        "_rst_pending",
        "_sack_ok",
        "_syn_pending",
        "_syn_retransmitted",
        "_ts_offset",
        "_ts_ok",
        "_wait_deadline",
        "_write_shut",
        "_ws_ok",
        "config",
        "error",
        "iss",
        "local_port",
        "rcv",
        "remote_port",
        "segments_in",
        "segments_out",
        "snd",
        "state",
    )

    def __init__(
        self, local_port: int, remote_port: int, iss: int, config: TCPConfig, now: float
    ) -> None:
        self.local_port = local_port
        self.remote_port = remote_port
        self.iss = iss & MASK
        self.config = config
        self.state = State.CLOSED
        self.error: Err | None = None
        self.segments_in = 0
        self.segments_out = 0
        self.snd = Sender(config, self.iss, self._emit)
        self.rcv = Receiver(config)
        self._out: list[Segment] = []
        self._now = now
        self._passive = False
        self._peer_mss = DEFAULT_PEER_MSS
        self._our_wscale = _wscale_for(config.rcv_buf) if config.window_scaling else 0
        self._ws_ok = False
        self._ts_ok = False
        self._sack_ok = False
        # RFC 7323 section 5.4 recommends a random per-connection timestamp offset; the
        # ISS (itself random, RFC 6528) serves.
        self._ts_offset = self.iss
        self._syn_pending = False
        self._syn_retransmitted = False
        self._close_pending = False
        self._write_shut = False
        self._orphaned = False
        self._rst_pending: TCPHeader | None = None
        self._wait_deadline: float | None = None
        self._last_heard = now
        self._last_probe = now
        self._keep_probes = 0
        self._keep_probe_pending = False

    # -- opening (RFC 9293 section 3.5) ------------------------------------------------------

    def connect(self, now: float) -> None:
        """Active open: queue our SYN and enter SYN-SENT (RFC 9293 section 3.10.1).

        Raises ``StackError(ALREADY_CONNECTED)`` or ``(ALREADY_CONNECTING)`` if the
        connection was opened before.
        """
        if self.state is not State.CLOSED or self.snd.snd_max != self.iss:
            err = Err.ALREADY_CONNECTING if self.state is State.SYN_SENT else Err.ALREADY_CONNECTED
            raise StackError(err)
        self._now = now
        self._last_heard = now
        self._set_state(Event.ACTIVE_OPEN)
        self._syn_pending = True

    @classmethod
    def from_syn(
        cls, syn: TCPHeader, local_port: int, iss: int, config: TCPConfig, now: float
    ) -> Connection:
        """Passive open for the SYN a listener received: a connection in SYN-RECEIVED with
        its SYN,ACK queued (RFC 9293 section 3.10.7.2)."""
        conn = cls(local_port, syn.src_port, iss, config, now)
        conn._passive = True
        conn._set_state(Event.PASSIVE_OPEN)
        conn.segments_in += 1
        conn._accept_syn(syn)
        conn._set_state(Event.RCV_SYN)
        conn._syn_pending = True
        return conn

    def _accept_syn(self, syn: TCPHeader) -> None:
        """Record the peer's SYN: IRS, its window and the options both sides offered."""
        rcv, snd, cfg = self.rcv, self.snd, self.config
        rcv.start(syn.seq)
        opts = syn.options
        self._peer_mss = opts.mss if opts.mss else DEFAULT_PEER_MSS
        # RFC 7323 section 2.2 / RFC 2018 section 2: an option is used only if both sides
        # put it in their SYN (when we answer, we only echo what the peer offered).
        self._ws_ok = cfg.window_scaling and opts.wscale is not None
        if self._ws_ok:
            assert opts.wscale is not None
            snd.snd_wscale = min(opts.wscale, 14)
            rcv.rcv_wscale = self._our_wscale
        else:
            snd.snd_wscale = 0
            rcv.rcv_wscale = 0
        self._sack_ok = cfg.sack and opts.sack_permitted
        snd.sack_enabled = rcv.sack_enabled = self._sack_ok
        ts = opts.timestamps
        self._ts_ok = cfg.timestamps and ts is not None
        snd.ts_enabled = self._ts_ok
        if ts is not None and self._ts_ok:
            rcv.ts_recent = ts[0]
        overhead = TS_OPTION_LEN if self._ts_ok else 0
        snd.mss = max(min(self._peer_mss, cfg.mss) - overhead, 64)
        rcv.mss = max(cfg.mss - overhead, 64)
        snd.cwnd = snd.mss if self._syn_retransmitted else snd.initial_window()
        # The window of a SYN is never scaled (RFC 7323 section 2.2).
        snd.snd_wnd = snd.max_snd_wnd = syn.window
        snd.snd_wl1 = syn.seq
        snd.snd_wl2 = snd.snd_una

    def _established(self, event: Event) -> None:
        self._set_state(event)
        if self._close_pending:
            self._close_pending = False
            self.snd.fin_queued = True
            self._set_state(Event.CLOSE)

    # -- segment arrival (RFC 9293 section 3.10.7) ------------------------------------------

    def handle_segment(self, hdr: TCPHeader, payload: bytes | memoryview, now: float) -> None:
        """Process one incoming segment addressed to this connection.

        Never raises for anything a peer can send. Replies (ACKs, RSTs, data the ACK
        released) are collected with :meth:`segments_to_send`.
        """
        self.segments_in += 1
        self._now = now
        state = self.state
        if state is _S.SYN_SENT:
            self._syn_sent(hdr, now)
            return
        if state is _S.CLOSED:
            # RFC 9293 section 3.10.7.1: a segment for a closed connection gets a reset.
            if self._rst_pending is None:
                self._rst_pending = reset_for(hdr, len(payload))
            return
        if state is _S.LISTEN:
            return
        flags = hdr.flags
        rcv = self.rcv
        snd = self.snd
        seq = hdr.seq
        n = len(payload)
        self._last_heard = now
        self._keep_probes = 0
        if state is _S.SYN_RECEIVED and flags & SYN and seq == rcv.irs and not flags & RST:
            if not flags & ACK:
                self._syn_pending = True  # the peer repeated its SYN: our SYN,ACK was lost
                return
            # Simultaneous open (RFC 9293 figure 8): the peer's SYN,ACK; its SYN is known.
            flags &= ~SYN
            seq = (seq + 1) & MASK
        ts = hdr.options.timestamps if self._ts_ok else None
        # PAWS, RFC 7323 section 5.3: a segment older than TS.Recent is a duplicate.
        if ts is not None and not flags & RST and ((ts[0] - rcv.ts_recent) & MASK) >= HALF:
            rcv.ack_now = True
            return
        # Step 1: is the segment acceptable (RFC 9293 section 3.10.7.4, the four cases)?
        seglen = n + (flags & FIN) + ((flags & SYN) >> 1)
        rel = (seq - rcv.rcv_nxt) & MASK
        if rel and not rcv.acceptable(rel, seglen):
            if not flags & RST:
                rcv.ack_now = True  # <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
                if state is _S.TIME_WAIT and flags & FIN:
                    self._wait_deadline = now + self.config.time_wait
            return
        # Step 2: RST (RFC 5961 section 3.2): exact match resets, else a challenge ACK.
        if flags & RST:
            if rel == 0:
                self._reset_by_peer()
            else:
                rcv.ack_now = True
            return
        if ts is not None:
            rcv.update_ts_recent(seq, ts[0])
        # Step 4: a SYN in a synchronized state gets a challenge ACK (RFC 5961 section 4).
        if flags & SYN:
            rcv.ack_now = True
            return
        # Step 5: ACK.
        if not flags & ACK:
            return
        ack = hdr.ack
        una = snd.snd_una
        d = (ack - una) & MASK
        in_flight = (snd.snd_max - una) & MASK
        if state is _S.SYN_RECEIVED:
            # RFC 9293 section 3.10.7.4 step 5, SYN-RECEIVED: SND.UNA < SEG.ACK =< SND.NXT.
            if d == 0 or d > in_flight:
                self._rst_pending = TCPHeader(self.local_port, self.remote_port, ack, 0, RST, 0)
                return
        elif d >= HALF:
            # Older than SND.UNA: ignore the ACK field unless it is implausibly old
            # (RFC 5961 section 5.2), then send a challenge ACK and drop.
            if ((una - ack) & MASK) > max(snd.max_snd_wnd, 0xFFFF):
                rcv.ack_now = True
                return
        elif d > in_flight:
            rcv.ack_now = True  # acknowledges something not yet sent
            return
        if d < HALF:
            window = hdr.window << snd.snd_wscale
            rtt = self._ts_rtt(ts) if d else None
            if state is _S.SYN_RECEIVED:
                snd.snd_wnd = window
                snd.snd_wl1 = seq
                snd.snd_wl2 = ack
                snd.on_ack(seq, ack, window, False, rtt, (), now)
                if window > snd.max_snd_wnd:
                    snd.max_snd_wnd = window
                self._established(Event.RCV_ACK_OF_SYN)
                state = self.state
            else:
                snd.on_ack(seq, ack, window, seglen == 0, rtt, hdr.options.sack_blocks, now)
            if snd.fin_acked and d:
                if state is _S.FIN_WAIT_1:
                    self._set_state(Event.RCV_ACK_OF_FIN)
                    if self._orphaned:
                        self._wait_deadline = now + self.config.fin_wait2_timeout
                elif state is _S.CLOSING:
                    self._set_state(Event.RCV_ACK_OF_FIN)
                    self._wait_deadline = now + self.config.time_wait
                elif state is _S.LAST_ACK:
                    self._set_state(Event.RCV_ACK_OF_FIN)
                    self._teardown()
                    return
                state = self.state
        # Steps 7 and 8: segment text and FIN.
        if seglen == 0:
            return
        if state in CAN_RECEIVE:
            if n and self._orphaned:
                # Data for a socket the user closed: nobody will read it (RFC 9293
                # section 3.10.4 leaves this open; Linux resets, and so do we).
                self._send_reset()
                self._set_state(Event.ABORT)
                self._teardown()
                return
            if rcv.on_segment(seq, payload, bool(flags & FIN), now):
                self._set_state(Event.RCV_FIN)
                if self.state is _S.TIME_WAIT:
                    self._wait_deadline = now + self.config.time_wait
        elif flags & FIN:
            rcv.ack_now = True
            if state is _S.TIME_WAIT:
                self._wait_deadline = now + self.config.time_wait

    def _syn_sent(self, hdr: TCPHeader, now: float) -> None:
        """RFC 9293 section 3.10.7.3: a segment arrives in SYN-SENT."""
        flags = hdr.flags
        snd = self.snd
        iss = self.iss
        ack = hdr.ack
        if flags & ACK:
            d = (ack - iss) & MASK
            if d == 0 or d > ((snd.snd_max - iss) & MASK):
                if not flags & RST:
                    self._rst_pending = TCPHeader(self.local_port, self.remote_port, ack, 0, RST, 0)
                return
        if flags & RST:
            if flags & ACK:
                self.error = Err.CONNECTION_REFUSED
                self._set_state(Event.RCV_RST)
                self._teardown()
            return
        if not flags & SYN:
            return
        self._last_heard = now
        self._accept_syn(hdr)
        rcv = self.rcv
        if flags & ACK:
            rtt = self._ts_rtt(hdr.options.timestamps) if self._ts_ok else None
            snd.on_ack(hdr.seq, ack, hdr.window, False, rtt, (), now)
            snd.snd_wnd = snd.max_snd_wnd = hdr.window
            snd.snd_wl1 = hdr.seq
            snd.snd_wl2 = ack
            rcv.ack_now = True
            self._established(Event.RCV_SYN_ACK)
        else:
            # Simultaneous open: answer with SYN,ACK for our ISS.
            self._set_state(Event.RCV_SYN)
            snd.snd_nxt = iss
            self._syn_pending = True

    def _reset_by_peer(self) -> None:
        """An acceptable RST (RFC 9293 section 3.10.7.4 step 2)."""
        state = self.state
        if state is _S.SYN_RECEIVED:
            self.error = Err.CONNECTION_RESET if self._passive else Err.CONNECTION_REFUSED
        elif state in (_S.ESTABLISHED, _S.FIN_WAIT_1, _S.FIN_WAIT_2, _S.CLOSE_WAIT):
            self.error = Err.CONNECTION_RESET
        self._set_state(Event.RCV_RST)
        self._teardown()

    # -- output --------------------------------------------------------------------------------

    def _tsval(self) -> int:
        """Our TSval: a millisecond clock from ``now`` (RFC 7323 section 5.4)."""
        return (int(self._now * 1000.0) + self._ts_offset) & MASK

    def _ts_rtt(self, ts: tuple[int, int] | None) -> float | None:
        """The round-trip time a timestamp echo measures (RFC 7323 section 4.1), seconds."""
        if ts is None or not ts[1]:
            return None
        ms = (self._tsval() - ts[1]) & MASK
        return ms / 1000.0 if ms < HALF else None

    def _emit(self, seq: int, flags: int, payload: bytes | memoryview) -> None:
        """Queue one segment with ACK, our window and options (used by the sender too)."""
        rcv = self.rcv
        wnd = rcv.window_field()
        if self._ts_ok:
            tsv = (int(self._now * 1000.0) + self._ts_offset) & MASK
            opts = rcv.ack_options(tsv, self._sack_ok)
        elif rcv.ooo and self._sack_ok:
            opts = rcv.ack_options(None, True)
        else:
            opts = NO_OPTIONS
        self._out.append(
            (
                TCPHeader(
                    self.local_port, self.remote_port, seq, rcv.rcv_nxt, flags | ACK, wnd, 0, opts
                ),
                payload,
            )
        )
        rcv.on_ack_sent()

    def _emit_syn(self, now: float) -> None:
        """Send (or resend) our SYN in SYN-SENT or SYN,ACK in SYN-RECEIVED."""
        cfg, snd, rcv = self.config, self.snd, self.rcv
        iss = self.iss
        window = min(cfg.rcv_buf, 0xFFFF)
        tsv = self._tsval()
        if self.state is _S.SYN_SENT:
            opts = TCPOptions(
                mss=cfg.mss,
                wscale=self._our_wscale if cfg.window_scaling else None,
                sack_permitted=cfg.sack,
                timestamps=(tsv, 0) if cfg.timestamps else None,
            )
            hdr = TCPHeader(self.local_port, self.remote_port, iss, 0, SYN, window, 0, opts)
        else:
            opts = TCPOptions(
                mss=cfg.mss,
                wscale=self._our_wscale if self._ws_ok else None,
                sack_permitted=self._sack_ok,
                timestamps=(tsv, rcv.ts_recent) if self._ts_ok else None,
            )
            hdr = TCPHeader(
                self.local_port, self.remote_port, iss, rcv.rcv_nxt, SYN | ACK, window, 0, opts
            )
            rcv.rcv_adv = (rcv.rcv_nxt + window) & MASK
            rcv.on_ack_sent()
        self._out.append((hdr, b""))
        if snd.snd_max != iss:
            snd.retransmissions += 1
            self._syn_retransmitted = True
        snd.snd_nxt = snd.snd_max = (iss + 1) & MASK
        if snd.rtx_deadline is None:
            snd.rtx_deadline = now + snd.current_rto()

    def segments_to_send(self, now: float) -> list[Segment]:
        """Everything to transmit now, in order, as ``(header, payload)`` pairs.

        Call after every other method. Headers are fresh objects the caller may keep; the
        payload is a view into the send buffer that stays valid (the buffer only drops
        references, it never overwrites).
        """
        self._now = now
        out = self._out
        rst = self._rst_pending
        if rst is not None:
            self._rst_pending = None
            out.append((rst, b""))
        else:
            state = self.state
            if state is not _S.CLOSED and state is not _S.LISTEN:
                if self._syn_pending:
                    self._syn_pending = False
                    self._emit_syn(now)
                snd = self.snd
                if snd.syn_acked:
                    snd.output(now)
                    if snd.probe_pending or self._keep_probe_pending:
                        # Zero-window or keepalive probe: <SEQ=SND.UNA-1> elicits an ACK.
                        snd.probe_pending = self._keep_probe_pending = False
                        self._emit((snd.snd_una - 1) & MASK, 0, b"")
                if self.rcv.ack_now and state is not _S.SYN_SENT:
                    # A pure ACK carries SND.MAX, not a SND.NXT pulled back by an RTO, or
                    # the peer would find it old and drop it (as BSD's tcp_output does).
                    self._emit(snd.snd_max, 0, b"")
        if not out:
            return out
        self._out = []
        self.segments_out += len(out)
        return out

    def flush_ack(self, now: float) -> None:
        """The stack went idle: with ``delayed_ack == 0`` a pending ACK becomes due now.

        Collect it with :meth:`segments_to_send`. With a delayed-ACK timer configured the
        timer decides instead (RFC 9293 section 3.8.6.3).
        """
        rcv = self.rcv
        if rcv.ack_pending and self.config.delayed_ack <= 0:
            rcv.ack_now = True

    def _send_reset(self) -> None:
        """Queue <SEQ=SND.NXT><CTL=RST> (RFC 9293 section 3.10.5 ABORT); SND.NXT is the
        highest sequence number sent (SND.MAX), which the peer expects exactly (RFC 5961)."""
        self._rst_pending = TCPHeader(
            self.local_port, self.remote_port, self.snd.snd_max, self.rcv.rcv_nxt, RST | ACK, 0
        )

    # -- timers ------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """The earliest time :meth:`handle_timer` has work, or ``None`` if no timer runs."""
        snd = self.snd
        best = snd.rtx_deadline
        d = snd.persist_deadline
        if d is not None and (best is None or d < best):
            best = d
        d = self.rcv.delack_deadline
        if d is not None and (best is None or d < best):
            best = d
        d = self._wait_deadline
        if d is not None and (best is None or d < best):
            best = d
        if self.config.keepalive:
            d = self._keepalive_deadline()
            if d is not None and (best is None or d < best):
                best = d
        return best

    def _keepalive_deadline(self) -> float | None:
        if self.state is not _S.ESTABLISHED and self.state is not _S.CLOSE_WAIT:
            return None
        cfg = self.config
        if self._keep_probes == 0:
            return self._last_heard + cfg.keepidle
        return self._last_probe + cfg.keepintvl

    def handle_timer(self, now: float) -> None:
        """Run every timer due at *now*: retransmission (RFC 6298), persist (RFC 9293
        3.8.6.1), delayed ACK, keepalive (RFC 9293 3.8.4), TIME-WAIT and FIN-WAIT-2."""
        self._now = now
        state = self.state
        if state is _S.CLOSED:
            return
        snd = self.snd
        handshake = state is _S.SYN_SENT or state is _S.SYN_RECEIVED
        if snd.on_timer(now, handshake):
            self._give_up()
            return
        if handshake and snd.snd_nxt == self.iss:
            self._syn_pending = True
        self.rcv.on_timer(now)
        d = self._wait_deadline
        if d is not None and now >= d:
            self._wait_deadline = None
            if state is _S.TIME_WAIT:
                self._set_state(Event.TIMEOUT)
                self._teardown()
                return
            if state is _S.FIN_WAIT_2:
                self._send_reset()
                self._set_state(Event.TIMEOUT)
                self._teardown()
                return
        cfg = self.config
        if cfg.keepalive:
            d = self._keepalive_deadline()
            if d is not None and now >= d:
                if snd.snd_max != snd.snd_una or snd.has_unsent():
                    self._last_heard = now  # the retransmission timer watches the peer
                elif self._keep_probes >= cfg.keepcnt:
                    self._give_up()
                else:
                    self._keep_probes += 1
                    self._last_probe = now
                    self._keep_probe_pending = True

    def _give_up(self) -> None:
        """Retransmissions or probes went unanswered: ETIMEDOUT (RFC 9293 3.8.3, R2)."""
        self.error = Err.TIMED_OUT
        if self.state is not _S.SYN_SENT:
            self._send_reset()
        self._set_state(Event.TIMEOUT)
        self._teardown()

    def _teardown(self) -> None:
        """Entering CLOSED: stop every timer and drop what can no longer be sent."""
        self.snd.teardown()
        self.rcv.teardown()
        self._wait_deadline = None
        self._syn_pending = False
        self._keep_probe_pending = False

    # -- the user side ---------------------------------------------------------------------

    def send(self, data: bytes | bytearray | memoryview) -> int:
        """Queue as much of *data* as the send buffer takes; return the count (may be 0).

        Raises ``StackError`` with the connection's error if it failed, ``BROKEN_PIPE``
        after the sending side was shut down or closed, ``NOT_CONNECTED`` before connect.
        """
        if self.state not in CAN_SEND or self._write_shut:
            if self.error is not None:
                raise StackError(self.error)
            if self.state is _S.CLOSED and self.snd.snd_max == self.iss and not self._passive:
                raise StackError(Err.NOT_CONNECTED)
            raise StackError(Err.BROKEN_PIPE)
        if not isinstance(data, bytes):
            view = memoryview(data)
            if view.format != "B" or view.ndim != 1:
                view = view.cast("B")
            data = view
        space = self.snd.space()
        n = len(data)
        if n > space:
            n = space
            data = data[:n]
        if n:
            self.snd.buf.append(data)
        return n

    def send_space(self) -> int:
        """Bytes :meth:`send` would take now."""
        if self.state not in CAN_SEND or self._write_shut:
            return 0
        return self.snd.space()

    def recv(self, n: int, peek: bool = False) -> bytes:
        """Up to *n* bytes of in-sequence data (``b""`` if none); consumed unless *peek*.

        Reading may open the window: collect the window update with
        :meth:`segments_to_send`.
        """
        rcv = self.rcv
        if n <= 0 or not rcv.buf:
            return b""
        data = rcv.read(n, peek)
        if not peek:
            self._after_read()
        return data

    def recv_into(self, buf: bytearray | memoryview, n: int = 0, peek: bool = False) -> int:
        """Copy up to *n* bytes (all of *buf* if *n* is 0) into *buf*; return the count."""
        rcv = self.rcv
        if not rcv.buf:
            return 0
        got = rcv.read_into(buf, n, peek)
        if got and not peek:
            self._after_read()
        return got

    def _after_read(self) -> None:
        if self.state in CAN_RECEIVE and self.rcv.window_update_due():
            self.rcv.ack_now = True

    def readable_bytes(self) -> int:
        """Bytes :meth:`recv` would return now."""
        return len(self.rcv.buf)

    def at_eof(self) -> bool:
        """True once the peer's FIN arrived and every byte before it was read."""
        return self.rcv.fin_received and not self.rcv.buf

    def shutdown_write(self) -> None:
        """Send a FIN after the queued data (``shutdown(SHUT_WR)``, RFC 9293 3.10.4).

        Deferred until ESTABLISHED when called during the handshake; a no-op if already
        shut down. Raises ``StackError(NOT_CONNECTED)`` on a connection never opened.
        """
        state = self.state
        if state is _S.CLOSED or state is _S.LISTEN:
            if self.error is None and self.snd.snd_max == self.iss and not self._passive:
                raise StackError(Err.NOT_CONNECTED)
            return
        if self._write_shut:
            return
        self._write_shut = True
        if state is _S.SYN_SENT or state is _S.SYN_RECEIVED:
            self._close_pending = True
        elif state is _S.ESTABLISHED or state is _S.CLOSE_WAIT:
            self.snd.fin_queued = True
            self._set_state(Event.CLOSE)

    def close(self) -> None:
        """The user closed the socket (RFC 9293 section 3.10.4).

        With unread received data the connection is reset (RFC 2525 section 2.17, as
        Linux); otherwise a FIN follows the queued data and the connection finishes on its
        own (FIN-WAIT-2 is then bounded by ``fin_wait2_timeout``). In SYN-SENT it simply
        ends.
        """
        state = self.state
        if state is _S.CLOSED:
            return
        if state is _S.LISTEN or state is _S.SYN_SENT:
            self._set_state(Event.CLOSE)
            self._teardown()
            return
        self._orphaned = True
        if self.rcv.buf and state is not _S.TIME_WAIT:
            self.abort()
            return
        self.shutdown_write()
        if self.state is _S.FIN_WAIT_2 and self._wait_deadline is None:
            self._wait_deadline = self._now + self.config.fin_wait2_timeout

    def abort(self) -> None:
        """Reset the connection now (RFC 9293 section 3.10.5; ``SO_LINGER`` 0).

        A RST is queued in the states where the peer holds a connection; the local side
        ends in CLOSED without an error.
        """
        state = self.state
        if state is _S.CLOSED:
            return
        if state in (
            _S.SYN_RECEIVED,
            _S.ESTABLISHED,
            _S.FIN_WAIT_1,
            _S.FIN_WAIT_2,
            _S.CLOSE_WAIT,
        ):
            self._send_reset()
        self._set_state(Event.ABORT)
        self._teardown()
        self.rcv.buf.clear()

    # -- state ------------------------------------------------------------------------------

    def _set_state(self, event: Event) -> None:
        """The one place the state changes: look *event* up in the transition table."""
        old = self.state
        new = TRANSITIONS.get((old, event))
        if new is None:
            raise IllegalTransition(old, event)
        self.state = new
        if _logger.isEnabledFor(logging.DEBUG):
            _logger.debug(
                "tcp :%d->:%d %s=>%s (%s)",
                self.local_port,
                self.remote_port,
                old.value,
                new.value,
                event.value,
            )

    # -- information (for ``ss``-like listings) ------------------------------------------

    @property
    def peer_mss(self) -> int:
        """The MSS the peer announced (536 if it announced none)."""
        return self._peer_mss

    @property
    def snd_wnd(self) -> int:
        """The peer's current window (bytes, scaled)."""
        return self.snd.snd_wnd

    @property
    def rcv_wnd(self) -> int:
        """The window we last advertised (bytes)."""
        return self.rcv.rcv_wnd()

    @property
    def bytes_sent(self) -> int:
        """Data bytes transmitted, retransmissions included."""
        return self.snd.bytes_sent

    @property
    def bytes_received(self) -> int:
        """Data bytes received in sequence."""
        return self.rcv.bytes_received

    @property
    def retransmissions(self) -> int:
        """Segments retransmitted (SYN, data and FIN)."""
        return self.snd.retransmissions

    @property
    def cwnd(self) -> int:
        """Congestion window (bytes)."""
        return self.snd.cwnd

    @property
    def srtt(self) -> float | None:
        """Smoothed round-trip time (seconds), ``None`` before the first sample."""
        return self.snd.srtt

    @property
    def rto(self) -> float:
        """Current retransmission timeout including backoff (seconds)."""
        return self.snd.current_rto()

    def __repr__(self) -> str:
        return (
            f"<Connection :{self.local_port}->:{self.remote_port} {self.state.value}"
            f" una={self.snd.snd_una} nxt={self.snd.snd_nxt} rcv_nxt={self.rcv.rcv_nxt}>"
        )
