"""A real stack behind the channel link, with the test playing the remote peer.

The test reads the exact segments the stack puts on the wire (as bytes, parsed by the wire
layer) and injects hand-built answers, so every field the stack emits can be asserted on.
The stack runs on a manual clock: retransmissions happen only when the test moves time.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Iterator

import pytest

import usersock
from usersock.link.channel import Channel
from usersock.stack.route import parse_address
from usersock.transport.tcp.endpoint import TCPEndpoint
from usersock.wire.ipv4 import PROTO_TCP, PROTO_UDP, IPv4Header
from usersock.wire.packet import Packet
from usersock.wire.tcp import ACK, FIN, PSH, RST, SYN, TCPHeader, TCPOptions
from usersock.wire.udp import UDPHeader

LOCAL = "10.0.0.1"
PEER = "10.0.0.2"
PEER_PORT = 40000


class Peer:
    """The remote end, scripted by the test."""

    def __init__(self) -> None:
        self.clock = usersock.ManualClock()
        self.stack = usersock.Stack(clock=self.clock)
        self.link = Channel(mtu=1500)
        self.stack.create_nic(1, self.link)
        self.stack.add_address(1, f"{LOCAL}/24")
        self.stack.set_route_table([usersock.Route("10.0.0.0/24", nic=1)])
        self.seq = 1_000_000
        self.ack = 0

    def inject(
        self,
        flags: int,
        payload: bytes = b"",
        port: int = 80,
        seq: int | None = None,
        ack: int | None = None,
        window: int = 65535,
        options: TCPOptions | None = None,
    ) -> None:
        hdr = TCPHeader(
            src_port=PEER_PORT,
            dst_port=port,
            seq=self.seq if seq is None else seq,
            ack=(self.ack if ack is None else ack) if flags & ACK else 0,
            flags=flags,
            window=window,
            options=options or TCPOptions(),
        )
        net = IPv4Header(src=parse_address(PEER), dst=parse_address(LOCAL), protocol=PROTO_TCP)
        self.link.inject(Packet(net, hdr, payload).to_bytes())

    def read(self) -> tuple[TCPHeader, bytes]:
        packet = self.link.read_packet(timeout=0)
        assert packet is not None, "the stack sent nothing"
        assert isinstance(packet.transport, TCPHeader)
        return packet.transport, bytes(packet.payload)

    def nothing_sent(self) -> bool:
        return self.link.read(timeout=0) is None


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = Peer()
    yield p
    p.stack.close()
    assert p.stack.stats.internal_errors == 0


def handshake_to_listener(peer: Peer) -> tuple[usersock.socket, usersock.socket]:
    srv = peer.stack.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind((LOCAL, 80))
    srv.listen(4)
    srv.settimeout(0)
    peer.inject(
        SYN, options=TCPOptions(mss=1460, wscale=7, sack_permitted=True, timestamps=(100, 0))
    )
    synack, _ = peer.read()
    assert synack.flags == SYN | ACK
    assert synack.ack == peer.seq + 1
    peer.seq += 1
    peer.ack = (synack.seq + 1) & 0xFFFFFFFF
    assert synack.options.timestamps is not None
    peer.inject(ACK, options=TCPOptions(timestamps=(101, synack.options.timestamps[0])))
    conn, addr = srv.accept()
    assert addr == (PEER, PEER_PORT)
    conn.settimeout(0)
    return srv, conn


def test_syn_ack_carries_negotiated_options(peer: Peer) -> None:
    srv = peer.stack.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind((LOCAL, 80))
    srv.listen()
    peer.inject(SYN, options=TCPOptions(mss=1000, wscale=7, sack_permitted=True, timestamps=(7, 0)))
    synack, payload = peer.read()
    assert payload == b""
    assert synack.flags == SYN | ACK
    assert synack.src_port == 80 and synack.dst_port == PEER_PORT
    assert synack.ack == peer.seq + 1
    assert synack.options.mss == 1460  # channel MTU 1500 - 40
    assert synack.options.wscale is not None
    assert synack.options.sack_permitted
    assert synack.options.timestamps is not None and synack.options.timestamps[1] == 7


def test_data_exchange_and_passive_close(peer: Peer) -> None:
    _srv, conn = handshake_to_listener(peer)
    peer.inject(PSH | ACK, b"hello")
    assert peer.nothing_sent()  # the ACK of a small message waits for the answer...
    peer.clock.advance(0.001)  # ...for at most ACK_DEFER, then goes out alone
    ack, _ = peer.read()
    assert ack.flags & ACK and ack.ack == peer.seq + 5
    peer.seq += 5
    assert conn.recv(100) == b"hello"
    conn.send(b"world")
    seg, data = peer.read()
    assert data == b"world" and seg.seq == peer.ack
    peer.ack += 5
    peer.inject(FIN | ACK)
    peer.seq += 1
    fin_ack, _ = peer.read()
    assert fin_ack.ack == peer.seq
    assert conn.recv(100) == b""
    conn.close()
    fin, _ = peer.read()
    assert fin.flags & FIN and fin.seq == peer.ack
    peer.ack += 1
    peer.inject(ACK)
    assert peer.nothing_sent()
    assert not peer.stack.connections  # LAST-ACK -> CLOSED, no TIME-WAIT on this side


def test_segment_to_closed_port_is_reset(peer: Peer) -> None:
    peer.inject(SYN, port=81)
    rst, _ = peer.read()
    assert rst.flags == RST | ACK and rst.seq == 0 and rst.ack == peer.seq + 1
    peer.inject(ACK, port=81, ack=12345)
    rst, _ = peer.read()
    assert rst.flags == RST and rst.seq == 12345
    peer.inject(RST, port=81)
    assert peer.nothing_sent()  # never a RST for a RST


def test_active_open_refused_by_rst(peer: Peer) -> None:
    cli = peer.stack.socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.setblocking(False)
    assert cli.connect_ex((PEER, 80)) == errno.EINPROGRESS
    syn, _ = peer.read()
    assert syn.flags == SYN and syn.dst_port == 80
    assert syn.options.mss == 1460
    # RST|ACK acking the SYN: connection refused (RFC 9293 3.10.7.3)
    hdr = TCPHeader(80, syn.src_port, 0, (syn.seq + 1) & 0xFFFFFFFF, RST | ACK, 0)
    net = IPv4Header(parse_address(PEER), parse_address(LOCAL), PROTO_TCP)
    peer.link.inject(Packet(net, hdr, b"").to_bytes())
    assert cli.connect_ex((PEER, 80)) == errno.ECONNREFUSED


def test_data_is_retransmitted_after_rto_with_backoff(peer: Peer) -> None:
    _srv, conn = handshake_to_listener(peer)
    conn.send(b"are you there?")
    first, data = peer.read()
    assert data == b"are you there?"
    sent_at = peer.clock.now()
    times: list[float] = []
    step = 0.01
    while len(times) < 5:
        peer.clock.advance(step)
        while (packet := peer.link.read_packet(timeout=0)) is not None:
            assert isinstance(packet.transport, TCPHeader)
            assert packet.transport.seq == first.seq and bytes(packet.payload) == data
            times.append(peer.clock.now())
    gaps = [b - a for a, b in zip([sent_at, *times[:-1]], times, strict=True)]
    # The handshake measured an RTT of 0 on this clock, so the RTO is the 200 ms floor
    # (RFC 6298 2.4 with Linux's minimum), doubling on each expiry (RFC 6298 5.5).
    # Each observed instant is late by under one step, so a gap is off by under two.
    for k, gap in enumerate(gaps):
        assert gap == pytest.approx(0.2 * 2**k, abs=2 * step)
    assert conn.getpeername() == (PEER, PEER_PORT)


def test_syn_retransmission_gives_up_with_etimedout(peer: Peer) -> None:
    cli = peer.stack.socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.setblocking(False)
    assert cli.connect_ex((PEER, 80)) == errno.EINPROGRESS
    syns = 0
    for _ in range(200):
        while peer.link.read(timeout=0) is not None:
            syns += 1
        if cli.connect_ex((PEER, 80)) != errno.EALREADY:
            break
        peer.clock.advance(1.0)
    assert syns == 7  # first SYN + 6 retries (Linux tcp_syn_retries)
    assert peer.clock.now() > 60  # 1 + 2 + 4 + 8 + 16 + 32 s of backoff before giving up


def test_icmp_port_unreachable_fails_the_connect(peer: Peer) -> None:
    """RFC 1122 4.2.3.9 / Linux tcp_v4_err: a hard ICMP error ends a connect in SYN-SENT."""
    from usersock.wire.icmp import ICMPv4Header

    cli = peer.stack.socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.setblocking(False)
    assert cli.connect_ex((PEER, 80)) == errno.EINPROGRESS
    syn_bytes = peer.link.read(timeout=0)
    assert syn_bytes is not None
    err = Packet(
        IPv4Header(parse_address(PEER), parse_address(LOCAL), 1),
        ICMPv4Header(3, 3),
        syn_bytes[:28],
    )
    peer.link.inject(err.to_bytes())
    assert cli.connect_ex((PEER, 80)) == errno.ECONNREFUSED
    assert peer.nothing_sent()  # no RST to a port that does not exist


def test_the_answer_carries_the_ack_of_the_request(peer: Peer) -> None:
    """Request/response: the reply piggybacks the ACK, two segments per exchange."""
    _srv, conn = handshake_to_listener(peer)
    # The first read opens the window past the 65535 a SYN-ACK can carry: that window
    # update goes out at once. Settle it, then look at a steady-state exchange.
    peer.inject(PSH | ACK, b"hello")
    assert conn.recv(100) == b"hello"
    peer.seq += 5
    peer.clock.advance(0.01)
    peer.link.drain()
    peer.inject(PSH | ACK, b"GET /")
    assert conn.recv(100) == b"GET /"
    conn.send(b"200 OK")
    seg, data = peer.read()
    assert data == b"200 OK" and seg.flags & ACK and seg.ack == peer.seq + 5
    assert peer.nothing_sent()  # no separate pure ACK, now or later
    peer.clock.advance(0.01)
    assert peer.nothing_sent()


def test_every_second_full_sized_segment_is_acked_at_once(peer: Peer) -> None:
    """RFC 5681 section 4.2: an ACK at least for every second full-sized segment."""
    _srv, _conn = handshake_to_listener(peer)
    peer.inject(ACK, b"x" * 1460)
    assert peer.nothing_sent()  # one full-sized segment: the ACK may wait...
    peer.seq += 1460
    peer.inject(ACK, b"y" * 1460)
    ack, _ = peer.read()  # ...but not past the second one
    assert ack.ack == peer.seq + 1460
    assert peer.nothing_sent()


def test_a_lone_full_sized_segment_is_acked_within_ack_defer(peer: Peer) -> None:
    _srv, _conn = handshake_to_listener(peer)
    peer.inject(ACK, b"x" * 1460)
    assert peer.nothing_sent()
    peer.clock.advance(0.001)
    ack, _ = peer.read()
    assert ack.ack == peer.seq + 1460


def test_ip_ttl_and_tos_reach_the_wire(peer: Peer) -> None:
    """``IP_TTL`` and ``IP_TOS`` set on a listener go out in its SYN-ACK and stay with the
    accepted connection (TCP keeps the ECN bits: 0x13 becomes 0x10); a change on the
    connection applies to its next segment. UDP takes the whole TOS byte."""
    srv = peer.stack.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 7)
    srv.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x13)
    srv.bind((LOCAL, 80))
    srv.listen()
    peer.inject(SYN, options=TCPOptions(mss=1460))
    synack = peer.link.read_packet(timeout=0)
    assert synack is not None and isinstance(synack.net, IPv4Header)
    assert (synack.net.ttl, synack.net.tos) == (7, 0x10)
    assert isinstance(synack.transport, TCPHeader)
    peer.seq += 1
    peer.ack = (synack.transport.seq + 1) & 0xFFFFFFFF
    peer.inject(ACK)
    conn, _ = srv.accept()
    assert conn.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 7
    conn.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 200)
    conn.send(b"x")
    data = peer.link.read_packet(timeout=0)
    assert data is not None and isinstance(data.net, IPv4Header)
    assert (data.net.ttl, data.net.tos, bytes(data.payload)) == (200, 0x10, b"x")
    udp = peer.stack.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 3)
    udp.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x13)
    udp.sendto(b"d", (PEER, 53))
    datagram = peer.link.read_packet(timeout=0)
    assert datagram is not None and isinstance(datagram.net, IPv4Header)
    assert (datagram.net.ttl, datagram.net.tos) == (3, 0x13)
    for s in (udp, conn, srv):
        s.close()


def test_msg_waitall_takes_queued_data_before_a_pending_reset(peer: Peer) -> None:
    """A blocking ``MSG_WAITALL`` read that got ``abc`` and then finds ``de`` and a reset
    queued together returns ``abcde``, as ``tcp_recvmsg`` copies what is queued before it
    looks at the error; the reset is the next call's, then EOF."""
    _srv, conn = handshake_to_listener(peer)
    conn.settimeout(None)
    peer.inject(PSH | ACK, b"abc")
    peer.seq += 3
    results: list[object] = []

    def reader() -> None:
        results.append(conn.recv(10, socket.MSG_WAITALL))

    thread = threading.Thread(target=reader)
    thread.start()
    ep = conn._endpoint()
    assert isinstance(ep, TCPEndpoint) and ep.conn is not None
    deadline = time.monotonic() + 10
    while ep.conn.readable_bytes() and time.monotonic() < deadline:
        time.sleep(0.001)  # until the reader has taken "abc" (it then waits for the rest)
    with peer.stack.lock:  # the reader sees both segments at once
        peer.inject(PSH | ACK, b"de")
        peer.seq += 2
        peer.inject(RST)
    thread.join(10)
    assert not thread.is_alive()
    assert results == [b"abcde"]
    with pytest.raises(ConnectionResetError):
        conn.recv(10, socket.MSG_WAITALL)
    assert conn.recv(10, socket.MSG_WAITALL) == b""
    conn.close()


