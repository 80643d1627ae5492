"""``python -m benchmarks.floor``: what pure Python itself costs under the benchmark scenarios.

usersock runs every socket call in Python, and a blocking call made in one thread is
completed by another thread through the stack's lock and a wake-up. These measurements put a
floor under that design on this machine, with no networking at all:

- ``cond_rtt_us``: two threads echo one item back and forth through deques guarded by one
  shared ``threading.RLock``, with one ``threading.Condition`` per direction
  (``notify_all``): µs per round trip. The hand-off a blocking socket call costs.
- ``lock_rtt_us``: the same echo handed off with two bare ``_thread.allocate_lock()`` locks
  (release/acquire ping-pong).
- ``eventfd_rtt_us``: the same echo through deques under one shared lock, each thread
  blocking on its own eventfd, which the other writes after releasing the lock (``os``
  writes it without the GIL): the hand-off usersock makes (``usersock.stack.wakeup``).
- ``kernel_rtt_us``: the same 1-byte echo between two threads over a real 127.0.0.1 TCP
  connection (``TCP_NODELAY``), for comparison in the same run.
- ``call_ns``: one empty method call ``o.m()``; ``lock_ns``: one ``with rlock: pass`` on an
  uncontended ``threading.RLock`` (``timeit``, best of 3 repeats per round, loop included).

Each figure is taken once per round (default 5) after an untimed warm-up, and reported as
the median and min-max over the rounds, pinned to one CPU like ``python -m benchmarks``.
"""

from __future__ import annotations

import _thread
import argparse
import datetime
import gc
import json
import math
import os
import select
import shlex
import socket
import statistics
import struct
import sys
import threading
import time
import timeit
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import fmt, machine, pin, plural

HOST = "127.0.0.1"
#: Longest wait for the other thread (s): a lost hand-off fails instead of hanging.
TIMEOUT = 10.0
#: ``call_ns`` and ``lock_ns`` time this many statements per round trip of ``--count``.
CALLS_PER_COUNT = 50
#: The two thread hand-off floors, compared with the kernel's round trip.
HANDOFFS = ("cond_rtt_us", "lock_rtt_us", "eventfd_rtt_us")
KERNEL_KEY = "kernel_rtt_us"


@dataclass(frozen=True)
class Floor:
    """One measured figure: its JSON key, unit and what it is."""

    key: str
    unit: str
    text: str


FLOORS = (
    Floor("cond_rtt_us", "µs/round trip", "RLock + Condition per direction, 2 threads"),
    Floor("lock_rtt_us", "µs/round trip", "two bare locks, 2 threads"),
    Floor("eventfd_rtt_us", "µs/round trip", "lock + eventfd written unlocked, 2 threads"),
    Floor("kernel_rtt_us", "µs/round trip", "1 B over kernel TCP 127.0.0.1, 2 threads"),
    Floor("call_ns", "ns/call", "empty method call o.m()"),
    Floor("lock_ns", "ns", "with rlock: pass, uncontended"),
)


# --------------------------------------------------------------------------------------------
# Helpers (formatting and pinning come from benchmarks.common, shared with the runner; this
# module imports neither the scenarios nor usersock)


# --------------------------------------------------------------------------------------------
# The measurements


def _run_echo(echo: Callable[[], None], ping: Callable[[], None], count: int) -> float:
    """Start *echo* in a thread, time *ping* in this one, join; µs per round trip.

    A failure in either thread is raised here; the waits inside both are bounded by
    :data:`TIMEOUT`, so a lost hand-off ends the thread instead of hanging it."""
    failed: list[BaseException] = []

    def guarded() -> None:
        try:
            echo()
        except BaseException as exc:
            failed.append(exc)

    t = threading.Thread(target=guarded, name="floor-echo", daemon=True)
    t.start()
    start = time.perf_counter()
    ping()
    elapsed = time.perf_counter() - start
    t.join(TIMEOUT + 1)
    if failed:
        raise failed[0]
    if t.is_alive():
        raise RuntimeError("the echo thread did not finish")
    return elapsed / count * 1e6


