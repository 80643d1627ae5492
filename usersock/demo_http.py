"""``python -m usersock demo http``: unmodified ``http.server`` and ``requests`` (or
``urllib``) talking over the virtual network inside ``usersock.patched()``.

A ``ThreadingHTTPServer`` listens on ``api.test:80`` — a virtual host that exists only in
this process — and a client makes a few requests on one keep-alive session, then a few on
new connections. The server and client are the standard library's (and ``requests`` when it
is installed); nothing in them knows about usersock. At the end the network's connection
table (like ``ss -tan``) shows what went over the wire.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import urllib.request
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from usersock.net import Network
from usersock.patch import patched

log = logging.getLogger("usersock.demo")


class Handler(BaseHTTPRequestHandler):
    """Answers every GET with a small JSON document naming the path and the peer."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "client": self.client_address[0]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("server: %s %s", self.address_string(), format % args)


def _get_with_requests(urls: list[str]) -> list[str]:
    import requests

    with requests.Session() as session:
        return [session.get(url, timeout=5).text for url in urls]


def _get_with_urllib(urls: list[str]) -> list[str]:
    out = []
    for url in urls:
        with urllib.request.urlopen(url, timeout=5) as response:
            out.append(response.read().decode())
    return out


def run(requests_count: int = 3) -> tuple[list[str], Network]:
    """Serve and fetch; returns the bodies and the (closed) network for inspection."""
    with patched() as net:
        address = net.add_host("api.test")
        log.info("virtual host api.test is %s", address)
        server = ThreadingHTTPServer(("api.test", 80), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            urls = [f"http://api.test/hello/{i}" for i in range(requests_count)]
            try:
                bodies = _get_with_requests(urls)
                client = "requests.Session (keep-alive)"
            except ImportError:
                bodies = []
                client = ""
            bodies += _get_with_urllib(urls)
            for body in bodies:
                log.info("client: %s", body)
            if client:
                log.info("used %s, then urllib.request (a connection per request)", client)
            for info in net.connections():
                remote = f"{info.remote[0]}:{info.remote[1]}" if info.remote else "*:*"
                log.info(
                    "ss: %-11s %s:%d -> %s sent=%d received=%d",
                    info.state,
                    info.local[0],
                    info.local[1],
                    remote,
                    info.bytes_sent,
                    info.bytes_received,
                )
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
    return bodies, net


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m usersock demo http",
        description="http.server and requests/urllib over the virtual network.",
    )
    parser.add_argument("--requests", type=int, default=3, help="requests per client")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%Y/%m/%d %H:%M:%S",
        stream=sys.stdout,
    )
    bodies, _ = run(args.requests)
    return 0 if bodies and all('"path": "/hello/' in b for b in bodies) else 1
