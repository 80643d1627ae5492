"""The send buffer: what it copies, what it shares, and slicing across chunks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from usersock.transport.tcp.sendbuffer import SendBuffer


def test_bytes_and_views_of_bytes_are_kept_without_copying() -> None:
    data = b"abcdefgh"
    buf = SendBuffer()
    buf.append(memoryview(data)[2:6])
    buf.append(data)
    piece = buf.get(0, 4)
    assert isinstance(piece, memoryview)
    assert piece.obj is data  # a slice of the caller's immutable object, not a copy
    assert bytes(piece) == b"cdef"
    assert bytes(buf.get(4, 8)) == data


def test_mutable_data_is_copied_so_later_changes_do_not_leak_into_segments() -> None:
    source = bytearray(b"hello")
    buf = SendBuffer()
    buf.append(source)
    buf.append(memoryview(source))
    source[:] = b"XXXXX"
    assert bytes(buf.get(0, 10)) == b"hellohello"


def test_a_view_with_another_format_is_taken_as_bytes() -> None:
    import array

    ints = memoryview(bytes(array.array("H", [1, 2, 3]))).cast("H")
    buf = SendBuffer()
    buf.append(ints)
    assert len(buf) == 6
    assert bytes(buf.get(0, 6)) == bytes(array.array("H", [1, 2, 3]))


@given(st.lists(st.binary(max_size=40), max_size=12), st.data())
def test_get_and_release_agree_with_a_flat_copy(chunks: list[bytes], data: st.DataObject) -> None:
    buf = SendBuffer()
    flat = b""
    for chunk in chunks:
        if data.draw(st.booleans()):
            buf.append(bytearray(chunk))
        else:
            buf.append(memoryview(chunk))
        flat += chunk
    assert len(buf) == len(flat)
    start = data.draw(st.integers(0, len(flat)))
    buf.release(start)
    assert buf.start == start
    if start < len(flat):
        off = data.draw(st.integers(start, len(flat) - 1))
        n = data.draw(st.integers(1, len(flat) - off))
        assert bytes(buf.get(off, n)) == flat[off : off + n]
