"""``python -m benchmarks``: the same stdlib-socket code on kernel sockets and on usersock.

Each scenario is one function that takes a *socket factory* and returns a measurement; it
runs alternately on real kernel sockets (127.0.0.1) and on a usersock stack (the seed's
loopback NIC), for several rounds, pinned to one CPU where the OS allows. The report gives
medians, min-max and the usersock/kernel ratio, as a table and as JSON.

Scenarios so far: ``bulk`` (one TCP connection, N MiB in 64 KiB ``sendall``s, ``recv_into``
on the other side, MB/s) and ``pingpong`` (1-byte echo between two threads, median round
trip in microseconds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import usersock
from usersock.link import Loopback

Factory = Callable[[int, int], Any]


class KernelNet:
    """Real sockets on 127.0.0.1."""

    name = "kernel"
    host = "127.0.0.1"

    def socket(self, family: int = socket.AF_INET, type_: int = socket.SOCK_STREAM) -> Any:
        return socket.socket(family, type_)

    def close(self) -> None:
        pass


class UsersockNet:
    """A usersock stack with the seed's loopback NIC."""

    name = "usersock"
    host = "192.168.1.1"

    def __init__(self) -> None:
        self.stack = usersock.Stack()
        self.stack.create_nic(1, Loopback())
        self.stack.add_address(1, "192.168.1.1/32")
        self.stack.set_route_table([usersock.Route(destination="0.0.0.0/0", nic=1)])

    def socket(self, family: int = socket.AF_INET, type_: int = socket.SOCK_STREAM) -> Any:
        return self.stack.socket(family, type_)

    def close(self) -> None:
        self.stack.close()


def connected_pair(net: Any) -> tuple[Any, Any, Any]:
    srv = net.socket()
    srv.bind((net.host, 0))
    srv.listen()
    cli = net.socket()
    cli.connect(srv.getsockname())
    conn, _ = srv.accept()
    return srv, cli, conn


def bulk(net: Any, size: int) -> float:
    """MB/s moving *size* bytes one way in 64 KiB sendall()s, read with recv_into()."""
    srv, cli, conn = connected_pair(net)
    chunk = b"x" * 65536
    done = threading.Event()

    def reader() -> None:
        buf = bytearray(262144)
        total = 0
        while total < size:
            n = conn.recv_into(buf)
            if n == 0:
                break
            total += n
        done.set()

    t = threading.Thread(target=reader)
    start = time.perf_counter()
    t.start()
    for _ in range(size // len(chunk)):
        cli.sendall(chunk)
    t.join()
    elapsed = time.perf_counter() - start
    for s in (cli, conn, srv):
        s.close()
    return size / elapsed / 1e6


def pingpong(net: Any, count: int) -> float:
    """Median round trip (µs) of a 1-byte echo between two threads."""
    srv, cli, conn = connected_pair(net)
    for s in (cli, conn):
        if isinstance(s, socket.socket):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def echo() -> None:
        for _ in range(count):
            conn.sendall(conn.recv(1))

    t = threading.Thread(target=echo)
    t.start()
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        cli.sendall(b"x")
        cli.recv(1)
        samples.append(time.perf_counter() - start)
    t.join()
    for s in (cli, conn, srv):
        s.close()
    return statistics.median(samples) * 1e6


@dataclass
class Result:
    scenario: str
    unit: str
    higher_is_better: bool
    kernel: list[float] = field(default_factory=list)
    usersock: list[float] = field(default_factory=list)

    def ratio(self) -> float:
        return statistics.median(self.usersock) / statistics.median(self.kernel)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "kernel": {"median": statistics.median(self.kernel), "min": min(self.kernel),
                       "max": max(self.kernel), "samples": self.kernel},
            "usersock": {"median": statistics.median(self.usersock), "min": min(self.usersock),
                         "max": max(self.usersock), "samples": self.usersock},
            "ratio_usersock_over_kernel": self.ratio(),
        }


def run(rounds: int, bulk_mib: int, pings: int) -> list[Result]:
    scenarios = [
        Result(f"bulk {bulk_mib} MiB", "MB/s", True),
        Result(f"pingpong 1 B x {pings}", "µs/round trip", False),
    ]
    for _ in range(rounds):
        for make in (KernelNet, UsersockNet):
            net = make()
            try:
                getattr(scenarios[0], net.name).append(bulk(net, bulk_mib * 1024 * 1024))
                getattr(scenarios[1], net.name).append(pingpong(net, pings))
            finally:
                net.close()
    return scenarios


def table(results: list[Result]) -> str:
    lines = [
        "| scenario | unit | kernel median (min-max) | usersock median (min-max) | usersock/kernel |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        k, u = r.as_dict()["kernel"], r.as_dict()["usersock"]
        lines.append(
            f"| {r.scenario} | {r.unit} | {k['median']:.1f} ({k['min']:.1f}-{k['max']:.1f}) "
            f"| {u['median']:.1f} ({u['min']:.1f}-{u['max']:.1f}) | {r.ratio():.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bulk-mib", type=int, default=64)
    parser.add_argument("--pings", type=int, default=20000)
    parser.add_argument("--cpu", type=int, default=0, help="pin to this CPU (-1: don't)")
    parser.add_argument("--json", default="benchmarks/results/latest.json")
    args = parser.parse_args(argv)
    if args.cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    results = run(args.rounds, args.bulk_mib, args.pings)
    print(table(results))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"python": sys.version.split()[0], "platform": platform.platform(),
            "pinned_cpu": args.cpu, "rounds": args.rounds}
    out.write_text(json.dumps({"meta": meta, "results": [r.as_dict() for r in results]}, indent=2))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
