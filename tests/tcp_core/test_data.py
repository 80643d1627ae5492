"""Data transfer: segmentation, reassembly, receive window, ACK policy, Nagle, SACK blocks."""

from __future__ import annotations

import pytest

from usersock.errors import Err, StackError
from usersock.transport.tcp.connection import Connection
from usersock.transport.tcp.state import State
from usersock.wire.tcp import ACK, FIN, PSH, TCPOptions

from .helpers import ISS, PEER_ISS, config, established, one, out, seg

P = PEER_ISS + 1  # the peer's first data sequence number
S = ISS + 1  # ours


def test_send_segments_at_mss() -> None:
    conn = established(peer_mss=1000)
    data = bytes(range(256)) * 10  # 2560 bytes
    assert conn.send(data) == 2560
    segs = out(conn)
    assert [len(p) for _, p in segs] == [1000, 1000, 560]
    assert [h.seq for h, _ in segs] == [S, S + 1000, S + 2000]
    assert b"".join(bytes(p) for _, p in segs) == data
    assert segs[-1][0].flags == ACK | PSH
    assert all(h.ack == P for h, _ in segs)
    assert conn.bytes_sent == 2560


def test_send_payload_is_a_view_not_a_copy() -> None:
    conn = established()
    data = bytes(3000)
    conn.send(data)
    segs = out(conn)
    assert isinstance(segs[0][1], memoryview)
    assert segs[0][1].obj is data


def test_send_copies_mutable_buffers() -> None:
    conn = established()
    data = bytearray(b"abc")
    conn.send(data)
    data[:] = b"xyz"
    ((_, payload),) = out(conn)
    assert bytes(payload) == b"abc"


def test_send_respects_snd_buf() -> None:
    conn = established(config(snd_buf=1500))
    assert conn.send(bytes(2000)) == 1500
    assert conn.send_space() == 0
    assert conn.send(b"x") == 0


def test_receive_in_order_and_recv_variants() -> None:
    conn = established()
    conn.handle_segment(seg(P, S), b"hello world", 0.0)
    assert conn.readable_bytes() == 11
    assert conn.recv(5, peek=True) == b"hello"
    assert conn.recv(5) == b"hello"
    buf = bytearray(4)
    assert conn.recv_into(buf, 4) == 4 and buf == b" wor"
    view = memoryview(bytearray(10))
    assert conn.recv_into(view, 10, peek=True) == 2
    assert conn.recv_into(view, 10) == 2 and bytes(view[:2]) == b"ld"
    assert conn.recv(10) == b"" and conn.bytes_received == 11


def test_ack_pending_until_flush_ack() -> None:
    conn = established()
    conn.handle_segment(seg(P, S), b"x" * 100, 0.0)
    assert out(conn) == []  # delayed_ack == 0: wait for the stack to go idle
    conn.flush_ack(0.0)
    ack, _ = one(conn)
    assert ack.ack == P + 100 and ack.flags == ACK
    conn.flush_ack(0.0)
    assert out(conn) == []


def test_ack_piggybacks_on_data() -> None:
    conn = established()
    conn.handle_segment(seg(P, S), b"question", 0.0)
    conn.send(b"answer")
    hdr, payload = one(conn)
    assert hdr.ack == P + 8 and bytes(payload) == b"answer"
    conn.flush_ack(0.0)
    assert out(conn) == []


def test_delayed_ack_timer_and_every_second_segment() -> None:
    conn = established(config(delayed_ack=0.04))
    conn.handle_segment(seg(P, S), b"x" * 1000, 1.0)
    conn.flush_ack(1.0)
    assert out(conn, 1.0) == []
    assert conn.next_deadline() == pytest.approx(1.04)
    conn.handle_timer(1.04)
    ack, _ = one(conn, 1.04)
    assert ack.ack == P + 1000
    assert conn.next_deadline() is None
    # Two full-sized segments: ACK at once.
    conn.handle_segment(seg(P + 1000, S), b"y" * 1000, 2.0)
    assert out(conn, 2.0) == []
    conn.handle_segment(seg(P + 2000, S), b"z" * 1000, 2.0)
    ack, _ = one(conn, 2.0)
    assert ack.ack == P + 3000


def test_out_of_order_reassembly_and_immediate_dup_acks() -> None:
    conn = established()
    conn.handle_segment(seg(P + 10, S), b"KLMNO", 0.0)
    ack, _ = one(conn)
    assert ack.ack == P  # duplicate ACK at once
    conn.handle_segment(seg(P + 20, S), b"UVWXY", 0.0)
    one(conn)
    conn.handle_segment(seg(P + 8, S), b"IJKLMNOPQ", 0.0)  # overlaps the first piece
    one(conn)
    assert conn.readable_bytes() == 0
    conn.handle_segment(seg(P, S), b"ABCDEFGH", 0.0)
    ack, _ = one(conn)  # filled a hole: ACK at once
    assert ack.ack == P + 17
    conn.handle_segment(seg(P + 15, S), b"PQRST", 0.0)
    ack, _ = one(conn)
    assert ack.ack == P + 25
    assert conn.recv(100) == b"ABCDEFGHIJKLMNOPQRSTUVWXY"
    assert conn.rcv.ooo == []


def test_duplicate_segment_is_acked_and_ignored() -> None:
    conn = established()
    conn.handle_segment(seg(P, S), b"abc", 0.0)
    conn.flush_ack(0.0)
    one(conn)
    conn.handle_segment(seg(P, S), b"abc", 0.0)
    ack, _ = one(conn)
    assert ack.ack == P + 3
    assert conn.recv(10) == b"abc"