def test_broadcast_on_a_link_subnet(peer: Peer) -> None:
    """On a NIC with 10.0.0.1/24, 10.0.0.255 is the subnet's broadcast: a peer's UDP
    datagram to it reaches a socket bound to the wildcard; a local one sent to it goes out
    on the link and is also looped back to the stack's own sockets (``ip_mc_output``);
    a TCP SYN to it is dropped without an answer (``tcp_v4_rcv``)."""
    bcast = parse_address("10.0.0.255")
    rx = peer.stack.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("0.0.0.0", 53))
    rx.settimeout(0)
    net = IPv4Header(src=parse_address(PEER), dst=bcast, protocol=PROTO_UDP)
    peer.link.inject(Packet(net, UDPHeader(PEER_PORT, 53), b"from the peer").to_bytes())
    assert rx.recvfrom(100) == (b"from the peer", (PEER, PEER_PORT))
    tx = peer.stack.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    tx.sendto(b"to all", ("10.0.0.255", 53))
    out = peer.link.read_packet(timeout=0)
    assert out is not None and isinstance(out.net, IPv4Header) and out.net.dst == bcast
    assert bytes(out.payload) == b"to all"
    assert rx.recvfrom(100) == (b"to all", (LOCAL, tx.getsockname()[1]))
    syn = IPv4Header(src=parse_address(PEER), dst=bcast, protocol=PROTO_TCP)
    hdr = TCPHeader(src_port=PEER_PORT, dst_port=53, seq=1, ack=0, flags=SYN, window=65535)
    peer.link.inject(Packet(syn, hdr, b"").to_bytes())
    assert peer.nothing_sent()
    assert peer.stack.stats.dropped["not-for-us"] == 1
    for s in (rx, tx):
        s.close()
