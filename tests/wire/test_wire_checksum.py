"""The internet checksum (RFC 1071) and the pseudo-header sum, against the reference
algorithm of RFC 1071 section 4.1 written out word by word."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usersock.wire.checksum import checksum, ones_sum, pseudo_header_sum


def reference_sum(data: bytes, initial: int = 0) -> int:
    """RFC 1071 section 4.1: add 16-bit words, pad an odd byte with zero, fold carries."""
    if len(data) % 2:
        data += b"\x00"
    total = initial
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def test_rfc1071_section_3_example() -> None:
    # RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (folded).
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert ones_sum(data) == 0xDDF2
    assert checksum(data) == 0x220D


def test_odd_length_is_padded_with_a_zero_byte() -> None:
    assert ones_sum(b"\x01") == 0x0100
    assert checksum(b"\xab\xcd\xef") == checksum(b"\xab\xcd\xef\x00")
    assert ones_sum(b"\x12\x34\x56") == 0x1234 + 0x5600


def test_the_two_zeros_of_ones_complement() -> None:
    # All-zero data sums to +0; any other multiple of 0xFFFF sums to -0 (0xFFFF).
    assert ones_sum(b"") == 0
    assert ones_sum(bytes(10)) == 0
    assert checksum(bytes(10)) == 0xFFFF
    assert ones_sum(b"\xff\xff") == 0xFFFF
    assert ones_sum(b"\x80\x00\x7f\xff") == 0xFFFF
    assert checksum(b"\xff\xff\xff\xff") == 0


def test_verifying_data_that_carries_its_own_checksum_gives_zero() -> None:
    data = bytes.fromhex("4500003c0001400040060000c0a80101c0a80102")  # checksum field zero
    csum = checksum(data)
    assert csum == 0xB767
    filled = data[:10] + csum.to_bytes(2, "big") + data[12:]
    assert checksum(filled) == 0


def test_initial_continues_a_partial_sum() -> None:
    head, tail = b"\x12\x34\x56\x78", b"\x9a\xbc\xde"
    assert checksum(tail, ones_sum(head)) == checksum(head + tail)


@given(st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_matches_rfc1071_reference(data: bytes, initial: int) -> None:
    assert ones_sum(data, initial) == reference_sum(data, initial)
    assert checksum(data, initial) == ~reference_sum(data, initial) & 0xFFFF


@given(st.binary(min_size=4000, max_size=20000))
def test_large_buffers_summed_in_pieces_match_reference(data: bytes) -> None:
    assert ones_sum(data) == reference_sum(data)
    assert ones_sum(memoryview(data)[1:]) == reference_sum(data[1:])


def test_accepts_every_buffer_type() -> None:
    data = bytes(range(256)) * 40
    expected = checksum(data)
    assert checksum(bytearray(data)) == expected
    assert checksum(memoryview(data)) == expected


@given(
    st.binary(min_size=4, max_size=4) | st.binary(min_size=16, max_size=16),
    st.data(),
    st.integers(0, 255),
    st.integers(0, 0xFFFF),
)
def test_pseudo_header_sum_matches_both_layouts(
    src: bytes, data: st.DataObject, proto: int, length: int
) -> None:
    dst = data.draw(st.binary(min_size=len(src), max_size=len(src)))
    if len(src) == 4:  # RFC 9293 section 3.1
        pseudo = src + dst + bytes((0, proto)) + length.to_bytes(2, "big")
    else:  # RFC 8200 section 8.1
        pseudo = src + dst + length.to_bytes(4, "big") + bytes((0, 0, 0, proto))
    assert pseudo_header_sum(src, dst, proto, length) == reference_sum(pseudo)


@pytest.mark.parametrize(("src", "dst"), [(b"1234", b"1234567890123456"), (b"123", b"123")])
def test_pseudo_header_sum_rejects_bad_addresses(src: bytes, dst: bytes) -> None:
    with pytest.raises(ValueError, match="4 or 16 bytes"):
        pseudo_header_sum(src, dst, 6, 20)
