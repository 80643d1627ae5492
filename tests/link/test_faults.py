"""Faults: seeded loss, duplication, reordering, delay, jitter, rate limiting, corruption."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest

from usersock.link import Channel, Faults, Loopback
from usersock.link.faults import corrupt_bytes
from usersock.wire.errors import MalformedPacket
from usersock.wire.ipv4 import IPv4Header
from usersock.wire.ipv6 import IPv6Header
from usersock.wire.packet import Packet

from .fakes import V4_A, V4_B, V6_A, V6_B, FakeDispatcher, RecordingLink, sample_packets, tcp4


def faulty(**kwargs: Any) -> tuple[Faults, FakeDispatcher]:
    link = Faults(Loopback(), **kwargs)
    nic = FakeDispatcher()
    link.attach(nic)
    return link, nic


def send(link: Faults, n: int) -> list[Packet]:
    packets = [tcp4(seq=i) for i in range(n)]
    for packet in packets:
        link.write_packet(packet)
    return packets


def order(nic: FakeDispatcher, packets: list[Packet]) -> list[int]:
    """Indexes (into *packets*) of the packets delivered, in delivery order."""
    index = {id(p): i for i, p in enumerate(packets)}
    return [index[id(a)] for a in nic.arrivals]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"loss": -0.1},
        {"loss": 1.5},
        {"duplicate": math.nan},
        {"reorder": 2.0},
        {"corrupt": -1.0},
        {"delay": -0.001},
        {"delay": math.inf},
        {"jitter": -1.0},
        {"jitter": math.nan},
        {"rate": 0.0},
        {"rate": -100.0},
        {"rate": math.inf},
        {"reorder_timeout": 0.0},
    ],
)
def test_rejects_out_of_range_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Faults(Loopback(), **kwargs)


def test_mirrors_and_attaches_the_inner_link() -> None:
    inner = Channel(mtu=1400)
    link = Faults(inner)
    assert link.mtu == 1400 and link.checksum_offload is False
    assert Faults(Loopback()).checksum_offload is True
    nic = FakeDispatcher()
    link.attach(nic)
    assert inner.dispatcher is nic
    inner.inject(b"\x45in")  # inbound is untouched
    assert nic.raw == [b"\x45in"]
    link.attach(None)
    assert inner.dispatcher is None


def test_no_faults_passes_the_same_object_at_once() -> None:
    link, nic = faulty()
    packets = send(link, 10)
    assert order(nic, packets) == list(range(10))
    assert nic.pending_timers == 0
    assert link.sent == 10 and link.dropped == 0


def test_detached_or_closed_writes_are_dropped() -> None:
    link = Faults(Loopback())
    link.write_packet(tcp4())
    assert link.dropped == 1
    nic = FakeDispatcher()
    link.attach(nic)
    link.close()
    link.write_packet(tcp4())
    assert link.dropped == 2 and nic.arrivals == []
    assert link.inner.dispatcher is None


MIXED = {"loss": 0.2, "duplicate": 0.1, "reorder": 0.1, "corrupt": 0.05, "jitter": 0.002}


def run_mixed(seed: int | None, n: int = 500) -> tuple[list[Any], dict[str, int]]:
    link, nic = faulty(seed=seed, delay=0.01, **MIXED)
    packets = []
    for i in range(n):
        packet = tcp4(seq=i)
        packets.append(packet)
        link.write_packet(packet)
        nic.advance(0.001)
    nic.run_all()
    index = {id(p): i for i, p in enumerate(packets)}
    trace = [index.get(id(a), a) for a in nic.arrivals]  # corrupted copies stay as bytes
    counters = {
        k: getattr(link, k)
        for k in ("sent", "dropped", "duplicated", "reordered", "delayed", "corrupted")
    }
    return trace, counters


def test_same_seed_replays_the_same_decisions() -> None:
    first = run_mixed(seed=7)
    assert first == run_mixed(seed=7)
    assert first != run_mixed(seed=8)
    counters = first[1]
    assert all(counters[k] > 0 for k in counters), counters


def test_decisions_do_not_depend_on_when_timers_fire() -> None:
    def decisions(tick: float) -> tuple[int, ...]:
        link, nic = faulty(seed=3, reorder_timeout=0.005, **MIXED)
        for i in range(300):
            link.write_packet(tcp4(seq=i))
            nic.advance(tick)
        nic.run_all()
        return link.dropped, link.duplicated, link.reordered, link.corrupted

    assert decisions(0.0001) == decisions(0.1)


def test_unseeded_runs_differ() -> None:
    assert run_mixed(seed=None)[0] != run_mixed(seed=None)[0]


@pytest.mark.parametrize("loss", [0.01, 0.1, 0.5])
@pytest.mark.parametrize("seed", [0, 1, None])
def test_loss_rate_is_close_to_the_probability(loss: float, seed: int | None) -> None:
    n = 10_000
    link, nic = faulty(seed=seed, loss=loss)
    send(link, n)
    sigma = math.sqrt(n * loss * (1 - loss))
    assert abs(link.dropped - n * loss) < 5 * sigma
    assert len(nic.arrivals) == link.sent == n - link.dropped


def test_loss_one_drops_everything() -> None:
    link, nic = faulty(loss=1.0)
    send(link, 100)
    assert nic.arrivals == [] and link.dropped == 100


def test_duplicate_sends_the_packet_twice() -> None:
    link, nic = faulty(duplicate=1.0)
    packets = send(link, 3)
    assert order(nic, packets) == [0, 0, 1, 1, 2, 2]
    assert link.duplicated == 3 and link.sent == 6


def test_duplicate_rate_is_close_to_the_probability() -> None:
    link, nic = faulty(duplicate=0.25)
    send(link, 10_000)
    assert abs(link.duplicated - 2500) < 5 * math.sqrt(10_000 * 0.25 * 0.75)
    assert len(nic.arrivals) == 10_000 + link.duplicated


def test_reordered_packet_goes_after_the_next_one() -> None:
    link, nic = faulty()
    link.reorder = 1.0
    first = tcp4(seq=1)
    link.write_packet(first)
    assert nic.arrivals == []
    link.reorder = 0.0
    second = tcp4(seq=2)
    link.write_packet(second)
    assert nic.arrivals == [second, first]
    assert link.reordered == 1
    nic.run_all()  # the stale release timer does nothing
    assert nic.arrivals == [second, first]


def test_a_held_packet_is_released_by_its_timer() -> None:
    link, nic = faulty(reorder=1.0, reorder_timeout=0.02)
    packet = tcp4()
    link.write_packet(packet)
    nic.advance(0.019)
    assert nic.arrivals == []
    nic.advance(0.001)
    assert nic.arrivals == [packet]


def test_every_reordered_packet_is_eventually_released_exactly_once() -> None:
    link, nic = faulty(seed=11, reorder=0.3)
    packets = send(link, 1000)
    nic.run_all()
    got = order(nic, packets)
    assert sorted(got) == list(range(1000))
    assert got != list(range(1000))
    assert abs(link.reordered - 300) < 5 * math.sqrt(1000 * 0.3 * 0.7)


def test_reorder_with_duplicate_and_loss_loses_nothing_extra() -> None:
    link, nic = faulty(seed=5, reorder=0.5, duplicate=0.2, loss=0.1)
    packets = send(link, 2000)
    nic.run_all()
    counts = Counter(order(nic, packets))
    assert sum(counts.values()) == 2000 - link.dropped + link.duplicated
    assert set(counts.values()) <= {1, 2}


def test_delay_hands_packets_on_later_in_order() -> None:
    link, nic = faulty(delay=0.1)
    packets = send(link, 3)
    assert nic.arrivals == []
    nic.advance(0.0999)
    assert nic.arrivals == []
    nic.advance(0.0001)
    assert order(nic, packets) == [0, 1, 2]
    assert nic.arrival_times == pytest.approx([0.1] * 3)
    assert link.delayed == 3


def test_jitter_spreads_delays_within_bounds() -> None:
    link, nic = faulty(delay=0.1, jitter=0.05)
    send(link, 500)
    nic.run_all()
    assert len(nic.arrivals) == 500
    assert all(0.05 <= t <= 0.15 for t in nic.arrival_times)
    assert max(nic.arrival_times) - min(nic.arrival_times) > 0.08


def test_jitter_alone_never_schedules_negative_delays() -> None:
    link, nic = faulty(jitter=0.01)  # FakeDispatcher asserts delay >= 0
    send(link, 200)
    nic.run_all()
    assert len(nic.arrivals) == 200


def test_rate_serialises_packets_back_to_back() -> None:
    link, nic = faulty(rate=10_000.0, delay=0.5)
    packets = [tcp4(seq=i, payload=bytes(960)) for i in range(3)]  # 1000 bytes each
    assert {len(p.to_bytes()) for p in packets} == {1000}
    for packet in packets:
        link.write_packet(packet)
    nic.run_all()
    assert nic.arrival_times == pytest.approx([0.6, 0.7, 0.8])
    # An idle link starts afresh.
    nic.time = 10.0
    link.write_packet(packets[0])
    nic.run_all()
    assert nic.arrival_times[-1] == pytest.approx(10.6)


def bit_differences(a: bytes, b: bytes) -> int:
    assert len(a) == len(b)
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("packet", sample_packets(), ids=lambda p: p.describe().split()[0])
def test_corruption_flips_one_bit_that_validation_catches(packet: Packet) -> None:
    import random

    rng = random.Random(0)
    original = packet.to_bytes()
    for _ in range(300):
        corrupted = corrupt_bytes(packet, rng)
        assert bit_differences(original, corrupted) == 1
        assert corrupted[0] == original[0]
        with pytest.raises(MalformedPacket):
            Packet.from_bytes(corrupted)


@pytest.mark.parametrize(
    "packet",
    [
        Packet(IPv4Header(V4_A, V4_B, 99), None, b"opaque"),
        Packet(IPv6Header(V6_A, V6_B, 99), None, b"opaque"),
    ],
    ids=["ipv4", "ipv6"],
)
def test_corruption_of_an_unparsed_protocol_is_still_caught(packet: Packet) -> None:
    import random

    rng = random.Random(0)
    for _ in range(100):
        with pytest.raises(MalformedPacket):
            Packet.from_bytes(corrupt_bytes(packet, rng))


def test_corrupted_packets_arrive_as_bytes_on_a_loopback() -> None:
    link, nic = faulty(corrupt=1.0)
    packet = tcp4(payload=b"payload")
    link.write_packet(packet)
    (data,) = nic.arrivals
    assert isinstance(data, bytes)
    assert bit_differences(data, packet.to_bytes()) == 1
    assert link.corrupted == 1 and link.sent == 1


def test_corrupt_rate_is_close_to_the_probability() -> None:
    link, nic = faulty(corrupt=0.1)
    send(link, 5000)
    assert abs(link.corrupted - 500) < 5 * math.sqrt(5000 * 0.1 * 0.9)
    assert len(nic.raw) == link.corrupted
    assert len(nic.packets) == 5000 - link.corrupted


def test_corrupted_packets_reach_a_channel_reader() -> None:
    channel = Channel()
    link = Faults(channel, corrupt=1.0)
    link.attach(FakeDispatcher())
    packet = tcp4(payload=b"x")
    link.write_packet(packet)
    data = channel.read(timeout=0)
    assert data is not None and bit_differences(data, packet.to_bytes()) == 1
    with pytest.raises(MalformedPacket):
        Packet.from_bytes(data)


def test_corrupted_packets_are_dropped_before_a_link_without_write_bytes() -> None:
    inner = RecordingLink()
    link = Faults(inner, corrupt=1.0)
    link.attach(FakeDispatcher())
    send(link, 20)
    assert inner.written == []
    assert link.corrupted == 20 and link.dropped == 20 and link.sent == 0


def test_each_duplicate_copy_is_corrupted_independently() -> None:
    link, nic = faulty(duplicate=1.0, corrupt=0.5, seed=2)
    send(link, 400)
    assert len(nic.arrivals) == 800
    assert abs(link.corrupted - 400) < 5 * math.sqrt(800 * 0.25)


def test_close_drops_held_and_delayed_packets() -> None:
    link, nic = faulty(delay=0.1)
    send(link, 2)
    link.reorder = 1.0
    link.delay = 0.0
    send(link, 1)
    link.close()
    nic.run_all()
    assert nic.arrivals == []
    assert link.dropped == 3
    assert link.inner.dispatcher is None


def test_write_bytes_passes_straight_through() -> None:
    link, nic = faulty(loss=1.0)
    link.write_bytes(b"\x45raw")
    assert nic.raw == [b"\x45raw"]
