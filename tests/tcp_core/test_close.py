"""Closing: FIN in both directions, half-close, TIME-WAIT, simultaneous close, close with
unread data, abort, FIN-WAIT-2 timeout (RFC 9293 sections 3.6 and 3.10.4-3.10.5)."""

from __future__ import annotations

import pytest

from usersock.errors import Err, StackError
from usersock.transport.tcp.connection import Connection
from usersock.transport.tcp.state import State
from usersock.wire.tcp import ACK, FIN, RST

from .helpers import ISS, PEER_ISS, config, established, exchange, one, out, pair, seg, state_of

P = PEER_ISS + 1
S = ISS + 1


def test_active_close_through_time_wait() -> None:
    conn = established(config(time_wait=60.0))
    conn.close()
    fin, _ = one(conn)
    assert fin.flags == ACK | FIN and fin.seq == S
    assert conn.state is State.FIN_WAIT_1
    conn.handle_segment(seg(P, S + 1), b"", 1.0)
    assert state_of(conn) is State.FIN_WAIT_2
    conn.handle_segment(seg(P, S + 1, ACK | FIN), b"", 2.0)
    assert state_of(conn) is State.TIME_WAIT
    ack, _ = one(conn, 2.0)
    assert ack.ack == P + 1 and ack.flags == ACK
    assert conn.next_deadline() == pytest.approx(62.0)
    # A retransmitted FIN is ACKed again and restarts the 2*MSL timer.
    conn.handle_segment(seg(P, S + 1, ACK | FIN), b"", 30.0)
    ack, _ = one(conn, 30.0)
    assert ack.ack == P + 1
    assert conn.next_deadline() == pytest.approx(90.0)
    conn.handle_timer(89.0)
    assert state_of(conn) is State.TIME_WAIT
    conn.handle_timer(90.0)
    assert state_of(conn) is State.CLOSED and conn.error is None
    assert conn.next_deadline() is None


def test_fin_and_ack_of_fin_in_one_segment() -> None:
    conn = established()
    conn.shutdown_write()
    one(conn)
    conn.handle_segment(seg(P, S + 1, ACK | FIN), b"", 1.0)
    assert conn.state is State.TIME_WAIT


def test_passive_close_and_half_close() -> None:
    conn = established()
    conn.handle_segment(seg(P, S, ACK | FIN), b"last", 0.0)
    assert conn.state is State.CLOSE_WAIT
    ack, _ = one(conn)
    assert ack.ack == P + 5  # data and FIN ACKed at once
    assert not conn.at_eof()
    assert conn.recv(100) == b"last"
    assert conn.at_eof()
    # Half-close: we may still send.
    conn.send(b"reply")
    _h, p = one(conn)
    assert bytes(p) == b"reply"
    conn.handle_segment(seg(P + 5, S + 5), b"", 0.1)
    conn.close()
    fin, _ = one(conn, 0.1)
    assert fin.flags & FIN and fin.seq == S + 5
    assert state_of(conn) is State.LAST_ACK
    conn.handle_segment(seg(P + 5, S + 6), b"", 0.2)
    assert state_of(conn) is State.CLOSED and conn.error is None


def test_half_close_we_keep_receiving() -> None:
    conn = established()
    conn.shutdown_write()
    one(conn)
    conn.handle_segment(seg(P, S + 1), b"still coming", 0.0)
    assert conn.state is State.FIN_WAIT_2
    assert conn.recv(100) == b"still coming"
    assert conn.next_deadline() is None  # not orphaned: no FIN-WAIT-2 timer


def test_simultaneous_close() -> None:
    conn = established()
    conn.close()
    _fin, _ = one(conn)
    conn.handle_segment(seg(P, S, ACK | FIN), b"", 0.0)  # peer's FIN crosses ours
    assert conn.state is State.CLOSING
    ack, _ = one(conn)
    assert ack.ack == P + 1
    conn.handle_segment(seg(P + 1, S + 1), b"", 0.1)
    assert state_of(conn) is State.TIME_WAIT


def test_simultaneous_close_two_connections() -> None:
    x, y = pair()
    x.close()
    y.close()
    fx = x.segments_to_send(0.0)
    fy = y.segments_to_send(0.0)
    for h, p in fx:
        y.handle_segment(h, p, 0.0)
    for h, p in fy:
        x.handle_segment(h, p, 0.0)
    assert x.state is y.state is State.CLOSING
    exchange(x, y)
    assert state_of(x) is state_of(y) is State.TIME_WAIT


def test_close_with_unread_data_sends_rst() -> None:
    conn = established()
    conn.handle_segment(seg(P, S), b"unread", 0.0)
    conn.close()
    assert conn.state is State.CLOSED and conn.error is None
    rst, _ = one(conn)
    assert rst.flags & RST and rst.seq == S


def test_abort_sends_rst() -> None:
    conn = established()
    conn.send(b"pending")
    conn.abort()
    assert conn.state is State.CLOSED and conn.error is None
    ((rst, _),) = out(conn)
    assert rst.flags & RST and rst.seq == S
    assert out(conn) == []
    with pytest.raises(StackError):
        conn.send(b"x")


def test_abort_in_syn_sent_sends_nothing() -> None:
    conn = Connection(1, 2, ISS, config(), 0.0)
    conn.connect(0.0)
    one(conn)
    conn.abort()
    assert conn.state is State.CLOSED and out(conn) == []


def test_close_in_syn_sent() -> None:
    conn = Connection(1, 2, ISS, config(), 0.0)
    conn.connect(0.0)
    one(conn)
    conn.close()
    assert conn.state is State.CLOSED and conn.next_deadline() is None


def test_shutdown_during_handshake_is_deferred() -> None:
    from usersock.wire.tcp import SYN, TCPOptions

    conn = Connection(1, 2, ISS, config(), 0.0)
    conn.connect(0.0)
    one(conn)
    conn.send(b"req")
    conn.shutdown_write()
    assert conn.state is State.SYN_SENT
    conn.handle_segment(
        seg(PEER_ISS, S, SYN | ACK, options=TCPOptions(mss=1000), src=2, dst=1), b"", 0.0
    )
    assert state_of(conn) is State.FIN_WAIT_1
    ((h, p),) = out(conn)
    assert bytes(p) == b"req" and h.flags & FIN


def test_orphaned_fin_wait_2_times_out() -> None:
    conn = established(config(fin_wait2_timeout=30.0))
    conn.close()
    one(conn)
    conn.handle_segment(seg(P, S + 1), b"", 1.0)
    assert conn.state is State.FIN_WAIT_2
    assert conn.next_deadline() == pytest.approx(31.0)
    conn.handle_timer(31.0)
    assert state_of(conn) is State.CLOSED and conn.error is None
    rst, _ = one(conn, 31.0)
    assert rst.flags & RST


def test_data_after_close_resets() -> None:
    conn = established()
    conn.close()
    one(conn)
    conn.handle_segment(seg(P, S + 1), b"too late", 1.0)
    assert conn.state is State.CLOSED
    rst, _ = one(conn, 1.0)
    assert rst.flags & RST


def test_segment_to_closed_connection_gets_rst() -> None:
    conn = established()
    conn.abort()
    out(conn)
    conn.handle_segment(seg(P, S, ACK), b"x", 1.0)
    ((rst, _),) = out(conn, 1.0)
    assert rst.flags == RST and rst.seq == S


def test_shutdown_before_connect() -> None:
    conn = Connection(1, 2, ISS, config(), 0.0)
    with pytest.raises(StackError) as e:
        conn.shutdown_write()
    assert e.value.err is Err.NOT_CONNECTED
