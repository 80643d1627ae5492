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

The connection is one class spread over modules by concern, as gVisor spreads its endpoint
over ``connect.go``, ``snd.go``, ``rcv.go`` and ``timer.go``. This module keeps the object,
segment arrival (the hot path), segment output and the user's data calls; the other parts are
functions taking the connection as their first argument:

* :mod:`.handshake` — SYN and SYN,ACK, option negotiation, SYN-SENT processing;
* :mod:`.closing` — FIN, close, abort, resets sent and received, teardown;
* :mod:`.timers` — the one deadline the caller sleeps on and what each timer does;
* :mod:`.sender` (with :mod:`.recovery` and :mod:`.scoreboard`) and :mod:`.receiver` — the
  two halves of the data transfer, each an object the connection owns.

Calls are not thread-safe: the stack calls them with its lock held.
"""

from __future__ import annotations

import logging

from usersock.errors import Err, StackError
from usersock.transport.tcp import closing, handshake, timers
from usersock.transport.tcp.config import TCPConfig
from usersock.transport.tcp.handshake import DEFAULT_PEER_MSS, wscale_for
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
from usersock.wire.tcp import ACK, FIN, NO_OPTIONS, RST, SYN, TCPHeader

__all__ = ["Connection", "State", "TCPConfig", "reset_for"]

_logger = logging.getLogger("usersock.tcp")

Segment = tuple[TCPHeader, "bytes | memoryview"]

_S = State


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
        self._our_wscale = wscale_for(config.rcv_buf) if config.window_scaling else 0
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
        handshake.accept_syn(conn, syn)
        conn._set_state(Event.RCV_SYN)
        conn._syn_pending = True
        return conn

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
            handshake.syn_sent(self, hdr, now)
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
                if n and self._sack_ok and ((rel + n - 1) & MASK) >= HALF - 1:
                    rcv.dsack = (seq, (seq + n) & MASK)  # old data again: RFC 2883 D-SACK
                if state is _S.TIME_WAIT and flags & FIN:
                    self._wait_deadline = now + self.config.time_wait
            return
        # Step 2: RST (RFC 5961 section 3.2): exact match resets, else a challenge ACK.
        if flags & RST:
            if rel == 0:
                closing.reset_by_peer(self)
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
                handshake.established(self, Event.RCV_ACK_OF_SYN)
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
                    closing.teardown(self)
                    return
                state = self.state
        # Steps 7 and 8: segment text and FIN.
        if seglen == 0:
            return
        if state in CAN_RECEIVE:
            if n and self._orphaned:
                # Data for a socket the user closed: nobody will read it (RFC 9293
                # section 3.10.4 leaves this open; Linux resets, and so do we).
                closing.send_reset(self)
                self._set_state(Event.ABORT)
                closing.teardown(self)
                return
            if rcv.on_segment(seq, payload, bool(flags & FIN), now):
                self._set_state(Event.RCV_FIN)
                if self.state is _S.TIME_WAIT:
                    self._wait_deadline = now + self.config.time_wait
        elif flags & FIN:
            rcv.ack_now = True
            if state is _S.TIME_WAIT:
                self._wait_deadline = now + self.config.time_wait

    # -- output --------------------------------------------------------------------------------

    def _tsval(self) -> int:
        """Our TSval: a millisecond clock from ``now`` (RFC 7323 section 5.4)."""
        return (int(self._now * 1000.0) + self._ts_offset) & MASK

    def _ts_rtt(self, ts: tuple[int, int] | None) -> float | None:
        """The round-trip time a timestamp echo measures (RFC 7323 section 4.1), seconds.

        Karn's rule carried over to timestamps: an echo of a segment sent before our last
        retransmission of SND.UNA is no sample. After a lost ACK the peer answers the
        retransmitted (duplicate) segment with the TS.Recent of the original, since a
        duplicate does not update it (RFC 7323 section 5.3, R2-R3): that "RTT" would hold
        the whole retransmission timeout and inflate the RTO, by tens of seconds under
        heavy loss.
        """
        if ts is None or not ts[1]:
            return None
        ms = (self._tsval() - ts[1]) & MASK
        if ms >= HALF:
            return None
        rtt = ms / 1000.0
        rxt = self.snd.rxt_time
        if rxt is not None and self._now - rtt < rxt - 0.001:
            return None
        return rtt

    def _emit(self, seq: int, flags: int, payload: bytes | memoryview) -> None:
        """Queue one segment with ACK, our window and options (used by the sender too)."""
        rcv = self.rcv
        wnd = rcv.window_field()
        if self._ts_ok:
            tsv = (int(self._now * 1000.0) + self._ts_offset) & MASK
            opts = rcv.ack_options(tsv, self._sack_ok)
        elif (rcv.ooo or rcv.dsack) and self._sack_ok:
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
                    out.append((handshake.syn_segment(self, now), b""))
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

    # -- timers ------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """The earliest time :meth:`handle_timer` has work, or ``None`` if no timer runs."""
        return timers.next_deadline(self)

    def handle_timer(self, now: float) -> None:
        """Run every timer due at *now*: retransmission (RFC 6298), tail loss probe (RFC 8985
        section 7), persist (RFC 9293 3.8.6.1), delayed ACK, keepalive (RFC 9293 3.8.4),
        TIME-WAIT and FIN-WAIT-2 (see :mod:`.timers`)."""
        self._now = now
        timers.handle_timer(self, now)

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
        if n <= 0 or not rcv.queued:
            return b""
        data = rcv.read(n, peek)
        if not peek:
            self._after_read()
        return data

    def recv_into(self, buf: bytearray | memoryview, n: int = 0, peek: bool = False) -> int:
        """Copy up to *n* bytes (all of *buf* if *n* is 0) into *buf*; return the count."""
        rcv = self.rcv
        if not rcv.queued:
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
        return self.rcv.queued

    def at_eof(self) -> bool:
        """True once the peer's FIN arrived and every byte before it was read."""
        return self.rcv.fin_received and not self.rcv.queued

    def shutdown_write(self) -> None:
        """Send a FIN after the queued data (``shutdown(SHUT_WR)``, RFC 9293 3.10.4).

        Deferred until ESTABLISHED when called during the handshake; a no-op if already
        shut down. Raises ``StackError(NOT_CONNECTED)`` on a connection never opened.
        """
        closing.shutdown_write(self)

    def close(self) -> None:
        """The user closed the socket (RFC 9293 section 3.10.4).

        With unread received data the connection is reset (RFC 2525 section 2.17, as
        Linux); otherwise a FIN follows the queued data and the connection finishes on its
        own (FIN-WAIT-2 is then bounded by ``fin_wait2_timeout``). In SYN-SENT it simply
        ends.
        """
        closing.close(self)

    def abort(self) -> None:
        """Reset the connection now (RFC 9293 section 3.10.5; ``SO_LINGER`` 0).

        A RST is queued in the states where the peer holds a connection; the local side
        ends in CLOSED without an error.
        """
        closing.abort(self)

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
