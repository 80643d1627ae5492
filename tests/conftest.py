"""Shared fixtures: stacks wired the way the tests need them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import usersock
from usersock.link.loopback import Loopback


def make_loopback_stack() -> usersock.Stack:
    """The seed's stack plus IPv6: loopback NIC 1 with 192.168.1.1/32, 127.0.0.0/8 and ::1,
    default routes through it."""
    stack = usersock.Stack()
    stack.create_nic(1, Loopback())
    stack.add_address(1, "192.168.1.1/32")
    stack.add_address(1, "127.0.0.1/8")
    stack.add_local_subnet(1, "127.0.0.0/8")
    stack.add_address(1, "::1/128")
    stack.set_route_table(
        [usersock.Route(destination="0.0.0.0/0", nic=1), usersock.Route(destination="::/0", nic=1)]
    )
    return stack


@pytest.fixture
def stack() -> Iterator[usersock.Stack]:
    s = make_loopback_stack()
    try:
        yield s
    finally:
        s.close()
        assert s.stats.internal_errors == 0, "protocol code raised (see the log)"
