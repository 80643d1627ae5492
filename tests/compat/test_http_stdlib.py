"""The standard library's HTTP stack over ``usersock.patched()``: ``http.server`` with
``requests``, ``urllib.request`` and ``http.client``; ``xmlrpc``; ``wsgiref``.

Servers and clients are used exactly as their documentation shows; only the host names are
virtual. Keep-alive is checked on the network itself: ``net.connections()`` shows how many
TCP connections carried the requests.
"""

from __future__ import annotations

import functools
import http.client
import http.server
import json
import pathlib
import queue
import socket
import threading
import urllib.error
import urllib.request
import wsgiref.simple_server
import xmlrpc.client
import xmlrpc.server
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest
import requests

import usersock

if TYPE_CHECKING:
    from tests.compat.conftest import Serving

pytestmark = pytest.mark.timeout(60)


def established(net: Any, port: int) -> list[Any]:
    """Client-side connections to *port* (the server side has *port* as its local port)."""
    return [c for c in net.connections() if c.remote is not None and c.remote[1] == port]


def client_ports(net: Any, port: int) -> set[int]:
    """The client ports of every connection to *port* still listed on either side: a closed
    connection stays (TIME-WAIT) on the side that closed first, as on Linux."""
    ports = set()
    for c in net.connections():
        if c.remote is None:
            continue
        if c.local[1] == port:
            ports.add(c.remote[1])
        elif c.remote[1] == port:
            ports.add(c.local[1])
    return ports


def test_requests_session_keeps_one_connection_alive(
    serving: Serving, hello_handler: type[http.server.BaseHTTPRequestHandler], wait: float
) -> None:
    with usersock.patched() as net:
        net.add_host("api.test")
        server = http.server.ThreadingHTTPServer(("api.test", 0), hello_handler)
        port = server.server_address[1]
        with serving(server), requests.Session() as session:
            for i in range(20):
                r = session.get(f"http://api.test:{port}/item/{i}", timeout=wait)
                assert r.status_code == 200
                assert r.text == f"hello /item/{i}"
            r = session.post(f"http://api.test:{port}/form", data=b"x=1", timeout=wait)
            assert r.text == "posted /form: x=1"

            clients = established(net, port)
            assert len(clients) == 1, clients
            (conn,) = clients
            assert conn.state == "ESTABLISHED"
            # 21 requests went over that one connection, and 21 responses came back.
            assert conn.bytes_sent > 21 * len(b"GET /item/0 HTTP/1.1\r\n")
            assert conn.bytes_received > 21 * len(b"HTTP/1.1 200 OK\r\n")


def test_requests_new_connection_per_request(
    serving: Serving, hello_handler: type[http.server.BaseHTTPRequestHandler], wait: float
) -> None:
    with usersock.patched() as net:
        net.add_host("api.test")
        server = http.server.ThreadingHTTPServer(("api.test", 0), hello_handler)
        port = server.server_address[1]
        with serving(server):
            for i in range(10):
                r = requests.get(
                    f"http://api.test:{port}/n/{i}", headers={"Connection": "close"}, timeout=wait
                )
                assert r.text == f"hello /n/{i}"
            # Ten requests, ten connections.
            assert len(client_ports(net, port)) == 10, net.connections()


def test_urllib_request(
    serving: Serving, hello_handler: type[http.server.BaseHTTPRequestHandler], wait: float
) -> None:
    with usersock.patched() as net:
        net.add_host("api.test")
        server = http.server.ThreadingHTTPServer(("api.test", 0), hello_handler)
        port = server.server_address[1]
        with serving(server):
            with urllib.request.urlopen(f"http://api.test:{port}/u", timeout=wait) as resp:
                assert resp.status == 200
                assert resp.read() == b"hello /u"
            req = urllib.request.Request(f"http://api.test:{port}/p", data=b"abc", method="POST")
            with urllib.request.urlopen(req, timeout=wait) as resp:
                assert resp.read() == b"posted /p: abc"
            # The server is bound to api.test's address only: localhost is refused.
            with pytest.raises(urllib.error.URLError) as info:
                urllib.request.urlopen(f"http://localhost:{port}/", timeout=wait)
            assert isinstance(info.value.reason, ConnectionRefusedError)


def test_urllib_request_localhost_and_refused(
    serving: Serving, hello_handler: type[http.server.BaseHTTPRequestHandler], wait: float
) -> None:
    with usersock.patched():
        server = http.server.ThreadingHTTPServer(("localhost", 0), hello_handler)
        port = server.server_address[1]
        with (
            serving(server),
            urllib.request.urlopen(f"http://localhost:{port}/l", timeout=wait) as resp,
        ):
            assert resp.read() == b"hello /l"
        # The server is gone: the kernel would refuse, and so does the virtual network.
        with pytest.raises(urllib.error.URLError) as info:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=wait)
        assert isinstance(info.value.reason, ConnectionRefusedError)


