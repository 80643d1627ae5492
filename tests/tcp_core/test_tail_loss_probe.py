"""The tail loss probe, after RFC 8985 section 7: when the last segments of a flight are lost
no ACK comes back to start recovery, so a probe goes out at PTO = 2 * SRTT (at least 10 ms)
instead of waiting for the RTO. Also the D-SACK (RFC 2883) that tells a needless probe from
a repair. A scripted peer, a manual clock, an SRTT of 50 ms from one timed segment."""

from __future__ import annotations

import pytest

from usersock.transport.tcp.connection import Connection
from usersock.wire.tcp import FIN

from .helpers import ISS, PEER_ISS, established, out, seg, timed

P = PEER_ISS + 1
S = ISS + 1
MSS = 1000
SRTT = 0.05
T = 1.0  # when the flight under test goes out


def sent(conn: Connection, now: float) -> list[tuple[int, int]]:
    return [(h.seq, len(p)) for h, p in out(conn, now)]


def flight(sack: bool, data: int, cwnd: int = 8 * MSS) -> tuple[Connection, int]:
    """A connection with SRTT 50 ms that sends *data* bytes at T; returns it and the
    sequence number of the first byte."""
    conn = established(sack=sack)
    timed(conn, SRTT)
    first = conn.snd.snd_una
    conn.snd.cwnd = cwnd
    conn.send(bytes(data))
    assert [s for s, _ in sent(conn, T)] == list(range(first, first + min(data, cwnd), MSS))
    return conn, first


@pytest.mark.parametrize("sack", [True, False])
def test_lost_last_segment_is_probed_at_two_srtt(sack: bool) -> None:
    conn, f = flight(sack, 3 * MSS)
    # The first two segments are acknowledged 50 ms later; the last one was lost.
    conn.handle_segment(seg(P, f + 2000), b"", T + SRTT)
    rto = conn.snd.rtx_deadline
    assert rto is not None and rto == pytest.approx(T + SRTT + 0.2)
    pto = conn.next_deadline()
    assert pto is not None
    assert pto == pytest.approx(T + SRTT + 2 * SRTT)
    conn.handle_timer(pto)
    # No new data to send: the probe is the last segment again, and the RTO restarts.
    assert sent(conn, pto) == [(f + 2000, MSS)]
    assert conn.snd.rtx_deadline == pytest.approx(pto + 0.2)
    # It repaired a loss (no D-SACK says otherwise): cwnd is halved as in a fast recovery
    # (after the slow-start growth for the segment this ACK acknowledges).
    cwnd = conn.cwnd
    conn.handle_segment(seg(P, f + 3000), b"", pto + SRTT)
    assert conn.cwnd == conn.snd.ssthresh == (cwnd + MSS) // 2 and conn.retransmissions == 1
    assert conn.next_deadline() is None


def test_probe_reported_as_duplicate_keeps_cwnd() -> None:
    conn, f = flight(True, 3 * MSS)
    conn.handle_segment(seg(P, f + 2000), b"", T + SRTT)
    pto = conn.next_deadline()
    assert pto is not None
    conn.handle_timer(pto)
    assert sent(conn, pto) == [(f + 2000, MSS)]
    # Only the ACK was lost: the peer had the segment and says so with a D-SACK block.
    cwnd = conn.cwnd
    conn.handle_segment(seg(P, f + 3000, sack=((f + 2000, f + 3000),)), b"", pto + SRTT)
    assert conn.cwnd == cwnd + MSS  # slow start goes on


def test_probe_sends_new_data_when_it_can() -> None:
    # cwnd holds two segments; both are lost. The probe is the next new segment, sent
    # whatever cwnd says (RFC 8985 section 7.3).
    conn, f = flight(True, 4 * MSS, cwnd=2 * MSS)
    pto = conn.next_deadline()
    assert pto is not None
    assert pto == pytest.approx(T + 2 * SRTT)
    conn.handle_timer(pto)
    assert sent(conn, pto) == [(f + 2000, MSS)]
    assert conn.retransmissions == 0


