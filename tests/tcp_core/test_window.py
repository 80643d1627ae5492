"""Flow control: zero window, persist probes and window reopening (RFC 9293 section
3.8.6.1), silly window avoidance on both sides (RFC 9293 section 3.8.6.2)."""

from __future__ import annotations

import pytest

from usersock.errors import Err
from usersock.transport.tcp.state import State
from usersock.wire.tcp import ACK

from .helpers import ISS, PEER_ISS, config, established, one, out, seg

P = PEER_ISS + 1
S = ISS + 1


def test_zero_window_persist_probes_back_off_and_reopen() -> None:
    conn = established(config(rto_initial=1.0, rto_min=0.2))
    conn.handle_segment(seg(P, S, ACK, 0), b"", 0.0)
    assert conn.snd_wnd == 0
    conn.send(b"payload")
    assert out(conn) == []
    d = conn.next_deadline()
    assert d == pytest.approx(1.0)
    now = 0.0
    gaps = []
    for _ in range(3):
        d = conn.next_deadline()
        assert d is not None
        gaps.append(d - now)
        now = d
        conn.handle_timer(now)
        ((probe, payload),) = out(conn, now)
        # Linux-style probe: an old sequence number the peer must answer.
        assert probe.seq == S - 1 and payload == b"" and probe.flags == ACK
        conn.handle_segment(seg(P, S, ACK, 0), b"", now)  # still closed
        assert out(conn, now) == []
    assert gaps == pytest.approx([1.0, 2.0, 4.0])
    # The window opens: data flows, the persist timer stops.
    conn.handle_segment(seg(P, S, ACK, 4000), b"", now + 0.5)
    ((h, p),) = out(conn, now + 0.5)
    assert bytes(p) == b"payload" and h.seq == S
    assert conn.snd.persist_deadline is None


def test_unanswered_probes_give_up() -> None:
    conn = established(config(retries2=2))
    conn.handle_segment(seg(P, S, ACK, 0), b"", 0.0)
    conn.send(b"x")
    out(conn)
    for _ in range(2):
        d = conn.next_deadline()
        assert d is not None
        conn.handle_timer(d)
        assert len(out(conn, d)) == 1
    d = conn.next_deadline()
    assert d is not None
    conn.handle_timer(d)
    assert conn.state is State.CLOSED and conn.error is Err.TIMED_OUT


def test_sender_sws_waits_then_override_timer_fills_small_window() -> None:
    conn = established()  # max window seen: 65535
    conn.handle_segment(seg(P, S, ACK, 500), b"", 0.0)
    conn.send(bytes(2000))
    assert out(conn) == []  # 500 < max(SND.WND) / 2 and < MSS
    d = conn.next_deadline()
    assert d is not None
    conn.handle_timer(d)
    ((h, p),) = out(conn, d)
    assert len(p) == 500 and h.seq == S


def test_receiver_answers_probe_with_window() -> None:
    conn = established(config(rcv_buf=2000))
    conn.handle_segment(seg(P, S), b"x" * 2000, 0.0)
    conn.flush_ack(0.0)
    ack, _ = one(conn)
    assert ack.window == 0
    conn.handle_segment(seg(P + 1999, S), b"", 1.0)  # probe: SEQ = RCV.NXT - 1
    ack, _ = one(conn, 1.0)
    assert ack.ack == P + 2000 and ack.window == 0
    conn.recv(2000)
    upd, _ = one(conn, 1.1)
    assert upd.window == 2000


def test_receiver_never_shrinks_window() -> None:
    conn = established(config(rcv_buf=3000, mss=1000))
    conn.flush_ack(0.0)
    out(conn)
    right = conn.rcv.rcv_adv
    conn.handle_segment(seg(P + 1000, S), b"y" * 1000, 0.0)  # out of order
    ack, _ = one(conn)
    assert (ack.ack + ack.window) % 2**32 == right
    conn.handle_segment(seg(P, S), b"x" * 1000, 0.0)
    ack, _ = one(conn)
    assert (ack.ack + ack.window) % 2**32 == right and ack.window == 1000


def test_segment_at_zero_window_still_acks() -> None:
    conn = established(config(rcv_buf=1000))
    conn.send(b"abc")
    out(conn)
    conn.handle_segment(seg(P, S), b"x" * 1000, 0.0)
    # Window now zero; a data segment at RCV.NXT is not acceptable for its data, but its
    # ACK field is processed (RFC 9293 3.10.7.4: special allowance for ACKs).
    conn.handle_segment(seg(P + 1000, S + 3), b"more", 0.1)
    assert conn.snd.snd_una == S + 3
    ack, _ = one(conn, 0.1)
    assert ack.ack == P + 1000 and ack.window == 0


def test_rto_retransmission_ignores_zero_window() -> None:
    conn = established()
    conn.send(b"abc")
    out(conn)
    conn.handle_segment(seg(P, S, ACK, 0), b"", 0.1)  # window closes, data not ACKed
    conn.handle_timer(1.0)
    ((h, p),) = out(conn, 1.0)
    assert h.seq == S and bytes(p) == b"abc"
