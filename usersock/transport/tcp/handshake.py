"""Opening a connection: SYN and SYN,ACK, option negotiation and the SYN-SENT state.

Theory of operation
-------------------
These functions are the opening part of :class:`~usersock.transport.tcp.connection.Connection`
(as gVisor keeps ``connect.go`` apart from ``snd.go`` and ``rcv.go``): they take the
connection as their first argument, change its state only through ``conn._set_state``, and
never send anything themselves: :func:`syn_segment` builds the SYN (or SYN,ACK) that
:meth:`Connection.segments_to_send` hands out, and an answer that must go back (an ACK, a
reset) is queued on the connection as everywhere else.

* :func:`accept_syn` records the peer's SYN (RFC 9293 section 3.10.7.2/3.10.7.3) and settles
  the options: an option is in force only if both SYNs carried it (window scale, RFC 7323
  section 2.2; timestamps, RFC 7323 section 3.2; SACK-permitted, RFC 2018 section 2). The
  effective send MSS is the smaller of both MSS values less the timestamp option
  (RFC 9293 section 3.7.1), and the initial congestion window follows from it.
* :func:`syn_sent` is the SYN-SENT event processing of RFC 9293 section 3.10.7.3, including
  simultaneous open (figure 8).
* :func:`syn_segment` builds our SYN (active open, offering every option the config enables)
  or SYN,ACK (passive or simultaneous open, echoing only what the peer offered), and arms the
  retransmission timer that resends it (RFC 6298 section 5.1; RFC 9293 section 3.8.1).

Data on a SYN (TCP Fast Open) is not accepted: the peer resends it after the handshake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from usersock.errors import Err
from usersock.transport.tcp import closing
from usersock.transport.tcp.seqnum import MASK
from usersock.transport.tcp.state import Event, State
from usersock.wire.tcp import ACK, RST, SYN, TCPHeader, TCPOptions

if TYPE_CHECKING:
    from usersock.transport.tcp.connection import Connection

#: RFC 9293 section 3.7.1: the MSS to assume when the peer sends no MSS option (IPv4).
DEFAULT_PEER_MSS = 536
#: Bytes the timestamp option takes in every segment (RFC 7323 section 3, padded).
TS_OPTION_LEN = 12


def wscale_for(buf: int) -> int:
    """The smallest window shift that lets a 16-bit field describe *buf* (max 14)."""
    shift = 0
    while shift < 14 and (buf >> shift) > 0xFFFF:
        shift += 1
    return shift


def accept_syn(conn: Connection, syn: TCPHeader) -> None:
    """Record the peer's SYN: IRS, its window and the options both sides offered."""
    rcv, snd, cfg = conn.rcv, conn.snd, conn.config
    rcv.start(syn.seq)
    opts = syn.options
    conn._peer_mss = opts.mss if opts.mss else DEFAULT_PEER_MSS
    # RFC 7323 section 2.2 / RFC 2018 section 2: an option is used only if both sides
    # put it in their SYN (when we answer, we only echo what the peer offered).
    conn._ws_ok = cfg.window_scaling and opts.wscale is not None
    if conn._ws_ok:
        assert opts.wscale is not None
        snd.snd_wscale = min(opts.wscale, 14)
        rcv.rcv_wscale = conn._our_wscale
    else:
        snd.snd_wscale = 0
        rcv.rcv_wscale = 0
    conn._sack_ok = cfg.sack and opts.sack_permitted
    snd.set_sack(conn._sack_ok)
    rcv.sack_enabled = conn._sack_ok
    ts = opts.timestamps
    conn._ts_ok = cfg.timestamps and ts is not None
    snd.ts_enabled = conn._ts_ok
    if ts is not None and conn._ts_ok:
        rcv.ts_recent = ts[0]
    overhead = TS_OPTION_LEN if conn._ts_ok else 0
    snd.mss = max(min(conn._peer_mss, cfg.mss) - overhead, 64)
    rcv.mss = max(cfg.mss - overhead, 64)
    # RFC 5681 section 3.1: the initial window is one segment after a lost SYN.
    snd.cwnd = snd.mss if conn._syn_retransmitted else snd.initial_window()
    # The window of a SYN is never scaled (RFC 7323 section 2.2).
    snd.snd_wnd = snd.max_snd_wnd = syn.window
    snd.snd_wl1 = syn.seq
    snd.snd_wl2 = snd.snd_una