def cond_rtt_us(count: int) -> float:
    """Mean µs per round trip of one item echoed *count* times between two threads through
    two deques guarded by one shared ``RLock``, one ``Condition`` per direction, each append
    followed by ``notify_all`` — how usersock completes a blocking call in another thread,
    without any protocol work."""
    lock = threading.RLock()
    to_echo, to_ping = threading.Condition(lock), threading.Condition(lock)
    echo_q: deque[object] = deque()
    ping_q: deque[object] = deque()
    # Wake-ups per item are bounded: every notify comes with an append, never spurious.
    wakeups = range(4)

    def echo() -> None:
        for _ in range(count):
            with lock:
                for _ in wakeups:
                    if echo_q:
                        break
                    if not to_echo.wait(TIMEOUT):
                        raise TimeoutError("cond: no item from the pinging thread")
                else:
                    raise RuntimeError("cond: woken without an item")
                ping_q.append(echo_q.popleft())
                to_ping.notify_all()

    def ping() -> None:
        item = object()
        for _ in range(count):
            with lock:
                echo_q.append(item)
                to_echo.notify_all()
                for _ in wakeups:
                    if ping_q:
                        break
                    if not to_ping.wait(TIMEOUT):
                        raise TimeoutError("cond: no item from the echo thread")
                else:
                    raise RuntimeError("cond: woken without an item")
                item = ping_q.popleft()

    return _run_echo(echo, ping, count)


def lock_rtt_us(count: int) -> float:
    """Mean µs per round trip of one item echoed *count* times between two threads handed
    off by two bare ``_thread`` locks (each side releases the other's lock and acquires its
    own): the cheapest thread hand-off Python offers."""
    to_echo, to_ping = _thread.allocate_lock(), _thread.allocate_lock()
    to_echo.acquire()
    to_ping.acquire()
    slot: list[object] = [None]

    def echo() -> None:
        for _ in range(count):
            if not to_echo.acquire(True, TIMEOUT):
                raise TimeoutError("lock: no hand-off from the pinging thread")
            to_ping.release()

    def ping() -> None:
        slot[0] = item = object()
        for _ in range(count):
            to_echo.release()
            if not to_ping.acquire(True, TIMEOUT):
                raise TimeoutError("lock: no hand-off from the echo thread")
            item = slot[0]
        if item is None:
            raise RuntimeError("lock: the item was lost")

    return _run_echo(echo, ping, count)


def eventfd_rtt_us(count: int) -> float:
    """Mean µs per round trip of one item echoed *count* times between two threads through
    two deques under one shared lock; a thread with nothing to take registers its eventfd
    and blocks reading it, and the other writes that eventfd after releasing the lock — the
    wake-up usersock uses (``usersock.stack.wakeup``). A pipe stands in without eventfd."""
    lock = threading.Lock()
    queues: dict[str, deque[object]] = {"echo": deque(), "ping": deque()}
    waiting: dict[str, tuple[int, int] | None] = {"echo": None, "ping": None}

    def put(to: str, item: object) -> None:
        with lock:
            queues[to].append(item)
            target, waiting[to] = waiting[to], None
        if target is not None:  # written with the lock released; os drops the GIL
            if target[0] == target[1]:
                os.eventfd_write(target[1], 1)
            else:
                os.write(target[1], b"\1")

    def get(me: str, fds: tuple[int, int]) -> object:
        for _ in range(4):  # every wake-up comes with an item: a few tries are plenty
            with lock:
                if queues[me]:
                    return queues[me].popleft()
                waiting[me] = fds
            if not select.select([fds[0]], [], [], TIMEOUT)[0]:
                raise TimeoutError(f"eventfd: no hand-off to the {me} thread")
            os.read(fds[0], 8)
        raise RuntimeError("eventfd: woken without an item")

    def descriptors() -> tuple[int, int]:
        if hasattr(os, "eventfd"):
            fd = os.eventfd(0)
            return fd, fd
        return os.pipe()

    def closing(fds: tuple[int, int]) -> None:
        for fd in set(fds):
            os.close(fd)

    def echo() -> None:
        fds = descriptors()
        try:
            for _ in range(count):
                put("ping", get("echo", fds))
        finally:
            closing(fds)

    def ping() -> None:
        fds = descriptors()
        try:
            item = object()
            for _ in range(count):
                put("echo", item)
                item = get("ping", fds)
        finally:
            closing(fds)

    return _run_echo(echo, ping, count)


