"""Channel: the stack's packets queue as bytes for the test; the test injects bytes back."""

from __future__ import annotations

import threading
import time

import pytest

from usersock.link import Channel
from usersock.wire.errors import MalformedPacket
from usersock.wire.packet import Packet

from .fakes import FakeDispatcher, sample_packets, syn4, tcp4, udp4


def attached(**kwargs: int) -> tuple[Channel, FakeDispatcher]:
    link = Channel(**kwargs)
    nic = FakeDispatcher()
    link.attach(nic)
    return link, nic


def wait_until_blocked(link: Channel, readers: int = 1) -> None:
    """Wait (bounded) until *readers* threads are waiting on the channel's condition."""
    deadline = time.monotonic() + 5
    while len(link._cond._waiters) < readers:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "reader never blocked"
        threading.Event().wait(0.001)


def test_defaults() -> None:
    link = Channel()
    assert link.mtu == 1500
    assert link.checksum_offload is False
    assert link.pending == 0


@pytest.mark.parametrize("kwargs", [{"mtu": 10}, {"limit": 0}])
def test_rejects_bad_arguments(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Channel(**kwargs)


def test_write_queues_serialised_bytes_in_order() -> None:
    link, nic = attached()
    packets = sample_packets()
    for packet in packets:
        link.write_packet(packet)
    assert link.pending == len(packets)
    for packet in packets:
        assert link.read(timeout=0) == packet.to_bytes()
    assert link.pending == 0
    assert nic.arrivals == []  # nothing loops back


def test_read_packet_parses_what_was_sent() -> None:
    link, _ = attached()
    sent = syn4()
    link.write_packet(sent)
    got = link.read_packet(timeout=0)
    assert got is not None
    assert got.net == sent.net
    assert got.transport == sent.transport
    assert bytes(got.payload) == bytes(sent.payload)


def test_read_packet_raises_on_malformed_bytes() -> None:
    link, _ = attached()
    link.write_bytes(b"\x45\x00\x00")
    with pytest.raises(MalformedPacket):
        link.read_packet(timeout=0)


def test_nonblocking_read_on_empty_returns_none_at_once() -> None:
    link, _ = attached()
    start = time.monotonic()
    assert link.read(timeout=0) is None
    assert link.read_packet(timeout=0) is None
    assert time.monotonic() - start < 0.5


def test_read_times_out_with_none() -> None:
    link, _ = attached()
    start = time.monotonic()
    assert link.read(timeout=0.05) is None
    assert time.monotonic() - start >= 0.04


def test_drain_takes_everything_oldest_first() -> None:
    link, _ = attached()
    packets = [tcp4(seq=i) for i in range(3)]
    for packet in packets:
        link.write_packet(packet)
    assert link.drain() == [p.to_bytes() for p in packets]
    assert link.drain() == []
    assert link.pending == 0


def test_inject_hands_bytes_to_the_dispatcher() -> None:
    link, nic = attached()
    data = udp4().to_bytes()
    link.inject(data)
    link.inject(b"not a packet")  # validation is the stack's job
    assert nic.arrivals == [data, b"not a packet"]


def test_inject_packet_serialises_with_checksums() -> None:
    link, nic = attached()
    packet = tcp4(payload=b"hello")
    link.inject_packet(packet)
    assert nic.arrivals == [packet.to_bytes()]
    Packet.from_bytes(nic.raw[0])  # checksums valid


def test_inject_while_detached_is_dropped_and_counted() -> None:
    link = Channel()
    link.inject(b"\x45")
    assert link.dropped_inbound == 1


def test_bounded_queue_drops_and_counts_when_full() -> None:
    link, _ = attached(limit=2)
    for i in range(5):
        link.write_packet(tcp4(seq=i))
    assert link.pending == 2
    assert link.dropped == 3
    assert [Packet.from_bytes(b).transport.seq for b in link.drain()] == [0, 1]  # type: ignore[union-attr]
    link.write_packet(tcp4(seq=9))
    assert link.pending == 1


def test_blocked_reader_wakes_when_a_packet_is_written() -> None:
    link, _ = attached()
    result: list[bytes | None] = []
    reader = threading.Thread(target=lambda: result.append(link.read(timeout=30)))
    reader.start()
    wait_until_blocked(link)
    start = time.monotonic()
    link.write_packet(tcp4(seq=42))
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert result == [tcp4(seq=42).to_bytes()]
    assert time.monotonic() - start < 5


def test_blocked_read_packet_wakes_too() -> None:
    link, _ = attached()
    result: list[Packet | None] = []
    reader = threading.Thread(target=lambda: result.append(link.read_packet(timeout=30)))
    reader.start()
    wait_until_blocked(link)
    link.write_packet(udp4())
    reader.join(timeout=10)
    assert len(result) == 1 and result[0] is not None
    assert result[0].transport == udp4().transport


def test_close_wakes_blocked_readers_with_none() -> None:
    link, _ = attached()
    results: list[bytes | None] = []
    readers = [
        threading.Thread(target=lambda: results.append(link.read(timeout=30))) for _ in range(3)
    ]
    for reader in readers:
        reader.start()
    wait_until_blocked(link, 3)
    link.close()
    for reader in readers:
        reader.join(timeout=10)
        assert not reader.is_alive()
    assert results == [None, None, None]
    assert link.dispatcher is None


def test_queued_packets_stay_readable_after_close_but_writes_drop() -> None:
    link, _ = attached()
    link.write_packet(tcp4(seq=1))
    link.close()
    link.write_packet(tcp4(seq=2))
    assert link.dropped == 1
    assert link.read() == tcp4(seq=1).to_bytes()
    assert link.read() is None  # closed and empty: no wait


def test_many_writers_and_readers_lose_nothing() -> None:
    link, _ = attached(limit=100_000)
    writers, per_writer, readers = 4, 250, 3
    total = writers * per_writer
    payloads = {
        tcp4(seq=w * 10_000 + i).to_bytes() for w in range(writers) for i in range(per_writer)
    }
    got: list[bytes] = []
    got_lock = threading.Lock()
    done = threading.Event()

    def read_loop() -> None:
        while not done.is_set():
            data = link.read(timeout=0.05)
            if data is not None:
                with got_lock:
                    got.append(data)
                    if len(got) == total:
                        done.set()

    def write_loop(w: int) -> None:
        for i in range(per_writer):
            link.write_packet(tcp4(seq=w * 10_000 + i))

    threads = [threading.Thread(target=read_loop) for _ in range(readers)]
    threads += [threading.Thread(target=write_loop, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    assert done.wait(timeout=30)
    for t in threads:
        t.join(timeout=10)
    assert len(got) == total
    assert set(got) == payloads
    assert link.dropped == 0


def test_concurrent_injects_all_arrive() -> None:
    link, nic = attached()
    data = [tcp4(seq=i).to_bytes() for i in range(400)]

    def inject_all(chunk: list[bytes]) -> None:
        for d in chunk:
            link.inject(d)

    threads = [threading.Thread(target=inject_all, args=(data[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(nic.raw) == sorted(data)
