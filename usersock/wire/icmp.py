"""ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) headers."""

from __future__ import annotations

from dataclasses import dataclass

# ICMPv4 types and codes used by the stack.
ICMPV4_ECHO_REPLY = 0
ICMPV4_DEST_UNREACHABLE = 3
ICMPV4_ECHO_REQUEST = 8
ICMPV4_TIME_EXCEEDED = 11
ICMPV4_CODE_NET_UNREACHABLE = 0
ICMPV4_CODE_HOST_UNREACHABLE = 1
ICMPV4_CODE_PROTO_UNREACHABLE = 2
ICMPV4_CODE_PORT_UNREACHABLE = 3

# ICMPv6 types and codes used by the stack.
ICMPV6_DEST_UNREACHABLE = 1
ICMPV6_PACKET_TOO_BIG = 2
ICMPV6_TIME_EXCEEDED = 3
ICMPV6_PARAM_PROBLEM = 4
ICMPV6_ECHO_REQUEST = 128
ICMPV6_ECHO_REPLY = 129
ICMPV6_CODE_NO_ROUTE = 0
ICMPV6_CODE_ADDR_UNREACHABLE = 3
ICMPV6_CODE_PORT_UNREACHABLE = 4
ICMPV6_CODE_UNRECOGNIZED_NEXT_HEADER = 1  # with ICMPV6_PARAM_PROBLEM


@dataclass(slots=True)
class ICMPv4Header:
    """ICMPv4 header: ``rest`` is the 4 bytes after the checksum (identifier and sequence
    for echo, unused or next-hop MTU for errors). The body follows as the payload."""

    type: int
    code: int
    rest: bytes = b"\x00\x00\x00\x00"


@dataclass(slots=True)
class ICMPv6Header:
    """ICMPv6 header; same shape as :class:`ICMPv4Header`, checksum over a pseudo-header."""

    type: int
    code: int
    rest: bytes = b"\x00\x00\x00\x00"
