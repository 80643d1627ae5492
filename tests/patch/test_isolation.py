"""Inside ``patched()`` nothing reaches the real resolver or makes a real AF_INET/AF_INET6
socket unless allowed, whatever unmodified code does; the allow list opens exactly what it
names. Checked with the audit hook of ``conftest.py``."""

from __future__ import annotations

import asyncio
import socket
import threading
import urllib.request
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest

from usersock.net import RealNetworkBlocked
from usersock.patch import patched

if TYPE_CHECKING:
    from tests.patch.conftest import AuditLog, FakeRealResolver


class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_detector_sees_real_calls(audit: AuditLog) -> None:
    with audit.recording() as events:
        socket.getaddrinfo("127.0.0.1", 80)
        with socket.socket():
            pass
    assert any(e.startswith("socket.getaddrinfo") for e in events)
    assert "real AF_INET socket" in events


def test_http_server_and_urllib_by_name(audit: AuditLog) -> None:
    with audit.recording() as events, patched() as net:
        net.add_host("api.test")
        server = ThreadingHTTPServer(("api.test", 80), Hello)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            with urllib.request.urlopen("http://api.test/", timeout=10) as response:
                assert response.read() == b"hello"
            with urllib.request.urlopen("http://localhost:80/", timeout=10) as response:
                pytest.fail("nothing listens on localhost:80")
        except urllib.error.URLError as exc:
            assert isinstance(exc.reason, ConnectionRefusedError)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)
    assert events == []


def test_every_resolver_entry_point_stays_virtual(audit: AuditLog) -> None:
    with audit.recording() as events, patched():
        for call in (
            lambda: socket.getaddrinfo("example.com", 443),
            lambda: socket.gethostbyname("example.com"),
            lambda: socket.gethostbyname_ex("example.com"),
            lambda: socket.gethostbyaddr("203.0.113.1"),
            lambda: socket.create_connection(("example.com", 80), timeout=5),
        ):
            with pytest.raises((socket.gaierror, socket.herror)):
                call()
        assert socket.getnameinfo(("203.0.113.1", 80), 0) == ("203.0.113.1", "http")
        assert socket.getfqdn("203.0.113.1") == "203.0.113.1"
        socket.getfqdn()
    assert events == []


def test_asyncio_resolves_in_its_executor_on_the_virtual_network(audit: AuditLog) -> None:
    async def main() -> Sequence[tuple[object, ...]]:
        loop = asyncio.get_running_loop()
        with pytest.raises(socket.gaierror):
            await loop.getaddrinfo("example.com", 80)
        return await loop.getaddrinfo("api.test", 80, type=socket.SOCK_STREAM)

    with audit.recording() as events, patched() as net:
        address = net.add_host("api.test")
        infos = asyncio.run(main())
    assert [info[4] for info in infos] == [(address, 80)]
    assert events == []


def test_unallowed_real_addresses_are_refused_with_the_way_to_allow_them(audit: AuditLog) -> None:
    with audit.recording() as events, patched():
        with pytest.raises(RealNetworkBlocked) as info:
            socket.create_connection(("192.0.2.1", 443), timeout=5)
        assert "192.0.2.1:443" in str(info.value) and "allow=" in str(info.value)
        with (
            socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s,
            pytest.raises(RealNetworkBlocked, match=r"\[2001:db8::1\]:80"),
        ):
            s.connect(("2001:db8::1", 80))
    assert events == []


def test_allowed_names_use_the_real_resolver_and_only_those(
    audit: AuditLog, fake_real_resolver: FakeRealResolver
) -> None:
    with audit.recording() as events, patched(allow=["db.example.com:5432"]) as net:
        infos = socket.getaddrinfo("db.example.com", 5432, type=socket.SOCK_STREAM)
        assert [info[4][0] for info in infos] == [fake_real_resolver.V4, fake_real_resolver.V6]
        net.check_real(socket.inet_aton(fake_real_resolver.V4), 5432)  # allowed by name
        with pytest.raises(socket.gaierror):
            socket.getaddrinfo("other.example.com", 5432)
        with pytest.raises(RealNetworkBlocked):
            net.check_real(socket.inet_aton(fake_real_resolver.V4), 80)
    assert [call[0] for call in fake_real_resolver.calls] == ["getaddrinfo"]
    assert events == []  # the fake stood in for the real resolver


def test_socketpair_and_af_unix_are_real_and_allowed(audit: AuditLog) -> None:
    with audit.recording() as events, patched():
        a, b = socket.socketpair()
        a.close()
        b.close()
        socket.socket(socket.AF_UNIX).close()
    assert events == []
