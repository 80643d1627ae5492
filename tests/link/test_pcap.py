"""PcapWriter: classic libpcap, LINKTYPE_RAW, readable by scapy with correct checksums."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.packet import Packet as ScapyPacket
from scapy.utils import PcapReader, rdpcap

from usersock.link import LINKTYPE_RAW, PcapWriter
from usersock.wire.icmp import ICMPV4_ECHO_REQUEST, PROTO_ICMP, ICMPv4Header
from usersock.wire.ipv4 import IPv4Header
from usersock.wire.packet import Packet

from .fakes import V4_A, V4_B, sample_packets, syn4, tcp4

EPOCH = 1_700_000_000.0
CHECKSUM_FIELDS = ("chksum", "cksum")  # scapy's ICMPv6 layers say cksum


def icmp4_echo() -> Packet:
    return Packet(
        IPv4Header(V4_A, V4_B, PROTO_ICMP), ICMPv4Header(ICMPV4_ECHO_REQUEST, 0, b"\0\1\0\2"), b"hi"
    )


def checksum_positions(pkt: ScapyPacket) -> list[int]:
    """Indexes of the layers of *pkt* that carry a checksum field."""
    return [
        i
        for i, layer in enumerate(pkt.iterpayloads())
        if any(field.name in CHECKSUM_FIELDS for field in layer.fields_desc)
    ]


def checksum_field(layer: ScapyPacket) -> str:
    return next(f.name for f in layer.fields_desc if f.name in CHECKSUM_FIELDS)


def assert_checksums_correct(pkt: ScapyPacket) -> None:
    """Delete every checksum field, let scapy rebuild them, compare with what was written."""
    positions = checksum_positions(pkt)
    assert positions, pkt.summary()
    rebuilt: ScapyPacket = pkt.copy()
    layers = list(rebuilt.iterpayloads())
    for i in positions:
        delattr(layers[i], checksum_field(layers[i]))
    rebuilt = rebuilt.__class__(bytes(rebuilt))
    original = list(pkt.iterpayloads())
    for i, layer in enumerate(rebuilt.iterpayloads()):
        if i in positions:
            name = checksum_field(layer)
            assert getattr(layer, name) == getattr(original[i], name), (layer.name, pkt.summary())


def test_global_header_bytes() -> None:
    buf = io.BytesIO()
    PcapWriter(buf, snaplen=1000)
    assert buf.getvalue() == struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 1000, 101)
    assert LINKTYPE_RAW == 101


def test_record_header_and_timestamps_from_the_stack_clock() -> None:
    buf = io.BytesIO()
    writer = PcapWriter(buf, epoch=EPOCH)
    writer.write(b"\x45" + b"\0" * 19, now=10.0)
    writer.write(b"\x60" + b"\0" * 39, now=12.25)
    writer.write(b"\x45" + b"\0" * 19, now=12.9999996)  # rounds up to the next second
    raw = buf.getvalue()[24:]
    records = []
    while raw:
        sec, usec, incl, orig = struct.unpack("<IIII", raw[:16])
        records.append((sec, usec, incl, orig))
        raw = raw[16 + incl :]
    assert records == [
        (1_700_000_000, 0, 20, 20),
        (1_700_000_002, 250_000, 40, 40),
        (1_700_000_003, 0, 20, 20),
    ]
    assert writer.packets == 3


def test_default_epoch_maps_the_first_packet_to_wall_time() -> None:
    import time

    writer = PcapWriter(io.BytesIO())
    before = time.time()
    stamp = writer.wall_time(5.0)
    after = time.time()
    assert before <= stamp <= after
    assert writer.wall_time(7.5) == pytest.approx(stamp + 2.5)


def test_snaplen_truncates_but_keeps_original_length() -> None:
    buf = io.BytesIO()
    writer = PcapWriter(buf, snaplen=30, epoch=EPOCH)
    writer.write(bytes(100), now=0.0)
    record = buf.getvalue()[24:]
    assert struct.unpack("<IIII", record[:16])[2:] == (30, 100)
    assert len(record) == 16 + 30


def test_rejects_bad_snaplen() -> None:
    with pytest.raises(ValueError):
        PcapWriter(io.BytesIO(), snaplen=0)


def test_path_is_opened_and_closed(tmp_path: Path) -> None:
    path = tmp_path / "out.pcap"
    with PcapWriter(path, epoch=EPOCH) as writer:
        writer.write(syn4().to_bytes(), now=0.0)
    assert writer.closed
    assert len(rdpcap(str(path))) == 1
    writer.close()  # idempotent


def test_file_object_is_flushed_not_closed() -> None:
    buf = io.BytesIO()
    with PcapWriter(buf) as writer:
        writer.write(syn4().to_bytes(), now=0.0)
    assert not buf.closed


def test_write_after_close_raises() -> None:
    writer = PcapWriter(io.BytesIO())
    writer.close()
    with pytest.raises(ValueError):
        writer.write(b"\x45", now=0.0)
    with pytest.raises(ValueError):
        writer.flush()


def test_scapy_reads_every_kind_with_correct_checksums(tmp_path: Path) -> None:
    path = tmp_path / "kinds.pcap"
    packets = [*sample_packets(), icmp4_echo()]
    with PcapWriter(str(path), epoch=EPOCH) as writer:
        for i, packet in enumerate(packets):
            writer.write(packet.to_bytes(), now=100.0 + i * 0.5)
    read = rdpcap(str(path))
    assert len(read) == len(packets)
    for i, (pkt, packet) in enumerate(zip(read, packets, strict=True)):
        assert float(pkt.time) == pytest.approx(EPOCH + i * 0.5, abs=1e-6)
        assert bytes(pkt) == packet.to_bytes()
        assert_checksums_correct(pkt)


def test_scapy_sees_the_header_fields(tmp_path: Path) -> None:
    path = tmp_path / "fields.pcap"
    packet = tcp4(seq=123456, payload=b"GET / HTTP/1.0\r\n\r\n", src_port=40001, dst_port=8080)
    with PcapWriter(path, epoch=EPOCH) as writer:
        writer.write(packet.to_bytes(), now=0.0)
    with PcapReader(str(path)) as reader:
        assert reader.linktype == LINKTYPE_RAW
        (pkt,) = list(reader)
    assert pkt[IP].src == "192.168.1.1" and pkt[IP].dst == "192.168.1.2"
    assert pkt[IP].ttl == 64 and pkt[IP].proto == 6 and pkt[IP].flags.DF
    assert pkt[TCP].sport == 40001 and pkt[TCP].dport == 8080
    assert pkt[TCP].seq == 123456 and pkt[TCP].flags == "A"
    assert bytes(pkt[TCP].payload) == b"GET / HTTP/1.0\r\n\r\n"
    assert not pkt.haslayer(IPv6)


def test_concurrent_writers_produce_whole_records() -> None:
    import threading

    buf = io.BytesIO()
    writer = PcapWriter(buf, epoch=EPOCH)
    data = [tcp4(seq=i, payload=bytes(50)).to_bytes() for i in range(200)]

    def write_all(chunk: list[bytes]) -> None:
        for d in chunk:
            writer.write(d, 1.0)

    threads = [threading.Thread(target=write_all, args=(data[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    buf.seek(0)
    # scapy's PcapReader takes a file object too (its metaclass); its __init__ says str.
    assert sorted(bytes(p) for p in PcapReader(buf)) == sorted(data)  # type: ignore[arg-type]
