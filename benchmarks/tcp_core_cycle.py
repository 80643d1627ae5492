"""``python -m benchmarks.tcp_core_cycle``: the cost of one data segment in the TCP core.

One cycle is: ``send`` on A, A's ``segments_to_send``, B's ``handle_segment``, ``recv`` on
B, B's ``flush_ack`` and ``segments_to_send``, and A handling the ACK — the sans-IO part of
the loopback hot path (ARCHITECTURE.md section 7), with no stack, lock or thread around it.
Reports the best of three runs, in microseconds per data segment.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from usersock.transport.tcp.connection import Connection, TCPConfig
from usersock.transport.tcp.state import State


def pair(cfg: TCPConfig) -> tuple[Connection, Connection]:
    a = Connection(1, 2, 100, cfg, 0.0)
    a.connect(0.0)
    ((syn, _),) = a.segments_to_send(0.0)
    b = Connection.from_syn(syn, 2, 700, dataclasses.replace(cfg), 0.0)
    while True:
        moved = False
        for src, dst in ((b, a), (a, b)):
            for hdr, payload in src.segments_to_send(0.0):
                dst.handle_segment(hdr, payload, 0.0)
                moved = True
        if not moved:
            break
    assert a.state is State.ESTABLISHED and b.state is State.ESTABLISHED
    return a, b


def cycle_us(cfg: TCPConfig, write: int, rounds: int) -> float:
    a, b = pair(cfg)
    chunk = bytes(write)
    now = 0.0
    best = float("inf")
    for _ in range(3):
        segments = 0
        start = time.perf_counter()
        for _ in range(rounds):
            a.send(chunk)
            out = a.segments_to_send(now)
            for hdr, payload in out:
                b.handle_segment(hdr, payload, now)
            segments += len(out)
            b.recv(1 << 20)
            b.flush_ack(now)
            for hdr, payload in b.segments_to_send(now):
                a.handle_segment(hdr, payload, now)
            now += 0.0001
        best = min(best, (time.perf_counter() - start) / max(segments, 1) * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3000)
    args = parser.parse_args()
    for label, cfg, write in (
        ("MSS 1460, SACK+TS", TCPConfig(mss=1460, nodelay=True), 1448),
        (
            "MSS 1460, no options",
            TCPConfig(mss=1460, nodelay=True, sack=False, timestamps=False),
            1460,
        ),
        ("MSS 65495 (loopback)", TCPConfig(mss=65495, nodelay=True), 65483),
    ):
        print(f"{label:24} {cycle_us(cfg, write, args.rounds):6.1f} µs per data segment")


if __name__ == "__main__":
    main()
