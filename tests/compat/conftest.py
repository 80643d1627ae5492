"""Compatibility suite: unmodified standard-library and third-party networking code, run over
``usersock.patched()`` against servers in the same process.

Every test here follows one shape: enter ``usersock.patched()``, start an unmodified server
(on ``localhost`` or a virtual host added with ``net.add_host``), talk to it with an
unmodified client, stop the server, leave. Nothing in this folder calls a usersock socket
method directly except to look at the network (``net.connections()``).

Shared pieces are fixtures (the suite runs with ``--import-mode=importlib``, so test modules
cannot import each other):

* ``serving`` — a context manager that runs a ``socketserver`` server's ``serve_forever`` in
  a thread and stops it (``shutdown`` + ``server_close`` + join) on the way out, still inside
  ``patched()``;
* ``hello_handler`` — an ``http.server`` handler answering ``GET``/``POST`` with a body that
  names the path, so a response can be checked against its request;
* an autouse guard that fails a test which leaves a thread running, a descriptor open or a
  network active.

No test sleeps to synchronise: threads meet on sockets, events and joins, and every wait has a
timeout so a hang fails instead of stalling the run.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import usersock.net
import usersock.stack.wakeup

#: Upper bound for any single wait in this suite (joins, socket timeouts, futures).
WAIT = 10.0


def open_fds() -> set[int]:
    """The descriptors this process has open right now."""
    return {int(name) for name in os.listdir("/proc/self/fd")}


def _describe_fds(fds: set[int]) -> list[str]:
    out = []
    for fd in sorted(fds):
        try:
            out.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            out.append(f"{fd} (gone)")
    return out


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail the test if it leaves a thread, a descriptor or an active network behind.

    Threads that were started by the test get :data:`WAIT` seconds to finish (a daemon
    handler thread may still be writing its last response when the client returns). The
    wake-up descriptor of the test's own thread is not a leak: it lives as long as the thread.
    """
    threads_before = set(threading.enumerate())
    # A thread that blocks on a virtual socket holds one wake-up descriptor until it ends. The
    # test's own thread outlives the test, so its descriptor is made before the count.
    usersock.stack.wakeup.current_waiter()
    fds_before = open_fds()
    yield
    for t in set(threading.enumerate()) - threads_before:
        t.join(WAIT)
    left = [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    assert not left, f"threads left running: {left}"
    assert usersock.net.current() is None, "a patched() network is still active"
    leaked = open_fds() - fds_before
    assert not leaked, f"descriptors left open: {_describe_fds(leaked)}"


@contextlib.contextmanager
def _serving(server: Any, poll_interval: float = 0.05) -> Iterator[Any]:
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": poll_interval},
        name=f"serve-{type(server).__name__}",
        daemon=True,
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)
        assert not thread.is_alive(), "serve_forever did not stop"


#: The type of the ``serving`` fixture: ``serving(server, poll_interval=0.05)``.
Serving = Callable[..., contextlib.AbstractContextManager[Any]]


@pytest.fixture
def serving() -> Serving:
    """``with serving(server): ...`` runs ``server.serve_forever`` in a thread meanwhile."""
    return _serving


class HelloHandler(http.server.BaseHTTPRequestHandler):
    """Answers ``GET /x`` with ``hello /x`` and ``POST /x`` with ``posted /x: <body>``.

    HTTP/1.1 so clients keep connections alive; quiet so the test output stays clean.
    """

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._reply(f"hello {self.path}".encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self._reply(f"posted {self.path}: ".encode() + body)

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hello_handler() -> type[http.server.BaseHTTPRequestHandler]:
    return HelloHandler


@pytest.fixture
def wait() -> float:
    """The suite's bound for one wait, in seconds."""
    return WAIT
