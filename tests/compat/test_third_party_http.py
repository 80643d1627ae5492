"""Third-party HTTP libraries over ``usersock.patched()``: httpx (sync on ``socket``, async on
asyncio through anyio), aiohttp's client and its web server.

httpx and aiohttp resolve names their own way (httpcore calls ``socket.create_connection``;
anyio and aiohttp go through ``loop.getaddrinfo`` and ``loop.sock_connect``/
``create_connection``), so each reaches the virtual hosts table by a different road.
"""

from __future__ import annotations

import asyncio
import http.server
import pathlib
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
import pytest
from aiohttp import web

import usersock

if TYPE_CHECKING:
    from tests.compat.conftest import Serving

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, WAIT))


def client_connections(net: Any, port: int) -> list[Any]:
    return [c for c in net.connections() if c.remote is not None and c.remote[1] == port]


def test_httpx_sync_against_http_server(
    serving: Serving, hello_handler: type[http.server.BaseHTTPRequestHandler], wait: float
) -> None:
    with usersock.patched() as net:
        net.add_host("api.test")
        server = http.server.ThreadingHTTPServer(("api.test", 0), hello_handler)
        port = server.server_address[1]
        with serving(server), httpx.Client(base_url=f"http://api.test:{port}", timeout=wait) as c:
            for i in range(10):
                r = c.get(f"/sync/{i}")
                assert r.status_code == 200
                assert r.text == f"hello /sync/{i}"
            assert c.post("/p", content=b"body").text == "posted /p: body"
            # httpcore checks a pooled connection with select/poll before reusing it: the
            # idle virtual socket must not look readable, or every request would reconnect.
            assert len(client_connections(net, port)) == 1


def test_httpx_async_against_http_server(
    serving: Serving, hello_handler: type[http.server.BaseHTTPRequestHandler], wait: float
) -> None:
    async def main(port: int) -> None:
        async with httpx.AsyncClient(base_url=f"http://api.test:{port}", timeout=wait) as c:
            responses = await asyncio.gather(*(c.get(f"/async/{i}") for i in range(20)))
            assert [r.text for r in responses] == [f"hello /async/{i}" for i in range(20)]
            for i in range(5):
                assert (await c.get(f"/again/{i}")).text == f"hello /again/{i}"

    class Server(http.server.ThreadingHTTPServer):
        # 20 connections at once overflow socketserver's default backlog of 5; the dropped
        # SYNs are retransmitted after 1 s, 3 s... (on Linux too): correct, but slow.
        request_queue_size = 32

    with usersock.patched() as net:
        net.add_host("api.test")
        server = Server(("api.test", 0), hello_handler)
        port = server.server_address[1]
        with serving(server):
            run(main(port))


async def _hello(request: web.Request) -> web.Response:
    return web.Response(text=f"aiohttp {request.match_info['name']}")


async def _echo_json(request: web.Request) -> web.Response:
    data = await request.json()
    return web.json_response({"got": data, "host": request.host})


