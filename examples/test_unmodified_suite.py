"""An ordinary test module that knows nothing about usersock.

Run it on real sockets: ``python -m pytest examples/test_unmodified_suite.py``
Run it on virtual ones: ``python -m pytest --usersock examples/test_unmodified_suite.py``
(or put ``usersock = true`` under ``[pytest]`` / ``[tool.pytest.ini_options]``).

With ``--usersock`` every test below runs inside its own fresh virtual network, from setup
to teardown: the servers listen on no real port and nothing leaves the process.
"""

import asyncio
import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, cast

import pytest


class Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[str, int]]:
    server = HTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield cast("tuple[str, int]", server.server_address)
    server.shutdown()
    server.server_close()
    thread.join()


def test_http_client(http_server: tuple[str, int]) -> None:
    host, port = http_server
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"ok"
    conn.close()


def test_asyncio_streams() -> None:
    async def main() -> bytes:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write((await reader.readline()).upper())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping\n")
        answer = await reader.readline()
        writer.close()
        server.close()
        await server.wait_closed()
        return answer

    assert asyncio.run(main()) == b"PING\n"
