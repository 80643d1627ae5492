"""asyncio over ``usersock.patched()``: streams, ``loop.sock_*`` calls and datagram endpoints.

asyncio's selector event loop waits on ``fileno()``; these tests show the readiness
descriptors drive it without patching asyncio, including a loop (and its selector) created
before ``patched()`` was entered. Host names go through ``loop.getaddrinfo`` (the default
executor), so the virtual hosts table is reached from a worker thread too.
"""

from __future__ import annotations

import asyncio
import collections
import os
import socket
import sys
import tempfile
from collections.abc import Coroutine
from typing import Any

import pytest

import usersock

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """``asyncio.run`` with the suite's time bound on the whole coroutine."""
    return asyncio.run(asyncio.wait_for(coro, WAIT))


async def _echo_lines(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            writer.write(b"echo " + line)
            await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()


async def _stream_client(host: str, port: int, n: int) -> list[bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    got = []
    try:
        for i in range(10):
            writer.write(b"%d:%d\n" % (n, i))
            await writer.drain()
            got.append(await reader.readline())
        writer.write_eof()
        assert await reader.read() == b""
    finally:
        writer.close()
        await writer.wait_closed()
    return got


def test_streams_by_host_name() -> None:
    async def main(address: str) -> None:
        server = await asyncio.start_server(_echo_lines, "api.test", 0)
        port = server.sockets[0].getsockname()[1]
        assert server.sockets[0].getsockname()[0] == address
        async with server:
            results = await asyncio.gather(
                *(_stream_client("api.test", port, n) for n in range(10))
            )
        for n, got in enumerate(results):
            assert got == [b"echo %d:%d\n" % (n, i) for i in range(10)]

    with usersock.patched() as net:
        run(main(net.add_host("api.test")))


def test_streams_bulk_transfer_and_eof() -> None:
    """1 MiB each way through StreamReader/StreamWriter flow control (pause/resume reading
    depends on writability mirrored on the descriptor)."""
    payload = bytes(range(256)) * 4096

    async def upload_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read()
        writer.write(data[::-1])
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main() -> None:
        server = await asyncio.start_server(upload_echo, "localhost", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await asyncio.open_connection("localhost", port)
            writer.write(payload)
            await writer.drain()
            writer.write_eof()
            assert await reader.read() == payload[::-1]
            writer.close()
            await writer.wait_closed()

    with usersock.patched():
        run(main())


def test_loop_sock_calls() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with listener, client:
            listener.setblocking(False)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("api.test", 0))
            listener.listen()
            port = listener.getsockname()[1]
            client.setblocking(False)

            accepted, (conn, peer) = await asyncio.gather(
                loop.sock_connect(client, ("api.test", port)), loop.sock_accept(listener)
            )
            assert accepted is None
            with conn:
                assert peer == client.getsockname()
                conn.setblocking(False)
                await loop.sock_sendall(client, b"x" * 200_000)
                got = bytearray()
                while len(got) < 200_000:
                    chunk = await loop.sock_recv(conn, 65536)
                    assert chunk
                    got += chunk
                assert got == b"x" * 200_000

                await loop.sock_sendall(conn, b"reply")
                buf = bytearray(16)
                n = await loop.sock_recv_into(client, buf)
                assert buf[:n] == b"reply"[:n]
                rest = b"reply"[n:]
                while rest:
                    more = await loop.sock_recv(client, 16)
                    assert rest.startswith(more)
                    rest = rest[len(more) :]

                conn.shutdown(socket.SHUT_WR)
                assert await loop.sock_recv(client, 16) == b""

    with usersock.patched() as net:
        net.add_host("api.test")
        run(main())


def test_loop_sock_connect_refused() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # bound, not listening: connects are refused
            with socket.socket() as client:
                client.setblocking(False)
                with pytest.raises(ConnectionRefusedError):
                    await loop.sock_connect(client, ("127.0.0.1", port))

    with usersock.patched():
        run(main())


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(b"echo " + data, addr)


class _Collect(asyncio.DatagramProtocol):
    def __init__(self, expected: int) -> None:
        self.received: list[tuple[bytes, Any]] = []
        self.expected = expected
        self.done = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.append((data, addr))
        if len(self.received) == self.expected and not self.done.done():
            self.done.set_result(None)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


def test_datagram_endpoints_both_sides() -> None:
    async def main(server_address: str) -> None:
        loop = asyncio.get_running_loop()
        server, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("udp.test", 0))
        port = server.get_extra_info("sockname")[1]
        try:
            client, proto = await loop.create_datagram_endpoint(
                lambda: _Collect(20), remote_addr=("udp.test", port)
            )
            try:
                assert client.get_extra_info("peername") == (server_address, port)
                for i in range(20):
                    client.sendto(b"d%d" % i)
                await proto.done
                assert sorted(d for d, _ in proto.received) == sorted(
                    b"echo d%d" % i for i in range(20)
                )
                assert {a for _, a in proto.received} == {(server_address, port)}
            finally:
                client.close()

            # An unconnected client endpoint addresses each datagram.
            other, proto2 = await loop.create_datagram_endpoint(
                lambda: _Collect(3), local_addr=("127.0.0.1", 0)
            )
            try:
                for i in range(3):
                    other.sendto(b"u%d" % i, ("udp.test", port))
                await proto2.done
                assert sorted(d for d, _ in proto2.received) == [b"echo u0", b"echo u1", b"echo u2"]
            finally:
                other.close()
        finally:
            server.close()

    with usersock.patched() as net:
        address = net.add_host("udp.test")
        run(main(address))


def test_event_loop_created_before_patching() -> None:
    """A loop (and its epoll selector and self-pipe) made before ``patched()``, used inside:
    nothing about the loop is patched, only the sockets it is handed."""
    loop = asyncio.new_event_loop()
    try:

        async def main() -> None:
            server = await asyncio.start_server(_echo_lines, "early.test", 0)
            port = server.sockets[0].getsockname()[1]
            async with server:
                got = await asyncio.gather(
                    *(_stream_client("early.test", port, n) for n in range(3))
                )
            assert got[2][9] == b"echo 2:9\n"

        with usersock.patched() as net:
            net.add_host("early.test")
            loop.run_until_complete(asyncio.wait_for(main(), WAIT))
            loop.run_until_complete(loop.shutdown_default_executor())

        # The same loop still works with real sockets afterwards (on 127.0.0.1 only).
        async def real() -> None:
            server = await asyncio.start_server(_echo_lines, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            async with server:
                assert await _stream_client("127.0.0.1", port, 7) == [
                    b"echo 7:%d\n" % i for i in range(10)
                ]

        loop.run_until_complete(asyncio.wait_for(real(), WAIT))
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def test_start_server_on_all_interfaces_and_writelines() -> None:
    """``host=None`` binds every family ``getaddrinfo(None, port, AI_PASSIVE)`` lists (one
    socket per family); ``writelines`` is ``sendmsg`` on 3.12+."""

    async def main() -> None:
        server = await asyncio.start_server(_echo_lines, None, 0)
        families = {s.family for s in server.sockets}
        assert families == {socket.AF_INET, socket.AF_INET6}
        async with server:
            for sock in server.sockets:
                host = "127.0.0.1" if sock.family == socket.AF_INET else "::1"
                reader, writer = await asyncio.open_connection(host, sock.getsockname()[1])
                writer.writelines([b"a", b"b\n", b"c\n"])
                await writer.drain()
                assert await reader.readline() == b"echo ab\n"
                assert await reader.readline() == b"echo c\n"
                writer.close()
                await writer.wait_closed()

    with usersock.patched():
        run(main())


def test_open_connection_happy_eyeballs_to_dual_stack_host() -> None:
    """Happy Eyeballs (RFC 8305) races the host's addresses; only the IPv6 one listens."""

    async def main() -> None:
        server = await asyncio.start_server(_echo_lines, "fd00::7", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await asyncio.open_connection(
                "dual.test", port, happy_eyeballs_delay=0.05
            )
            assert writer.get_extra_info("peername")[:2] == ("fd00::7", port)
            writer.write(b"hi\n")
            assert await reader.readline() == b"echo hi\n"
            writer.close()
            await writer.wait_closed()

    with usersock.patched() as net:
        net.add_host("dual.test", "198.18.7.7", "fd00::7")
        run(main())


@pytest.mark.skipif(sys.version_info < (3, 11), reason="loop.sock_sendto is new in 3.11")
def test_loop_sock_sendto_recvfrom() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with a, b:
            a.setblocking(False)
            b.setblocking(False)
            a.bind(("udp.test", 0))
            b.bind(("127.0.0.1", 0))
            data, addr = (
                await asyncio.gather(
                    loop.sock_recvfrom(a, 100),  # type: ignore[attr-defined]  # 3.11+
                    loop.sock_sendto(b, b"datagram", ("udp.test", a.getsockname()[1])),  # type: ignore[attr-defined]  # 3.11+
                )
            )[0]
            assert (data, addr) == (b"datagram", b.getsockname())
            buf = bytearray(4)
            await loop.sock_sendto(a, b"truncated", addr)  # type: ignore[attr-defined]  # 3.11+
            n, src = await loop.sock_recvfrom_into(b, buf)  # type: ignore[attr-defined]  # 3.11+
            assert (bytes(buf[:n]), src) == (b"trun", a.getsockname())

    with usersock.patched() as net:
        net.add_host("udp.test")
        run(main())


def test_loop_sock_sendfile() -> None:
    payload = b"0123456789abcdef" * 8192

    async def main() -> None:
        loop = asyncio.get_running_loop()
        listener = socket.create_server(("127.0.0.1", 0))
        client = socket.socket()
        with listener, client, tempfile.TemporaryFile() as f:
            f.write(payload)
            f.flush()
            f.seek(0)
            listener.setblocking(False)
            client.setblocking(False)
            _, (conn, _) = await asyncio.gather(
                loop.sock_connect(client, listener.getsockname()), loop.sock_accept(listener)
            )
            with conn:
                conn.setblocking(False)

                async def receive() -> bytes:
                    got = bytearray()
                    while len(got) < len(payload):
                        chunk = await loop.sock_recv(conn, 65536)
                        if not chunk:
                            break
                        got += chunk
                    return bytes(got)

                sent, got = await asyncio.wait_for(
                    asyncio.gather(loop.sock_sendfile(client, f), receive()), 5
                )
                assert sent == len(payload)
                assert got == payload
                assert os.lseek(f.fileno(), 0, os.SEEK_CUR) == len(payload)

    with usersock.patched():
        asyncio.run(main())


def test_datagram_endpoint_hears_port_unreachable() -> None:
    """A datagram to a port nobody listens on comes back as ICMP port unreachable, which
    asyncio hands to ``error_received`` as ``ConnectionRefusedError``, as on Linux."""

    class Errors(asyncio.DatagramProtocol):
        def __init__(self) -> None:
            self.error = asyncio.get_running_loop().create_future()

        def error_received(self, exc: Exception) -> None:
            if not self.error.done():
                self.error.set_result(exc)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # closed again when the block ends
        transport, protocol = await loop.create_datagram_endpoint(
            Errors, remote_addr=("127.0.0.1", port)
        )
        try:
            transport.sendto(b"anyone?")
            assert isinstance(await protocol.error, ConnectionRefusedError)
        finally:
            transport.close()

    with usersock.patched():
        run(main())


def test_reuse_port_servers_share_connections() -> None:
    """Two servers on one port with ``reuse_port=True`` (one per worker, as multi-process
    servers run): over 64 connections, both get some (on Linux all 64 going to one of them
    has probability 2**-63)."""

    async def main() -> collections.Counter[str]:
        hits: collections.Counter[str] = collections.Counter()

        def handler(name: str) -> Any:
            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                hits[name] += 1
                writer.close()
                await writer.wait_closed()

            return handle

        first = await asyncio.start_server(handler("first"), "127.0.0.1", 0, reuse_port=True)
        port = first.sockets[0].getsockname()[1]
        second = await asyncio.start_server(handler("second"), "127.0.0.1", port, reuse_port=True)
        async with first, second:
            for _ in range(64):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                assert await reader.read() == b""
                writer.close()
                await writer.wait_closed()
        return hits

    with usersock.patched():
        hits = run(main())
    assert sum(hits.values()) == 64
    assert hits["first"] > 0 and hits["second"] > 0, hits