async def _stream(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse()
    await resp.prepare(request)
    for i in range(100):
        await resp.write(b"%05d" % i * 200)
    await resp.write_eof()
    return resp


def _app() -> web.Application:
    app = web.Application()
    app.router.add_get("/hello/{name}", _hello)
    app.router.add_post("/json", _echo_json)
    app.router.add_get("/stream", _stream)
    return app


async def _start_site(host: str) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, port


def test_aiohttp_client_and_server() -> None:
    async def main(net: Any) -> None:
        runner, port = await _start_site("web.test")
        try:
            timeout = aiohttp.ClientTimeout(total=WAIT)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                for name in ("a", "b", "c"):
                    async with session.get(f"http://web.test:{port}/hello/{name}") as r:
                        assert r.status == 200
                        assert await r.text() == f"aiohttp {name}"
                async with session.post(f"http://web.test:{port}/json", json={"k": [1, 2]}) as r:
                    assert await r.json() == {"got": {"k": [1, 2]}, "host": f"web.test:{port}"}
                async with session.get(f"http://web.test:{port}/stream") as r:
                    body = await r.read()
                    assert body == b"".join(b"%05d" % i * 200 for i in range(100))
                # aiohttp pools connections: five sequential requests, one connection.
                assert len(client_connections(net, port)) == 1
                results = await asyncio.gather(
                    *(session.get(f"http://web.test:{port}/hello/{i}") for i in range(10))
                )
                texts = [await r.text() for r in results]
                for r in results:
                    r.release()
                assert texts == [f"aiohttp {i}" for i in range(10)]
        finally:
            await runner.cleanup()

    with usersock.patched() as net:
        net.add_host("web.test")
        run(main(net))


def test_aiohttp_client_against_http_server(
    serving: Serving, hello_handler: type[http.server.BaseHTTPRequestHandler]
) -> None:
    async def main(port: int) -> None:
        timeout = aiohttp.ClientTimeout(total=WAIT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for i in range(5):
                async with session.get(f"http://api.test:{port}/x/{i}") as r:
                    assert await r.text() == f"hello /x/{i}"

    with usersock.patched() as net:
        net.add_host("api.test")
        server = http.server.ThreadingHTTPServer(("api.test", 0), hello_handler)
        with serving(server):
            run(main(server.server_address[1]))


def test_httpx_sync_against_aiohttp_server(wait: float) -> None:
    """A sync client in a worker thread against the aiohttp server on the loop thread."""

    async def main() -> None:
        runner, port = await _start_site("web.test")
        try:

            def fetch() -> list[str]:
                with httpx.Client(timeout=wait) as c:
                    return [c.get(f"http://web.test:{port}/hello/{i}").text for i in range(5)]

            texts = await asyncio.to_thread(fetch)
            assert texts == [f"aiohttp {i}" for i in range(5)]
        finally:
            await runner.cleanup()

    with usersock.patched() as net:
        net.add_host("web.test")
        run(main())


def test_httpx_async_against_aiohttp_server() -> None:
    async def main() -> None:
        runner, port = await _start_site("web.test")
        try:
            async with httpx.AsyncClient(timeout=WAIT) as c:
                r = await c.post(f"http://web.test:{port}/json", json=[1, "two"])
                assert r.json() == {"got": [1, "two"], "host": f"web.test:{port}"}
                r = await c.get(f"http://web.test:{port}/stream")
                assert len(r.content) == 100 * 1000
        finally:
            await runner.cleanup()

    with usersock.patched() as net:
        net.add_host("web.test")
        run(main())


def test_aiohttp_websocket() -> None:
    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(msg.data.upper())
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data[::-1])
        return ws

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/ws", ws_handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "ws.test", 0).start()
        port = runner.addresses[0][1]
        try:
            timeout = aiohttp.ClientTimeout(total=WAIT)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.ws_connect(f"http://ws.test:{port}/ws") as ws,
            ):
                for i in range(20):
                    await ws.send_str(f"message {i}")
                    assert await ws.receive_str() == f"MESSAGE {i}"
                big = bytes(range(256)) * 1024
                await ws.send_bytes(big)
                assert await ws.receive_bytes() == big[::-1]
                await ws.close()
        finally:
            await runner.cleanup()

    with usersock.patched() as net:
        net.add_host("ws.test")
        run(main())


def test_aiohttp_file_response(tmp_path: pathlib.Path) -> None:
    content = bytes(range(256)) * 1200  # 300 KiB
    path = tmp_path / "static.bin"
    path.write_bytes(content)

    async def main() -> None:
        app = web.Application()

        async def file(request: web.Request) -> web.FileResponse:
            return web.FileResponse(path)

        app.router.add_get("/file", file)
        # A short shutdown timeout: cleanup must not wait 60 s for a hung handler.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "files.test", 0).start()
        port = runner.addresses[0][1]
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
                session.get(f"http://files.test:{port}/file") as r,
            ):
                assert r.status == 200
                assert await r.read() == content
        finally:
            await runner.cleanup()

    with usersock.patched() as net:
        net.add_host("files.test")
        run(main())
