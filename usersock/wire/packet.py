"""A packet as it travels between links and the stack: parsed headers plus a payload.

On the in-process loopback a packet is never serialised: the link hands the same object to
the receiving side. Links that need bytes (channel, pcap, TUN, fault corruption) call
:meth:`Packet.to_bytes`; bytes coming in go through :meth:`Packet.from_bytes`, which validates
every header and checksum.
"""

from __future__ import annotations

from dataclasses import dataclass

from usersock.wire.icmp import ICMPv4Header, ICMPv6Header
from usersock.wire.ipv4 import IPv4Header
from usersock.wire.ipv6 import IPv6Header
from usersock.wire.tcp import TCPHeader
from usersock.wire.udp import UDPHeader

NetworkHeader = IPv4Header | IPv6Header
TransportHeader = TCPHeader | UDPHeader | ICMPv4Header | ICMPv6Header


@dataclass(slots=True)
class Packet:
    """One IP packet. ``transport`` is ``None`` for a protocol the wire layer does not parse;
    then ``payload`` is the whole raw transport-layer body."""

    net: NetworkHeader
    transport: TransportHeader | None
    payload: bytes | memoryview = b""
