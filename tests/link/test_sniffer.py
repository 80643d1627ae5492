"""Sniffer: one log line per packet each way, pcap capture, nothing spent when disabled."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from unittest import mock

import pytest
from scapy.utils import rdpcap

from usersock.link import Channel, Faults, Loopback, PcapWriter, Sniffer
from usersock.wire.packet import Packet
from usersock.wire.tcp import ACK, SYN

from .fakes import FakeDispatcher, RecordingLink, syn4, tcp4, udp6
from .test_pcap import EPOCH, assert_checksums_correct

LOGGER = "usersock.test.sniffer"


def sniffed(inner: Loopback | Channel | Faults, **kwargs: object) -> tuple[Sniffer, FakeDispatcher]:
    sniffer = Sniffer(inner, logging.getLogger(LOGGER), **kwargs)  # type: ignore[arg-type]
    nic = FakeDispatcher()
    sniffer.attach(nic)
    return sniffer, nic


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_mirrors_the_inner_link() -> None:
    assert Sniffer(Loopback(mtu=9000)).mtu == 9000
    assert Sniffer(Loopback()).checksum_offload is True
    assert Sniffer(Channel()).checksum_offload is False
    assert Sniffer(Channel()).logger.name == "usersock.link.sniffer"


def test_flags_show_in_the_description() -> None:
    assert syn4().describe() != tcp4(seq=1, flags=SYN | ACK).describe()


def test_send_and_recv_on_a_channel_one_line_each(caplog: pytest.LogCaptureFixture) -> None:
    channel = Channel()
    sniffer, nic = sniffed(channel)
    caplog.set_level(logging.INFO, logger=LOGGER)
    out, back = syn4(), tcp4(seq=9, flags=SYN | ACK)
    sniffer.write_packet(out)
    channel.inject_packet(back)
    assert messages(caplog) == [f"send {out.describe()}", f"recv {back.describe()}"]
    assert channel.read() == out.to_bytes()
    assert nic.raw == [back.to_bytes()]


def test_loopback_packet_logs_send_and_recv(caplog: pytest.LogCaptureFixture) -> None:
    sniffer, nic = sniffed(Loopback())
    caplog.set_level(logging.INFO, logger=LOGGER)
    packet = udp6()
    sniffer.write_packet(packet)
    assert messages(caplog) == [f"send {packet.describe()}", f"recv {packet.describe()}"]
    assert nic.arrivals[0] is packet


def test_malformed_inbound_bytes_are_logged_and_still_delivered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = Channel()
    _, nic = sniffed(channel)
    caplog.set_level(logging.INFO, logger=LOGGER)
    channel.inject(b"\x45\x00\x00")
    (line,) = messages(caplog)
    assert line.startswith("recv malformed 3 bytes")
    assert nic.raw == [b"\x45\x00\x00"]


def test_logs_at_the_configured_level(caplog: pytest.LogCaptureFixture) -> None:
    sniffer, _ = sniffed(Loopback(), level=logging.DEBUG)
    caplog.set_level(logging.INFO, logger=LOGGER)
    sniffer.write_packet(tcp4())
    assert messages(caplog) == []
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    sniffer.write_packet(tcp4())
    assert [r.levelno for r in caplog.records if r.name == LOGGER] == [logging.DEBUG] * 2


def test_disabled_logger_never_describes_or_parses(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    describe = mock.Mock(return_value="x")
    from_bytes = mock.Mock()
    monkeypatch.setattr(Packet, "describe", describe)
    monkeypatch.setattr(Packet, "from_bytes", from_bytes)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    channel = Channel()
    sniffer, nic = sniffed(channel)
    loop_sniffer, _ = sniffed(Loopback())
    sniffer.write_packet(tcp4())
    loop_sniffer.write_packet(tcp4())
    channel.inject(b"\x45\x00\x00")
    describe.assert_not_called()
    from_bytes.assert_not_called()
    assert messages(caplog) == []
    assert nic.raw == [b"\x45\x00\x00"]


def test_pcap_captures_both_directions_of_a_channel(tmp_path: Path) -> None:
    path = tmp_path / "channel.pcap"
    channel = Channel()
    with PcapWriter(path, epoch=EPOCH) as pcap:
        sniffer, nic = sniffed(channel, pcap=pcap)
        nic.time = 3.0
        sniffer.write_packet(syn4())
        nic.time = 3.5
        channel.inject_packet(tcp4(seq=7, flags=SYN | ACK))
        channel.inject(b"\x45\x00\x00")  # captured as received
    read = rdpcap(str(path))
    assert [bytes(p) for p in read] == [
        syn4().to_bytes(),
        tcp4(seq=7, flags=SYN | ACK).to_bytes(),
        b"\x45\x00\x00",
    ]
    assert [float(p.time) for p in read] == pytest.approx([EPOCH, EPOCH + 0.5, EPOCH + 0.5])
    for pkt in read[:2]:
        assert_checksums_correct(pkt)


def test_pcap_of_a_checksum_offload_loopback_has_correct_checksums_once(tmp_path: Path) -> None:
    path = tmp_path / "lo.pcap"
    with PcapWriter(path, epoch=EPOCH) as pcap:
        sniffer, nic = sniffed(Loopback(), pcap=pcap)
        for packet in (syn4(), tcp4(payload=b"data"), udp6()):
            sniffer.write_packet(packet)
    read = rdpcap(str(path))
    assert len(read) == 3  # one record per packet, as tcpdump -i lo
    assert len(nic.arrivals) == 3
    for pkt in read:
        assert_checksums_correct(pkt)


def test_pcap_keeps_loopback_duplicates_made_by_faults(tmp_path: Path) -> None:
    buf = io.BytesIO()
    pcap = PcapWriter(buf, epoch=EPOCH)
    sniffer, nic = sniffed(Faults(Loopback(), duplicate=1.0), pcap=pcap)
    sniffer.write_packet(tcp4())
    assert len(nic.arrivals) == 2
    assert pcap.packets == 2  # the original and the duplicate on the wire


def test_corrupted_loopback_bytes_show_as_malformed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pcap = PcapWriter(io.BytesIO(), epoch=EPOCH)
    sniffer, nic = sniffed(Faults(Loopback(), corrupt=1.0), pcap=pcap)
    caplog.set_level(logging.INFO, logger=LOGGER)
    packet = tcp4(payload=b"abc")
    sniffer.write_packet(packet)
    send, recv = messages(caplog)
    assert send == f"send {packet.describe()}"
    assert recv.startswith("recv malformed ")
    assert len(nic.raw) == 1
    assert pcap.packets == 2  # what was sent, and the corrupted bytes that arrived


def test_write_bytes_through_a_sniffer(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    pcap = PcapWriter(io.BytesIO(), epoch=EPOCH)
    sniffer, nic = sniffed(Loopback(), pcap=pcap)
    sniffer.write_bytes(b"\x45junk")
    assert nic.raw == [b"\x45junk"]
    assert pcap.packets == 1
    assert [m.split(" ", 1)[0] for m in messages(caplog)] == ["send", "recv"]

    plain = Sniffer(RecordingLink())
    plain.attach(FakeDispatcher())
    plain.write_bytes(b"\x45junk")  # no write_bytes below, does not parse: dropped
    plain.write_bytes(syn4().to_bytes())  # parses: written as a packet
    assert [p.transport for p in plain.inner.written] == [syn4().transport]  # type: ignore[attr-defined]


def test_attach_and_close() -> None:
    inner = Channel()
    pcap = PcapWriter(io.BytesIO())
    sniffer, nic = sniffed(inner, pcap=pcap)
    assert sniffer.dispatcher is nic
    assert inner.dispatcher is not None and inner.dispatcher is not nic
    assert inner.dispatcher.now() == nic.now()
    sniffer.attach(None)
    assert inner.dispatcher is None
    sniffer.attach(nic)
    sniffer.close()
    assert sniffer.dispatcher is None and inner.dispatcher is None
    assert not pcap.closed
    sniffer.write_packet(tcp4())  # detached: nothing logged or captured, inner drops
    assert pcap.packets == 0
    assert inner.dropped == 1


def test_call_later_passes_through() -> None:
    sniffer, nic = sniffed(Faults(Loopback(), delay=0.5))
    sniffer.write_packet(tcp4())
    assert nic.arrivals == []
    nic.advance(0.5)
    assert len(nic.arrivals) == 1
