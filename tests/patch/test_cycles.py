"""1,000 ``patched()`` cycles, each with a server, a connection and a lookup, leave no extra
thread and no extra descriptor behind."""

from __future__ import annotations

import gc
import os
import socket
import threading
import weakref

from usersock.patch import is_patched, patched

CYCLES = 1000


def open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


def one_cycle() -> weakref.ref[object]:
    with patched() as net:
        net.add_host("api.test")
        server = socket.create_server(("api.test", 0))
        port = server.getsockname()[1]
        client = socket.create_connection(("api.test", port), timeout=5)
        conn, _ = server.accept()
        client.sendall(b"x")
        assert conn.recv(1) == b"x"
        client.fileno()  # a readiness descriptor, closed with the network
        assert socket.getaddrinfo("api.test", port)[0][4][1] == port
        # The sockets are left open on purpose: leaving patched() closes them.
        return weakref.ref(net)


def test_thousand_cycles_leave_no_threads_or_descriptors() -> None:
    one_cycle()  # warm up lazily created module state
    gc.collect()
    threads_before = set(threading.enumerate())
    fds_before = open_fds()
    refs = [one_cycle() for _ in range(CYCLES)]
    gc.collect()
    assert not is_patched()
    assert set(threading.enumerate()) - threads_before == set()
    assert open_fds() - fds_before == set()
    assert sum(ref() is not None for ref in refs) == 0, "networks kept alive after patched()"
