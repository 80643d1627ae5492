"""Stack-level behaviour over real links: simultaneous open, TIME-WAIT and the port it holds,
the listen backlog, ICMP echo and unreachables, IPv6 on a channel."""

from __future__ import annotations

import errno
import socket

import pytest

import usersock
from usersock.link.channel import Channel
from usersock.link.faults import Faults
from usersock.link.loopback import Loopback
from usersock.stack.route import parse_address
from usersock.wire.icmp import ICMPv4Header, ICMPv6Header
from usersock.wire.ipv4 import PROTO_TCP, PROTO_UDP, IPv4Header
from usersock.wire.ipv6 import IPv6Header
from usersock.wire.packet import Packet
from usersock.wire.tcp import ACK, SYN, TCPHeader
from usersock.wire.udp import UDPHeader

STREAM = socket.SOCK_STREAM


def manual_loopback() -> tuple[usersock.Stack, usersock.ManualClock]:
    clock = usersock.ManualClock()
    stack = usersock.Stack(clock=clock)
    stack.create_nic(1, Loopback())
    stack.add_address(1, "127.0.0.1/8")
    stack.set_route_table([usersock.Route("0.0.0.0/0", nic=1)])
    return stack, clock


def channel_stack() -> tuple[usersock.Stack, Channel]:
    stack = usersock.Stack(clock=usersock.ManualClock())
    link = Channel(mtu=1500)
    stack.create_nic(1, link)
    stack.add_address(1, "10.0.0.1/24")
    stack.add_address(1, "fd00::1/64")
    stack.set_route_table(
        [usersock.Route("10.0.0.0/24", nic=1), usersock.Route("fd00::/64", nic=1)]
    )
    return stack, link


def test_simultaneous_open() -> None:
    """RFC 9293 section 3.5, figure 8: both ends send SYN, the SYNs cross in flight."""
    clock = usersock.ManualClock()
    stack = usersock.Stack(clock=clock)
    stack.create_nic(1, Faults(Loopback(), delay=0.05))  # 50 ms in flight: SYNs cross
    stack.add_address(1, "127.0.0.1/8")
    a = stack.socket(socket.AF_INET, STREAM)
    b = stack.socket(socket.AF_INET, STREAM)
    a.bind(("127.0.0.1", 5001))
    b.bind(("127.0.0.1", 5002))
    a.setblocking(False)
    b.setblocking(False)
    assert a.connect_ex(("127.0.0.1", 5002)) == errno.EINPROGRESS
    assert b.connect_ex(("127.0.0.1", 5001)) == errno.EINPROGRESS
    clock.advance(0.05)  # each SYN finds the other end in SYN-SENT: SYN-RECEIVED
    assert a.connect_ex(("127.0.0.1", 5002)) == errno.EALREADY
    clock.advance(0.05)  # the SYN-ACKs cross: both ESTABLISHED
    assert a.connect_ex(("127.0.0.1", 5002)) == 0
    assert b.connect_ex(("127.0.0.1", 5001)) == 0
    a.sendall(b"crossed")
    clock.advance(0.05)
    assert b.recv(10) == b"crossed"
    assert stack.stats.tcp_passive_opens == 0  # nobody listened
    assert stack.stats.tcp_resets_sent == 0
    stack.close()


def test_time_wait_holds_the_port_until_2msl() -> None:
    stack, clock = manual_loopback()
    srv = stack.socket(socket.AF_INET, STREAM)
    srv.bind(("127.0.0.1", 8080))
    srv.listen()
    cli = stack.socket(socket.AF_INET, STREAM)
    cli.bind(("127.0.0.1", 40000))
    cli.connect(("127.0.0.1", 8080))
    conn, _ = srv.accept()
    cli.close()  # active close: FIN-WAIT-1 -> FIN-WAIT-2
    assert conn.recv(10) == b""
    conn.close()  # LAST-ACK -> CLOSED; the client goes to TIME-WAIT
    states = [ep.conn.state.name for ep in stack.connections.values()]
    assert states == ["TIME_WAIT"]
    again = stack.socket(socket.AF_INET, STREAM)
    with pytest.raises(OSError) as info:
        again.bind(("127.0.0.1", 40000))
    assert info.value.errno == errno.EADDRINUSE
    clock.advance(59.0)
    assert len(stack.connections) == 1
    clock.advance(1.5)  # 2*MSL = 60 s
    assert not stack.connections
    again.bind(("127.0.0.1", 40000))
    stack.close()


