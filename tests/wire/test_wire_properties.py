"""Property tests: every header round-trips (build -> parse gives the same header and
payload), and arbitrary or mutated bytes either parse or raise MalformedPacket, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from usersock.wire import (
    FIN,
    MALFORMED_REASONS,
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
    TransportHeader,
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

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
addr4 = st.binary(min_size=4, max_size=4)
addr6 = st.binary(min_size=16, max_size=16)
payloads = st.binary(max_size=200)
EXTENSION_HEADERS = {0, 43, 44, 60}

# --- strategies ---------------------------------------------------------------------------


def _ipv4_option_bytes(items: list[bytes], eol: bool) -> bytes:
    raw = b"".join(items) + (b"\x00" if eol else b"")
    return raw + b"\x00" * (-len(raw) % 4)


ipv4_option = st.just(b"\x01") | st.builds(
    lambda kind, data: bytes((kind, len(data) + 2)) + data,
    st.integers(2, 255),
    st.binary(max_size=6),
)
ipv4_options = st.builds(
    _ipv4_option_bytes, st.lists(ipv4_option, max_size=5), st.booleans()
).filter(lambda raw: len(raw) <= 40)
ipv4_headers = st.builds(
    IPv4Header,
    addr4,
    addr4,
    u8,
    u8,
    u8,
    u16,
    st.booleans(),
    st.just(False),
    st.just(0),
    ipv4_options,
)
ipv6_headers = st.builds(
    IPv6Header,
    addr6,
    addr6,
    u8.filter(lambda nh: nh not in EXTENSION_HEADERS),
    u8,
    u8,
    st.integers(0, 0xFFFFF),
)


def _fits(options: TCPOptions) -> bool:
    try:
        build_options(options)
    except ValueError:
        return False
    return True


tcp_options = st.builds(
    TCPOptions,
    st.none() | u16,
    st.none() | st.integers(0, 14),
    st.booleans(),
    st.none() | st.tuples(u32, u32),
    st.lists(st.tuples(u32, u32), max_size=4).map(tuple),
).filter(_fits)
tcp_flags = u8.filter(lambda f: not (f & SYN and f & (FIN | RST)))
tcp_headers = st.builds(TCPHeader, u16, u16, u32, u32, tcp_flags, u16, u16, tcp_options)
udp_headers = st.builds(UDPHeader, u16, u16)
rest = st.binary(min_size=4, max_size=4)
icmpv4_headers = st.builds(ICMPv4Header, u8, u8, rest)
icmpv6_headers = st.builds(ICMPv6Header, u8, u8, rest)


@st.composite
def packets(draw: st.DrawFn) -> Packet:
    version = draw(st.sampled_from((4, 6)))
    kind = draw(st.sampled_from(("tcp", "udp", "icmp", "raw")))
    transport: TransportHeader | None
    if kind == "tcp":
        transport, proto = draw(tcp_headers), 6
    elif kind == "udp":
        transport, proto = draw(udp_headers), 17
    elif kind == "icmp" and version == 4:
        transport, proto = draw(icmpv4_headers), 1
    elif kind == "icmp":
        transport, proto = draw(icmpv6_headers), 58
    else:
        parsed = {1, 6, 17} if version == 4 else {6, 17, 58} | EXTENSION_HEADERS
        transport, proto = None, draw(u8.filter(lambda p: p not in parsed))
    payload = draw(payloads)
    if version == 4:
        net: IPv4Header | IPv6Header = draw(ipv4_headers)
        assert isinstance(net, IPv4Header)
        net.protocol = proto
    else:
        net = draw(ipv6_headers)
        assert isinstance(net, IPv6Header)
        net.next_header = proto
    return Packet(net, transport, payload)


# --- round trips --------------------------------------------------------------------------


@given(ipv4_headers, payloads)
def test_ipv4_round_trip(header: IPv4Header, payload: bytes) -> None:
    parsed, body = parse_ipv4(build_ipv4(header, len(payload)) + payload)
    assert parsed == header and body == payload


@given(ipv6_headers, payloads)
def test_ipv6_round_trip(header: IPv6Header, payload: bytes) -> None:
    parsed, body = parse_ipv6(build_ipv6(header, len(payload)) + payload)
    assert parsed == header and body == payload


@given(tcp_options)
def test_tcp_options_round_trip(options: TCPOptions) -> None:
    raw = build_options(options)
    assert len(raw) % 4 == 0 and len(raw) <= 40
    assert parse_options(raw) == options


@given(tcp_headers, payloads, st.sampled_from(((None, None), (b"\x01" * 4, b"\x02" * 4))))
def test_tcp_round_trip(header: TCPHeader, payload: bytes, addrs: tuple[bytes, bytes]) -> None:
    src, dst = addrs
    parsed, body = parse_tcp(build_tcp(header, payload, src, dst), src, dst)
    assert parsed == header and body == payload


@given(udp_headers, payloads, st.sampled_from((addr4, addr6)).flatmap(lambda a: st.tuples(a, a)))
def test_udp_round_trip(header: UDPHeader, payload: bytes, addrs: tuple[bytes, bytes]) -> None:
    parsed, body = parse_udp(build_udp(header, payload, *addrs), *addrs)
    assert parsed == header and body == payload


@given(icmpv4_headers, payloads)
def test_icmpv4_round_trip(header: ICMPv4Header, payload: bytes) -> None:
    parsed, body = parse_icmpv4(build_icmpv4(header, payload))
    assert parsed == header and body == payload


@given(icmpv6_headers, payloads, addr6, addr6)
def test_icmpv6_round_trip(header: ICMPv6Header, payload: bytes, src: bytes, dst: bytes) -> None:
    parsed, body = parse_icmpv6(build_icmpv6(header, payload, src, dst), src, dst)
    assert parsed == header and body == payload


@given(packets())
def test_packet_round_trip(packet: Packet) -> None:
    data = packet.to_bytes()
    parsed = Packet.from_bytes(data)
    assert parsed == packet
    assert parsed.to_bytes() == data
    assert isinstance(parsed.describe(), str)


@given(packets(), st.sampled_from((bytes, bytearray, memoryview)))
def test_packet_payload_of_any_buffer_type(packet: Packet, kind: type) -> None:
    expected = packet.to_bytes()
    packet.payload = kind(packet.payload)
    assert packet.to_bytes() == expected


# --- fuzz: parse or MalformedPacket, nothing else -------------------------------------------


def parses_or_malformed(parse: Callable[[], object]) -> bool:
    try:
        parse()
    except MalformedPacket as exc:
        assert exc.reason in MALFORMED_REASONS
        return False
    return True


@given(st.binary(max_size=120))
def test_random_bytes(data: bytes) -> None:
    parses_or_malformed(lambda: Packet.from_bytes(data))
    parses_or_malformed(lambda: parse_ipv4(data))
    parses_or_malformed(lambda: parse_ipv6(data))
    parses_or_malformed(lambda: parse_tcp(data))
    parses_or_malformed(lambda: parse_tcp(data, b"\x01" * 16, b"\x02" * 16))
    parses_or_malformed(lambda: parse_udp(data, b"\x01" * 4, b"\x02" * 4))
    parses_or_malformed(lambda: parse_icmpv4(data))
    parses_or_malformed(lambda: parse_icmpv6(data, b"\x01" * 16, b"\x02" * 16))
    parses_or_malformed(lambda: parse_options(data[:40]))


@given(st.sampled_from((0x45, 0x46, 0x4F, 0x60)), st.binary(max_size=100))
def test_random_bytes_behind_a_plausible_first_byte(first: int, rest: bytes) -> None:
    parses_or_malformed(lambda: Packet.from_bytes(bytes((first,)) + rest))


@given(st.sampled_from((0, 43, 44, 60, 6, 17, 58, 59)), st.binary(max_size=120), st.data())
def test_random_ipv6_extension_chains(next_header: int, body: bytes, data: st.DataObject) -> None:
    # Make the chain walker see plausible next-header values more often than chance would.
    chain = bytearray(body)
    for i in range(0, len(chain), 8):
        chain[i] = data.draw(st.sampled_from((0, 43, 44, 60, 6, 17, 58, 59)))
    header = build_ipv6(IPv6Header(b"\x01" * 16, b"\x02" * 16, next_header), len(chain))
    parses_or_malformed(lambda: Packet.from_bytes(header + bytes(chain)))


@given(packets(), st.data())
def test_single_bit_flips(packet: Packet, data: st.DataObject) -> None:
    raw = bytearray(packet.to_bytes())
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit >> 3] ^= 0x80 >> (bit & 7)
    parses_or_malformed(lambda: Packet.from_bytes(bytes(raw)))


@given(packets(), st.data())
def test_truncations_and_overwrites(packet: Packet, data: st.DataObject) -> None:
    raw = packet.to_bytes()
    cut = data.draw(st.integers(0, len(raw)))
    parses_or_malformed(lambda: Packet.from_bytes(raw[:cut]))
    junk = data.draw(st.binary(min_size=1, max_size=8))
    where = data.draw(st.integers(0, len(raw) - 1))
    mutated = raw[:where] + junk + raw[where + len(junk) :]
    parses_or_malformed(lambda: Packet.from_bytes(mutated))


@given(packets())
def test_checksummed_packets_detect_payload_corruption(packet: Packet) -> None:
    # Any single flipped payload bit is caught when a transport checksum covers it.
    if packet.transport is None or not packet.payload:
        return
    raw = bytearray(packet.to_bytes())
    raw[-1] ^= 0x01
    assert not parses_or_malformed(lambda: Packet.from_bytes(bytes(raw)))
