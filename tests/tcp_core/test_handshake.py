"""Opening: active and passive handshakes, option negotiation, SYN retransmission,
simultaneous open (RFC 9293 sections 3.5 and 3.10.7.3, RFC 7323, RFC 2018)."""

from __future__ import annotations

import pytest

from usersock.errors import Err, StackError
from usersock.transport.tcp.connection import Connection, TCPConfig
from usersock.transport.tcp.state import State
from usersock.wire.tcp import ACK, RST, SYN, TCPOptions

from .helpers import ISS, LOCAL, PEER_ISS, REMOTE, config, established, one, seg, state_of


def test_active_open_sends_syn_with_all_options() -> None:
    conn = Connection(LOCAL, REMOTE, ISS, TCPConfig(mss=1460, rcv_buf=262144), 5.0)
    conn.connect(5.0)
    assert conn.state is State.SYN_SENT
    hdr, payload = one(conn, 5.0)
    assert (hdr.src_port, hdr.dst_port, hdr.seq, hdr.flags) == (LOCAL, REMOTE, ISS, SYN)
    assert payload == b""
    assert hdr.window == 65535
    o = hdr.options
    assert o.mss == 1460 and o.wscale == 3 and o.sack_permitted
    assert o.timestamps is not None and o.timestamps[1] == 0
    assert conn.next_deadline() == pytest.approx(6.0)  # rto_initial


def test_connect_twice_raises() -> None:
    conn = Connection(LOCAL, REMOTE, ISS, config(), 0.0)
    conn.connect(0.0)
    with pytest.raises(StackError) as e:
        conn.connect(0.0)
    assert e.value.err is Err.ALREADY_CONNECTING


@pytest.mark.parametrize(
    ("peer", "ws", "sack", "ts", "eff_mss"),
    [
        (
            TCPOptions(mss=1400, wscale=7, sack_permitted=True, timestamps=(77, 1000)),
            7,
            True,
            True,
            1388,
        ),
        (TCPOptions(mss=1400), 0, False, False, 1400),
        (TCPOptions(mss=1400, wscale=2), 2, False, False, 1400),
        (TCPOptions(sack_permitted=True), 0, True, False, 536),
        (TCPOptions(mss=9000, timestamps=(1, 1000)), 0, False, True, 1448),
    ],
)
def test_option_negotiation_active(
    peer: TCPOptions, ws: int, sack: bool, ts: bool, eff_mss: int
) -> None:
    conn = Connection(LOCAL, REMOTE, ISS, TCPConfig(mss=1460), 0.0)
    conn.connect(0.0)
    one(conn)
    conn.handle_segment(seg(PEER_ISS, ISS + 1, SYN | ACK, 1000, options=peer), b"", 0.0)
    assert conn.state is State.ESTABLISHED
    ack, _ = one(conn)
    assert ack.flags == ACK and ack.seq == ISS + 1 and ack.ack == PEER_ISS + 1
    assert conn.snd.snd_wscale == ws
    assert conn.snd.sack_enabled is sack
    assert (ack.options.timestamps is not None) is ts
    if ts:
        assert peer.timestamps is not None
        assert ack.options.timestamps is not None
        assert ack.options.timestamps[1] == peer.timestamps[0]  # TSecr echoes TSval
    assert conn.snd.mss == eff_mss
    assert conn.peer_mss == (peer.mss or 536)
    # The SYN,ACK window is never scaled (RFC 7323 section 2.2).
    assert conn.snd_wnd == 1000


def test_passive_open_echoes_only_offered_options() -> None:
    syn = seg(PEER_ISS, 0, SYN, 5000, options=TCPOptions(mss=1200, sack_permitted=True))
    conn = Connection.from_syn(syn, LOCAL, ISS, TCPConfig(mss=1460), 0.0)
    assert conn.state is State.SYN_RECEIVED
    hdr, _ = one(conn)
    assert hdr.flags == SYN | ACK and hdr.seq == ISS and hdr.ack == PEER_ISS + 1
    assert hdr.options.mss == 1460 and hdr.options.sack_permitted
    assert hdr.options.wscale is None and hdr.options.timestamps is None
    conn.handle_segment(seg(PEER_ISS + 1, ISS + 1, ACK, 5000), b"", 0.1)
    assert state_of(conn) is State.ESTABLISHED
    assert conn.snd.mss == 1200
    assert conn.segments_to_send(0.1) == []


def test_passive_open_with_data_on_third_ack() -> None:
    syn = seg(PEER_ISS, 0, SYN, 5000, options=TCPOptions(mss=1000))
    conn = Connection.from_syn(syn, LOCAL, ISS, config(), 0.0)
    one(conn)
    conn.handle_segment(seg(PEER_ISS + 1, ISS + 1, ACK, 5000), b"hello", 0.0)
    assert conn.state is State.ESTABLISHED
    assert conn.recv(100) == b"hello"


def test_syn_received_bad_ack_gets_rst() -> None:
    syn = seg(PEER_ISS, 0, SYN, 5000)
    conn = Connection.from_syn(syn, LOCAL, ISS, config(), 0.0)
    one(conn)
    conn.handle_segment(seg(PEER_ISS + 1, ISS + 77, ACK), b"", 0.0)
    rst, _ = one(conn)
    assert rst.flags == RST and rst.seq == ISS + 77
    assert conn.state is State.SYN_RECEIVED


