"""The TCP transport protocol: demux of inbound segments, RSTs for strays, ICMP errors.

Lookup order (O(1) dict hits): the connection's 4-tuple, then a listener on the exact
address, the family wildcard, or a dual-stack IPv6 wildcard. A segment that matches nothing
is answered with a RST built per RFC 9293 section 3.10.7.1 (never a RST for a RST). A SYN
that matches a connection in TIME-WAIT reopens the 4-tuple, as RFC 9293 section 3.10.7.4
and Linux allow.
"""

from __future__ import annotations

from usersock.errors import Err
from usersock.network.ip import IPProtocol
from usersock.stack.nic import NIC
from usersock.stack.stack import Stack
from usersock.transport.endpoint import lookup_bound
from usersock.transport.tcp.connection import reset_for
from usersock.transport.tcp.endpoint import TCPEndpoint
from usersock.transport.tcp.state import State
from usersock.wire.ipv4 import PROTO_TCP
from usersock.wire.packet import Packet
from usersock.wire.tcp import ACK, RST, SYN, TCPHeader


class TCPProtocol:
    """TCP for one stack (injected as a transport protocol factory)."""

    number = PROTO_TCP

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def new_endpoint(self, version: int) -> TCPEndpoint:
        return TCPEndpoint(self.stack, version)

    def handle_packet(self, nic: NIC, packet: Packet) -> None:
        """Route one inbound segment. Needs the stack lock."""
        stack = self.stack
        hdr = packet.transport
        if not isinstance(hdr, TCPHeader):
            stack.stats.drop("tcp-malformed")
            return
        stack.stats.tcp_segments_in += 1
        net = packet.net
        ep = stack.connections.get((PROTO_TCP, net.dst, hdr.dst_port, net.src, hdr.src_port))
        if ep is not None:
            conn = ep.conn
            if not (
                conn is not None
                and conn.state is State.TIME_WAIT
                and hdr.flags & (SYN | ACK | RST) == SYN
            ):
                ep.handle_segment(hdr, packet.payload, stack.clock.now())
                return
            ep._unregister()  # a new SYN for a 4-tuple in TIME-WAIT replaces it
            ep.release_port()
        listener_ep = lookup_bound(stack, PROTO_TCP, net.dst, hdr.dst_port, net.src, hdr.src_port)
        if listener_ep is not None and listener_ep.listener is not None:
            if hdr.flags & (SYN | ACK | RST) == SYN:
                listener_ep.listener.handle_syn(packet, hdr, stack.clock.now())
                return
            if hdr.flags & RST:
                stack.stats.drop("tcp-stray-rst")
                return
        else:
            stack.stats.drop("tcp-no-listener")
        self.send_reset(packet, hdr)

    def send_reset(self, packet: Packet, hdr: TCPHeader) -> None:
        """Answer a segment that matches no connection (RFC 9293 section 3.10.7.1)."""
        rst = reset_for(hdr, len(packet.payload))
        if rst is None:
            return
        stack = self.stack
        net = packet.net
        try:
            route = stack.find_route(net.src, local=net.dst)
        except Exception:
            stack.stats.drop("no-route")
            return
        ip = stack.network_protocols[4 if len(net.dst) == 4 else 6]
        assert isinstance(ip, IPProtocol)
        stack.stats.tcp_resets_sent += 1
        stack.stats.tcp_segments_out += 1
        stack.send_packet(route, Packet(ip.header(net.dst, net.src, PROTO_TCP), rst, b""))

    def handle_icmp_error(
        self, err: Err, local: bytes, local_port: int, remote: bytes, remote_port: int
    ) -> None:
        ep = self.stack.connections.get((PROTO_TCP, local, local_port, remote, remote_port))
        if isinstance(ep, TCPEndpoint) and err in (
            Err.CONNECTION_REFUSED,
            Err.PROTOCOL_NOT_AVAILABLE,
        ):
            ep.icmp_failure(err)

    def close(self) -> None:
        """Reset every connection and close every listener (the stack is closing)."""
        stack = self.stack
        for group in list(stack.bound.values()):
            for ep in list(group):
                if isinstance(ep, TCPEndpoint):
                    ep.close()
        for ep in list(stack.connections.values()):
            conn = ep.conn if isinstance(ep, TCPEndpoint) else None
            if conn is not None and conn.state is not State.CLOSED:
                conn.abort()
                stack.mark_dirty(ep)
        stack.process()
