"""The stack layer: NICs, addresses, routes, demux, ports, timers, clock, the lock."""

from usersock.stack.nic import NIC
from usersock.stack.route import Route, Subnet, format_address, parse_address
from usersock.stack.stack import RouteInfo, Stack
from usersock.stack.stats import Stats

__all__ = [
    "NIC",
    "Route",
    "RouteInfo",
    "Stack",
    "Stats",
    "Subnet",
    "format_address",
    "parse_address",
]