def test_listen_backlog_drops_syns_until_accept() -> None:
    stack, clock = manual_loopback()
    srv = stack.socket(socket.AF_INET, STREAM)
    srv.bind(("127.0.0.1", 8080))
    srv.listen(1)
    clients = [stack.socket(socket.AF_INET, STREAM) for _ in range(3)]
    for c in clients:
        c.setblocking(False)
        assert c.connect_ex(("127.0.0.1", 8080)) == errno.EINPROGRESS
    results = [c.connect_ex(("127.0.0.1", 8080)) for c in clients]
    # Linux queues backlog + 1 connections; the third SYN is dropped, not refused.
    assert results == [0, 0, errno.EALREADY]
    assert stack.stats.dropped["listen-overflow"] == 1
    srv.accept()
    clock.advance(1.0)  # the SYN is retransmitted after the initial RTO
    assert clients[2].connect_ex(("127.0.0.1", 8080)) == 0
    stack.close()


def test_icmp_echo_reply() -> None:
    stack, link = channel_stack()
    request = Packet(
        IPv4Header(parse_address("10.0.0.2"), parse_address("10.0.0.1"), 1),
        ICMPv4Header(8, 0, b"\x12\x34\x00\x07"),
        b"ping payload",
    )
    link.inject(request.to_bytes())
    reply = link.read_packet(timeout=0)
    assert reply is not None and isinstance(reply.transport, ICMPv4Header)
    assert (reply.transport.type, reply.transport.code) == (0, 0)
    assert reply.transport.rest == b"\x12\x34\x00\x07"
    assert bytes(reply.payload) == b"ping payload"
    assert reply.net.dst == parse_address("10.0.0.2")
    v6 = Packet(
        IPv6Header(parse_address("fd00::2"), parse_address("fd00::1"), 58),
        ICMPv6Header(128, 0, b"\x00\x01\x00\x02"),
        b"v6",
    )
    link.inject(v6.to_bytes())
    reply6 = link.read_packet(timeout=0)
    assert reply6 is not None and isinstance(reply6.transport, ICMPv6Header)
    assert reply6.transport.type == 129 and bytes(reply6.payload) == b"v6"
    stack.close()


def test_udp_to_closed_port_gets_port_unreachable_quoting_it() -> None:
    stack, link = channel_stack()
    dgram = Packet(
        IPv4Header(parse_address("10.0.0.2"), parse_address("10.0.0.1"), PROTO_UDP),
        UDPHeader(5000, 9999),
        b"hello?",
    )
    link.inject(dgram.to_bytes())
    err = link.read_packet(timeout=0)
    assert err is not None and isinstance(err.transport, ICMPv4Header)
    assert (err.transport.type, err.transport.code) == (3, 3)
    assert bytes(err.payload) == dgram.to_bytes()  # the whole small datagram is quoted
    stack.close()


def test_unknown_protocol_gets_protocol_unreachable() -> None:
    stack, link = channel_stack()
    odd = Packet(IPv4Header(parse_address("10.0.0.2"), parse_address("10.0.0.1"), 99), None, b"x")
    link.inject(odd.to_bytes())
    err = link.read_packet(timeout=0)
    assert err is not None and isinstance(err.transport, ICMPv4Header)
    assert (err.transport.type, err.transport.code) == (3, 2)
    odd6 = Packet(IPv6Header(parse_address("fd00::2"), parse_address("fd00::1"), 99), None, b"x")
    link.inject(odd6.to_bytes())
    err6 = link.read_packet(timeout=0)
    assert err6 is not None and isinstance(err6.transport, ICMPv6Header)
    assert (err6.transport.type, err6.transport.code) == (4, 1)
    stack.close()


