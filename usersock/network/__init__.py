"""The network layer: IPv4 and IPv6 delivery, and ICMP."""

from usersock.network.ip import IPv4Protocol, IPv6Protocol

__all__ = ["IPv4Protocol", "IPv6Protocol"]
