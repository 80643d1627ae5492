"""Resets: reset_for (RFC 9293 section 3.10.7.1), RST in every state, RFC 5961 challenge
ACKs for in-window RSTs and SYNs, unacceptable segments (RFC 9293 section 3.10.7.4)."""

from __future__ import annotations

import pytest

from usersock.errors import Err
from usersock.transport.tcp.connection import Connection, reset_for
from usersock.transport.tcp.state import State
from usersock.wire.tcp import ACK, FIN, RST, SYN, TCPHeader

from .helpers import ISS, PEER_ISS, config, established, one, out, seg

P = PEER_ISS + 1
S = ISS + 1


@pytest.mark.parametrize(
    ("flags", "seq", "ack", "plen", "expect"),
    [
        (RST, 10, 0, 0, None),
        (RST | ACK, 10, 20, 0, None),
        (ACK, 10, 20, 5, (20, 0, RST)),
        (SYN, 10, 0, 0, (0, 11, RST | ACK)),
        (SYN | FIN, 10, 0, 3, (0, 15, RST | ACK)),
        (0, 0xFFFFFFFF, 0, 2, (0, 1, RST | ACK)),
        (FIN | ACK, 10, 30, 0, (30, 0, RST)),
    ],
)
def test_reset_for(
    flags: int, seq: int, ack: int, plen: int, expect: tuple[int, int, int] | None
) -> None:
    hdr = TCPHeader(1234, 80, seq, ack, flags, 100)
    rst = reset_for(hdr, plen)
    if expect is None:
        assert rst is None
    else:
        assert rst is not None
        assert (rst.seq, rst.ack, rst.flags) == expect
        assert (rst.src_port, rst.dst_port) == (80, 1234)


def _in_state(state: State) -> Connection:
    conn = established()
    if state is State.FIN_WAIT_1:
        conn.shutdown_write()
    elif state is State.FIN_WAIT_2:
        conn.shutdown_write()
        out(conn)
        conn.handle_segment(seg(P, S + 1), b"", 0.0)
    elif state is State.CLOSE_WAIT:
        conn.handle_segment(seg(P, S, ACK | FIN), b"", 0.0)
    elif state is State.LAST_ACK:
        conn.handle_segment(seg(P, S, ACK | FIN), b"", 0.0)
        conn.close()
    elif state is State.CLOSING:
        conn.shutdown_write()
        out(conn)
        conn.handle_segment(seg(P, S, ACK | FIN), b"", 0.0)
    elif state is State.TIME_WAIT:
        conn.shutdown_write()
        out(conn)
        conn.handle_segment(seg(P, S + 1, ACK | FIN), b"", 0.0)
    out(conn)
    assert conn.state is state
    return conn


def _rcv_nxt(conn: Connection) -> int:
    return conn.rcv.rcv_nxt


@pytest.mark.parametrize(
    ("state", "error"),
    [
        (State.ESTABLISHED, Err.CONNECTION_RESET),
        (State.FIN_WAIT_1, Err.CONNECTION_RESET),
        (State.FIN_WAIT_2, Err.CONNECTION_RESET),
        (State.CLOSE_WAIT, Err.CONNECTION_RESET),
        (State.CLOSING, None),
        (State.LAST_ACK, None),
        (State.TIME_WAIT, None),
    ],
)
def test_exact_rst_resets(state: State, error: Err | None) -> None:
    conn = _in_state(state)
    conn.handle_segment(seg(_rcv_nxt(conn), 0, RST), b"", 1.0)
    assert conn.state is State.CLOSED
    assert conn.error is error
    assert out(conn, 1.0) == []
    assert conn.next_deadline() is None


@pytest.mark.parametrize("state", [State.ESTABLISHED, State.FIN_WAIT_2, State.CLOSE_WAIT])
def test_in_window_rst_gets_challenge_ack(state: State) -> None:
    conn = _in_state(state)
    nxt = _rcv_nxt(conn)
    conn.handle_segment(seg(nxt + 100, 0, RST), b"", 1.0)
    assert conn.state is state
    ack, _ = one(conn, 1.0)
    assert ack.flags == ACK and ack.ack == nxt


def test_out_of_window_rst_is_dropped_silently() -> None:
    conn = established()
    conn.handle_segment(seg(P + 1_000_000, 0, RST), b"", 1.0)
    assert conn.state is State.ESTABLISHED
    assert out(conn, 1.0) == []


def test_rst_in_syn_received() -> None:
    syn = seg(PEER_ISS, 0, SYN)
    conn = Connection.from_syn(syn, 40000, ISS, config(), 0.0)
    one(conn)
    conn.handle_segment(seg(P, 0, RST), b"", 0.0)
    assert conn.state is State.CLOSED and conn.error is Err.CONNECTION_RESET


def test_syn_in_established_gets_challenge_ack() -> None:
    conn = established()
    conn.handle_segment(seg(P + 5, 0, SYN), b"", 1.0)
    assert conn.state is State.ESTABLISHED
    ack, _ = one(conn, 1.0)
    assert ack.flags == ACK and ack.ack == P and ack.seq == S


def test_ack_of_unsent_data_gets_ack_and_is_dropped() -> None:
    conn = established()
    conn.handle_segment(seg(P, S + 500), b"data", 1.0)
    ack, _ = one(conn, 1.0)
    assert ack.ack == P and conn.readable_bytes() == 0


def test_unacceptable_segment_is_acked() -> None:
    conn = established()
    conn.handle_segment(seg(P + 200_000, S), b"far", 1.0)
    ack, _ = one(conn, 1.0)
    assert ack.ack == P and conn.readable_bytes() == 0


def test_segment_without_ack_is_dropped() -> None:
    conn = established()
    conn.handle_segment(seg(P, 0, 0), b"noack", 1.0)
    assert conn.readable_bytes() == 0


def test_paws_drops_old_timestamp() -> None:
    from usersock.wire.tcp import TCPOptions

    conn = Connection(40000, 80, ISS, config(timestamps=True), 0.0)
    conn.connect(0.0)
    one(conn)
    conn.handle_segment(
        seg(PEER_ISS, S, SYN | ACK, options=TCPOptions(mss=1000, timestamps=(1000, 0))), b"", 0.0
    )
    one(conn)
    conn.handle_segment(seg(P, S, ts=(1010, 0)), b"new", 0.1)
    assert conn.recv(10) == b"new"
    conn.handle_segment(seg(P + 3, S, ts=(900, 0)), b"old", 0.2)  # wrapped-around duplicate
    assert conn.readable_bytes() == 0
    ack, _ = one(conn, 0.2)
    assert ack.ack == P + 3
    assert ack.options.timestamps is not None and ack.options.timestamps[1] == 1010