def test_partially_old_segment_is_trimmed() -> None:
    conn = established()
    conn.handle_segment(seg(P, S), b"abc", 0.0)
    conn.handle_segment(seg(P + 1, S), b"bcdef", 0.0)
    assert conn.recv(10) == b"abcdef"


def test_sack_blocks_most_recent_first() -> None:
    cfg = config(sack=True)
    conn = Connection(40000, 80, ISS, cfg, 0.0)
    conn.connect(0.0)
    one(conn)
    conn.handle_segment(
        seg(PEER_ISS, ISS + 1, 0x12, options=TCPOptions(mss=1000, sack_permitted=True)), b"", 0.0
    )
    one(conn)
    conn.handle_segment(seg(P + 100, S), b"a" * 100, 0.0)
    ack, _ = one(conn)
    assert ack.options.sack_blocks == ((P + 100, P + 200),)
    conn.handle_segment(seg(P + 300, S), b"b" * 100, 0.0)
    ack, _ = one(conn)
    assert ack.options.sack_blocks == ((P + 300, P + 400), (P + 100, P + 200))
    conn.handle_segment(seg(P + 200, S), b"c" * 50, 0.0)
    ack, _ = one(conn)
    assert ack.options.sack_blocks == ((P + 100, P + 250), (P + 300, P + 400))
    conn.handle_segment(seg(P, S), b"d" * 100, 0.0)
    ack, _ = one(conn)
    assert ack.ack == P + 250 and ack.options.sack_blocks == ((P + 300, P + 400),)


def test_data_beyond_window_is_trimmed() -> None:
    conn = established(config(rcv_buf=1000))
    conn.handle_segment(seg(P, S), b"x" * 1500, 0.0)
    assert conn.readable_bytes() == 1000
    conn.flush_ack(0.0)
    ack, _ = one(conn)
    assert ack.ack == P + 1000 and ack.window == 0


def test_window_reflects_free_space_and_opens_after_read() -> None:
    conn = established(config(rcv_buf=4000, mss=1000))
    for i in range(4):
        conn.handle_segment(seg(P + 1000 * i, S), b"x" * 1000, 0.0)
    conn.flush_ack(0.0)
    ack, _ = one(conn)
    assert ack.window == 0 and conn.rcv_wnd == 0
    conn.recv(500)  # less than min(MSS, buffer/2): no update (silly window avoidance)
    assert out(conn) == []
    conn.recv(600)
    upd, _ = one(conn)
    assert upd.window == 1100 and upd.ack == P + 4000


def test_window_scaling_applied_both_ways() -> None:
    conn = Connection(40000, 80, ISS, config(window_scaling=True, rcv_buf=1 << 20), 0.0)
    conn.connect(0.0)
    syn, _ = one(conn)
    assert syn.options.wscale == 5
    conn.handle_segment(
        seg(PEER_ISS, ISS + 1, 0x12, 100, options=TCPOptions(mss=1000, wscale=4)), b"", 0.0
    )
    ack, _ = one(conn)
    assert ack.window == (1 << 20) >> 5
    conn.handle_segment(seg(P, S, ACK, 100), b"", 0.0)
    assert conn.snd_wnd == 1600


@pytest.mark.parametrize(
    ("nodelay", "expect"),
    [(False, [b"a"]), (True, [b"a", b"b", b"c"])],
)
def test_nagle(nodelay: bool, expect: list[bytes]) -> None:
    conn = established(config(nodelay=nodelay))
    sent: list[bytes] = []
    for ch in (b"a", b"b", b"c"):
        conn.send(ch)
        sent += [bytes(p) for _, p in out(conn)]
    assert sent == expect
    if not nodelay:
        # The ACK releases what Nagle held, as one segment.
        conn.handle_segment(seg(P, S + 1), b"", 0.1)
        assert [bytes(p) for _, p in out(conn, 0.1)] == [b"bc"]


def test_nagle_sends_full_segments() -> None:
    conn = established(config(nodelay=False), peer_mss=1000)
    conn.send(b"a")
    assert len(out(conn)) == 1
    conn.send(bytes(2500))
    assert [len(p) for _, p in out(conn)] == [1000, 1000]  # the 501-byte tail waits


def test_send_after_shutdown_is_broken_pipe() -> None:
    conn = established()
    conn.shutdown_write()
    with pytest.raises(StackError) as e:
        conn.send(b"x")
    assert e.value.err is Err.BROKEN_PIPE


def test_send_before_connect_is_not_connected() -> None:
    conn = Connection(1, 2, 3, config(), 0.0)
    with pytest.raises(StackError) as e:
        conn.send(b"x")
    assert e.value.err is Err.NOT_CONNECTED


def test_fin_with_data() -> None:
    conn = established()
    conn.send(b"bye")
    conn.shutdown_write()
    hdr, payload = one(conn)
    assert hdr.flags == ACK | PSH | FIN and bytes(payload) == b"bye"
    assert conn.state is State.FIN_WAIT_1


def test_counters() -> None:
    conn = established()
    conn.handle_segment(seg(P, S), b"abc", 0.0)
    conn.send(b"hello")
    out(conn)
    assert conn.segments_in == 2 and conn.segments_out == 3
    assert conn.bytes_received == 3 and conn.bytes_sent == 5
