"""Two connections back to back through an in-memory wire: 1 MiB each way under seeded
loss, reordering and duplication arrives byte-identical; time only moves to deadlines. Under
loss, recovery keeps the transfer going without waiting on retransmission timeouts."""

from __future__ import annotations

import random

import pytest

from usersock.transport.tcp.connection import TCPConfig
from usersock.transport.tcp.state import State

from .helpers import Wire, pair

SIZE = 1 << 20


def _run(cfg: TCPConfig, seed: int, loss: float, dup: float, reorder: float) -> Wire:
    """Transfer SIZE bytes each way; ``wire.done`` is the time both sides had it all."""
    rng = random.Random(seed)
    a, b = pair(cfg, TCPConfig(**vars(cfg)))
    data_a = rng.randbytes(SIZE)
    data_b = rng.randbytes(SIZE)
    wire = Wire(a, b, random.Random(seed + 1), loss=loss, dup=dup, reorder=reorder)
    sent = {a: 0, b: 0}
    src = {a: data_a, b: data_b}
    got = {a: bytearray(), b: bytearray()}
    buf = bytearray(40000)
    wire.done = None
    for _ in range(400_000):
        for c in (a, b):
            if sent[c] < SIZE and c.send_space():
                sent[c] += c.send(memoryview(src[c])[sent[c] :])
                if sent[c] == SIZE:
                    c.shutdown_write()
            # Exercise both read paths.
            if c is a:
                got[c] += c.recv(65536)
            else:
                n = c.recv_into(buf, len(buf))
                got[c] += buf[:n]
        if wire.done is None and len(got[a]) == SIZE and len(got[b]) == SIZE:
            wire.done = wire.now
        if (a.at_eof() and b.at_eof() and a.state is b.state is State.TIME_WAIT) or (
            a.state is State.CLOSED and b.state is State.CLOSED
        ):
            break
        if not wire.step():
            break
    for c in (a, b):
        got[c] += c.recv(SIZE)
    assert len(got[b]) == SIZE and bytes(got[b]) == data_a, (a, b, a.error, b.error)
    assert bytes(got[a]) == data_b
    assert a.bytes_received == SIZE and b.bytes_received == SIZE
    assert a.error is None and b.error is None
    assert {a.state, b.state} <= {State.TIME_WAIT, State.CLOSED}
    return wire


@pytest.mark.parametrize(
    ("cfg", "seed", "loss", "dup", "reorder"),
    [
        pytest.param(TCPConfig(), 1, 0.0, 0.0, 0.0, id="clean-defaults"),
        pytest.param(TCPConfig(), 2, 0.03, 0.02, 0.1, id="lossy-defaults"),
        pytest.param(
            TCPConfig(sack=False, timestamps=False, window_scaling=False),
            3,
            0.03,
            0.02,
            0.1,
            id="lossy-no-options",
        ),
        pytest.param(
            TCPConfig(mss=536, delayed_ack=0.04, rcv_buf=32768),
            4,
            0.02,
            0.01,
            0.2,
            id="lossy-small-mss-delayed-ack",
        ),
        pytest.param(
            TCPConfig(mss=1460, rcv_buf=65536, nodelay=True), 5, 0.1, 0.05, 0.2, id="heavy-loss"
        ),
        pytest.param(TCPConfig(mss=65495), 6, 0.05, 0.0, 0.0, id="loopback-mss"),
        pytest.param(
            TCPConfig(mss=1460, rcv_buf=8192, snd_buf=8192, nodelay=False),
            8,
            0.05,
            0.02,
            0.3,
            id="small-buffers-nagle",
        ),
    ],
)
def test_transfer_1mib_each_way(
    cfg: TCPConfig, seed: int, loss: float, dup: float, reorder: float
) -> None:
    wire = _run(cfg, seed, loss, dup, reorder)
    if loss:
        assert wire.a.retransmissions + wire.b.retransmissions > 0


def test_clean_transfer_has_no_retransmissions() -> None:
    wire = _run(TCPConfig(), 7, 0.0, 0.0, 0.0)
    assert wire.a.retransmissions == 0 and wire.b.retransmissions == 0
    assert wire.a.state is State.TIME_WAIT or wire.b.state is State.TIME_WAIT


@pytest.mark.parametrize(
    ("cfg", "seed", "bound"),
    [
        pytest.param(TCPConfig(), 11, 1.0, id="sack"),
        pytest.param(TCPConfig(mss=8960), 12, 0.3, id="sack-jumbo"),
        pytest.param(TCPConfig(sack=False, timestamps=False), 13, 2.0, id="newreno"),
    ],
)
def test_five_percent_loss_is_repaired_without_waiting(
    cfg: TCPConfig, seed: int, bound: float
) -> None:
    # 1 ms each way: 1 MiB takes ~0.03 s of virtual time without loss. With 5% loss,
    # before Limited Transmit, RFC 6675 and the tail loss probe, the timeouts (200 ms each)
    # made these take 4.2, 0.7 and 4.3 s; now repairs ride on the ACKs (0.5, 0.1, 1.2 s).
    wire = _run(cfg, seed, 0.05, 0.01, 0.05)
    assert wire.done is not None and wire.done < bound
