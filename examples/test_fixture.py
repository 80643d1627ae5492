"""The ``usersock_net`` fixture: a fresh virtual network per test, handed to the test.

Run: ``python -m pytest examples/test_fixture.py``

The server and the client are the standard library's, unmodified. ``api.test`` exists only
on the test's virtual network; the test adds it, serves on it and asks the network what
went over the wire.
"""

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from usersock import Network


class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_http_server_and_urllib(usersock_net: Network) -> None:
    address = usersock_net.add_host("api.test")  # an address from 198.18.0.0/15
    server = ThreadingHTTPServer(("api.test", 80), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen("http://api.test/hello", timeout=5) as response:
            assert json.load(response) == {"path": "/hello"}
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    # The network remembers the connection, like ``ss -tan``.
    assert any(c.remote and c.remote[0] == address for c in usersock_net.connections())


def test_unknown_names_do_not_resolve(usersock_net: Network) -> None:
    import socket

    usersock_net.add_host("db.test", "10.1.2.3")
    assert socket.gethostbyname("db.test") == "10.1.2.3"
    try:
        socket.getaddrinfo("example.com", 443)  # no real DNS query is made
    except socket.gaierror as exc:
        assert exc.errno == socket.EAI_NONAME
    else:
        raise AssertionError("example.com resolved on a virtual network")
