"""Keepalive (RFC 9293 section 3.8.4, RFC 1122 4.2.3.6): probes after idle, give-up."""

from __future__ import annotations

import pytest

from usersock.errors import Err
from usersock.transport.tcp.state import State
from usersock.wire.tcp import ACK, RST

from .helpers import ISS, PEER_ISS, config, established, one, out, seg

P = PEER_ISS + 1
S = ISS + 1


def test_no_keepalive_by_default() -> None:
    conn = established()
    assert conn.next_deadline() is None


def test_probe_after_idle_and_answer_resets() -> None:
    conn = established(config(keepalive=True, keepidle=100.0, keepintvl=10.0, keepcnt=3))
    assert conn.next_deadline() == pytest.approx(100.0)
    conn.handle_timer(100.0)
    probe, payload = one(conn, 100.0)
    assert probe.seq == S - 1 and probe.flags == ACK and payload == b""
    assert conn.next_deadline() == pytest.approx(110.0)
    conn.handle_segment(seg(P, S), b"", 100.01)  # the peer answers
    assert conn.next_deadline() == pytest.approx(200.01)


def test_unanswered_probes_time_out() -> None:
    conn = established(config(keepalive=True, keepidle=100.0, keepintvl=10.0, keepcnt=3))
    times = []
    for _ in range(3):
        d = conn.next_deadline()
        assert d is not None
        times.append(d)
        conn.handle_timer(d)
        assert len(out(conn, d)) == 1
    assert times == pytest.approx([100.0, 110.0, 120.0])
    conn.handle_timer(130.0)
    assert conn.state is State.CLOSED and conn.error is Err.TIMED_OUT
    rst, _ = one(conn, 130.0)
    assert rst.flags & RST


def test_keepalive_enabled_later() -> None:
    conn = established()
    conn.config.keepalive = True
    conn.config.keepidle = 5.0
    assert conn.next_deadline() == pytest.approx(5.0)


def test_keepalive_defers_to_retransmission_when_data_outstanding() -> None:
    conn = established(config(keepalive=True, keepidle=0.5, keepintvl=10.0, rto_initial=1.0))
    conn.send(b"x")
    out(conn)
    conn.handle_timer(0.5)
    assert out(conn, 0.5) == []  # no keepalive probe: the RTO watches the peer
