"""The receive queue: payloads over immutable bytes are queued without a copy, anything
else is copied once, and reads (recv, recv_into, peek) see one continuous stream."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from usersock.transport.tcp.config import TCPConfig
from usersock.transport.tcp.receiver import Receiver

IRS = 5000


def receiver(rcv_buf: int = 1 << 20) -> Receiver:
    rcv = Receiver(TCPConfig(rcv_buf=rcv_buf))
    rcv.start(IRS)
    return rcv


def test_a_view_of_bytes_is_queued_as_it_is() -> None:
    data = b"0123456789"
    rcv = receiver()
    rcv.on_segment(IRS + 1, memoryview(data)[2:8], False, 0.0)
    assert rcv.queued == 6
    assert rcv.queue[0].obj is data
    assert rcv.read(100, False) == b"234567"
    assert rcv.queued == 0 and not rcv.queue


def test_mutable_payloads_are_copied() -> None:
    source = bytearray(b"abcdef")
    rcv = receiver()
    rcv.on_segment(IRS + 1, memoryview(source), False, 0.0)
    rcv.on_segment(IRS + 7, source, False, 0.0)  # type: ignore[arg-type]
    source[:] = b"XXXXXX"
    assert rcv.read(12, False) == b"abcdefabcdef"


def test_reads_span_pieces_and_peek_consumes_nothing() -> None:
    rcv = receiver()
    for i, piece in enumerate((b"hello ", b"big ", b"world")):
        rcv.on_segment(IRS + 1 + sum(len(p) for p in (b"hello ", b"big ")[:i]), piece, False, 0.0)
    assert rcv.queued == 15
    assert rcv.read(8, True) == b"hello bi"
    out = bytearray(9)
    assert rcv.read_into(out, 0, False) == 9
    assert out == b"hello big"
    assert rcv.read(3, False) == b" wo"
    assert rcv.queued == 3
    assert rcv.read_into(bytearray(10), 0, False) == 3


def test_out_of_order_pieces_join_the_queue_when_the_hole_fills() -> None:
    rcv = receiver()
    rcv.on_segment(IRS + 1 + 4, b"5678", False, 0.0)
    assert rcv.queued == 0
    rcv.on_segment(IRS + 1, b"1234", False, 0.0)
    assert rcv.queued == 8
    assert rcv.read(8, False) == b"12345678"


def test_discard_empties_the_queue() -> None:
    rcv = receiver()
    rcv.on_segment(IRS + 1, b"data", False, 0.0)
    rcv.discard()
    assert rcv.queued == 0 and rcv.read(10, False) == b""


@given(
    st.lists(st.binary(min_size=1, max_size=50), max_size=20),
    st.lists(st.tuples(st.sampled_from(["recv", "recv_into", "peek"]), st.integers(0, 80))),
)
def test_reads_match_a_flat_buffer(pieces: list[bytes], reads: list[tuple[str, int]]) -> None:
    rcv = receiver()
    seq = IRS + 1
    flat = b""
    for i, piece in enumerate(pieces):
        payload: bytes | memoryview = piece if i % 2 else memoryview(piece)
        rcv.on_segment(seq, payload, False, 0.0)
        seq += len(piece)
        flat += piece
    for kind, n in reads:
        if kind == "recv_into":
            out = bytearray(max(n, 1))
            got = rcv.read_into(out, n, False)
            expected = flat[: len(out) if n <= 0 else min(n, len(out))]
            assert bytes(out[:got]) == expected
            flat = flat[got:]
        else:
            data = rcv.read(n, kind == "peek")
            assert data == flat[:n]
            if kind == "recv":
                flat = flat[len(data) :]
        assert rcv.queued == len(flat) == sum(len(p) for p in rcv.queue)
