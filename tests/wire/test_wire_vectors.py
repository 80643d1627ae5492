"""Byte-exact vectors: known packets, parsed and rebuilt bit for bit.

The expected bytes are literal hex derived by hand (checksum arithmetic in the comments) and
checked once against scapy; ``test_*_matches_scapy`` repeat that check when scapy is
installed.
"""

from __future__ import annotations

import socket

import pytest

from usersock.wire import (
    ACK,
    SYN,
    ICMPv4Header,
    ICMPv6Header,
    IPv4Header,
    IPv6Header,
    MalformedPacket,
    Packet,
    TCPHeader,
    TCPOptions,
    UDPHeader,
    build_ipv4,
    build_tcp,
    parse_ipv4,
    parse_ipv6,
    parse_tcp,
)


def v4(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET, text)


def v6(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


# --- IPv4 + TCP SYN with Linux's SYN options: mss 65495, sackOK, TS 1/0, nop, wscale 7 ------
#
# IPv4 header words: 4500 003c 0001 4000 4006 [0000] c0a8 0101 c0a8 0102
#   sum 0x24896 -> fold 0x4898 -> checksum ~0x4898 = 0xb767 (RFC 791 section 3.1)
# TCP: pseudo-header c0a8 0101 c0a8 0102 0006 0028 sums to 0x18381; the 40-byte segment
#   (checksum field zero) sums to 0x35b02; 0x18381 + 0x35b02 folds to 0xde87, so the
#   checksum is ~0xde87 = 0x2178 (RFC 9293 section 3.1).
SYN_HEX = (
    "4500003c000140004006b767"  # IPv4, IHL 5, total 60, id 1, DF, TTL 64, TCP, checksum
    "c0a80101c0a80102"  # 192.168.1.1 -> 192.168.1.2
    "89041f90"  # ports 35076 -> 8080
    "0000007b00000000"  # seq 123, ack 0
    "a002ffff21780000"  # data offset 10, SYN, window 65535, checksum 0x2178, urgent 0
    "0204ffd7"  # mss 65495
    "0402"  # sackOK
    "080a0000000100000000"  # TS val 1 ecr 0
    "01030307"  # nop, wscale 7
)
SYN_OPTIONS = TCPOptions(mss=65495, wscale=7, sack_permitted=True, timestamps=(1, 0))
SYN_PACKET = Packet(
    IPv4Header(v4("192.168.1.1"), v4("192.168.1.2"), 6, ident=1),
    TCPHeader(35076, 8080, 123, 0, SYN, 65535, options=SYN_OPTIONS),
    b"",
)


def test_syn_to_bytes_is_byte_exact() -> None:
    assert SYN_PACKET.to_bytes().hex() == SYN_HEX


def test_syn_from_bytes() -> None:
    packet = Packet.from_bytes(bytes.fromhex(SYN_HEX))
    assert packet == SYN_PACKET
    assert packet.transport == SYN_PACKET.transport


def test_syn_header_builders_separately() -> None:
    data = bytes.fromhex(SYN_HEX)
    assert build_ipv4(SYN_PACKET.net, 40) == data[:20]  # type: ignore[arg-type]
    hdr = SYN_PACKET.transport
    assert isinstance(hdr, TCPHeader)
    assert build_tcp(hdr, b"", v4("192.168.1.1"), v4("192.168.1.2")) == data[20:]
    without_checksum = build_tcp(hdr, b"")
    assert without_checksum[16:18] == b"\x00\x00"
    assert without_checksum[:16] == data[20:36] and without_checksum[18:] == data[38:]


def test_syn_parses_from_every_buffer_type() -> None:
    data = bytes.fromhex(SYN_HEX)
    for buf in (data, bytearray(data), memoryview(data), memoryview(b"xx" + data)[2:]):
        assert Packet.from_bytes(buf) == SYN_PACKET


def test_every_single_bit_flip_of_the_syn_is_rejected() -> None:
    # Both checksums cover every bit, and ones'-complement sums catch any single-bit error.
    # The one exception: version 4 -> 6 reads as an IPv6 packet (no header checksum there)
    # carrying an unknown protocol, which is well formed.
    data = bytes.fromhex(SYN_HEX)
    for bit in range(len(data) * 8):
        mutated = bytearray(data)
        mutated[bit >> 3] ^= 0x80 >> (bit & 7)
        if bit == 2:
            assert isinstance(Packet.from_bytes(bytes(mutated)).net, IPv6Header)
            continue
        with pytest.raises(MalformedPacket):
            Packet.from_bytes(bytes(mutated))


def test_link_padding_after_total_length_is_ignored() -> None:
    packet = Packet.from_bytes(bytes.fromhex(SYN_HEX) + b"\x00" * 6)
    assert packet == SYN_PACKET


# --- IPv4 + TCP data segment: NOP NOP TS and a payload of odd length -------------------------

# IPv4 words 4500 0037 0000 4000 4006 0a00 0001 0a00 0002 sum to 0xd940: checksum 0x26bf.
DATA_HEX = (
    "4500003700004000400626bf0a0000010a000002"  # 55 bytes, DF, TTL 64
    "04d2005000000064000000c8"  # ports 1234 -> 80, seq 100, ack 200
    "8018020095f40000"  # data offset 8, PSH|ACK, window 512, checksum 0x95f4
    "0101080a0000000500000006"  # nop, nop, TS val 5 ecr 6
    "616263"  # "abc"
)


def test_data_segment_round_trip() -> None:
    packet = Packet(
        IPv4Header(v4("10.0.0.1"), v4("10.0.0.2"), 6),
        TCPHeader(1234, 80, 100, 200, ACK | 0x08, 512, options=TCPOptions(timestamps=(5, 6))),
        b"abc",
    )
    assert packet.to_bytes().hex() == DATA_HEX
    assert Packet.from_bytes(bytes.fromhex(DATA_HEX)) == packet
    header, payload = parse_tcp(bytes.fromhex(DATA_HEX)[20:], v4("10.0.0.1"), v4("10.0.0.2"))
    assert bytes(payload) == b"abc"
    assert header.options.timestamps == (5, 6)


# --- IPv6 + UDP --------------------------------------------------------------------------------
#
# UDP checksum: pseudo-header 2001:db8::1, 2001:db8::2, length 13, next header 17; the
# datagram 04d2 0035 000d [0000] 6865 6c6c 6f(00) -> 0x5b86 (RFC 8200 section 8.1).
V6_UDP_HEX = (
    "60000000000d1140"  # version 6, payload length 13, next header UDP, hop limit 64
    "20010db8000000000000000000000001"
    "20010db8000000000000000000000002"
    "04d20035000d5b86"  # 1234 -> 53, length 13, checksum 0x5b86
    "68656c6c6f"  # "hello"
)
V6_UDP_PACKET = Packet(
    IPv6Header(v6("2001:db8::1"), v6("2001:db8::2"), 17),
    UDPHeader(1234, 53),
    b"hello",
)


def test_ipv6_udp_byte_exact() -> None:
    assert V6_UDP_PACKET.to_bytes().hex() == V6_UDP_HEX
    assert Packet.from_bytes(bytes.fromhex(V6_UDP_HEX)) == V6_UDP_PACKET


def test_ipv6_traffic_class_and_flow_label() -> None:
    header = IPv6Header(
        v6("::1"), v6("::2"), 59, hop_limit=1, traffic_class=0xB8, flow_label=0xABCDE
    )
    packet = Packet(header, None, b"")
    data = packet.to_bytes()
    assert data[:8].hex() == "6b8abcde00003b01"
    assert Packet.from_bytes(data) == packet


# --- IPv6 with extension headers: hop-by-hop and destination options are skipped ------------

V6_EXT_HEX = (
    "60000000001d0040"  # payload length 29, next header 0 (hop-by-hop)
    "20010db8000000000000000000000001"
    "20010db8000000000000000000000002"
    "3c00010400000000"  # hop-by-hop: next 60, length 0 (8 bytes), PadN(4)
    "1100010400000000"  # destination options: next 17, PadN(4)
    "04d20035000d5b8668656c6c6f"  # the same UDP datagram as above
)


def test_ipv6_extension_headers_are_skipped() -> None:
    data = bytes.fromhex(V6_EXT_HEX)
    header, payload = parse_ipv6(data)
    assert header.next_header == 17
    assert bytes(payload) == bytes.fromhex(V6_UDP_HEX)[40:]
    assert Packet.from_bytes(data) == V6_UDP_PACKET


def test_ipv6_routing_header_with_no_segments_left_is_skipped() -> None:
    # RFC 8200 section 4.4: segments left 0 means we are the final destination.
    data = bytes.fromhex(
        "6000000000152b40"  # payload length 21, next header 43 (routing)
        "00000000000000000000000000000001"
        "00000000000000000000000000000001"
        "1100000000000000"  # next 17, length 0, routing type 0, segments left 0
        "04d20035000d000068656c6c6f"  # UDP, no checksum
    )
    header, payload = parse_ipv6(data)
    assert header.next_header == 17
    assert bytes(payload) == bytes.fromhex("04d20035000d0000") + b"hello"


# --- ICMP echo ---------------------------------------------------------------------------------
#
# ICMPv4: 0800 [0000] 0001 0002 7069 6e67 sums to 0xe6d3 -> checksum 0x192c (RFC 792).
ICMP4_HEX = (
    "4500002012344000400114a70a0000010a000002"  # id 0x1234, DF, TTL 64, ICMP
    "0800192c00010002"  # echo request, checksum 0x192c, id 1, seq 2
    "70696e67"  # "ping"
)
ICMP6_HEX = (
    "60000000000c3a40"  # payload length 12, next header 58, hop limit 64
    "00000000000000000000000000000001"
    "00000000000000000000000000000001"
    "8000a0e300010002"  # echo request, checksum 0xa0e3, id 1, seq 2
    "70696e67"  # "ping"
)


def test_icmpv4_echo_byte_exact() -> None:
    packet = Packet(
        IPv4Header(v4("10.0.0.1"), v4("10.0.0.2"), 1, ident=0x1234),
        ICMPv4Header(8, 0, b"\x00\x01\x00\x02"),
        b"ping",
    )
    assert packet.to_bytes().hex() == ICMP4_HEX
    assert Packet.from_bytes(bytes.fromhex(ICMP4_HEX)) == packet
    header, _ = parse_ipv4(bytes.fromhex(ICMP4_HEX))
    assert header.protocol == 1


def test_icmpv6_echo_byte_exact() -> None:
    packet = Packet(
        IPv6Header(v6("::1"), v6("::1"), 58), ICMPv6Header(128, 0, b"\x00\x01\x00\x02"), b"ping"
    )
    assert packet.to_bytes().hex() == ICMP6_HEX
    assert Packet.from_bytes(bytes.fromhex(ICMP6_HEX)) == packet


# --- unparsed protocols keep their raw bytes ---------------------------------------------------


def test_unknown_protocol_keeps_raw_payload() -> None:
    packet = Packet(IPv4Header(v4("1.2.3.4"), v4("5.6.7.8"), 47), None, b"\x00\x00\x08\x00gre")
    parsed = Packet.from_bytes(packet.to_bytes())
    assert parsed.transport is None
    assert parsed == packet


def test_ipv4_options_round_trip() -> None:
    # Router alert (RFC 2113): type 148, length 4, value 0.
    header = IPv4Header(v4("1.1.1.1"), v4("2.2.2.2"), 17, options=b"\x94\x04\x00\x00")
    packet = Packet(header, UDPHeader(1, 2), b"x")
    data = packet.to_bytes()
    assert data[0] == 0x46
    assert Packet.from_bytes(data) == packet


# --- the same packets, built by scapy ----------------------------------------------------------


@pytest.fixture(scope="module")
def scapy_all():  # type: ignore[no-untyped-def]
    return pytest.importorskip("scapy.all")


def test_syn_matches_scapy(scapy_all) -> None:  # type: ignore[no-untyped-def]
    s = scapy_all
    expected = s.raw(
        s.IP(src="192.168.1.1", dst="192.168.1.2", id=1, flags="DF")
        / s.TCP(
            sport=35076,
            dport=8080,
            seq=123,
            flags="S",
            window=65535,
            options=[
                ("MSS", 65495),
                ("SAckOK", b""),
                ("Timestamp", (1, 0)),
                ("NOP", None),
                ("WScale", 7),
            ],
        )
    )
    assert SYN_PACKET.to_bytes() == expected == bytes.fromhex(SYN_HEX)


def test_udp_icmp_and_extensions_match_scapy(scapy_all) -> None:  # type: ignore[no-untyped-def]
    s = scapy_all
    udp = s.IPv6(src="2001:db8::1", dst="2001:db8::2") / s.UDP(sport=1234, dport=53) / b"hello"
    assert s.raw(udp).hex() == V6_UDP_HEX
    pad = [s.PadN(optdata=b"\x00" * 4)]
    ext = (
        s.IPv6(src="2001:db8::1", dst="2001:db8::2")
        / s.IPv6ExtHdrHopByHop(options=pad)
        / s.IPv6ExtHdrDestOpt(options=pad)
        / s.UDP(sport=1234, dport=53)
        / b"hello"
    )
    assert s.raw(ext).hex() == V6_EXT_HEX
    icmp4 = (
        s.IP(src="10.0.0.1", dst="10.0.0.2", id=0x1234, flags="DF") / s.ICMP(id=1, seq=2) / b"ping"
    )
    assert s.raw(icmp4).hex() == ICMP4_HEX
    icmp6 = s.IPv6(src="::1", dst="::1") / s.ICMPv6EchoRequest(id=1, seq=2, data=b"ping")
    assert s.raw(icmp6).hex() == ICMP6_HEX


def test_sack_blocks_match_scapy(scapy_all) -> None:  # type: ignore[no-untyped-def]
    s = scapy_all
    options = TCPOptions(timestamps=(7, 8), sack_blocks=((100, 200), (300, 400)))
    packet = Packet(
        IPv4Header(v4("10.0.0.1"), v4("10.0.0.2"), 6),
        TCPHeader(1, 2, 3, 4, ACK, 5, options=options),
    )
    expected = s.IP(src="10.0.0.1", dst="10.0.0.2", id=0, flags="DF") / s.TCP(
        sport=1,
        dport=2,
        seq=3,
        ack=4,
        flags="A",
        window=5,
        options=[
            ("NOP", None),
            ("NOP", None),
            ("Timestamp", (7, 8)),
            ("NOP", None),
            ("NOP", None),
            ("SAck", (100, 200, 300, 400)),
        ],
    )
    assert packet.to_bytes() == s.raw(expected)
    assert Packet.from_bytes(s.raw(expected)) == packet
