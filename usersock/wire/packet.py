"""A packet as it travels between links and the stack: parsed headers plus a payload.

On the in-process loopback a packet is never serialised: the link hands the same object to
the receiving side. Links that need bytes (channel, pcap, TUN, fault corruption) call
:meth:`Packet.to_bytes`; bytes coming in go through :meth:`Packet.from_bytes`, which validates
every header and checksum.

The transport header is parsed for TCP (6) and UDP (17) over both IP versions, ICMPv4 (1)
over IPv4 and ICMPv6 (58) over IPv6; any other upper-layer protocol leaves ``transport`` as
``None`` and the raw upper-layer bytes in ``payload``.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from usersock.wire.checksum import Buffer
from usersock.wire.errors import MalformedPacket
from usersock.wire.icmp import (
    ICMPV4_ECHO_REPLY,
    ICMPV4_ECHO_REQUEST,
    ICMPV6_ECHO_REPLY,
    ICMPV6_ECHO_REQUEST,
    PROTO_ICMP,
    PROTO_ICMPV6,
    ICMPv4Header,
    ICMPv6Header,
    build_icmpv4_header,
    build_icmpv6_header,
    parse_icmpv4,
    parse_icmpv6,
)
from usersock.wire.ipv4 import IPv4Header, build_ipv4, parse_ipv4
from usersock.wire.ipv6 import IPv6Header, build_ipv6, parse_ipv6
from usersock.wire.tcp import (
    PROTO_TCP,
    TCPHeader,
    build_tcp_header,
    describe_flags,
    describe_options,
    parse_tcp,
)
from usersock.wire.udp import PROTO_UDP, UDPHeader, build_udp_header, parse_udp

NetworkHeader = IPv4Header | IPv6Header
TransportHeader = TCPHeader | UDPHeader | ICMPv4Header | ICMPv6Header


@dataclass(slots=True)
class Packet:
    """One IP packet. ``transport`` is ``None`` for a protocol the wire layer does not parse;
    then ``payload`` is the whole raw transport-layer body."""

    net: NetworkHeader
    transport: TransportHeader | None
    payload: bytes | memoryview = b""

    @classmethod
    def from_bytes(cls, data: Buffer) -> Packet:
        """Parse a raw IP packet, dispatching on the version nibble, and validate every
        header and checksum (see :func:`~usersock.wire.ipv4.parse_ipv4`,
        :func:`~usersock.wire.ipv6.parse_ipv6` and the transport parsers).

        ``payload`` is a view into *data*: pass ``bytes``, or copy, if the buffer will be
        reused. Raises :class:`MalformedPacket` only; ``"bad-version"`` for a version nibble
        other than 4 or 6.
        """
        if not data:
            raise MalformedPacket("truncated", "empty packet")
        version = data[0] >> 4
        net: NetworkHeader
        transport: TransportHeader | None
        if version == 4:
            net, body = parse_ipv4(data)
            proto = net.protocol
            if proto == PROTO_ICMP:
                transport, body = parse_icmpv4(body)
                return cls(net, transport, body)
        elif version == 6:
            net, body = parse_ipv6(data)
            proto = net.next_header
            if proto == PROTO_ICMPV6:
                transport, body = parse_icmpv6(body, net.src, net.dst)
                return cls(net, transport, body)
        else:
            raise MalformedPacket("bad-version", f"IP version {version}")
        if proto == PROTO_TCP:
            transport, body = parse_tcp(body, net.src, net.dst)
        elif proto == PROTO_UDP:
            transport, body = parse_udp(body, net.src, net.dst)
        else:
            transport = None
        return cls(net, transport, body)

    def to_bytes(self) -> bytes:
        """Serialise the packet with every length and checksum filled (RFC 791, RFC 8200,
        RFC 9293, RFC 768, RFC 792, RFC 4443). The payload is copied once.

        Raises :class:`ValueError` for a field out of range, or when the network header's
        protocol does not match the transport header (TCP 6, UDP 17, ICMPv4 1 over IPv4,
        ICMPv6 58 over IPv6).
        """
        net = self.net
        transport = self.transport
        payload = self.payload
        src = net.src
        dst = net.dst
        if isinstance(net, IPv4Header):
            is_v4, proto = True, net.protocol
        else:
            is_v4, proto = False, net.next_header
        if transport is None:
            header = b""
        elif isinstance(transport, TCPHeader):
            if proto != PROTO_TCP:
                raise _mismatch(net, transport)
            header = build_tcp_header(transport, payload, src, dst)
        elif isinstance(transport, UDPHeader):
            if proto != PROTO_UDP:
                raise _mismatch(net, transport)
            header = build_udp_header(transport, payload, src, dst)
        elif isinstance(transport, ICMPv4Header):
            if proto != PROTO_ICMP or not is_v4:
                raise _mismatch(net, transport)
            header = build_icmpv4_header(transport, payload)
        else:
            if proto != PROTO_ICMPV6 or is_v4:
                raise _mismatch(net, transport)
            header = build_icmpv6_header(transport, payload, src, dst)
        body_len = len(header) + len(payload)
        if is_v4:
            assert isinstance(net, IPv4Header)
            return b"".join((build_ipv4(net, body_len), header, payload))
        assert isinstance(net, IPv6Header)
        return b"".join((build_ipv6(net, body_len), header, payload))

    def describe(self) -> str:
        """One line for the sniffer log, in the spirit of gVisor's sniffer and tcpdump::

            TCP 192.168.1.1:35076 -> 192.168.1.1:8080 flags=S seq=123 ack=0 win=65535 len=0
            options=[mss 65495,sackOK,TS val 1 ecr 0,nop,wscale 7]

        (one line in practice). IPv6 addresses are bracketed; ``len`` is the payload length.
        TCP options are shown in the layout :meth:`to_bytes` emits. Never raises.
        """
        net = self.net
        if isinstance(net, IPv4Header):
            src, dst, proto, family = _addr(net.src), _addr(net.dst), net.protocol, "IPv4"
        else:
            src, dst, family = f"[{_addr(net.src)}]", f"[{_addr(net.dst)}]", "IPv6"
            proto = net.next_header
        size = len(self.payload)
        t = self.transport
        if isinstance(t, TCPHeader):
            line = (
                f"TCP {src}:{t.src_port} -> {dst}:{t.dst_port} flags={describe_flags(t.flags)}"
                f" seq={t.seq} ack={t.ack} win={t.window}"
            )
            if t.urgent:
                line += f" urg={t.urgent}"
            line += f" len={size}"
            options = describe_options(t.options)
            return f"{line} options=[{options}]" if options else line
        if isinstance(t, UDPHeader):
            return f"UDP {src}:{t.src_port} -> {dst}:{t.dst_port} len={size}"
        if isinstance(t, ICMPv4Header | ICMPv6Header):
            name, echo = (
                ("ICMP", (ICMPV4_ECHO_REQUEST, ICMPV4_ECHO_REPLY))
                if isinstance(t, ICMPv4Header)
                else ("ICMPv6", (ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY))
            )
            line = f"{name} {src} -> {dst} type={t.type} code={t.code}"
            if t.type in echo and len(t.rest) == 4:
                ident = int.from_bytes(t.rest[:2], "big")
                line += f" id={ident} seq={int.from_bytes(t.rest[2:], 'big')}"
            return f"{line} len={size}"
        return f"{family} {src} -> {dst} proto={proto} len={size}"


def _mismatch(net: NetworkHeader, transport: TransportHeader) -> ValueError:
    proto = net.protocol if isinstance(net, IPv4Header) else net.next_header
    return ValueError(
        f"a {type(transport).__name__} cannot travel as protocol {proto} in an {type(net).__name__}"
    )


def _addr(packed: bytes) -> str:
    """Text form of a packed address; ``repr`` for anything that is not 4 or 16 bytes."""
    try:
        family = socket.AF_INET if len(packed) == 4 else socket.AF_INET6
        return socket.inet_ntop(family, packed)
    except (ValueError, OSError, TypeError):
        return repr(packed)
