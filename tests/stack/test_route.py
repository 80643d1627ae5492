"""Route table: longest-prefix match, source selection, local delivery."""

from __future__ import annotations

import pytest

from usersock.errors import Err, StackError
from usersock.link.channel import Channel
from usersock.link.loopback import Loopback
from usersock.stack.route import AddressWithPrefix, Route, RouteTable, Subnet, parse_address
from usersock.stack.stack import Stack


def a(text: str) -> bytes:
    return parse_address(text)


@pytest.mark.parametrize(
    ("subnet", "addr", "inside"),
    [
        ("0.0.0.0/0", "8.8.8.8", True),
        ("10.0.0.0/8", "10.255.1.2", True),
        ("10.0.0.0/8", "11.0.0.1", False),
        ("192.168.1.1/32", "192.168.1.1", True),
        ("192.168.1.1/32", "192.168.1.2", False),
        ("::/0", "2001:db8::1", True),
        ("fd00::/64", "fd00::1", True),
        ("fd00::/64", "fd00:0:0:1::1", False),
        ("0.0.0.0/0", "::1", False),  # never across families
    ],
)
def test_subnet_contains(subnet: str, addr: str, inside: bool) -> None:
    assert Subnet.parse(subnet).contains(a(addr)) is inside


def test_longest_prefix_wins_whatever_the_order() -> None:
    table = RouteTable()
    table.set(
        [
            Route("0.0.0.0/0", nic=1),
            Route("10.0.0.0/8", nic=2),
            Route("10.1.0.0/16", nic=3),
        ]
    )
    assert table.lookup(a("10.1.2.3")).nic == 3
    assert table.lookup(a("10.2.0.1")).nic == 2
    assert table.lookup(a("192.0.2.1")).nic == 1
    # cached answers stay right after the table changes
    table.set([Route("10.0.0.0/8", nic=2)])
    assert table.lookup(a("10.1.2.3")).nic == 2
    with pytest.raises(StackError) as info:
        table.lookup(a("192.0.2.1"))
    assert info.value.err is Err.NETWORK_UNREACHABLE


def test_address_with_prefix_parse() -> None:
    awp = AddressWithPrefix.parse("192.168.1.7/24")
    assert awp.address == a("192.168.1.7") and awp.prefix_len == 24
    assert str(awp.subnet) == "192.168.1.0/24"
    assert AddressWithPrefix.parse("::1").prefix_len == 128


def test_find_route_picks_on_link_source_and_local_delivery() -> None:
    stack = Stack()
    stack.create_nic(1, Loopback())
    stack.create_nic(2, Channel())
    stack.add_address(1, "127.0.0.1/8")
    stack.add_address(2, "10.0.0.2/24")
    stack.add_address(2, "172.16.0.2/16")
    stack.set_route_table([Route("172.16.0.0/16", nic=2), Route("0.0.0.0/0", nic=2)])
    on_link = stack.find_route(a("172.16.5.5"))
    assert on_link.nic.id == 2 and on_link.local == a("172.16.0.2") and not on_link.local_delivery
    local = stack.find_route(a("10.0.0.2"))
    assert local.local_delivery and local.local == a("10.0.0.2")
    with pytest.raises(StackError) as info:
        stack.find_route(a("8.8.8.8"), local=a("10.9.9.9"))
    assert info.value.err is Err.ADDRESS_NOT_AVAILABLE
    stack.close()


def test_unknown_nic_and_duplicate_address_are_refused() -> None:
    stack = Stack()
    stack.create_nic(1, Loopback())
    stack.create_nic(2, Loopback())
    with pytest.raises(ValueError):
        stack.create_nic(1, Loopback())
    with pytest.raises(ValueError):
        stack.set_route_table([Route("0.0.0.0/0", nic=9)])
    stack.add_address(1, "10.0.0.1/8")
    with pytest.raises(StackError) as info:
        stack.add_address(2, "10.0.0.1/8")
    assert info.value.err is Err.ADDRESS_IN_USE
    stack.remove_address(1, "10.0.0.1")
    assert not stack.has_address(a("10.0.0.1"))
    stack.close()


def test_local_subnet_owns_every_address() -> None:
    stack = Stack()
    stack.create_nic(1, Loopback())
    stack.add_local_subnet(1, "127.0.0.0/8")
    assert stack.has_address(a("127.8.9.10"))
    assert not stack.has_address(a("128.0.0.1"))
    stack.close()


def test_broadcast_addresses_follow_the_nic_addresses() -> None:
    """255.255.255.255 always; a subnet's directed broadcast while an address of it is on a
    NIC (subnets of /30 and wider: /31 and /32 have none); IPv6 has no broadcast."""
    stack = Stack()
    stack.create_nic(1, Loopback())
    assert stack.is_broadcast(a("255.255.255.255"))
    assert not stack.is_broadcast(a("10.1.255.255"))
    stack.add_address(1, "10.1.2.3/16")
    stack.add_address(1, "192.168.0.1/30")
    stack.add_address(1, "192.168.1.1/31")
    stack.add_address(1, "192.168.2.1/32")
    stack.add_address(1, "fd00::1/64")
    assert stack.is_broadcast(a("10.1.255.255"))
    assert stack.is_broadcast(a("192.168.0.3"))
    assert not stack.is_broadcast(a("192.168.1.1"))
    assert not stack.is_broadcast(a("192.168.2.1"))
    assert not stack.is_broadcast(a("10.1.2.3"))
    assert not stack.is_broadcast(a("fd00::ffff:ffff:ffff:ffff"))
    stack.remove_address(1, "10.1.2.3")
    assert not stack.is_broadcast(a("10.1.255.255"))
    assert stack.is_broadcast(a("192.168.0.3"))
    stack.close()
