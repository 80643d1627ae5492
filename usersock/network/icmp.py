"""ICMPv4 (RFC 792) and ICMPv6 (RFC 4443): echo replies and unreachable errors.

Errors we receive are matched to the endpoint that sent the quoted packet and translated to
the errno Linux reports (``icmp_err_convert`` / ``icmpv6_err_convert``): port unreachable
fails a connect or a connected UDP socket with ``ECONNREFUSED``.

Errors we send quote the offending packet: the IP header and as much of the payload as fits
in 576 bytes for IPv4 (RFC 1812 section 4.3.2.3) or the minimum MTU of 1280 for IPv6
(RFC 4443 section 2.4 (c)). No error is sent about an ICMP error, a non-first fragment or a
multicast/broadcast destination (RFC 1122 section 3.2.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from usersock.errors import Err, StackError
from usersock.wire import icmp as w
from usersock.wire.icmp import ICMPv4Header, ICMPv6Header
from usersock.wire.packet import Packet

if TYPE_CHECKING:
    from usersock.network.ip import IPProtocol
    from usersock.stack.stack import Stack

_V4_UNREACH = {
    w.ICMPV4_CODE_NET_UNREACHABLE: Err.NETWORK_UNREACHABLE,
    w.ICMPV4_CODE_HOST_UNREACHABLE: Err.HOST_UNREACHABLE,
    w.ICMPV4_CODE_PROTO_UNREACHABLE: Err.PROTOCOL_NOT_AVAILABLE,
    w.ICMPV4_CODE_PORT_UNREACHABLE: Err.CONNECTION_REFUSED,
}
_V6_UNREACH = {
    w.ICMPV6_CODE_NO_ROUTE: Err.NETWORK_UNREACHABLE,
    1: Err.PERMISSION_DENIED,
    w.ICMPV6_CODE_ADDR_UNREACHABLE: Err.HOST_UNREACHABLE,
    w.ICMPV6_CODE_PORT_UNREACHABLE: Err.CONNECTION_REFUSED,
}
_V6_EXTENSIONS = (0, 43, 60)


def handle(stack: Stack, ip: IPProtocol, packet: Packet) -> None:
    """Process an inbound ICMP message. Needs the stack lock."""
    msg = packet.transport
    if isinstance(msg, ICMPv4Header):
        if msg.type == w.ICMPV4_ECHO_REQUEST:
            _echo_reply(stack, ip, packet, ICMPv4Header(w.ICMPV4_ECHO_REPLY, 0, msg.rest))
        elif msg.type == w.ICMPV4_DEST_UNREACHABLE:
            _deliver_error(stack, _V4_UNREACH.get(msg.code, Err.HOST_UNREACHABLE), packet)
        elif msg.type == w.ICMPV4_TIME_EXCEEDED:
            _deliver_error(stack, Err.HOST_UNREACHABLE, packet)
        else:
            stack.stats.drop("icmp-ignored")
    elif isinstance(msg, ICMPv6Header):
        if msg.type == w.ICMPV6_ECHO_REQUEST:
            _echo_reply(stack, ip, packet, ICMPv6Header(w.ICMPV6_ECHO_REPLY, 0, msg.rest))
        elif msg.type == w.ICMPV6_DEST_UNREACHABLE:
            _deliver_error(stack, _V6_UNREACH.get(msg.code, Err.HOST_UNREACHABLE), packet)
        elif msg.type == w.ICMPV6_PARAM_PROBLEM:
            _deliver_error(stack, Err.PROTOCOL_ERROR, packet)
        elif msg.type == w.ICMPV6_TIME_EXCEEDED:
            _deliver_error(stack, Err.HOST_UNREACHABLE, packet)
        else:
            stack.stats.drop("icmp-ignored")
    else:
        stack.stats.drop("icmp-malformed")


def _echo_reply(
    stack: Stack, ip: IPProtocol, request: Packet, header: ICMPv4Header | ICMPv6Header
) -> None:
    """RFC 792 / RFC 4443 section 4.2: answer with the same identifier, sequence and data."""
    _reply(stack, ip, request, header, bytes(request.payload))


def _reply(
    stack: Stack,
    ip: IPProtocol,
    request: Packet,
    header: ICMPv4Header | ICMPv6Header,
    payload: bytes,
) -> None:
    """Send an ICMP message back to *request*'s source, from the address it was sent to."""
    net = request.net
    try:
        route = stack.find_route(net.src, local=net.dst)
    except StackError:
        stack.stats.drop("no-route")
        return
    stack.stats.icmp_out += 1
    stack.send_packet(route, Packet(ip.header(net.dst, net.src, ip.icmp_protocol), header, payload))