def test_repeated_syn_resends_syn_ack() -> None:
    syn = seg(PEER_ISS, 0, SYN, 5000)
    conn = Connection.from_syn(syn, LOCAL, ISS, config(), 0.0)
    one(conn)
    conn.handle_segment(syn, b"", 0.5)
    hdr, _ = one(conn, 0.5)
    assert hdr.flags == SYN | ACK and hdr.seq == ISS
    assert conn.retransmissions == 1


def test_syn_retransmission_backs_off_then_times_out() -> None:
    cfg = config(syn_retries=3, rto_initial=1.0)
    conn = Connection(LOCAL, REMOTE, ISS, cfg, 0.0)
    conn.connect(0.0)
    one(conn)
    now = 0.0
    gaps = []
    for _ in range(3):
        deadline = conn.next_deadline()
        assert deadline is not None
        gaps.append(deadline - now)
        now = deadline
        conn.handle_timer(now)
        hdr, _ = one(conn, now)
        assert hdr.flags == SYN and hdr.seq == ISS
    assert gaps == [1.0, 2.0, 4.0]
    deadline = conn.next_deadline()
    assert deadline is not None
    assert deadline == pytest.approx(now + 8.0)
    conn.handle_timer(deadline)
    assert conn.state is State.CLOSED
    assert conn.error is Err.TIMED_OUT
    assert conn.segments_to_send(deadline) == []  # no RST from SYN-SENT
    assert conn.next_deadline() is None
    assert conn.retransmissions == 3


def test_synack_after_lost_syn_starts_with_one_segment_window() -> None:
    conn = Connection(LOCAL, REMOTE, ISS, config(), 0.0)
    conn.connect(0.0)
    one(conn)
    conn.handle_timer(1.0)
    one(conn, 1.0)
    conn.handle_segment(seg(PEER_ISS, ISS + 1, SYN | ACK, options=TCPOptions(mss=1000)), b"", 1.1)
    assert conn.state is State.ESTABLISHED
    assert conn.cwnd == 1000  # RFC 5681 section 3.1


def test_syn_sent_unacceptable_ack_gets_rst() -> None:
    conn = Connection(LOCAL, REMOTE, ISS, config(), 0.0)
    conn.connect(0.0)
    one(conn)
    conn.handle_segment(seg(PEER_ISS, ISS + 5, SYN | ACK), b"", 0.0)
    rst, _ = one(conn)
    assert rst.flags == RST and rst.seq == ISS + 5
    assert conn.state is State.SYN_SENT


def test_syn_sent_rst_with_acceptable_ack_is_refused() -> None:
    conn = Connection(LOCAL, REMOTE, ISS, config(), 0.0)
    conn.connect(0.0)
    one(conn)
    conn.handle_segment(seg(0, ISS + 1, RST | ACK), b"", 0.0)
    assert conn.state is State.CLOSED
    assert conn.error is Err.CONNECTION_REFUSED


def test_syn_sent_rst_without_ack_is_ignored() -> None:
    conn = Connection(LOCAL, REMOTE, ISS, config(), 0.0)
    conn.connect(0.0)
    one(conn)
    conn.handle_segment(seg(0, 0, RST), b"", 0.0)
    assert conn.state is State.SYN_SENT


def test_simultaneous_open() -> None:
    a = Connection(1111, 2222, 100, config(), 0.0)
    b = Connection(2222, 1111, 900, config(), 0.0)
    a.connect(0.0)
    b.connect(0.0)
    syn_a, _ = one(a)
    syn_b, _ = one(b)
    a.handle_segment(syn_b, b"", 0.0)
    b.handle_segment(syn_a, b"", 0.0)
    assert a.state is State.SYN_RECEIVED and b.state is State.SYN_RECEIVED
    sa_a, _ = one(a)
    sa_b, _ = one(b)
    assert sa_a.flags == SYN | ACK and sa_a.seq == 100 and sa_a.ack == 901
    a.handle_segment(sa_b, b"", 0.0)
    b.handle_segment(sa_a, b"", 0.0)
    assert state_of(a) is State.ESTABLISHED and state_of(b) is State.ESTABLISHED
    # Data flows afterwards.
    a.send(b"ping")
    for h, p in a.segments_to_send(0.0):
        b.handle_segment(h, p, 0.0)
    assert b.recv(10) == b"ping"


def test_send_queued_during_handshake_goes_after_established() -> None:
    conn = Connection(LOCAL, REMOTE, ISS, config(), 0.0)
    conn.connect(0.0)
    one(conn)
    assert conn.send(b"early") == 5
    conn.handle_segment(seg(PEER_ISS, ISS + 1, SYN | ACK, options=TCPOptions(mss=1000)), b"", 0.0)
    hdr, payload = one(conn)
    assert bytes(payload) == b"early" and hdr.seq == ISS + 1 and hdr.ack == PEER_ISS + 1


def test_established_helper() -> None:
    conn = established()
    assert conn.snd.snd_una == ISS + 1 and conn.rcv.rcv_nxt == PEER_ISS + 1
