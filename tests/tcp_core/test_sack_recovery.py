"""Loss recovery with SACK (RFC 6675): the scoreboard decides what is lost, the pipe how much
may be sent, and only holes are ever retransmitted. A scripted peer, a manual clock: every
retransmission here happens long before the first RTO (1 s)."""

from __future__ import annotations

import pytest

from usersock.transport.tcp.connection import Connection

from .helpers import ISS, PEER_ISS, established, out, seg, timed

P = PEER_ISS + 1
S = ISS + 1
MSS = 1000


def sent(conn: Connection, now: float) -> list[tuple[int, int]]:
    """``(seq, length)`` of what the connection sends now."""
    return [(h.seq, len(p)) for h, p in out(conn, now)]


def ack(
    conn: Connection, now: float, cum: int, *held: tuple[int, int], data: bytes = b""
) -> list[tuple[int, int]]:
    """The peer acknowledges up to offset *cum* and SACKs the *held* offset ranges."""
    blocks = tuple((S + lo, S + hi) for lo, hi in held)
    conn.handle_segment(seg(P, S + cum, sack=blocks), data, now)
    return sent(conn, now)


def sack_conn(cwnd: int, data: int) -> Connection:
    conn = established(sack=True)
    conn.snd.cwnd = cwnd
    conn.send(bytes(data))
    assert sent(conn, 0.0) == [(S + o, MSS) for o in range(0, min(cwnd, data), MSS)]
    return conn


@pytest.mark.parametrize("lost", [0, 1, 2])
def test_four_segment_window_one_loss_repaired_before_the_rto(lost: int) -> None:
    # cwnd of four segments, one of them lost. The peer acknowledges each arriving segment
    # (cumulative ACK plus one SACK block above the hole); the segments Limited Transmit
    # adds (RFC 6675 step 3) bring enough SACKed data to call the hole lost.
    conn = sack_conn(4 * MSS, 8 * MSS)
    hole = lost * MSS
    wire = [o for o in range(0, 4 * MSS, MSS) if o != hole]
    got: set[int] = set()
    retransmitted: list[int] = []
    highest = 4 * MSS
    while wire and not retransmitted:
        got.add(wire.pop(0))
        cum = 0
        while cum in got:
            cum += MSS
        above = sorted(o for o in got if o > cum)
        held = [(above[0], above[-1] + MSS)] if above else []
        for s, _n in ack(conn, 0.01, cum, *held):
            if s - S < highest:
                retransmitted.append(s - S)
            else:
                wire.append(s - S)
                highest = s - S + MSS
    assert retransmitted == [hole]
    assert conn.snd.in_recovery and conn.retransmissions == 1
    rto = conn.snd.rtx_deadline
    assert conn.snd.backoff == 0 and rto is not None and rto > 0.01  # no timeout involved


def test_retransmits_exactly_the_holes() -> None:
    conn = sack_conn(10 * MSS, 10 * MSS)
    # Offsets 1000, 4000 and 6000 are lost; the peer holds everything else.
    segs = ack(conn, 0.01, 1000, (7000, 10000), (5000, 6000), (2000, 4000))
    assert conn.snd.in_recovery
    assert segs == [(S + 1000, MSS), (S + 4000, MSS), (S + 6000, MSS)]
    assert conn.snd.ssthresh == 4500 and conn.cwnd == 4500  # FlightSize 9000, halved
    # More ACKs for the same holes send nothing again (HighRxt is past them) ...
    assert ack(conn, 0.02, 1000, (7000, 10000), (5000, 6000), (2000, 4000)) == []
    # ... and the retransmissions fill them.
    assert ack(conn, 0.03, 4000, (7000, 10000), (5000, 6000)) == []
    assert ack(conn, 0.03, 10000) == []
    assert not conn.snd.in_recovery and conn.retransmissions == 3


def test_sack_on_a_data_segment_counts_as_a_duplicate_ack() -> None:
    # RFC 6675 section 2: what makes a duplicate ACK is SACKing new data, whether the
    # segment carries data or changes the window; an ACK with nothing new does not count.
    conn = sack_conn(4 * MSS, 4 * MSS)
    ack(conn, 0.01, 0, (1000, 2000), data=b"request")
    assert conn.snd.dupacks == 1
    conn.handle_segment(seg(P + 7, S, window=30000, sack=((S + 1000, S + 3000),)), b"", 0.01)
    assert conn.snd.dupacks == 2
    ack(conn, 0.01, 0, (1000, 3000))  # nothing new
    assert conn.snd.dupacks == 2 and not conn.snd.in_recovery


