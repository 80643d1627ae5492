"""Bytes <-> headers: IPv4, IPv6, TCP, UDP, ICMP and the internet checksum.

The lowest layer of usersock; it imports nothing of ours. Parsers (``parse_*``,
:meth:`Packet.from_bytes`) validate fully and raise only :class:`MalformedPacket`; builders
(``build_*``, :meth:`Packet.to_bytes`) raise :class:`ValueError` for out-of-range fields.
Checksums are computed in :mod:`usersock.wire.checksum` and nowhere else.
"""

from usersock.wire.checksum import Buffer, checksum, ones_sum, pseudo_header_sum
from usersock.wire.errors import MALFORMED_REASONS, MalformedPacket
from usersock.wire.icmp import (
    ICMPv4Header,
    ICMPv6Header,
    build_icmpv4,
    build_icmpv4_header,
    build_icmpv6,
    build_icmpv6_header,
    parse_icmpv4,
    parse_icmpv6,
)
from usersock.wire.ipv4 import PROTO_ICMP, PROTO_TCP, PROTO_UDP, IPv4Header, build_ipv4, parse_ipv4
from usersock.wire.ipv6 import PROTO_ICMPV6, IPv6Header, build_ipv6, parse_ipv6
from usersock.wire.packet import NetworkHeader, Packet, TransportHeader
from usersock.wire.tcp import (
    ACK,
    CWR,
    ECE,
    FIN,
    NO_OPTIONS,
    PSH,
    RST,
    SYN,
    URG,
    TCPHeader,
    TCPOptions,
    build_options,
    build_tcp,
    build_tcp_header,
    describe_flags,
    describe_options,
    parse_options,
    parse_tcp,
)
from usersock.wire.udp import UDPHeader, build_udp, build_udp_header, parse_udp

__all__ = [
    "ACK",
    "CWR",
    "ECE",
    "FIN",
    "MALFORMED_REASONS",
    "NO_OPTIONS",
    "PROTO_ICMP",
    "PROTO_ICMPV6",
    "PROTO_TCP",
    "PROTO_UDP",
    "PSH",
    "RST",
    "SYN",
    "URG",
    "Buffer",
    "ICMPv4Header",
    "ICMPv6Header",
    "IPv4Header",
    "IPv6Header",
    "MalformedPacket",
    "NetworkHeader",
    "Packet",
    "TCPHeader",
    "TCPOptions",
    "TransportHeader",
    "UDPHeader",
    "build_icmpv4",
    "build_icmpv4_header",
    "build_icmpv6",
    "build_icmpv6_header",
    "build_ipv4",
    "build_ipv6",
    "build_options",
    "build_tcp",
    "build_tcp_header",
    "build_udp",
    "build_udp_header",
    "checksum",
    "describe_flags",
    "describe_options",
    "ones_sum",
    "parse_icmpv4",
    "parse_icmpv6",
    "parse_ipv4",
    "parse_ipv6",
    "parse_options",
    "parse_tcp",
    "parse_udp",
    "pseudo_header_sum",
]
