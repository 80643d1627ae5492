"""Validation at the edge: every malformed input is refused with one stable reason tag, and
builders refuse out-of-range fields with ValueError. Table-driven: (name, bytes, reason)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from usersock.wire import (
    FIN,
    MALFORMED_REASONS,
    NO_OPTIONS,
    RST,
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
    build_icmpv4,
    build_icmpv6,
    build_ipv4,
    build_ipv6,
    build_options,
    build_tcp,
    build_udp,
    parse_icmpv4,
    parse_icmpv6,
    parse_ipv4,
    parse_ipv6,
    parse_options,
    parse_tcp,
    parse_udp,
)
from usersock.wire.checksum import checksum

A4 = b"\x0a\x00\x00\x01"
B4 = b"\x0a\x00\x00\x02"
A6 = b"\x20\x01\x0d\xb8" + b"\x00" * 11 + b"\x01"
B6 = b"\x20\x01\x0d\xb8" + b"\x00" * 11 + b"\x02"


def ipv4(
    first: int = 0x45, total: int | None = None, frag: int = 0x4000, opts: bytes = b""
) -> bytes:
    """An IPv4 header with a correct checksum and the given odd fields, plus 4 payload bytes."""
    ihl = (first & 0x0F) * 4
    total = ihl + 4 if total is None else total
    raw = bytearray(
        bytes((first, 0))
        + total.to_bytes(2, "big")
        + b"\x00\x00"
        + frag.to_bytes(2, "big")
        + b"\x40\x11\x00\x00"
        + A4
        + B4
        + opts
    )
    raw[10:12] = checksum(raw[: max(ihl, 20)]).to_bytes(2, "big")
    return bytes(raw) + b"abcd"


IPV4_CASES = [
    ("empty", b"", "truncated"),
    ("short", ipv4()[:19], "truncated"),
    ("version 5", ipv4(first=0x55), "bad-version"),
    ("ihl 4", ipv4(first=0x44), "bad-header-length"),
    ("ihl beyond buffer", ipv4(first=0x4F)[:24], "truncated"),
    ("total < ihl", ipv4(total=19), "bad-length"),
    ("total > buffer", ipv4(total=100), "truncated"),
    ("reserved flag", ipv4(frag=0x8000), "bad-flags"),
    ("more fragments", ipv4(frag=0x2000), "fragmented"),
    ("fragment offset", ipv4(frag=0x0001), "fragmented"),
    ("option without length", ipv4(first=0x46, opts=b"\x01\x01\x01\x07"), "bad-option"),
    ("option too long", ipv4(first=0x46, opts=b"\x07\x09\x00\x00"), "bad-option"),
    ("option length 1", ipv4(first=0x46, opts=b"\x07\x01\x00\x00"), "bad-option"),
    ("bad checksum", ipv4()[:10] + b"\x12\x34" + ipv4()[12:], "bad-checksum"),
]


def tcp(offset: int = 0x50, flags: int = 0x10, opts: bytes = b"") -> bytes:
    return (
        b"\x00\x01\x00\x02" + bytes(8) + bytes((offset, flags)) + b"\xff\xff\x00\x00\x00\x00" + opts
    )


TCP_CASES = [
    ("short", tcp()[:19], "truncated"),
    ("data offset 4", tcp(offset=0x40), "bad-header-length"),
    ("data offset beyond buffer", tcp(offset=0x60), "truncated"),
    ("syn fin", tcp(flags=SYN | FIN), "bad-flags"),
    ("syn rst", tcp(flags=SYN | RST), "bad-flags"),
    ("option without length", tcp(0x60, opts=b"\x01\x01\x01\x02"), "bad-option"),
    ("option length 0", tcp(0x60, opts=b"\x22\x00\x00\x00"), "bad-option"),
    ("option past header", tcp(0x60, opts=b"\x22\x05\x00\x00"), "bad-option"),
    ("mss length 3", tcp(0x60, opts=b"\x02\x03\x00\x00"), "bad-option"),
    ("wscale length 4", tcp(0x60, opts=b"\x03\x04\x00\x00"), "bad-option"),
    ("sackOK length 3", tcp(0x60, opts=b"\x04\x03\x00\x00"), "bad-option"),
    ("timestamps length 6", tcp(0x70, opts=b"\x08\x06\x00\x00\x00\x00\x00\x00"), "bad-option"),
    ("sack no blocks", tcp(0x60, opts=b"\x05\x02\x00\x00"), "bad-option"),
    ("sack partial block", tcp(0x80, opts=b"\x05\x0c" + bytes(10)), "bad-option"),
]

UDP_CASES = [
    ("short", b"\x00\x01\x00\x02\x00\x08\x00", "truncated"),
    ("length 7", b"\x00\x01\x00\x02\x00\x07\x00\x00", "bad-length"),
    ("length beyond buffer", b"\x00\x01\x00\x02\x00\x0a\x00\x00x", "truncated"),
]


def ipv6(next_header: int, ext: bytes) -> bytes:
    return (
        b"\x60\x00\x00\x00" + len(ext).to_bytes(2, "big") + bytes((next_header, 64)) + A6 + B6 + ext
    )


HBH_PAD = b"\x01\x04\x00\x00\x00\x00"  # PadN(4): fills an 8-byte option header
IPV6_CASES = [
    ("short", ipv6(59, b"")[:39], "truncated"),
    ("version 4", b"\x40" + ipv6(59, b"")[1:], "bad-version"),
    ("payload length beyond buffer", ipv6(59, b"abc")[:-1], "truncated"),
    ("fragment header", ipv6(44, b"\x11\x00\x00\x01\x00\x00\x00\x01"), "fragmented"),
    ("fragment after hop-by-hop", ipv6(0, b"\x2c\x00" + HBH_PAD + bytes(8)), "fragmented"),
    ("extension header truncated", ipv6(60, b"\x11\x00\x01\x04\x00"), "truncated"),
    ("extension length overruns", ipv6(60, b"\x11\x01" + HBH_PAD), "truncated"),
    (
        "hop-by-hop not first",
        ipv6(60, b"\x00\x00" + HBH_PAD + b"\x11\x00" + HBH_PAD),
        "bad-extension",
    ),
    ("chain too long", ipv6(60, (b"\x3c\x00" + HBH_PAD) * 9), "bad-extension"),
    ("routing with segments left", ipv6(43, b"\x11\x00\x00\x01\x00\x00\x00\x00"), "bad-extension"),
    ("option overruns", ipv6(60, b"\x11\x00\x01\x05\x00\x00\x00\x00"), "bad-option"),
    ("option without length", ipv6(60, b"\x11\x00\x00\x00\x00\x00\x00\x01"), "bad-option"),
    ("unknown option, discard", ipv6(60, b"\x11\x00\x42\x04\x00\x00\x00\x00"), "bad-option"),
    ("jumbo payload option", ipv6(0, b"\x11\x00\xc2\x04\x00\x01\x00\x00"), "bad-option"),
]

ICMP_CASES = [
    ("short", b"\x08\x00\x00\x00\x00\x00\x00", "truncated"),
    ("bad checksum", b"\x08\x00\x12\x34\x00\x00\x00\x00", "bad-checksum"),
]


def reason_of(parse: Callable[[], object]) -> str:
    with pytest.raises(MalformedPacket) as info:
        parse()
    assert info.value.reason in MALFORMED_REASONS
    return info.value.reason


@pytest.mark.parametrize(
    ("data", "reason"), [c[1:] for c in IPV4_CASES], ids=[c[0] for c in IPV4_CASES]
)
def test_ipv4_malformed(data: bytes, reason: str) -> None:
    assert reason_of(lambda: parse_ipv4(data)) == reason
    assert reason_of(lambda: Packet.from_bytes(data) if data else parse_ipv4(data)) == reason


def test_ipv4_good_header_from_helper_parses() -> None:
    header, payload = parse_ipv4(ipv4(first=0x46, opts=b"\x01\x00\x07\x01"))  # NOP, EOL, junk
    assert header.options == b"\x01\x00\x07\x01" and bytes(payload) == b"abcd"


@pytest.mark.parametrize(
    ("data", "reason"), [c[1:] for c in TCP_CASES], ids=[c[0] for c in TCP_CASES]
)
def test_tcp_malformed(data: bytes, reason: str) -> None:
    assert reason_of(lambda: parse_tcp(data)) == reason


def test_tcp_bad_checksum() -> None:
    segment = build_tcp(TCPHeader(1, 2, 3, 4, SYN, 5), b"data", A4, B4)
    parse_tcp(segment, A4, B4)
    parse_tcp(segment[:16] + b"\x00\x00" + segment[18:])  # no addresses: not verified
    assert reason_of(lambda: parse_tcp(segment[:-1] + b"x", A4, B4)) == "bad-checksum"
    assert reason_of(lambda: parse_tcp(segment, A4, A4)) == "bad-checksum"


def test_tcp_options_lenient_cases() -> None:
    # Unknown kinds with a valid length are skipped; EOL ends the list; wscale > 14 is 14.
    assert parse_options(b"\x22\x04\xaa\xbb\x02\x04\x05\xb4") == TCPOptions(mss=1460)
    assert parse_options(b"\x00\x02\x03") == NO_OPTIONS
    assert parse_options(b"\x01\x03\x03\x0f") == TCPOptions(wscale=14)
    assert parse_options(b"") == NO_OPTIONS


@pytest.mark.parametrize(
    ("data", "reason"), [c[1:] for c in UDP_CASES], ids=[c[0] for c in UDP_CASES]
)
def test_udp_malformed(data: bytes, reason: str) -> None:
    assert reason_of(lambda: parse_udp(data)) == reason


def test_udp_checksum_rules() -> None:
    datagram = build_udp(UDPHeader(1, 2), b"data", A4, B4)
    no_checksum = datagram[:6] + b"\x00\x00" + datagram[8:]
    parse_udp(no_checksum, A4, B4)  # RFC 768: zero means none over IPv4
    assert reason_of(lambda: parse_udp(no_checksum, A6, B6)) == "bad-checksum"  # RFC 8200 8.1
    assert reason_of(lambda: parse_udp(datagram[:-1] + b"x", A4, B4)) == "bad-checksum"


def test_udp_zero_checksum_is_sent_as_ffff() -> None:
    # Pick a payload whose checksum computes to 0: it must go out as 0xFFFF (RFC 768).
    datagram = build_udp(UDPHeader(0, 0), b"\x00\x00", A4, B4)
    csum = int.from_bytes(datagram[6:8], "big")
    fixup = csum.to_bytes(2, "big")  # adding the old checksum value drives the sum to 0xFFFF
    zeroed = build_udp(UDPHeader(0, 0), fixup, A4, B4)
    assert zeroed[6:8] == b"\xff\xff"
    parse_udp(zeroed, A4, B4)


@pytest.mark.parametrize(
    ("data", "reason"), [c[1:] for c in IPV6_CASES], ids=[c[0] for c in IPV6_CASES]
)
def test_ipv6_malformed(data: bytes, reason: str) -> None:
    assert reason_of(lambda: parse_ipv6(data)) == reason
    if data[0] >> 4 == 6:
        assert reason_of(lambda: Packet.from_bytes(data)) == reason


def test_ipv6_skippable_options_pass() -> None:
    # Pad1 then router alert (RFC 2711); an unknown option whose high bits are 00 is skipped.
    header, payload = parse_ipv6(ipv6(0, b"\x3b\x00\x00\x05\x02\x00\x00\x00"))
    assert header.next_header == 59 and bytes(payload) == b""
    header, _ = parse_ipv6(ipv6(60, b"\x3b\x00\x1e\x02\x00\x00\x00\x00"))
    assert header.next_header == 59


@pytest.mark.parametrize(
    ("data", "reason"), [c[1:] for c in ICMP_CASES], ids=[c[0] for c in ICMP_CASES]
)
def test_icmp_malformed(data: bytes, reason: str) -> None:
    assert reason_of(lambda: parse_icmpv4(data)) == reason
    assert reason_of(lambda: parse_icmpv6(data, A6, B6)) == reason


def test_from_bytes_bad_version() -> None:
    assert reason_of(lambda: Packet.from_bytes(b"\x50" + bytes(39))) == "bad-version"
    assert reason_of(lambda: Packet.from_bytes(b"")) == "truncated"


def test_from_bytes_checks_transport_checksums() -> None:
    good = Packet(IPv4Header(A4, B4, 17), UDPHeader(1, 2), b"hi").to_bytes()
    bad = good[:-1] + b"x"
    assert reason_of(lambda: Packet.from_bytes(bad)) == "bad-checksum"


# --- builders -------------------------------------------------------------------------------

BAD_BUILDS: list[tuple[str, Callable[[], object]]] = [
    ("ipv4 short address", lambda: build_ipv4(IPv4Header(b"\x01", B4, 6), 0)),
    ("ipv4 protocol 256", lambda: build_ipv4(IPv4Header(A4, B4, 256), 0)),
    ("ipv4 ttl -1", lambda: build_ipv4(IPv4Header(A4, B4, 6, ttl=-1), 0)),
    ("ipv4 ident 65536", lambda: build_ipv4(IPv4Header(A4, B4, 6, ident=65536), 0)),
    ("ipv4 offset 8192", lambda: build_ipv4(IPv4Header(A4, B4, 6, fragment_offset=8192), 0)),
    ("ipv4 options 3 bytes", lambda: build_ipv4(IPv4Header(A4, B4, 6, options=b"\x01\x01\x01"), 0)),
    ("ipv4 options 44 bytes", lambda: build_ipv4(IPv4Header(A4, B4, 6, options=b"\x01" * 44), 0)),
    (
        "ipv4 options framing",
        lambda: build_ipv4(IPv4Header(A4, B4, 6, options=b"\x07\x09\x00\x00"), 0),
    ),
    ("ipv4 too long", lambda: build_ipv4(IPv4Header(A4, B4, 6), 65516)),
    ("ipv4 negative payload", lambda: build_ipv4(IPv4Header(A4, B4, 6), -1)),
    ("ipv6 short address", lambda: build_ipv6(IPv6Header(A4, B6, 6), 0)),
    ("ipv6 flow label", lambda: build_ipv6(IPv6Header(A6, B6, 6, flow_label=1 << 20), 0)),
    ("ipv6 traffic class", lambda: build_ipv6(IPv6Header(A6, B6, 6, traffic_class=256), 0)),
    ("ipv6 too long", lambda: build_ipv6(IPv6Header(A6, B6, 6), 65536)),
    ("tcp port", lambda: build_tcp(TCPHeader(65536, 1, 0, 0, 0, 0))),
    ("tcp seq", lambda: build_tcp(TCPHeader(1, 1, 1 << 32, 0, 0, 0))),
    ("tcp ack negative", lambda: build_tcp(TCPHeader(1, 1, 0, -1, 0, 0))),
    ("tcp flags", lambda: build_tcp(TCPHeader(1, 1, 0, 0, 256, 0))),
    ("tcp window", lambda: build_tcp(TCPHeader(1, 1, 0, 0, 0, 65536))),
    ("tcp mss", lambda: build_options(TCPOptions(mss=65536))),
    ("tcp wscale 15", lambda: build_options(TCPOptions(wscale=15))),
    ("tcp timestamp", lambda: build_options(TCPOptions(timestamps=(1 << 32, 0)))),
    ("tcp sack edge", lambda: build_options(TCPOptions(sack_blocks=((0, -1),)))),
    (
        "tcp options > 40",
        lambda: build_options(TCPOptions(timestamps=(1, 2), sack_blocks=((1, 2),) * 4)),
    ),
    ("tcp bad address", lambda: build_tcp(TCPHeader(1, 1, 0, 0, 0, 0), b"", A4, B6)),
    ("udp port", lambda: build_udp(UDPHeader(-1, 1))),
    ("udp too long", lambda: build_udp(UDPHeader(1, 1), bytes(65528))),
    ("icmp rest", lambda: build_icmpv4(ICMPv4Header(8, 0, b"\x00"))),
    ("icmp type", lambda: build_icmpv4(ICMPv4Header(256, 0))),
    ("icmpv6 v4 address", lambda: build_icmpv6(ICMPv6Header(128, 0), b"", A4, B4)),
    (
        "packet tcp as udp",
        lambda: Packet(IPv4Header(A4, B4, 17), TCPHeader(1, 1, 0, 0, 0, 0)).to_bytes(),
    ),
    ("packet icmpv4 in v6", lambda: Packet(IPv6Header(A6, B6, 1), ICMPv4Header(8, 0)).to_bytes()),
    (
        "packet icmpv6 in v4",
        lambda: Packet(IPv4Header(A4, B4, 58), ICMPv6Header(128, 0)).to_bytes(),
    ),
]


@pytest.mark.parametrize("build", [c[1] for c in BAD_BUILDS], ids=[c[0] for c in BAD_BUILDS])
def test_builders_raise_value_error(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError) as info:
        build()
    assert not isinstance(info.value, MalformedPacket)


def test_builders_accept_the_extremes() -> None:
    build_tcp(TCPHeader(65535, 0, (1 << 32) - 1, (1 << 32) - 1, 255, 65535, 65535))
    build_options(TCPOptions(sack_blocks=((0, (1 << 32) - 1),) * 4))
    build_options(TCPOptions(timestamps=(1, 2), sack_blocks=((1, 2),) * 3))
    build_options(TCPOptions(1460, 14, True, (1, 2), ((1, 2),) * 2))
    build_ipv4(IPv4Header(A4, B4, 255, 255, 255, 65535, options=b"\x01" * 40), 65535 - 60)
    build_ipv6(IPv6Header(A6, B6, 255, 255, 255, 0xFFFFF), 65535)
    build_udp(UDPHeader(65535, 65535), bytes(65527))