def test_three_sacked_segments_mean_lost_even_from_one_ack() -> None:
    # IsLost: more than (DupThresh - 1) * SMSS bytes SACKed above a hole (section 4).
    conn = sack_conn(4 * MSS, 4 * MSS)
    assert ack(conn, 0.01, 0, (1000, 4000)) == [(S, MSS)]
    assert conn.snd.in_recovery and conn.snd.dupacks == 1


def test_partial_ack_resends_the_next_hole_when_the_pipe_is_full() -> None:
    # Offsets 0, 2000 and 5000 are lost from a window of four plus two Limited Transmit
    # segments. When the retransmission of 0 is acknowledged, 2000 is not "lost" by the
    # scoreboard (only 2000 bytes SACKed above it) and pipe == cwnd: RFC 6675 alone would
    # wait for the RTO. The partial ACK shows 2000 was passed by a later segment: resend it.
    conn = sack_conn(4 * MSS, 8 * MSS)
    assert ack(conn, 0.01, 0, (1000, 2000)) == [(S + 4000, MSS)]
    assert ack(conn, 0.01, 0, (3000, 4000), (1000, 2000)) == [(S + 5000, MSS)]
    assert ack(conn, 0.01, 0, (3000, 5000), (1000, 2000)) == [(S, MSS)]
    assert conn.snd.in_recovery and conn.cwnd == 2000
    assert ack(conn, 0.02, 2000, (3000, 5000)) == [(S + 2000, MSS)]
    assert conn.retransmissions == 2


def test_lost_retransmission_is_sent_again() -> None:
    conn = established(sack=True)
    now = timed(conn, 0.05)  # SRTT 50 ms
    s = conn.snd.snd_una - S  # offsets below are relative to S; the timing byte is at 0
    conn.snd.cwnd = 4 * MSS
    conn.send(bytes(8 * MSS))
    assert len(sent(conn, now)) == 4
    t = now + 0.01
    # Fast retransmit; cwnd (2 segments) minus pipe (the retransmission) lets one new out.
    assert ack(conn, t, s, (s + 1000, s + 4000)) == [(S + s, MSS), (S + s + 4000, MSS)]
    # The retransmission is lost. An ACK that SACKs data sent after it, arriving more than
    # SRTT + reo_wnd after it, shows it lost as well (RACK's rule, RFC 8985 section 6.2).
    assert ack(conn, t + 0.02, s, (s + 1000, s + 5000)) == [(S + s + 5000, MSS)]  # too early
    assert ack(conn, t + 0.1, s, (s + 1000, s + 6000)) == [(S + s, MSS), (S + s + 6000, MSS)]
    assert conn.retransmissions == 2


def test_lost_retransmission_with_no_ack_at_all_is_resent_once_by_the_probe_timer() -> None:
    conn = established(sack=True)
    now = timed(conn, 0.05)
    s = conn.snd.snd_una - S
    conn.send(bytes(4 * MSS))
    out(conn, now)
    t = now + 0.01
    assert ack(conn, t, s, (s + 1000, s + 4000)) == [(S + s, MSS)]
    # Nothing more comes back: the probe timer (2 * SRTT after the retransmission) resends
    # it once, well before the RTO.
    deadline = conn.next_deadline()
    assert deadline is not None
    assert deadline == pytest.approx(t + 0.1)
    conn.handle_timer(deadline)
    assert sent(conn, deadline) == [(S + s, MSS)]
    rto = conn.snd.rtx_deadline
    assert conn.next_deadline() == rto and rto is not None and rto > deadline  # once only


def test_rescue_retransmission_of_the_tail() -> None:
    # RFC 6675 NextSeg() rule 4: the last segment is lost too, and nothing above it will
    # ever be SACKed; once per recovery, when the pipe allows, it is resent.
    conn = sack_conn(8 * MSS, 8 * MSS)
    segs = ack(conn, 0.01, 0, (1000, 7000))
    assert segs == [(S, MSS), (S + 7000, MSS)]
    assert conn.retransmissions == 2
    assert ack(conn, 0.02, 0, (1000, 7000)) == []  # once only
