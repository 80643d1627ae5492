"""Loss recovery without SACK: Limited Transmit (RFC 3042), fast retransmit on the third
duplicate ACK and NewReno recovery (RFC 5681 section 3.2, RFC 6582). A scripted peer, a
manual clock: every retransmission here happens long before the first RTO (1 s)."""

from __future__ import annotations

from usersock.transport.tcp.connection import Connection

from .helpers import ISS, PEER_ISS, established, out, seg, timed

P = PEER_ISS + 1
S = ISS + 1


def sent(conn: Connection, now: float) -> list[tuple[int, int]]:
    """``(seq, length)`` of what the connection sends now."""
    return [(h.seq, len(p)) for h, p in out(conn, now)]


def dupack(conn: Connection, now: float, ack: int = S) -> list[tuple[int, int]]:
    conn.handle_segment(seg(P, ack), b"", now)
    return sent(conn, now)


def test_four_segment_window_one_loss_recovers_by_limited_transmit() -> None:
    # The initial window is four segments; the first is lost. Its three successors bring
    # three duplicate ACKs only because Limited Transmit sends two more segments.
    conn = established()
    conn.send(bytes(8000))
    assert sent(conn, 0.0) == [(S, 1000), (S + 1000, 1000), (S + 2000, 1000), (S + 3000, 1000)]
    assert dupack(conn, 0.01) == [(S + 4000, 1000)]  # RFC 3042: one new segment ...
    assert dupack(conn, 0.01) == [(S + 5000, 1000)]  # ... per duplicate ACK
    assert dupack(conn, 0.01) == [(S, 1000)]  # fast retransmit
    assert conn.snd.in_recovery and conn.retransmissions == 1
    # ssthresh: half the FlightSize before Limited Transmit (RFC 5681 3.2 step 2).
    assert conn.snd.ssthresh == 2000 and conn.cwnd == 2000 + 3 * 1000
    rto = conn.snd.rtx_deadline
    assert rto is not None and rto >= 1.0  # the timer never came into it
    # The Limited Transmit segments arrive too: each duplicate ACK inflates cwnd by one
    # segment, and the second lets a new segment out (FlightSize was 6000).
    assert dupack(conn, 0.02) == []
    assert dupack(conn, 0.02) == [(S + 6000, 1000)]
    # The retransmission arrives: the ACK covers "recover" and ends recovery.
    conn.handle_segment(seg(P, S + 6000), b"", 0.03)
    assert not conn.snd.in_recovery
    assert conn.cwnd == 2000  # min(ssthresh, FlightSize + SMSS), RFC 6582 3.2 step 6


def test_no_limited_transmit_without_new_data() -> None:
    conn = established()
    conn.send(bytes(3000))
    assert len(sent(conn, 0.0)) == 3
    assert dupack(conn, 0.01) == []
    assert dupack(conn, 0.01) == []
    assert conn.snd.dupacks == 2 and not conn.snd.in_recovery


def test_partial_ack_retransmits_the_next_hole_at_once() -> None:
    conn = established()
    conn.snd.cwnd = 8000
    conn.send(bytes(8192))
    assert len(sent(conn, 0.0)) == 8
    # Segments S and S+3000 are lost.
    assert dupack(conn, 0.01) == [(S + 8000, 192)]  # Limited Transmit sends the rest
    assert dupack(conn, 0.01) == []
    assert dupack(conn, 0.01) == [(S, 1000)]
    assert conn.snd.ssthresh == 4000 and conn.cwnd == 7000
    # The retransmission fills the first hole; the ACK stops at the second: a partial ACK
    # (RFC 6582 section 3.2 step 5) retransmits it and deflates cwnd by what it acked.
    conn.handle_segment(seg(P, S + 3000), b"", 0.02)
    assert sent(conn, 0.02) == [(S + 3000, 1000)]
    assert conn.snd.in_recovery and conn.retransmissions == 2
    assert conn.cwnd == 7000 - 3000 + 1000
    conn.handle_segment(seg(P, S + 8192), b"", 0.03)
    assert not conn.snd.in_recovery and conn.cwnd <= 4000 + 1000


def test_duplicate_ack_means_no_data_and_no_window_change() -> None:
    # RFC 5681 section 2: an ACK that changes the window or carries data is not a duplicate.
    conn = established()
    conn.send(bytes(4000))
    out(conn)
    for w in (60000, 50000, 40000):
        conn.handle_segment(seg(P, S, window=w), b"", 0.01)
    conn.handle_segment(seg(P, S), b"data", 0.01)
    assert conn.snd.dupacks == 0 and not conn.snd.in_recovery
    assert all(len(p) == 0 for _, p in out(conn, 0.01))  # only the ACK of the peer's data


def test_no_second_fast_retransmit_for_data_sent_before_a_timeout() -> None:
    # RFC 6582 section 3.2 step 2: after an RTO, duplicate ACKs for data outstanding at the
    # timeout ("recover") do not start another fast retransmit.
    conn = established()
    conn.send(bytes(4000))
    out(conn)
    conn.handle_timer(1.0)
    assert sent(conn, 1.0) == [(S, 1000)]
    for _ in range(3):
        dupack(conn, 1.01)
    assert not conn.snd.in_recovery and conn.retransmissions == 1


def test_lost_fast_retransmission_is_sent_again_before_the_rto() -> None:
    conn = established()
    now = timed(conn, 0.05)  # SRTT 50 ms, RTO 200 ms
    s = conn.snd.snd_una
    conn.snd.cwnd = 4000
    conn.send(bytes(6000))
    assert len(sent(conn, now)) == 4
    for _ in range(3):
        dupack(conn, now + 0.01, s)
    assert conn.snd.in_recovery and conn.retransmissions == 1
    # The retransmission is lost. The Limited Transmit segments' duplicate ACKs come back
    # more than SRTT after it: they were sent after it, so it is lost too (RACK's rule).
    assert dupack(conn, now + 0.1, s) == [(s, 1000)]
    assert conn.retransmissions == 2
    deadline = conn.snd.rtx_deadline
    assert deadline is not None and now + 0.1 < deadline
