"""The retransmission timer: RTO with backoff and give-up (RFC 6298), go-back-N after it,
RTT estimation (Karn's algorithm, timestamps). Recovery that beats the timer is in
test_fast_recovery (no SACK), test_sack_recovery and test_tail_loss_probe."""

from __future__ import annotations

import pytest

from usersock.errors import Err
from usersock.transport.tcp.connection import Connection
from usersock.transport.tcp.state import State
from usersock.wire.tcp import ACK, FIN, RST, SYN, TCPOptions

from .helpers import ISS, PEER_ISS, config, established, one, out, seg

P = PEER_ISS + 1
S = ISS + 1


def test_rto_retransmits_and_backs_off() -> None:
    conn = established(config(rto_initial=1.0, rto_min=0.2))
    conn.send(b"data")
    ((_h, _),) = out(conn, 0.0)
    first = conn.next_deadline()
    assert first is not None
    assert first == pytest.approx(1.0)
    now = first
    gaps = [first]
    for _ in range(4):
        conn.handle_timer(now)
        ((h2, p2),) = out(conn, now)
        assert h2.seq == S and bytes(p2) == b"data"
        nxt = conn.next_deadline()
        assert nxt is not None
        gaps.append(nxt - now)
        now = nxt
    assert gaps == pytest.approx([1.0, 2.0, 4.0, 8.0, 16.0])
    assert conn.retransmissions == 4
    # An ACK ends the backoff.
    conn.handle_segment(seg(P, S + 4), b"", now)
    assert conn.next_deadline() is None
    assert conn.rto == pytest.approx(1.0)  # backoff cleared; Karn: no sample taken


def test_rto_capped_at_rto_max() -> None:
    conn = established(config(rto_initial=1.0, rto_max=3.0, retries2=10))
    conn.send(b"x")
    out(conn)
    now = 0.0
    for _ in range(5):
        d = conn.next_deadline()
        assert d is not None
        assert d - now <= 3.0 + 1e-9
        now = d
        conn.handle_timer(now)
        out(conn, now)


def test_give_up_after_retries2_sends_rst() -> None:
    conn = established(config(retries2=3))
    conn.send(b"x")
    out(conn)
    now = 0.0
    for _ in range(3):
        d = conn.next_deadline()
        assert d is not None
        now = d
        conn.handle_timer(now)
        assert len(out(conn, now)) == 1
    d = conn.next_deadline()
    assert d is not None
    conn.handle_timer(d)
    assert conn.state is State.CLOSED and conn.error is Err.TIMED_OUT
    ((rst, _),) = out(conn, d)
    assert rst.flags & RST and rst.seq == S + 1
    assert conn.next_deadline() is None


def test_rto_goes_back_n_with_slow_start() -> None:
    conn = established(config(rcv_buf=65535), peer_mss=1000)
    conn.send(bytes(4000))
    segs = out(conn)
    assert len(segs) == 4  # initial window: 4 * 1000
    conn.handle_timer(1.0)
    ((h, p),) = out(conn, 1.0)  # cwnd = 1 SMSS
    assert h.seq == S and len(p) == 1000
    conn.handle_segment(seg(P, S + 1000), b"", 1.1)
    segs = out(conn, 1.1)
    assert [h.seq for h, _ in segs] == [S + 1000, S + 2000]  # slow start: 2 segments


def test_karn_no_rtt_from_retransmitted_segment() -> None:
    conn = established(config(rto_initial=1.0))
    conn.send(b"x")
    out(conn, 0.0)
    conn.handle_timer(1.0)
    out(conn, 1.0)
    conn.handle_segment(seg(P, S + 1), b"", 1.5)
    assert conn.srtt is None
    conn.send(b"y")
    out(conn, 2.0)
    conn.handle_segment(seg(P, S + 2), b"", 2.25)
    assert conn.srtt == pytest.approx(0.25)
    assert conn.rto == pytest.approx(0.25 + 4 * 0.125)


