"""Loss recovery: RTO with backoff and give-up (RFC 6298), fast retransmit and NewReno
recovery (RFC 5681, RFC 6582), SACK-aware retransmission (RFC 2018), RTT estimation."""

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


def _fast_retx_setup(sack: bool) -> Connection:
    cfg = config(sack=sack, rcv_buf=65535)
    conn = Connection(40000, 80, ISS, cfg, 0.0)
    conn.connect(0.0)
    one(conn)
    conn.handle_segment(
        seg(PEER_ISS, S, SYN | ACK, 65535, options=TCPOptions(mss=1000, sack_permitted=sack)),
        b"",
        0.0,
    )
    one(conn)
    conn.cwnd  # noqa: B018
    conn.snd.cwnd = 8000
    conn.send(bytes(range(256)) * 32)  # 8192 bytes
    segs = out(conn, 0.0)
    assert len(segs) == 8
    return conn


def test_fast_retransmit_on_third_dup_ack() -> None:
    conn = _fast_retx_setup(sack=False)
    # Segment 1 (S) lost; segments 2.. arrive and each produces a duplicate ACK.
    for _i in range(2):
        conn.handle_segment(seg(P, S), b"", 0.01)
        assert out(conn, 0.01) == []
    conn.handle_segment(seg(P, S), b"", 0.01)
    segs = out(conn, 0.01)
    assert segs[0][0].seq == S and len(segs[0][1]) == 1000
    assert conn.retransmissions == 1
    assert conn.snd.in_recovery
    assert conn.snd.ssthresh == 4000 and conn.cwnd == 7000
    # More duplicate ACKs inflate the window; the fifth lets the last 192 bytes out.
    conn.handle_segment(seg(P, S), b"", 0.01)
    assert out(conn, 0.01) == []
    conn.handle_segment(seg(P, S), b"", 0.01)
    segs = out(conn, 0.01)
    assert [(h.seq, len(p)) for h, p in segs] == [(S + 8000, 192)]
    # Partial ACK (up to segment 4 lost too): retransmit it at once (RFC 6582).
    conn.handle_segment(seg(P, S + 3000), b"", 0.02)
    segs = out(conn, 0.02)
    assert segs[0][0].seq == S + 3000 and conn.retransmissions == 2
    # Full ACK ends recovery with cwnd = ssthresh-ish.
    conn.handle_segment(seg(P, S + 8192), b"", 0.03)
    assert not conn.snd.in_recovery and conn.cwnd <= 4000 + 1000


def test_sack_recovery_retransmits_only_holes() -> None:
    conn = _fast_retx_setup(sack=True)
    # Segments at S and S+2000 lost; the rest SACKed.
    blocks = [((S + 1000, S + 2000),), ((S + 1000, S + 2000), (S + 3000, S + 4000))]
    conn.handle_segment(seg(P, S, sack=blocks[0]), b"", 0.01)
    conn.handle_segment(seg(P, S, sack=((S + 3000, S + 4000), (S + 1000, S + 2000))), b"", 0.01)
    conn.handle_segment(seg(P, S, sack=((S + 3000, S + 5000), (S + 1000, S + 2000))), b"", 0.01)
    segs = out(conn, 0.01)
    assert next((h.seq, len(p)) for h, p in segs if len(p) == 1000) == (S, 1000)
    conn.handle_segment(seg(P, S, sack=((S + 3000, S + 6000), (S + 1000, S + 2000))), b"", 0.01)
    segs = out(conn, 0.01)
    retx = [h.seq for h, p in segs if (h.seq - S) % 2**32 < 8000]
    assert retx == [S + 2000]  # the second hole, never SACKed data
    assert conn.snd.sacked == [[1000, 2000], [3000, 6000]]


def test_rto_after_sack_skips_nothing_but_clears_scoreboard() -> None:
    conn = _fast_retx_setup(sack=True)
    conn.handle_segment(seg(P, S, sack=((S + 1000, S + 3000),)), b"", 0.01)
    out(conn, 0.01)
    conn.handle_timer(5.0)
    assert conn.snd.sacked == []  # RFC 2018 section 8
    ((h, _),) = out(conn, 5.0)
    assert h.seq == S


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


def test_duplicate_ack_with_window_change_is_not_dup() -> None:
    conn = _fast_retx_setup(sack=False)
    for w in (60000, 50000, 40000):
        conn.handle_segment(seg(P, S, ACK, w), b"", 0.01)
    assert conn.snd.dupacks == 0 and not conn.snd.in_recovery
