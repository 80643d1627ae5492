"""Cleanup: 1,000 ``patched()`` cycles, each starting a server and making a request, leave no
extra threads, no extra descriptors and no memory growth beyond noise.

Each cycle is a whole life: enter ``patched()``, start an ``http.server.HTTPServer`` on a
virtual host, serve one request from a thread (``handle_request``) to an ``http.client``
request, stop, leave. Memory is measured with ``tracemalloc`` after a warm-up (first-use
caches, imported modules) and compared after the 1,000 cycles, twice:

* memory allocated with a usersock frame on the stack must not grow by more than a few bytes
  a cycle — one leaked object (a socket, an endpoint, a timer entry) per cycle exceeds it;
* all memory must not grow by more than the interpreter's own bounded caches account for
  (CPython's type attribute cache keeps a reference to each distinct ``'do_' + command``
  string ``http.server`` looks up, up to 4,096 of them: ~40 KiB over 1,000 cycles here).

The run is timed and the per-cycle cost printed (tracemalloc roughly quintuples it).
"""

from __future__ import annotations

import gc
import http.client
import http.server
import os
import threading
import time
import tracemalloc

import pytest

import usersock
import usersock.net

CYCLES = 1000
WARM_UP = 50
#: Allowed growth of memory allocated under usersock frames over all cycles: 8 bytes a
#: cycle, far less than one leaked object per cycle.
USERSOCK_NOISE = CYCLES * 8
#: Allowed growth of all traced memory: the interpreter's bounded caches (see above).
TOTAL_NOISE = 256 * 1024
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


def live_objects() -> dict[str, int]:
    """How many networks, stacks and sockets of usersock's the garbage collector can see."""
    kinds = {"Network": usersock.net.Network, "Stack": usersock.Stack, "socket": usersock.socket}
    counts = dict.fromkeys(kinds, 0)
    for obj in gc.get_objects():
        for name, cls in kinds.items():
            if isinstance(obj, cls):
                counts[name] += 1
    return counts


@pytest.mark.timeout(900)
def test_thousand_patched_cycles_leave_nothing_behind():
    for i in range(WARM_UP):
        one_cycle(i)
    gc.collect()
    threads_before = threading.active_count()
    fds_before = fd_count()
    tracemalloc.start(10)
    try:
        gc.collect()
        memory_before = tracemalloc.get_traced_memory()[0]
        snapshot_before = tracemalloc.take_snapshot()

        began = time.monotonic()
        for i in range(CYCLES):
            one_cycle(i)
        elapsed = time.monotonic() - began

        gc.collect()
        memory_after = tracemalloc.get_traced_memory()[0]
        snapshot_after = tracemalloc.take_snapshot()
        threads_after = threading.active_count()
        fds_after = fd_count()
    finally:
        tracemalloc.stop()

    growth = memory_after - memory_before
    ours = snapshot_after.filter_traces(USERSOCK_FRAMES).compare_to(
        snapshot_before.filter_traces(USERSOCK_FRAMES), "traceback"
    )
    our_growth = sum(stat.size_diff for stat in ours)
    print(
        f"\n{CYCLES} patched() cycles in {elapsed:.1f}s ({elapsed / CYCLES * 1000:.1f} ms/cycle,"
        f" tracemalloc on); memory growth {growth} bytes, {our_growth} under usersock frames;"
        f" fds {fds_before}->{fds_after}; threads {threads_before}->{threads_after}"
    )
    alive = live_objects()
    assert threads_after == threads_before, threading.enumerate()
    assert fds_after == fds_before
    assert alive == dict.fromkeys(alive, 0), f"still referenced after leaving patched(): {alive}"
    top = "\n\n".join(
        f"{stat}\n" + "\n".join(stat.traceback.format()) for stat in ours[:5] if stat.size_diff
    )
    assert our_growth <= USERSOCK_NOISE, top
    if growth > TOTAL_NOISE:
        diff = snapshot_after.compare_to(snapshot_before, "lineno")
        raise AssertionError("\n".join(str(stat) for stat in diff[:10]))