def _kernel_pair() -> tuple[socket.socket, socket.socket, socket.socket]:
    """(listener, client, accepted) of one kernel TCP connection on 127.0.0.1 with
    ``TCP_NODELAY`` on both ends. Blocking sockets (as in the ``ping1`` scenario) whose
    ``SO_RCVTIMEO``/``SO_SNDTIMEO`` bound every call without an extra ``poll``."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind((HOST, 0))
    srv.listen(1)
    cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.connect(srv.getsockname())
    conn, _ = srv.accept()
    timeval = struct.pack("@ll", int(TIMEOUT), 0)
    for s in (cli, conn):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
    return srv, cli, conn


def kernel_rtt_us(count: int) -> float:
    """Mean µs per round trip of a 1-byte echo between two threads over a kernel TCP
    connection on 127.0.0.1 (``TCP_NODELAY``), *count* times: the kernel reference the
    ping-pong targets are written against, measured in the same run."""
    srv, cli, conn = _kernel_pair()

    def echo() -> None:
        recv, sendall = conn.recv, conn.sendall
        for _ in range(count):
            data = recv(16)
            if not data:
                return
            sendall(data)

    def ping() -> None:
        recv, sendall = cli.recv, cli.sendall
        for _ in range(count):
            sendall(b"p")
            if not recv(16):
                raise RuntimeError("kernel: the echo side closed")

    try:
        return _run_echo(echo, ping, count)
    finally:
        for s in (cli, conn, srv):
            s.close()


class _Empty:
    """An object with one empty method, for :func:`call_ns`."""

    def m(self) -> None:
        pass


def call_ns(number: int) -> float:
    """ns per empty method call ``o.m()`` (a local ``o``), *number* calls per repeat, best
    of 3 repeats; includes ``timeit``'s loop step (a few ns)."""
    timer = timeit.Timer("o.m()", setup="o = _Empty()", globals={"_Empty": _Empty})
    return min(timer.repeat(repeat=3, number=number)) / number * 1e9


def lock_ns(number: int) -> float:
    """ns per ``with rlock: pass`` on an uncontended ``threading.RLock`` (acquire and
    release by the owning thread), *number* per repeat, best of 3 repeats; includes
    ``timeit``'s loop step."""
    timer = timeit.Timer("with lk: pass", setup="lk = RLock()", globals={"RLock": threading.RLock})
    return min(timer.repeat(repeat=3, number=number)) / number * 1e9


# --------------------------------------------------------------------------------------------
# Rounds and summary


def measure_once(count: int) -> dict[str, float]:
    """Every figure once: the three echoes at *count* round trips, the two ``timeit``
    figures at ``count * CALLS_PER_COUNT`` statements per repeat."""
    calls = count * CALLS_PER_COUNT
    runs: tuple[tuple[str, Callable[[int], float], int], ...] = (
        ("cond_rtt_us", cond_rtt_us, count),
        ("lock_rtt_us", lock_rtt_us, count),
        ("eventfd_rtt_us", eventfd_rtt_us, count),
        ("kernel_rtt_us", kernel_rtt_us, count),
        ("call_ns", call_ns, calls),
        ("lock_ns", lock_ns, calls),
    )
    out: dict[str, float] = {}
    for key, func, n in runs:
        gc.collect()
        out[key] = func(n)
    return out


def measure(
    count: int, rounds: int, warmup: bool = True, log: Callable[[str], None] | None = None
) -> dict[str, list[float]]:
    """*rounds* samples of every figure (see :func:`measure_once`), after one untimed run at
    a small size when *warmup*; *log* gets one line per round."""
    if warmup:
        measure_once(min(count, 200))
    samples: dict[str, list[float]] = {f.key: [] for f in FLOORS}
    for r in range(rounds):
        values = measure_once(count)
        for key, value in values.items():
            samples[key].append(value)
        if log is not None:
            shown = ", ".join(f"{k}={fmt(v)}" for k, v in values.items())
            log(f"  round {r + 1}/{rounds} {shown}")
    return samples


