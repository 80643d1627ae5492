"""The benchmark scenarios: plain standard-library networking code.

Every function here is ordinary code a user might write against ``socket``, ``http.server``,
``requests``, ``urllib.request``, ``http.client`` or ``asyncio``, talking to ``127.0.0.1``.
The runner calls each one twice: once as it is (real kernel sockets) and once inside
``usersock.patched()`` (virtual sockets). So names are looked up at call time
(``socket.socket``, never ``from socket import socket``), and nothing here knows which of
the two it is running on.

Each function takes one size (a count, or MiB for ``bulk``) and returns a dict of metric
values keyed as in the scenario's :class:`Metric` list (see :data:`SCENARIOS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import http.client
import os
import resource
import socket
import threading
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

try:
    import requests
except ImportError:  # the http-requests scenario says so when it runs
    requests = None  # type: ignore[assignment]

HOST = "127.0.0.1"
KERNEL = "kernel"
USERSOCK = "usersock"
ENVS = (KERNEL, USERSOCK)


@dataclass(frozen=True)
class Target:
    """An issue-4 target: ``usersock/kernel`` ratio (or, if *absolute*, the usersock value
    itself) compared with *value* by *op* (``">="`` or ``"<="``)."""

    op: str
    value: float
    absolute: bool = False

    def met(self, ratio: float | None, usersock: float | None) -> bool | None:
        x = usersock if self.absolute else ratio
        if x is None:
            return None
        return x >= self.value if self.op == ">=" else x <= self.value

    def text(self, unit: str) -> str:
        op = "≥" if self.op == ">=" else "≤"
        if self.absolute:
            return f"{op} {self.value:g} {unit}"
        return f"{op} {self.value:g}x kernel"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    target: Target | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    func: Callable[[int], dict[str, float]]
    metrics: tuple[Metric, ...]
    size_label: str
    default: int
    quick: int
    tiny: int
    envs: tuple[str, ...] = ENVS
    #: The scenario enters ``patched()`` itself: the runner must not wrap it in one.
    own_patch: bool = False
    #: Each timed run gets a fresh interpreter (memory figures free of earlier runs' heap).
    isolate: bool = False


# --------------------------------------------------------------------------------------------
# Helpers


def listener(backlog: int = 128) -> socket.socket:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind((HOST, 0))
    srv.listen(backlog)
    return srv


def connected_pair() -> tuple[socket.socket, socket.socket, socket.socket]:
    """(listener, client, server side) of one established TCP connection."""
    srv = listener()
    cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.connect(srv.getsockname())
    conn, _ = srv.accept()
    return srv, cli, conn


def close_all(*socks: socket.socket) -> None:
    for s in socks:
        s.close()


# --------------------------------------------------------------------------------------------
# bulk


def bulk(mib: int) -> dict[str, float]:
    """One TCP connection, *mib* MiB one way in 64 KiB ``sendall``s; the other side reads
    with ``recv_into`` a 256 KiB buffer. MB/s (10^6 bytes) from first send to last byte read."""
    size = mib << 20
    chunk = b"x" * 65536
    srv, cli, conn = connected_pair()
    received = [0]

    def reader() -> None:
        buf = bytearray(262144)
        total = 0
        while total < size:
            n = conn.recv_into(buf)
            if n == 0:
                break
            total += n
        received[0] = total

    t = threading.Thread(target=reader, name="bulk-reader")
    start = time.perf_counter()
    t.start()
    for _ in range(size // len(chunk)):
        cli.sendall(chunk)
    t.join()
    elapsed = time.perf_counter() - start
    close_all(cli, conn, srv)
    if received[0] != size:
        raise RuntimeError(f"bulk: received {received[0]} of {size} bytes")
    return {"mbps": size / elapsed / 1e6}


# --------------------------------------------------------------------------------------------
# ping-pong


def _pingpong(count: int, msg_size: int) -> dict[str, float]:
    srv, cli, conn = connected_pair()
    msg = b"p" * msg_size

    def echo() -> None:
        recv, sendall = conn.recv, conn.sendall
        while True:
            data = recv(65536)
            if not data:
                return
            sendall(data)

    t = threading.Thread(target=echo, name="echo")
    t.start()
    recv, sendall = cli.recv, cli.sendall
    start = time.perf_counter()
    for _ in range(count):
        sendall(msg)
        remaining = msg_size
        while remaining:
            data = recv(remaining)
            if not data:
                raise RuntimeError("ping-pong: peer closed")
            remaining -= len(data)
    elapsed = time.perf_counter() - start
    cli.shutdown(socket.SHUT_WR)
    t.join()
    close_all(cli, conn, srv)
    return {"rtt_us": elapsed / count * 1e6}


def ping1(count: int) -> dict[str, float]:
    """1-byte echo between two threads over one connection; mean round trip (µs)."""
    return _pingpong(count, 1)


def ping1k(count: int) -> dict[str, float]:
    """1-KiB echo between two threads over one connection; mean round trip (µs)."""
    return _pingpong(count, 1024)


# --------------------------------------------------------------------------------------------
# connect rate


def connect(count: int) -> dict[str, float]:
    """``connect`` + ``accept`` + ``close`` (client first, then the accepted socket), one
    thread, *count* times; connections per second."""
    srv = listener()
    addr = srv.getsockname()
    start = time.perf_counter()
    for _ in range(count):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.connect(addr)
        s, _ = srv.accept()
        c.close()
        s.close()
    elapsed = time.perf_counter() - start
    srv.close()
    return {"rate": count / elapsed}


# --------------------------------------------------------------------------------------------
# HTTP

BODY = b"hello, world\n" * 8


class Handler(BaseHTTPRequestHandler):
    """A small keep-alive GET handler. ``wbufsize = -1`` buffers the response, so the status
    line, headers and body leave in one ``send`` when the request is done (the stdlib
    default, ``wbufsize = 0``, sends headers and body separately and, on kernel sockets,
    stalls every keep-alive response ~40 ms on Nagle + delayed ACK — that would measure the
    kernel's timers, not the stacks)."""

    protocol_version = "HTTP/1.1"
    wbufsize = -1

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def http_server() -> Iterator[str]:
    """A ``ThreadingHTTPServer`` on 127.0.0.1 in a thread; yields its base URL."""
    server = ThreadingHTTPServer((HOST, 0), Handler)
    t = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="http-server"
    )
    t.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        t.join()


