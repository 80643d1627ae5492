"""Cleanup: 1,000 ``patched()`` cycles, each starting a server and making a request, leave no
extra threads, no extra descriptors and no memory growth beyond noise.

Each cycle is a whole life: enter ``patched()``, start an ``http.server.HTTPServer`` on a
virtual host, serve one request from a thread (``handle_request``) to an ``http.client``
request, stop, leave. After a warm-up (first-use caches, imported modules) the 1,000 cycles
run under ``tracemalloc`` and are checked three ways:

* **objects** — the number of live instances of every usersock class (networks, stacks,
  sockets, endpoints, connections, timers...) is exactly what it was: a leaked object of ours
  shows up here whatever its size;
* **memory under usersock frames** — bytes allocated with a usersock frame on the stack
  may grow by at most :data:`USERSOCK_NOISE`. That is not zero because CPython keeps some
  bounded per-code caches: up to 3.10 each code object keeps a "zombie" frame for reuse, and
  a second one is made when two threads run the same function at once, ~100 KiB over the
  first thousand cycles on 3.10, flat after; 3.11+ grows by a few hundred bytes. One leaked
  socket, endpoint or buffer per cycle is several KiB a cycle, far above the bound;
* **all memory** — at most :data:`TOTAL_NOISE` (the interpreter's type attribute cache keeps
  a reference to each distinct ``'do_' + command`` string ``http.server`` looks up, up to
  4,096 of them: ~40-60 KiB over 1,000 cycles here).

The run is timed and the per-cycle cost printed (tracemalloc roughly triples it).
"""

from __future__ import annotations

import collections
import gc
import http.client
import http.server
import os
import threading
import time
import tracemalloc

import pytest

import usersock

CYCLES = 1000
WARM_UP = 100
#: Allowed growth of memory allocated under usersock frames over all cycles (see above).
USERSOCK_NOISE = 192 * 1024
#: Allowed growth of all traced memory (see above).
TOTAL_NOISE = 384 * 1024
USERSOCK_FRAMES = [
    tracemalloc.Filter(True, os.path.join(os.path.dirname(usersock.__file__), "*"), all_frames=True)
]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"cycle {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def one_cycle(i: int) -> None:
    """One patched() life: server, one request, shutdown."""
    with usersock.patched() as net:
        net.add_host("cycle.test")
        server = http.server.HTTPServer(("cycle.test", 0), Handler)
        port = server.server_address[1]
        server.timeout = 10  # handle_request gives up (and the assert below fails) after 10 s
        thread = threading.Thread(target=server.handle_request)
        thread.start()
        conn = http.client.HTTPConnection("cycle.test", port, timeout=10)
        try:
            conn.request("GET", f"/{i}")
            resp = conn.getresponse()
            assert resp.status == 200
            assert resp.read() == f"cycle /{i}".encode()
        finally:
            conn.close()
            thread.join(10)
            server.server_close()
        assert not thread.is_alive()


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def usersock_objects() -> collections.Counter[str]:
    """Live instances of usersock's classes that the garbage collector can see, by class.
    (Objects without a ``__dict__`` that hold no references, like slotted records of plain
    ints, are not tracked by the collector; their owners are.)"""
    counts: collections.Counter[str] = collections.Counter()
    for obj in gc.get_objects():
        cls = type(obj)
        module = getattr(cls, "__module__", None)
        if isinstance(module, str) and module.startswith("usersock"):
            counts[f"{module}.{cls.__qualname__}"] += 1
    return counts


def settle_threads(limit: float = 10.0) -> None:
    """Join threads other than the caller's (a stack's timer thread may still be on its way
    out right after the network closed)."""
    deadline = time.monotonic() + limit
    for t in threading.enumerate():
        if t is not threading.current_thread():
            t.join(max(0.0, deadline - time.monotonic()))


@pytest.mark.timeout(900)
def test_thousand_patched_cycles_leave_nothing_behind() -> None:
    for i in range(WARM_UP):
        one_cycle(i)
    settle_threads()
    gc.collect()
    threads_before = threading.active_count()
    fds_before = fd_count()
    objects_before = usersock_objects()
    tracemalloc.start(10)
    try:
        gc.collect()
        memory_before = tracemalloc.get_traced_memory()[0]
        snapshot_before = tracemalloc.take_snapshot()

        began = time.monotonic()
        for i in range(CYCLES):
            one_cycle(i)
        elapsed = time.monotonic() - began

        settle_threads()
        gc.collect()
        memory_after = tracemalloc.get_traced_memory()[0]
        snapshot_after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    threads_after = threading.active_count()
    fds_after = fd_count()
    objects_after = usersock_objects()

    growth = memory_after - memory_before
    ours = snapshot_after.filter_traces(USERSOCK_FRAMES).compare_to(
        snapshot_before.filter_traces(USERSOCK_FRAMES), "lineno"
    )
    our_growth = sum(stat.size_diff for stat in ours)
    print(
        f"\n{CYCLES} patched() cycles in {elapsed:.1f}s ({elapsed / CYCLES * 1000:.1f} ms/cycle,"
        f" tracemalloc on); memory growth {growth} bytes, {our_growth} under usersock frames;"
        f" fds {fds_before}->{fds_after}; threads {threads_before}->{threads_after}"
    )
    assert threads_after == threads_before, threading.enumerate()
    assert fds_after == fds_before
    leaked = objects_after - objects_before
    assert not leaked, f"usersock objects still alive after leaving patched(): {dict(leaked)}"
    assert our_growth <= USERSOCK_NOISE, "\n".join(str(stat) for stat in ours[:10])
    if growth > TOTAL_NOISE:
        diff = snapshot_after.compare_to(snapshot_before, "lineno")
        raise AssertionError("\n".join(str(stat) for stat in diff[:10]))
