"""Sequence-number arithmetic across the 2**32 wrap (RFC 9293 section 3.4)."""

from __future__ import annotations

import pytest

from usersock.transport.tcp.seqnum import (
    in_window,
    seq_add,
    seq_diff,
    seq_ge,
    seq_gt,
    seq_le,
    seq_lt,
    seq_max,
    seq_min,
)

TOP = 0xFFFFFFFF


@pytest.mark.parametrize(
    ("a", "b", "lt"),
    [
        (1, 2, True),
        (2, 1, False),
        (5, 5, False),
        (TOP, 0, True),  # wraps
        (0, TOP, False),
        (TOP - 10, 10, True),
        (0, 0x7FFFFFFF, True),
        (0x7FFFFFFF, 0, False),
    ],
)
def test_ordering(a: int, b: int, lt: bool) -> None:
    assert seq_lt(a, b) is lt
    assert seq_gt(b, a) is lt
    assert seq_le(a, b) is (lt or a == b)
    assert seq_ge(b, a) is (lt or a == b)


@pytest.mark.parametrize(
    ("a", "n", "expect"), [(TOP, 1, 0), (TOP, 2, 1), (0, -1, TOP), (100, 50, 150)]
)
def test_add(a: int, n: int, expect: int) -> None:
    assert seq_add(a, n) == expect


@pytest.mark.parametrize(("a", "b", "d"), [(1, TOP, 2), (TOP, 1, -2), (7, 7, 0), (100, 40, 60)])
def test_diff(a: int, b: int, d: int) -> None:
    assert seq_diff(a, b) == d


@pytest.mark.parametrize(
    ("seq", "start", "size", "inside"),
    [
        (10, 10, 1, True),
        (11, 10, 1, False),
        (9, 10, 5, False),
        (2, TOP - 2, 10, True),
        (10, 10, 0, False),
    ],
)
def test_in_window(seq: int, start: int, size: int, inside: bool) -> None:
    assert in_window(seq, start, size) is inside


def test_min_max_wrap() -> None:
    assert seq_max(TOP, 3) == 3
    assert seq_min(TOP, 3) == TOP