def test_ipv6_handshake_on_a_channel() -> None:
    stack, link = channel_stack()
    srv = stack.socket(socket.AF_INET6, STREAM)
    srv.bind(("fd00::1", 443))
    srv.listen()
    syn = Packet(
        IPv6Header(parse_address("fd00::2"), parse_address("fd00::1"), PROTO_TCP),
        TCPHeader(50000, 443, 1, 0, SYN, 65535),
    )
    link.inject(syn.to_bytes())
    synack = link.read_packet(timeout=0)
    assert synack is not None and isinstance(synack.transport, TCPHeader)
    assert synack.transport.flags == SYN | ACK
    assert synack.transport.options.mss == 1440  # 1500 - 40 (IPv6) - 20 (TCP)
    ack = Packet(
        IPv6Header(parse_address("fd00::2"), parse_address("fd00::1"), PROTO_TCP),
        TCPHeader(50000, 443, 2, (synack.transport.seq + 1) % 2**32, ACK, 65535),
    )
    link.inject(ack.to_bytes())
    srv.settimeout(0)
    conn, addr = srv.accept()
    assert conn.getpeername() == addr
    assert addr == ("fd00::2", 50000, 0, 0)
    stack.close()


def test_packets_for_other_hosts_are_dropped_not_answered() -> None:
    stack, link = channel_stack()
    stray = Packet(
        IPv4Header(parse_address("10.0.0.2"), parse_address("10.0.0.77"), PROTO_TCP),
        TCPHeader(1, 2, 3, 0, SYN, 100),
    )
    link.inject(stray.to_bytes())
    assert link.read(timeout=0) is None
    assert stack.stats.dropped["not-for-us"] == 1
    stack.close()


def test_a_bare_loopback_is_short_cut_and_a_wrapped_one_sees_every_packet() -> None:
    """On a bare loopback the stack queues its packets itself (the link would only hand them
    back); a sniffer wrapping the loopback still gets every packet through write_packet."""
    from usersock.link.sniffer import Sniffer

    def exchange(link: Loopback | Sniffer) -> usersock.Stack:
        stack = usersock.Stack(clock=usersock.ManualClock())
        stack.create_nic(1, link)
        stack.add_address(1, "127.0.0.1/8")
        srv = stack.socket(socket.AF_INET, STREAM)
        srv.bind(("127.0.0.1", 7000))
        srv.listen()
        cli = stack.socket(socket.AF_INET, STREAM)
        cli.connect(("127.0.0.1", 7000))
        conn, _ = srv.accept()
        cli.sendall(b"ping")
        assert conn.recv(4) == b"ping"
        for s in (cli, conn, srv):
            s.close()
        return stack

    def record(link: Loopback | Sniffer, into: list[Packet]) -> None:
        original = link.write_packet

        def write_packet(packet: Packet) -> None:
            into.append(packet)
            original(packet)

        link.write_packet = write_packet  # type: ignore[method-assign]

    bare = Loopback()
    written: list[Packet] = []
    record(bare, written)
    stack = exchange(bare)
    assert written == []
    assert stack.stats.packets_out == stack.stats.packets_in >= 7

    inner = Loopback()
    seen: list[Packet] = []
    sniffer = Sniffer(inner)
    record(sniffer, seen)
    stack = exchange(sniffer)
    assert len(seen) == stack.stats.packets_out == stack.stats.packets_in >= 7


def test_a_detached_loopback_drops_and_counts() -> None:
    stack, _ = manual_loopback()
    link = stack.nics[1].link
    assert isinstance(link, Loopback)
    link.attach(None)
    cli = stack.socket(socket.AF_INET, STREAM)
    cli.setblocking(False)
    assert cli.connect_ex(("127.0.0.1", 7001)) == errno.EINPROGRESS
    assert link.dropped == 1
    assert stack.stats.packets_in == 0
