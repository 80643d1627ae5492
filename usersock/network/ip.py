"""IPv4 (RFC 791) and IPv6 (RFC 8200) delivery.

Inbound: a packet for an address this stack owns goes to the transport protocol named by its
protocol field, or to ICMP; a packet for an unknown protocol is answered with ICMP protocol
unreachable (RFC 1122 section 3.2.2.1), as Linux does. The stack does not forward: packets
for addresses it does not own are dropped and counted. Fragments are not reassembled (the
wire parser rejects them as ``"fragmented"``).

Outbound: transport endpoints ask :meth:`IPProtocol.header` for a network header, usually
once per connection, and reuse it for every packet (headers are never mutated after build).
"""

from __future__ import annotations

from usersock.network import icmp
from usersock.stack.nic import NIC
from usersock.stack.stack import Stack
from usersock.wire.icmp import ICMPv4Header, ICMPv6Header
from usersock.wire.ipv4 import PROTO_ICMP, PROTO_UDP, IPv4Header
from usersock.wire.ipv6 import PROTO_ICMPV6, IPv6Header
from usersock.wire.packet import NetworkHeader, Packet

DEFAULT_TTL = 64


class IPProtocol:
    """What IPv4 and IPv6 share; subclasses set the version-specific pieces."""

    version = 0
    icmp_protocol = 0

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def header(self, src: bytes, dst: bytes, protocol: int) -> NetworkHeader:
        """A network header for a packet from *src* to *dst* carrying *protocol*."""
        raise NotImplementedError

    def handle_packet(self, nic: NIC, packet: Packet) -> None:
        """Deliver an inbound packet. Needs the stack lock."""
        stack = self.stack
        net = packet.net
        protocol = net.protocol if isinstance(net, IPv4Header) else net.next_header
        if not stack.has_address(net.dst) and not (
            # A broadcast is for every host of the subnet, but only UDP takes it: TCP
            # drops it (tcp_v4_rcv, PACKET_HOST only), and so does ICMP echo
            # (icmp_echo_ignore_broadcasts).
            protocol == PROTO_UDP and len(net.dst) == 4 and stack.is_broadcast(net.dst)
        ):
            stack.stats.drop("not-for-us")
            return
        if protocol == self.icmp_protocol:
            stack.stats.icmp_in += 1
            icmp.handle(stack, self, packet)
            return
        transport = stack.transport_protocols.get(protocol)
        if transport is None:
            stack.stats.drop("unknown-protocol")
            icmp.send_protocol_unreachable(stack, self, packet)
            return
        transport.handle_packet(nic, packet)


class IPv4Protocol(IPProtocol):
    """IPv4. Addresses are 4 packed bytes."""

    version = 4
    icmp_protocol = PROTO_ICMP
    address_length = 4

    def header(self, src: bytes, dst: bytes, protocol: int) -> IPv4Header:
        return IPv4Header(src=src, dst=dst, protocol=protocol, ttl=DEFAULT_TTL)

    @staticmethod
    def icmp_header(type_: int, code: int, rest: bytes = bytes(4)) -> ICMPv4Header:
        return ICMPv4Header(type_, code, rest)


class IPv6Protocol(IPProtocol):
    """IPv6. Addresses are 16 packed bytes; extension headers are skipped by the parser."""

    version = 6
    icmp_protocol = PROTO_ICMPV6
    address_length = 16

    def header(self, src: bytes, dst: bytes, protocol: int) -> IPv6Header:
        return IPv6Header(src=src, dst=dst, next_header=protocol, hop_limit=DEFAULT_TTL)

    @staticmethod
    def icmp_header(type_: int, code: int, rest: bytes = bytes(4)) -> ICMPv6Header:
        return ICMPv6Header(type_, code, rest)