def summarize(samples: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    """Per figure: unit, median, min, max and samples; for the hand-off floors also the
    ratio of their median to the kernel round trip's and the 2x-kernel budget (µs)."""
    out: dict[str, dict[str, Any]] = {}
    for f in FLOORS:
        values = samples[f.key]
        out[f.key] = {
            "unit": f.unit,
            "what": f.text,
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "samples": values,
        }
    kernel = out[KERNEL_KEY]["median"]
    for key in HANDOFFS:
        out[key]["ratio_to_kernel"] = out[key]["median"] / kernel if kernel > 0 else math.inf
        out[key]["kernel_2x_target_us"] = 2 * kernel
    return out


def table(results: dict[str, dict[str, Any]]) -> str:
    """The figures as a markdown table: median, min-max, and for the hand-off floors the
    ratio to the kernel round trip and the ≤ 2x-kernel ping-pong budget."""
    lines = [
        "| metric | what | unit | median | min-max | / kernel RTT | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in FLOORS:
        r = results[f.key]
        ratio = note = ""
        if f.key in HANDOFFS:
            ratio = f"{r['ratio_to_kernel']:.2f}x"
            note = f"2x kernel target = {fmt(r['kernel_2x_target_us'])} µs"
        lines.append(
            f"| {f.key} | {f.text} | {f.unit} | {fmt(r['median'])} "
            f"| {fmt(r['min'])}-{fmt(r['max'])} | {ratio} | {note} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options, with ``--count`` and ``--rounds`` filled in from ``--tiny`` or the
    defaults."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.floor",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--count", type=int, help="round trips per echo (default 20000; --tiny 200)")
    p.add_argument("--rounds", type=int, help="rounds, reported as median (default 5; --tiny 1)")
    p.add_argument(
        "--tiny", action="store_true", help="200 round trips, 1 round: checks that it runs"
    )
    p.add_argument(
        "--cpu", type=int, default=None, help="pin to this CPU (default: the highest one allowed)"
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    args = p.parse_args(argv)
    if args.count is None:
        args.count = 200 if args.tiny else 20000
    if args.rounds is None:
        args.rounds = 1 if args.tiny else 5
    if args.count < 1 or args.rounds < 1:
        p.error("--count and --rounds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Pin, measure, print the table, write the JSON if asked; the CPU affinity the process
    had is restored before returning."""
    args = parse_args(argv)
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    started = time.time()
    t0 = time.perf_counter()
    cpu = pin(args.cpu, args.no_pin)
    where = f"pinned to CPU {cpu}" if cpu is not None else "not pinned"
    try:
        print(
            f"# python -m benchmarks.floor: {plural(args.rounds, 'round')} x {args.count:,}"
            f" round trips, {where}",
            file=sys.stderr,
        )
        samples = measure(
            args.count,
            args.rounds,
            warmup=not args.tiny,
            log=lambda line: print(line, file=sys.stderr),
        )
    finally:
        if affinity is not None:
            os.sched_setaffinity(0, affinity)
    duration = time.perf_counter() - t0
    results = summarize(samples)
    print(table(results))
    meta = machine()
    print(
        f"\n{args.count:,} round trips, {plural(args.rounds, 'round')}, {where};"
        f" Python {meta['python']} on {meta['cpu']}; {duration:.0f} s"
    )
    if args.json is not None:
        command = "python -m benchmarks.floor" + "".join(
            " " + shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
        )
        meta.update(
            command=command,
            started=datetime.datetime.fromtimestamp(started, datetime.timezone.utc).isoformat(
                timespec="seconds"
            ),
            duration_s=round(duration, 1),
            pinned_cpu=cpu,
            rounds=args.rounds,
            count=args.count,
            calls=args.count * CALLS_PER_COUNT,
        )
        out: Path = args.json
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"meta": meta, "metrics": results}, indent=2) + "\n")
        print(f"JSON: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
