"""Loopback: the same Packet object comes straight back to the NIC, in order, no bytes."""

from __future__ import annotations

import pytest

from usersock.link import LinkEndpoint, Loopback

from .fakes import FakeDispatcher, tcp4


def test_defaults() -> None:
    link = Loopback()
    assert isinstance(link, LinkEndpoint)
    assert link.mtu == 65536
    assert link.checksum_offload is True
    assert Loopback(mtu=1500).mtu == 1500


def test_rejects_tiny_mtu() -> None:
    with pytest.raises(ValueError):
        Loopback(mtu=20)


def test_delivers_the_identical_object_in_order() -> None:
    link = Loopback()
    nic = FakeDispatcher()
    link.attach(nic)
    packets = [tcp4(seq=i) for i in range(5)]
    for packet in packets:
        link.write_packet(packet)
    assert len(nic.arrivals) == 5
    assert all(got is sent for got, sent in zip(nic.arrivals, packets, strict=True))
    assert link.dropped == 0


def test_never_serialises(monkeypatch: pytest.MonkeyPatch) -> None:
    from usersock.wire.packet import Packet

    def boom(self: Packet) -> bytes:
        raise AssertionError("loopback serialised a packet")

    monkeypatch.setattr(Packet, "to_bytes", boom)
    link = Loopback()
    nic = FakeDispatcher()
    link.attach(nic)
    link.write_packet(tcp4())
    assert len(nic.arrivals) == 1


def test_detached_drops_silently_and_counts() -> None:
    link = Loopback()
    link.write_packet(tcp4())
    nic = FakeDispatcher()
    link.attach(nic)
    link.write_packet(tcp4())
    link.attach(None)
    link.write_packet(tcp4())
    assert link.dropped == 2
    assert len(nic.arrivals) == 1


def test_close_drops_later_writes() -> None:
    link = Loopback()
    nic = FakeDispatcher()
    link.attach(nic)
    link.close()
    link.write_packet(tcp4())
    link.write_bytes(b"\x45")
    assert nic.arrivals == []
    assert link.dropped == 2


def test_write_bytes_arrives_as_bytes_at_the_same_nic() -> None:
    link = Loopback()
    nic = FakeDispatcher()
    link.attach(nic)
    data = b"\x45\x00garbage"
    link.write_bytes(data)
    assert nic.arrivals == [data]
    assert nic.arrivals[0] is data