def test_probe_sacked_above_the_holes_starts_recovery() -> None:
    conn, f = flight(True, 4 * MSS)
    conn.handle_segment(seg(P, f + 2000), b"", T + SRTT)  # the last two are lost
    pto = conn.next_deadline()
    assert pto is not None
    conn.handle_timer(pto)
    assert sent(conn, pto) == [(f + 3000, MSS)]
    # The probe arrives and is SACKed: the segment before it was sent earlier and is
    # missing, so it is lost (RACK's rule) and recovery repairs it at once.
    conn.handle_segment(seg(P, f + 2000, sack=((f + 3000, f + 4000),)), b"", pto + SRTT)
    assert sent(conn, pto + SRTT) == [(f + 2000, MSS)]
    assert conn.snd.in_recovery


def test_probe_timeout_with_a_known_hole_starts_recovery_instead() -> None:
    # Three segments, the first lost: two duplicate ACKs, no new data for Limited Transmit,
    # and too little SACKed for the hole to count as lost. At the probe timeout the hole is
    # older than two round trips: recovery starts and resends it.
    conn, f = flight(True, 3 * MSS)
    conn.handle_segment(seg(P, f, sack=((f + 1000, f + 2000),)), b"", T + SRTT)
    conn.handle_segment(seg(P, f, sack=((f + 1000, f + 3000),)), b"", T + SRTT)
    assert out(conn, T + SRTT) == [] and not conn.snd.in_recovery
    pto = conn.next_deadline()
    assert pto is not None
    assert pto == pytest.approx(T + 2 * SRTT)
    conn.handle_timer(pto)
    assert sent(conn, pto) == [(f, MSS)]
    assert conn.snd.in_recovery


def test_probe_carries_the_fin() -> None:
    conn, f = flight(True, 2 * MSS)
    conn.shutdown_write()
    ((fin, _),) = out(conn, T)
    assert fin.flags & FIN and fin.seq == f + 2000
    pto = conn.next_deadline()
    assert pto is not None
    conn.handle_timer(pto)
    ((h, p),) = out(conn, pto)
    assert h.seq == f + 1000 and len(p) == MSS and h.flags & FIN  # the last segment, FIN too


def test_no_probe_without_an_rtt_sample() -> None:
    conn = established(sack=True)
    conn.send(bytes(3 * MSS))
    out(conn)
    assert conn.snd.srtt is None and conn.next_deadline() == pytest.approx(1.0)  # the RTO


def test_one_probe_per_tail() -> None:
    conn, _ = flight(True, 3 * MSS)
    pto = conn.next_deadline()
    assert pto is not None
    conn.handle_timer(pto)
    assert len(out(conn, pto)) == 1
    # The probe is lost too: the next thing is the RTO, not another probe.
    rto = conn.next_deadline()
    assert rto == conn.snd.rtx_deadline and rto == pytest.approx(pto + 0.2)


def test_lone_segment_is_left_to_the_rto() -> None:
    # WCDelAckT (RFC 8985 section 7.2): the receiver may hold the ACK of a lone segment for
    # up to 200 ms, which puts the probe after the RTO: the RTO alone watches it.
    conn = established(sack=True)
    timed(conn, SRTT)
    conn.send(bytes(MSS))
    out(conn, T)
    assert conn.snd.tlp_deadline is None and conn.next_deadline() == pytest.approx(T + 0.2)


def test_duplicate_segment_is_reported_with_a_dsack_block_once() -> None:
    conn = established(sack=True)
    conn.handle_segment(seg(P, S), b"x" * 100, 0.0)
    conn.flush_ack(0.0)
    ((a, _),) = out(conn)
    assert a.ack == P + 100 and a.options.sack_blocks == ()
    conn.handle_segment(seg(P, S), b"x" * 100, 0.1)  # the same segment again
    ((a, _),) = out(conn, 0.1)
    assert a.options.sack_blocks == ((P, P + 100),)  # RFC 2883 section 4
    conn.handle_segment(seg(P + 100, S), b"y", 0.2)
    conn.flush_ack(0.2)
    ((a, _),) = out(conn, 0.2)
    assert a.options.sack_blocks == ()


def test_no_dsack_without_sack() -> None:
    conn = established()
    conn.handle_segment(seg(P, S), b"x" * 100, 0.0)
    conn.flush_ack(0.0)
    out(conn)
    conn.handle_segment(seg(P, S), b"x" * 100, 0.1)
    ((a, _),) = out(conn, 0.1)
    assert a.options.sack_blocks == ()
