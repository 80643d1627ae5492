"""Port ownership (Linux bind-conflict rules) and RFC 6056 ephemeral ports."""

from __future__ import annotations

import pytest

from usersock.errors import Err, StackError
from usersock.stack.ports import EPHEMERAL_HIGH, EPHEMERAL_LOW, PortOwner, PortTable

ANY4 = bytes(4)
ANY6 = bytes(16)
LO = b"\x7f\x00\x00\x01"
OTHER = b"\x7f\x00\x00\x02"
TCP = 6


def owner(
    addr: bytes,
    reuse_addr: bool = False,
    reuse_port: bool = False,
    listening: bool = False,
    v6only: bool = False,
) -> PortOwner:
    return PortOwner(addr, reuse_addr, reuse_port, listening, v6only)


@pytest.mark.parametrize(
    ("first", "second", "conflict"),
    [
        (owner(LO), owner(LO), True),
        (owner(LO), owner(OTHER), False),
        (owner(ANY4), owner(LO), True),
        (owner(LO), owner(ANY4), True),
        (owner(ANY6), owner(LO), True),  # dual-stack wildcard covers IPv4
        (owner(ANY6, v6only=True), owner(LO, v6only=False), False),
        (owner(LO, reuse_addr=True), owner(LO, reuse_addr=True), False),
        (owner(LO, reuse_addr=True, listening=True), owner(LO, reuse_addr=True), True),
        (owner(LO, reuse_addr=True), owner(LO), True),
        (owner(LO, reuse_port=True, listening=True), owner(LO, reuse_port=True), False),
    ],
)
def test_bind_conflicts(first: PortOwner, second: PortOwner, conflict: bool) -> None:
    table = PortTable(secret=b"k" * 16)
    table.claim(TCP, 8080, first)
    assert table.conflicts(TCP, 8080, second) is conflict
    if conflict:
        with pytest.raises(StackError) as info:
            table.claim(TCP, 8080, second)
        assert info.value.err is Err.ADDRESS_IN_USE


def test_release_frees_the_port_and_is_idempotent() -> None:
    table = PortTable(secret=b"k" * 16)
    first = owner(LO)
    table.claim(TCP, 80, first)
    table.release(TCP, 80, first)
    table.release(TCP, 80, first)
    table.claim(TCP, 80, owner(LO))
    assert len(table.owners(TCP, 80)) == 1


def test_ephemeral_ports_are_in_range_distinct_and_exhaustible() -> None:
    table = PortTable(secret=b"k" * 16)
    seen = set()
    for _ in range(500):
        port = table.pick_ephemeral(TCP, owner(LO), b"dest")
        assert EPHEMERAL_LOW <= port <= EPHEMERAL_HIGH
        seen.add(port)
    assert len(seen) == 500
    # a caller veto (4-tuple in use) is honoured
    port = table.pick_ephemeral(TCP, owner(OTHER), b"x", usable=lambda p: p % 2 == 0)
    assert port % 2 == 0
    with pytest.raises(StackError) as info:
        table.pick_ephemeral(TCP, owner(OTHER), b"x", usable=lambda p: False)
    assert info.value.err is Err.ADDRESS_NOT_AVAILABLE


def test_ephemeral_start_depends_on_secret() -> None:
    a = PortTable(secret=b"a" * 16).pick_ephemeral(TCP, owner(LO), b"dest")
    b = PortTable(secret=b"b" * 16).pick_ephemeral(TCP, owner(LO), b"dest")
    again = PortTable(secret=b"a" * 16).pick_ephemeral(TCP, owner(LO), b"dest")
    assert a == again
    assert a != b
