"""Code that goes past the socket object to its descriptor, over ``usersock.patched()``.

A virtual socket's ``fileno()`` is a readiness descriptor, not the data path: waiting on it is
supported, reading, writing or taking it over is not. ``socket.sendfile`` stays on the socket
object (usersock sends with ``send``); ``multiprocessing.connection`` takes the descriptor over
with ``detach()`` and then uses ``os.read``/``os.write`` on it. (asyncio's ``sock_sendfile``,
which calls ``os.sendfile`` on the descriptor, is in ``test_asyncio.py``.)
"""

from __future__ import annotations

import multiprocessing.connection
import socket
import tempfile
import threading

import pytest

import usersock

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0


def test_socket_sendfile() -> None:
    payload = bytes(range(256)) * 1000
    with (
        usersock.patched(),
        socket.create_server(("127.0.0.1", 0)) as listener,
        socket.create_connection(listener.getsockname(), timeout=WAIT) as client,
        tempfile.TemporaryFile() as f,
    ):
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(WAIT)
            f.write(payload)
            f.seek(0)
            assert client.sendfile(f, offset=10, count=len(payload) - 20) == len(payload) - 20
            assert f.tell() == len(payload) - 10
            client.shutdown(socket.SHUT_WR)
            with conn.makefile("rb") as r:
                assert r.read() == payload[10:-10]


@pytest.mark.xfail(
    strict=True,
    raises=OSError,
    reason="multiprocessing.connection's SocketListener.accept() and SocketClient() hand the"
    " socket's kernel descriptor to Connection with socket.detach() and then use"
    " os.read/os.write on it; a virtual socket has none (detach raises EOPNOTSUPP)",
)
def test_multiprocessing_connection_listener_and_client() -> None:
    errors: list[BaseException] = []

    with usersock.patched() as net:
        net.add_host("mp.test")
        with multiprocessing.connection.Listener(("mp.test", 0), authkey=b"k") as listener:

            def serve() -> None:
                try:
                    with listener.accept() as conn:
                        while (msg := conn.recv()) != "bye":
                            conn.send({"echo": msg})
                except BaseException as exc:
                    errors.append(exc)

            server = threading.Thread(target=serve)
            server.start()
            try:
                with multiprocessing.connection.Client(listener.address, authkey=b"k") as c:
                    for msg in ("a", [1, 2], b"x" * 100_000):
                        c.send(msg)
                        assert c.poll(WAIT)
                        assert c.recv() == {"echo": msg}
                    c.send("bye")
            finally:
                if server.is_alive():
                    # The client failed: unblock the server's accept() with a connection.
                    with socket.create_connection(listener.address, timeout=WAIT):
                        pass
                server.join(WAIT)
        if errors:
            raise errors[0]