def _timed_requests(count: int, get: Callable[[], bytes]) -> dict[str, float]:
    if get() != BODY:  # warm-up (and check) outside the timing
        raise RuntimeError("http: wrong body")
    start = time.perf_counter()
    for _ in range(count):
        get()
    elapsed = time.perf_counter() - start
    return {"rate": count / elapsed}


def http_requests(count: int) -> dict[str, float]:
    """``requests.Session().get`` (one keep-alive connection); requests per second."""
    if requests is None:
        raise RuntimeError("http-requests needs the requests package (pip install requests)")
    with http_server() as url, requests.Session() as session:
        session.trust_env = False  # no proxies from the environment

        def get() -> bytes:
            r = session.get(url)
            r.raise_for_status()
            return r.content

        return _timed_requests(count, get)


def http_urllib(count: int) -> dict[str, float]:
    """``urllib.request`` ``open().read()``, a new connection per request; requests/s."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with http_server() as url:

        def get() -> bytes:
            with opener.open(url) as r:
                data: bytes = r.read()
                return data

        return _timed_requests(count, get)


def http_client(count: int) -> dict[str, float]:
    """``http.client.HTTPConnection`` request/getresponse/read on one keep-alive
    connection; requests per second."""
    with http_server() as url:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        c = http.client.HTTPConnection(HOST, port)

        def get() -> bytes:
            c.request("GET", "/")
            r = c.getresponse()
            if r.status != 200:
                raise RuntimeError(f"http.client: status {r.status}")
            return r.read()

        try:
            return _timed_requests(count, get)
        finally:
            c.close()


# --------------------------------------------------------------------------------------------
# asyncio

ASYNC_MSG = b"a" * 64


def asyncio_echo(count: int) -> dict[str, float]:
    """``asyncio.start_server`` / ``open_connection`` streams: 64-byte echo, *count* round
    trips on one connection; mean round trip (µs)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
        finally:
            writer.close()

    async def main() -> float:
        server = await asyncio.start_server(handle, HOST, 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(HOST, port)
        n = len(ASYNC_MSG)
        start = time.perf_counter()
        for _ in range(count):
            writer.write(ASYNC_MSG)
            await reader.readexactly(n)
        elapsed = time.perf_counter() - start
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return elapsed

    return {"rtt_us": asyncio.run(main()) / count * 1e6}


# --------------------------------------------------------------------------------------------
# many connections

_FD_MARGIN = 64  # descriptors besides the connections' (stdio, the listener, imports...)


def rss_bytes() -> int:
    """Resident set size of this process now (Linux: /proc/self/statm), else peak RSS."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fd_capacity(wanted: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit toward *wanted* descriptors, up to the hard limit;
    returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if new > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
    return wanted if soft == resource.RLIM_INFINITY else soft


#: What the last :func:`many` run did (connections opened, whether the fd limit capped it).
many_info: dict[str, Any] = {}

#: Set by the runner: measure tracemalloc in the next :func:`many` run (a second pass).
many_trace = [True]


def _open_many(srv: socket.socket, count: int) -> list[socket.socket]:
    addr = srv.getsockname()
    held: list[socket.socket] = []
    for _ in range(count):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.connect(addr)
        s, _ = srv.accept()
        held.append(c)
        held.append(s)
    return held


def many(count: int) -> dict[str, float]:
    """Open *count* connections (connect + accept, one thread) and hold them all open.
    Time to open them, and the process's memory per connection (both ends: the client and
    the accepted socket) as RSS growth and, in a second pass, as tracemalloc's count of
    Python allocations. On kernel sockets, the file-descriptor limit (two per connection)
    may cap *count*: :data:`many_info` says so."""
    kernel = not _virtual()
    requested = count
    if kernel:
        limit = fd_capacity(2 * count + _FD_MARGIN)
        count = min(count, max(1, (limit - _FD_MARGIN) // 2))
    srv = listener(backlog=128)
    gc.collect()
    rss0 = rss_bytes()
    start = time.perf_counter()
    held = _open_many(srv, count)
    elapsed = time.perf_counter() - start
    gc.collect()
    rss1 = rss_bytes()
    close_all(*held)
    del held
    result = {
        "open_us": elapsed / count * 1e6,
        "rss_kib": (rss1 - rss0) / count / 1024,
    }
    if many_trace[0]:
        gc.collect()
        was_tracing = tracemalloc.is_tracing()
        if not was_tracing:
            tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        held = _open_many(srv, count)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - base
        if not was_tracing:
            tracemalloc.stop()
        close_all(*held)
        del held
        result["traced_kib"] = traced / count / 1024
    srv.close()
    many_info.clear()
    many_info.update(
        requested=requested, opened=count, capped=count < requested, open_s=round(elapsed, 3)
    )
    return result


def _virtual() -> bool:
    from usersock.net import current

    return current() is not None


# --------------------------------------------------------------------------------------------
# patched() enter + exit


def patch_cost(loops: int) -> dict[str, float]:
    """Cost of ``with usersock.patched(): pass`` (a fresh network each time) and of
    ``with usersock.patched(net): pass`` (a network made beforehand), µs per enter+exit.
    Uses ``benchmarks/patch_cost.py`` when present; measures here otherwise."""
    try:
        from benchmarks import patch_cost as external
    except ImportError:
        external = None  # type: ignore[assignment]
    if external is not None and hasattr(external, "measure"):
        out = external.measure(loops=loops, runs=3)
        return {
            "fresh_us": out["fresh network"],
            "given_us": out["given network, outermost"],
        }
    return _patch_cost_here(loops)


def _patch_cost_here(loops: int) -> dict[str, float]:
    from usersock.net import Network
    from usersock.patch import patched

    def best_us(fn: Callable[[], object], n: int) -> float:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(n):
                fn()
            best = min(best, (time.perf_counter() - start) / n)
        return best * 1e6

    def fresh() -> None:
        with patched():
            pass

    net = Network()
    ctx = patched(net)

    def given() -> None:
        with ctx:
            pass

    try:
        return {"fresh_us": best_us(fresh, max(loops // 10, 1)), "given_us": best_us(given, loops)}
    finally:
        net.close()


# --------------------------------------------------------------------------------------------
# The table of scenarios

_HIGHER, _LOWER = True, False

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "bulk",
            "one connection, 64 KiB sendall / recv_into",
            bulk,
            (Metric("mbps", "bulk transfer", "MB/s", _HIGHER, Target(">=", 0.5)),),
            "MiB",
            default=256,
            quick=32,
            tiny=1,
        ),
        Scenario(
            "ping1",
            "1-byte echo between two threads",
            ping1,
            (Metric("rtt_us", "ping-pong 1 B", "µs/round trip", _LOWER, Target("<=", 2.0)),),
            "round trips",
            default=20000,
            quick=4000,
            tiny=20,
        ),
        Scenario(
            "ping1k",
            "1-KiB echo between two threads",
            ping1k,
            (Metric("rtt_us", "ping-pong 1 KiB", "µs/round trip", _LOWER),),
            "round trips",
            default=20000,
            quick=4000,
            tiny=20,
        ),
        Scenario(
            "connect",
            "connect + accept + close",
            connect,
            (Metric("rate", "connect+accept+close", "conn/s", _HIGHER, Target(">=", 1.0)),),
            "connections",
            default=5000,
            quick=1000,
            tiny=10,
        ),
        Scenario(
            "http-requests",
            "requests.Session keep-alive -> ThreadingHTTPServer",
            http_requests,
            (Metric("rate", "HTTP requests.Session", "req/s", _HIGHER, Target(">=", 1.0)),),
            "requests",
            default=2000,
            quick=400,
            tiny=5,
        ),
        Scenario(
            "http-urllib",
            "urllib.request, new connection per request",
            http_urllib,
            (Metric("rate", "HTTP urllib.request", "req/s", _HIGHER, Target(">=", 1.0)),),
            "requests",
            default=2000,
            quick=400,
            tiny=5,
        ),
        Scenario(
            "http-client",
            "http.client.HTTPConnection keep-alive",
            http_client,
            (Metric("rate", "HTTP http.client", "req/s", _HIGHER),),
            "requests",
            default=2000,
            quick=400,
            tiny=5,
        ),
        Scenario(
            "asyncio",
            "asyncio streams, 64-byte echo",
            asyncio_echo,
            (Metric("rtt_us", "asyncio streams echo", "µs/round trip", _LOWER, Target("<=", 1.0)),),
            "round trips",
            default=10000,
            quick=2000,
            tiny=20,
        ),
        Scenario(
            "many",
            "concurrent established connections held open",
            many,
            (
                Metric("open_us", "many conns: time to open", "µs/conn", _LOWER),
                Metric(
                    "rss_kib",
                    "many conns: RSS",
                    "KiB/conn",
                    _LOWER,
                    Target("<=", 16, absolute=True),
                ),
                Metric(
                    "traced_kib",
                    "many conns: tracemalloc",
                    "KiB/conn",
                    _LOWER,
                    Target("<=", 16, absolute=True),
                ),
            ),
            "connections",
            default=10000,
            quick=2000,
            tiny=20,
            isolate=True,
        ),
        Scenario(
            "patch",
            "with usersock.patched(): pass",
            patch_cost,
            (
                Metric(
                    "fresh_us",
                    "patched() enter+exit, fresh network",
                    "µs",
                    _LOWER,
                    Target("<=", 100, absolute=True),
                ),
                Metric("given_us", "patched(net) enter+exit, given network", "µs", _LOWER),
            ),
            "loops",
            default=2000,
            quick=500,
            tiny=10,
            envs=(USERSOCK,),
            own_patch=True,
        ),
    )
}

#: Names that select several scenarios on the command line.
GROUPS = {
    "ping": ("ping1", "ping1k"),
    "http": ("http-requests", "http-urllib", "http-client"),
}