def test_rtt_from_timestamps() -> None:
    cfg = config(timestamps=True, rto_min=0.01)
    conn = Connection(40000, 80, ISS, cfg, 0.0)
    conn.connect(0.0)
    one(conn)
    conn.handle_segment(
        seg(PEER_ISS, S, SYN | ACK, options=TCPOptions(mss=1000, timestamps=(500, 0))), b"", 0.0
    )
    one(conn)
    conn.send(b"x")
    ((h, _),) = out(conn, 10.0)
    assert h.options.timestamps is not None
    tsval = h.options.timestamps[0]
    conn.handle_segment(seg(P, S + 1, ts=(501, tsval)), b"", 10.3)
    assert conn.srtt == pytest.approx(0.3)


def test_fin_is_retransmitted() -> None:
    conn = established()
    conn.shutdown_write()
    ((h, _),) = out(conn)
    assert h.flags == ACK | FIN
    conn.handle_timer(1.0)
    ((h, _),) = out(conn, 1.0)
    assert h.flags == ACK | FIN and h.seq == S
    conn.handle_segment(seg(P, S + 1), b"", 1.1)
    assert conn.state is State.FIN_WAIT_2


def test_rto_after_sack_clears_scoreboard_and_skips_what_is_sacked_again() -> None:
    conn = established(config(sack=True), sack=True)
    conn.snd.cwnd = 8000
    conn.send(bytes(8000))
    assert len(out(conn)) == 8
    conn.handle_segment(seg(P, S, sack=((S + 1000, S + 3000),)), b"", 0.01)
    out(conn, 0.01)
    conn.handle_timer(5.0)
    assert conn.snd.scoreboard.ranges == []  # RFC 2018 section 8: the peer may renege
    ((h, _),) = out(conn, 5.0)
    assert h.seq == S
    # ACKs refill the scoreboard, and go-back-N skips what they SACK (RFC 6675 5.1).
    conn.handle_segment(seg(P, S + 1000, sack=((S + 2000, S + 4000),)), b"", 5.1)
    assert [h.seq for h, _ in out(conn, 5.1)] == [S + 1000]
    conn.handle_segment(seg(P, S + 2000, sack=((S + 2000, S + 4000),)), b"", 5.2)
    assert [h.seq for h, _ in out(conn, 5.2)] == [S + 4000]


def _ts_established() -> Connection:
    conn = Connection(40000, 80, ISS, config(timestamps=True, rto_initial=1.0), 0.0)
    conn.connect(0.0)
    one(conn)
    conn.handle_segment(
        seg(PEER_ISS, S, SYN | ACK, options=TCPOptions(mss=1000, timestamps=(500, 0))), b"", 0.0
    )
    one(conn)
    return conn


def test_an_echo_of_the_original_after_a_retransmission_is_no_rtt_sample() -> None:
    """The peer got the data, its ACK was lost; our RTO retransmission arrives as a duplicate
    and is answered with the original's timestamp. Counting that as an RTT would put the
    whole timeout (and its backoff) into SRTT."""
    conn = _ts_established()
    conn.send(b"x")
    ((h, _),) = out(conn, 10.0)
    assert h.options.timestamps is not None
    original = h.options.timestamps[0]
    deadline = conn.next_deadline()
    assert deadline is not None
    conn.handle_timer(deadline)
    ((r, _),) = out(conn, deadline)  # the retransmission
    assert r.seq == h.seq
    conn.handle_segment(seg(P, S + 1, ts=(501, original)), b"", deadline + 0.01)
    assert conn.snd.snd_una == S + 1
    assert conn.srtt is None  # no sample: the echo predates the retransmission


def test_an_echo_of_the_retransmission_is_a_sample() -> None:
    conn = _ts_established()
    conn.send(b"x")
    out(conn, 10.0)
    deadline = conn.next_deadline()
    assert deadline is not None
    conn.handle_timer(deadline)
    ((r, _),) = out(conn, deadline)
    assert r.options.timestamps is not None
    conn.handle_segment(seg(P, S + 1, ts=(501, r.options.timestamps[0])), b"", deadline + 0.05)
    assert conn.srtt == pytest.approx(0.05, abs=0.002)