def established(conn: Connection, event: Event) -> None:
    """Enter ESTABLISHED; a close the user asked for during the handshake now sends its FIN
    (RFC 9293 section 3.10.4, "queue for processing after entering ESTABLISHED")."""
    conn._set_state(event)
    if conn._close_pending:
        conn._close_pending = False
        conn.snd.fin_queued = True
        conn._set_state(Event.CLOSE)


def syn_sent(conn: Connection, hdr: TCPHeader, now: float) -> None:
    """RFC 9293 section 3.10.7.3: a segment arrives in SYN-SENT."""
    flags = hdr.flags
    snd = conn.snd
    iss = conn.iss
    ack = hdr.ack
    # First: the ACK must acknowledge our SYN, or the segment gets a reset.
    if flags & ACK:
        d = (ack - iss) & MASK
        if d == 0 or d > ((snd.snd_max - iss) & MASK):
            if not flags & RST:
                conn._rst_pending = TCPHeader(conn.local_port, conn.remote_port, ack, 0, RST, 0)
            return
    # Second: a RST with an acceptable ACK refuses the connection.
    if flags & RST:
        if flags & ACK:
            conn.error = Err.CONNECTION_REFUSED
            conn._set_state(Event.RCV_RST)
            closing.teardown(conn)
        return
    # Fourth: the SYN.
    if not flags & SYN:
        return
    conn._last_heard = now
    accept_syn(conn, hdr)
    if flags & ACK:
        rtt = conn._ts_rtt(hdr.options.timestamps) if conn._ts_ok else None
        snd.on_ack(hdr.seq, ack, hdr.window, False, rtt, (), now)
        snd.snd_wnd = snd.max_snd_wnd = hdr.window
        snd.snd_wl1 = hdr.seq
        snd.snd_wl2 = ack
        conn.rcv.ack_now = True
        established(conn, Event.RCV_SYN_ACK)
    else:
        # Simultaneous open (RFC 9293 figure 8): answer with SYN,ACK for our ISS.
        conn._set_state(Event.RCV_SYN)
        snd.snd_nxt = iss
        conn._syn_pending = True


def syn_segment(conn: Connection, now: float) -> TCPHeader:
    """Our SYN in SYN-SENT or SYN,ACK in SYN-RECEIVED (a first send or a retransmission).

    Advances SND.NXT and SND.MAX past the SYN and arms the retransmission timer.
    """
    cfg, snd, rcv = conn.config, conn.snd, conn.rcv
    iss = conn.iss
    window = min(cfg.rcv_buf, 0xFFFF)
    tsv = conn._tsval()
    if conn.state is State.SYN_SENT:
        opts = TCPOptions(
            mss=cfg.mss,
            wscale=conn._our_wscale if cfg.window_scaling else None,
            sack_permitted=cfg.sack,
            timestamps=(tsv, 0) if cfg.timestamps else None,
        )
        hdr = TCPHeader(conn.local_port, conn.remote_port, iss, 0, SYN, window, 0, opts)
    else:
        opts = TCPOptions(
            mss=cfg.mss,
            wscale=conn._our_wscale if conn._ws_ok else None,
            sack_permitted=conn._sack_ok,
            timestamps=(tsv, rcv.ts_recent) if conn._ts_ok else None,
        )
        hdr = TCPHeader(
            conn.local_port, conn.remote_port, iss, rcv.rcv_nxt, SYN | ACK, window, 0, opts
        )
        rcv.rcv_adv = (rcv.rcv_nxt + window) & MASK
        rcv.on_ack_sent()
    if snd.snd_max != iss:
        snd.retransmissions += 1
        conn._syn_retransmitted = True
    snd.snd_nxt = snd.snd_max = (iss + 1) & MASK
    if snd.rtx_deadline is None:
        snd.rtx_deadline = now + snd.current_rto()
    return hdr