def test_http_client_keep_alive_and_chunked(
    serving: Serving, hello_handler: type[http.server.BaseHTTPRequestHandler], wait: float
) -> None:
    class Chunked(hello_handler):  # type: ignore[misc,valid-type]
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"a" * 10, b"b" * 70000, b"c"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")

    with usersock.patched() as net:
        net.add_host("api.test")
        server = http.server.ThreadingHTTPServer(("api.test", 0), Chunked)
        port = server.server_address[1]
        with serving(server):
            conn = http.client.HTTPConnection("api.test", port, timeout=wait)
            try:
                for _ in range(3):
                    conn.request("GET", "/big")
                    resp = conn.getresponse()
                    assert resp.status == 200
                    assert resp.read() == b"a" * 10 + b"b" * 70000 + b"c"
                conn.request("POST", "/p", body=b"z" * 100000)
                resp = conn.getresponse()
                assert resp.read() == b"posted /p: " + b"z" * 100000
                assert len(established(net, port)) == 1
            finally:
                conn.close()


def test_http_client_ipv6(
    serving: Serving, hello_handler: type[http.server.BaseHTTPRequestHandler], wait: float
) -> None:
    class Server6(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6

    with usersock.patched():
        server = Server6(("::1", 0), hello_handler)
        port = server.server_address[1]
        with serving(server):
            conn = http.client.HTTPConnection("::1", port, timeout=wait)
            try:
                conn.request("GET", "/six")
                assert conn.getresponse().read() == b"hello /six"
                assert conn.sock.getpeername()[:2] == ("::1", port)
            finally:
                conn.close()


def test_xmlrpc(serving: Serving, wait: float) -> None:
    with usersock.patched() as net:
        net.add_host("rpc.test")
        server = xmlrpc.server.SimpleXMLRPCServer(
            ("rpc.test", 0), logRequests=False, allow_none=True
        )
        server.register_function(lambda a, b: a + b, "add")
        server.register_function(lambda s: s[::-1], "reverse")
        server.register_multicall_functions()
        port = server.server_address[1]
        url = f"http://rpc.test:{port}/"
        with serving(server), xmlrpc.client.ServerProxy(url, allow_none=True) as proxy:
            assert proxy.add(2, 3) == 5
            assert proxy.reverse("usersock") == "kcosresu"
            multi = xmlrpc.client.MultiCall(proxy)
            multi.add(1, 1)
            multi.reverse("ab")
            assert list(iter(multi())) == [2, "ba"]  # typeshed: MultiCallIterator is not Iterable
            with pytest.raises(xmlrpc.client.Fault):
                proxy.missing()


def _wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    body = json.dumps(
        {
            "method": environ["REQUEST_METHOD"],
            "path": environ["PATH_INFO"],
            "query": environ["QUERY_STRING"],
            "host": environ["HTTP_HOST"],
            "body": environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)).decode(),
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def test_wsgiref_simple_server(serving: Serving, wait: float) -> None:
    class QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    with usersock.patched() as net:
        net.add_host("wsgi.test")
        server = wsgiref.simple_server.make_server(
            "wsgi.test", 0, _wsgi_app, handler_class=QuietHandler
        )
        port = server.server_address[1]
        with serving(server):
            r = requests.get(f"http://wsgi.test:{port}/a/b?c=d", timeout=wait)
            assert r.json() == {
                "method": "GET",
                "path": "/a/b",
                "query": "c=d",
                "host": f"wsgi.test:{port}",
                "body": "",
            }
            r = requests.post(f"http://wsgi.test:{port}/post", data="payload", timeout=wait)
            assert r.json()["body"] == "payload"


class _ReportsCloses(http.server.ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` that puts ``None`` on ``closed`` each time it has closed a
    connection, so a test can wait for the close its handler thread makes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.closed: queue.Queue[None] = queue.Queue()

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.closed.put(None)


def test_requests_notices_a_keep_alive_connection_the_server_closed(
    serving: Serving, hello_handler: type[http.server.BaseHTTPRequestHandler], wait: float
) -> None:
    """The server closes after each response without saying ``Connection: close``. Before
    reusing the pooled connection urllib3 polls it (``wait_for_read(sock, 0)``): the EOF
    must show as readable, so the next request goes on a new connection instead of failing.
    The test waits until the server has closed (else the next request could race the close
    and be reset, over real sockets too)."""

    class ClosingHandler(hello_handler):  # type: ignore[misc,valid-type]
        def do_GET(self) -> None:
            super().do_GET()
            self.close_connection = True

    with usersock.patched() as net:
        net.add_host("api.test")
        server = _ReportsCloses(("api.test", 0), ClosingHandler)
        port = server.server_address[1]
        with serving(server), requests.Session() as session:
            for i in range(5):
                r = session.get(f"http://api.test:{port}/c/{i}", timeout=wait)
                assert r.text == f"hello /c/{i}"
                server.closed.get(timeout=wait)
            assert len(client_ports(net, port)) == 5, net.connections()


def test_server_restarts_on_the_same_port(serving: Serving, wait: float) -> None:
    """``socketserver`` sets ``SO_REUSEADDR`` (``allow_reuse_address``) so a server can take
    the port of one that just stopped while its closed connections sit in TIME-WAIT. An
    HTTP/1.0 server closes first, so TIME-WAIT is on the server's port. The client reads the
    body only once the server has closed: reading it to the end closes the client's side, and
    a client that closed first would hold the TIME-WAIT instead (over real sockets too)."""

    class Http10Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"hello {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with usersock.patched() as net:
        net.add_host("api.test")
        port = 0
        for round_ in range(3):
            server = _ReportsCloses(("api.test", port), Http10Handler)
            port = server.server_address[1]
            with serving(server):
                url = f"http://api.test:{port}/round/{round_}"
                with urllib.request.urlopen(url, timeout=wait) as r:
                    server.closed.get(timeout=wait)
                    assert r.read() == f"hello /round/{round_}".encode()
            # The server closed first: its side of the connection is in TIME-WAIT.
            assert any(c.state == "TIME-WAIT" and c.local[1] == port for c in net.connections())


def test_dual_stack_server_reached_over_ipv4_and_ipv6(wait: float) -> None:
    """``socket.create_server(..., dualstack_ipv6=True)`` (how ``python -m http.server``
    binds by default) takes IPv4 clients too, as IPv4-mapped IPv6 peers."""
    with usersock.patched():
        assert socket.has_dualstack_ipv6()
        with socket.create_server(("", 0), family=socket.AF_INET6, dualstack_ipv6=True) as srv:
            srv.settimeout(wait)
            port = srv.getsockname()[1]
            peers = []
            for host in ("::1", "127.0.0.1"):
                with socket.create_connection((host, port), timeout=wait):
                    conn, peer = srv.accept()
                    conn.close()
                    peers.append(peer[0])
            assert peers == ["::1", "::ffff:127.0.0.1"]


def test_simple_http_request_handler_serves_files(
    serving: Serving, wait: float, tmp_path: pathlib.Path
) -> None:
    (tmp_path / "index.html").write_text("<h1>virtual</h1>")
    blob = bytes(range(256)) * 4096  # 1 MiB
    (tmp_path / "blob.bin").write_bytes(blob)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    with usersock.patched() as net:
        net.add_host("files.test")
        handler = functools.partial(Quiet, directory=str(tmp_path))
        server = http.server.ThreadingHTTPServer(("files.test", 0), handler)
        port = server.server_address[1]
        with serving(server), requests.Session() as session:
            assert session.get(f"http://files.test:{port}/", timeout=wait).text == (
                "<h1>virtual</h1>"
            )
            with session.get(f"http://files.test:{port}/blob.bin", stream=True, timeout=wait) as r:
                assert r.headers["Content-Length"] == str(len(blob))
                assert b"".join(r.iter_content(chunk_size=10000)) == blob
            assert session.get(f"http://files.test:{port}/missing", timeout=wait).status_code == 404


def test_client_errors_are_the_usual_exceptions(serving: Serving, wait: float) -> None:
    """Read timeout, refused connection and unknown host reach ``requests`` and ``urllib``
    as the exceptions they raise over real sockets."""
    release = threading.Event()

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            release.wait(wait)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with usersock.patched() as net:
        net.add_host("api.test")
        server = http.server.ThreadingHTTPServer(("api.test", 0), Slow)
        port = server.server_address[1]
        with serving(server):
            try:
                with pytest.raises(requests.exceptions.ReadTimeout):
                    requests.get(f"http://api.test:{port}/slow", timeout=(wait, 0.2))
                with pytest.raises(TimeoutError):
                    urllib.request.urlopen(f"http://api.test:{port}/slow", timeout=0.2)
            finally:
                release.set()
        with pytest.raises(requests.exceptions.ConnectionError) as info:
            requests.get(f"http://api.test:{port}/", timeout=wait)
        assert "Connection refused" in str(info.value)
        with pytest.raises(requests.exceptions.ConnectionError) as info:
            requests.get("http://unknown.test/", timeout=wait)
        assert "Name or service not known" in str(info.value)
        with pytest.raises(urllib.error.URLError) as url_info:
            urllib.request.urlopen("http://unknown.test/", timeout=wait)
        assert isinstance(url_info.value.reason, socket.gaierror)
