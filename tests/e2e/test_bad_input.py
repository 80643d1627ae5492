"""Random and mutated packets injected through the channel never raise out of the stack,
never hang it, and are counted; the stack keeps working afterwards."""

from __future__ import annotations

import random
import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import usersock
from usersock.link.channel import Channel
from usersock.stack.route import parse_address
from usersock.wire.ipv4 import PROTO_TCP, PROTO_UDP, IPv4Header
from usersock.wire.ipv6 import IPv6Header
from usersock.wire.packet import Packet
from usersock.wire.tcp import ACK, SYN, TCPHeader, TCPOptions
from usersock.wire.udp import UDPHeader

LOCAL4, PEER4 = parse_address("10.0.0.1"), parse_address("10.0.0.2")
LOCAL6, PEER6 = parse_address("fd00::1"), parse_address("fd00::2")


def make_stack() -> tuple[usersock.Stack, Channel, usersock.socket]:
    stack = usersock.Stack(clock=usersock.ManualClock())
    link = Channel(mtu=1500, limit=100_000)
    stack.create_nic(1, link)
    stack.add_address(1, "10.0.0.1/24")
    stack.add_address(1, "fd00::1/64")
    stack.set_route_table(
        [usersock.Route("10.0.0.0/24", nic=1), usersock.Route("fd00::/64", nic=1)]
    )
    srv = stack.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("10.0.0.1", 80))
    srv.listen()
    udp = stack.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("10.0.0.1", 53))
    return stack, link, srv


def valid_packets() -> list[bytes]:
    opts = TCPOptions(mss=1460, wscale=7, sack_permitted=True, timestamps=(1, 0))
    return [
        Packet(
            IPv4Header(PEER4, LOCAL4, PROTO_TCP),
            TCPHeader(40000, 80, 1, 0, SYN, 65535, options=opts),
        ).to_bytes(),
        Packet(
            IPv4Header(PEER4, LOCAL4, PROTO_TCP), TCPHeader(40000, 80, 2, 5, ACK, 512), b"data"
        ).to_bytes(),
        Packet(IPv4Header(PEER4, LOCAL4, PROTO_UDP), UDPHeader(5000, 53), b"query").to_bytes(),
        Packet(
            IPv6Header(PEER6, LOCAL6, PROTO_TCP), TCPHeader(40001, 80, 9, 0, SYN, 1000)
        ).to_bytes(),
    ]


def assert_still_works(stack: usersock.Stack, link: Channel, srv: usersock.socket) -> None:
    """A clean handshake still completes: the stack is neither broken nor wedged."""
    link.drain()
    syn = Packet(IPv4Header(PEER4, LOCAL4, PROTO_TCP), TCPHeader(45555, 80, 77, 0, SYN, 65535))
    link.inject(syn.to_bytes())
    reply = link.read_packet(timeout=0)
    assert reply is not None and isinstance(reply.transport, TCPHeader)
    assert reply.transport.flags == SYN | ACK
    assert stack.stats.internal_errors == 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_bytes_are_dropped_and_counted(data: bytes) -> None:
    stack, link, _srv = make_stack()
    before = stack.stats.malformed
    link.inject(data)
    assert stack.stats.internal_errors == 0
    if not data or data[0] >> 4 not in (4, 6):
        assert stack.stats.malformed == before + 1
    stack.close()


def test_mutated_valid_packets_never_break_the_stack() -> None:
    stack, link, srv = make_stack()
    rng = random.Random(1234)
    base = valid_packets()
    for i in range(3000):
        data = bytearray(rng.choice(base))
        for _ in range(rng.randint(1, 4)):
            if not data:
                break
            op = rng.random()
            if op < 0.6:
                pos = rng.randrange(len(data))
                data[pos] ^= 1 << rng.randrange(8)
            elif op < 0.8:
                del data[rng.randrange(len(data)) :]
            else:
                data += rng.randbytes(rng.randint(1, 40))
        link.inject(bytes(data))
        if i % 500 == 0:
            link.drain()
    assert stack.stats.internal_errors == 0
    assert stack.stats.malformed > 1000
    assert sum(stack.stats.dropped.values()) >= stack.stats.malformed
    assert_still_works(stack, link, srv)
    stack.close()


@settings(max_examples=200, deadline=None)
@given(
    seq=st.integers(0, 2**32 - 1),
    ack=st.integers(0, 2**32 - 1),
    flags=st.integers(0, 0xFF),
    window=st.integers(0, 0xFFFF),
    payload=st.binary(max_size=64),
)
def test_arbitrary_well_formed_segments(
    seq: int, ack: int, flags: int, window: int, payload: bytes
) -> None:
    """Any checksum-valid segment, in any flag combination the parser accepts."""
    stack, link, srv = make_stack()
    hdr = TCPHeader(40000, 80, seq, ack, flags, window)
    try:
        data = Packet(IPv4Header(PEER4, LOCAL4, PROTO_TCP), hdr, payload).to_bytes()
    except ValueError:
        stack.close()
        return
    link.inject(data)
    link.inject(data)
    assert stack.stats.internal_errors == 0
    assert_still_works(stack, link, srv)
    stack.close()