def _deliver_error(stack: Stack, err: Err, packet: Packet) -> None:
    """Find the endpoint that sent the quoted packet and hand it *err*."""
    quoted = _parse_quote(bytes(packet.payload))
    if quoted is None:
        stack.stats.drop("icmp-bad-quote")
        return
    protocol, src, src_port, dst, dst_port = quoted
    transport = stack.transport_protocols.get(protocol)
    if transport is None:
        stack.stats.drop("icmp-unknown-protocol")
        return
    transport.handle_icmp_error(err, src, src_port, dst, dst_port)


def _parse_quote(data: bytes) -> tuple[int, bytes, int, bytes, int] | None:
    """Read protocol, addresses and ports from the quoted start of a packet we sent.

    The quote is truncated, so it cannot go through the full parser; only the fields needed
    for the lookup are read, each after a bounds check.
    """
    if len(data) < 1:
        return None
    version = data[0] >> 4
    if version == 4:
        ihl = (data[0] & 0x0F) * 4
        if ihl < 20 or len(data) < ihl + 4:
            return None
        protocol, src, dst, off = data[9], data[12:16], data[16:20], ihl
    elif version == 6:
        if len(data) < 40:
            return None
        protocol, src, dst, off = data[6], data[8:24], data[24:40], 40
        hops = 0
        while protocol in _V6_EXTENSIONS and hops < 8:
            if len(data) < off + 8:
                return None
            protocol, off = data[off], off + (data[off + 1] + 1) * 8
            hops += 1
    else:
        return None
    if len(data) < off + 4:
        return None
    src_port = int.from_bytes(data[off : off + 2], "big")
    dst_port = int.from_bytes(data[off + 2 : off + 4], "big")
    return protocol, src, src_port, dst, dst_port


def send_unreachable(stack: Stack, ip: IPProtocol, packet: Packet, code: int) -> None:
    """Answer *packet* with a destination-unreachable error of *code*. Needs the lock."""
    if ip.version == 4:
        _send_error(stack, ip, packet, ICMPv4Header(w.ICMPV4_DEST_UNREACHABLE, code))
    else:
        _send_error(stack, ip, packet, ICMPv6Header(w.ICMPV6_DEST_UNREACHABLE, code))


def _send_error(
    stack: Stack, ip: IPProtocol, packet: Packet, header: ICMPv4Header | ICMPv6Header
) -> None:
    """Send an ICMP error quoting *packet* (576 bytes in all for IPv4, 1280 for IPv6)."""
    if _is_error(packet):
        return  # never an error about an error (RFC 1122 3.2.2, RFC 4443 2.4 (e))
    if not any(packet.net.src):
        return
    limit = 576 - 28 if ip.version == 4 else 1280 - 48
    _reply(stack, ip, packet, header, packet.to_bytes()[:limit])


def _is_error(packet: Packet) -> bool:
    msg = packet.transport
    if isinstance(msg, ICMPv4Header):
        return msg.type in (3, 4, 5, 11, 12)
    if isinstance(msg, ICMPv6Header):
        return msg.type < 128
    return False


def send_port_unreachable(stack: Stack, ip: IPProtocol, packet: Packet) -> None:
    """RFC 1122 section 4.1.3.1: a UDP datagram for a port nobody holds."""
    code = w.ICMPV4_CODE_PORT_UNREACHABLE if ip.version == 4 else w.ICMPV6_CODE_PORT_UNREACHABLE
    send_unreachable(stack, ip, packet, code)


def send_protocol_unreachable(stack: Stack, ip: IPProtocol, packet: Packet) -> None:
    """RFC 1122 section 3.2.2.1 (IPv4); RFC 8200 section 4 asks for a parameter problem in
    IPv6, which Linux sends as ICMPv6 type 4 code 1 pointing at the next-header field."""
    if ip.version == 4:
        send_unreachable(stack, ip, packet, w.ICMPV4_CODE_PROTO_UNREACHABLE)
        return
    pointer = (6).to_bytes(4, "big")  # offset of the next-header field
    header = ICMPv6Header(w.ICMPV6_PARAM_PROBLEM, w.ICMPV6_CODE_UNRECOGNIZED_NEXT_HEADER, pointer)
    _send_error(stack, ip, packet, header)
