"""Packet.describe(): the one line the sniffer logs for every packet."""

from __future__ import annotations

import socket

import pytest

from usersock.wire import (
    ACK,
    CWR,
    ECE,
    FIN,
    PSH,
    RST,
    SYN,
    URG,
    ICMPv4Header,
    ICMPv6Header,
    IPv4Header,
    IPv6Header,
    Packet,
    TCPHeader,
    TCPOptions,
    UDPHeader,
    describe_flags,
)


def v4(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET, text)


def v6(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


LINUX_SYN = TCPOptions(mss=65495, wscale=7, sack_permitted=True, timestamps=(1, 0))

CASES = [
    (
        "tcp syn",
        Packet(
            IPv4Header(v4("192.168.1.1"), v4("192.168.1.1"), 6),
            TCPHeader(35076, 8080, 123, 0, SYN, 65535, options=LINUX_SYN),
        ),
        "TCP 192.168.1.1:35076 -> 192.168.1.1:8080 flags=S seq=123 ack=0 win=65535 len=0"
        " options=[mss 65495,sackOK,TS val 1 ecr 0,nop,wscale 7]",
    ),
    (
        "tcp data over ipv6 with sack",
        Packet(
            IPv6Header(v6("::1"), v6("2001:db8::2"), 6),
            TCPHeader(
                80,
                5000,
                7,
                9,
                PSH | ACK,
                512,
                options=TCPOptions(timestamps=(5, 6), sack_blocks=((10, 20),)),
            ),
            b"hello",
        ),
        "TCP [::1]:80 -> [2001:db8::2]:5000 flags=PA seq=7 ack=9 win=512 len=5"
        " options=[nop,nop,TS val 5 ecr 6,nop,nop,sack 1 {10:20}]",
    ),
    (
        "tcp rst without options",
        Packet(IPv4Header(v4("10.0.0.1"), v4("10.0.0.2"), 6), TCPHeader(1, 2, 0, 5, RST | ACK, 0)),
        "TCP 10.0.0.1:1 -> 10.0.0.2:2 flags=RA seq=0 ack=5 win=0 len=0",
    ),
    (
        "tcp urgent",
        Packet(
            IPv4Header(v4("10.0.0.1"), v4("10.0.0.2"), 6), TCPHeader(1, 2, 0, 0, URG | ACK, 9, 3)
        ),
        "TCP 10.0.0.1:1 -> 10.0.0.2:2 flags=AU seq=0 ack=0 win=9 urg=3 len=0",
    ),
    (
        "udp over ipv6",
        Packet(IPv6Header(v6("fe80::1"), v6("ff02::fb"), 17), UDPHeader(5353, 5353), b"abc"),
        "UDP [fe80::1]:5353 -> [ff02::fb]:5353 len=3",
    ),
    (
        "icmp echo",
        Packet(
            IPv4Header(v4("1.1.1.1"), v4("2.2.2.2"), 1),
            ICMPv4Header(8, 0, b"\x00\x07\x00\x09"),
            b"x",
        ),
        "ICMP 1.1.1.1 -> 2.2.2.2 type=8 code=0 id=7 seq=9 len=1",
    ),
    (
        "icmp port unreachable",
        Packet(IPv4Header(v4("1.1.1.1"), v4("2.2.2.2"), 1), ICMPv4Header(3, 3), bytes(28)),
        "ICMP 1.1.1.1 -> 2.2.2.2 type=3 code=3 len=28",
    ),
    (
        "icmpv6 echo reply",
        Packet(IPv6Header(v6("::1"), v6("::1"), 58), ICMPv6Header(129, 0, b"\x00\x01\x00\x02")),
        "ICMPv6 [::1] -> [::1] type=129 code=0 id=1 seq=2 len=0",
    ),
    (
        "unparsed protocol",
        Packet(IPv4Header(v4("1.1.1.1"), v4("2.2.2.2"), 47), None, b"gre!"),
        "IPv4 1.1.1.1 -> 2.2.2.2 proto=47 len=4",
    ),
    (
        "ipv6 no next header",
        Packet(IPv6Header(v6("::1"), v6("::2"), 59), None),
        "IPv6 [::1] -> [::2] proto=59 len=0",
    ),
]


@pytest.mark.parametrize(("packet", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_describe(packet: Packet, line: str) -> None:
    assert packet.describe() == line
    assert Packet.from_bytes(packet.to_bytes()).describe() == line


def test_flag_letters() -> None:
    assert describe_flags(SYN | ACK) == "SA"
    assert describe_flags(FIN | ACK) == "FA"
    assert describe_flags(FIN | SYN | RST | PSH | ACK | URG | ECE | CWR) == "FSRPAUEC"
    assert describe_flags(0) == "none"


def test_describe_never_raises_on_odd_headers() -> None:
    packet = Packet(IPv4Header(b"\x01", b"", 6), TCPHeader(1, 2, 3, 4, 0, 5))
    assert packet.describe().startswith("TCP b'\\x01':1 -> b'':2 flags=none")
