"""Isolation: inside ``usersock.patched()`` no real AF_INET/AF_INET6 socket is created and no
real name lookup is made, and the kernel cannot reach a virtual server.

CPython raises audit events for every kernel socket (``socket.__new__``, also for the sockets
``accept`` and ``socketpair`` wrap), every ``bind``/``connect``/``sendto`` on one, and every
resolver call (``socket.getaddrinfo``, ``socket.gethostbyname`` — also raised by
``gethostbyname_ex`` —, ``socket.gethostbyaddr``, ``socket.getnameinfo``). Audit hooks cannot
be removed, so this module installs one hook, once, that records into :data:`EVENTS` only
while :data:`RECORDING` is set.

A virtual socket's readiness descriptor is an ``AF_UNIX`` socket pair, and asyncio's self-pipe
is one too: ``AF_UNIX`` stays real by design and is not a violation.
"""

from __future__ import annotations

import asyncio
import http.client
import http.server
import ipaddress
import socket
import sys
import threading
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests

import usersock

if TYPE_CHECKING:
    from tests.compat.conftest import Serving

pytestmark = pytest.mark.timeout(60)

#: The real socket class, taken before any test patches anything.
RealSocket = socket.socket

EVENTS: list[tuple[str, tuple[Any, ...]]] = []
RECORDING = threading.Event()

_RESOLVER_EVENTS = {
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyaddr",
    "socket.getnameinfo",
}
_ADDRESS_EVENTS = {"socket.bind", "socket.connect", "socket.sendto", "socket.sendmsg"}
_WATCHED = _RESOLVER_EVENTS | _ADDRESS_EVENTS | {"socket.__new__"}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if RECORDING.is_set() and event in _WATCHED:
        EVENTS.append((event, args))


sys.addaudithook(_hook)


def _is_inet_address(address: Any) -> bool:
    return isinstance(address, tuple) and len(address) in (2, 4)


def violations() -> list[str]:
    """The recorded events that touched the real network or the real resolver."""
    out = []
    for event, args in EVENTS:
        if event == "socket.__new__":
            _sock, family, _type, _proto = args
            # family is -1 when CPython wraps an existing descriptor (accept, fromfd).
            if family in (socket.AF_INET, socket.AF_INET6):
                out.append(f"{event}: real {socket.AddressFamily(family).name} socket")
        elif event in _ADDRESS_EVENTS:
            if _is_inet_address(args[-1]):
                out.append(f"{event} {args[-1]!r} on a kernel socket")
        else:
            out.append(f"{event} {args!r}")
    return out


def _numeric_lookups() -> list[tuple[str, tuple[Any, ...]]]:
    """Resolver calls on address literals (no DNS traffic, but still the real resolver)."""
    found = []
    for event, args in EVENTS:
        if event in _RESOLVER_EVENTS and args and isinstance(args[0], str):
            try:
                ipaddress.ip_address(args[0].split("%")[0])
            except ValueError:
                continue
            found.append((event, args))
    return found


class recording:
    """``with recording(): ...`` records audit events (and clears earlier ones)."""

    def __enter__(self) -> list[tuple[str, tuple[Any, ...]]]:
        EVENTS.clear()
        RECORDING.set()
        return EVENTS

    def __exit__(self, *exc: object) -> None:
        RECORDING.clear()


@pytest.fixture
def audit() -> Iterator[None]:
    with recording():
        yield


def test_the_hook_sees_real_sockets_and_lookups() -> None:
    """The detector itself: outside ``patched()`` real calls are recorded."""
    with recording():
        with RealSocket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
        socket.getaddrinfo("localhost", 80)
        socket.gethostbyname("localhost")
        socket.gethostbyname_ex("localhost")
    found = violations()
    assert any("real AF_INET socket" in v for v in found), found
    assert any(v.startswith("socket.bind") for v in found), found
    assert any(v.startswith("socket.getaddrinfo") for v in found), found
    assert sum(v.startswith("socket.gethostbyname") for v in found) == 2, found


def test_name_lookups_stay_virtual(audit: None) -> None:
    with usersock.patched() as net:
        net.add_host("api.test")
        net.add_host("db.test", "10.1.2.3")
        assert socket.gethostbyname("db.test") == "10.1.2.3"
        assert socket.gethostbyname_ex("db.test")[2] == ["10.1.2.3"]
        assert socket.gethostbyname("localhost") == "127.0.0.1"
        assert socket.getaddrinfo("db.test", 5432)[0][4] == ("10.1.2.3", 5432)
        assert socket.gethostbyaddr("10.1.2.3")[0] == "db.test"
        assert socket.getnameinfo(("10.1.2.3", 80), 0)[0] == "db.test"
        assert socket.getfqdn("db.test") == "db.test"
        socket.getfqdn()  # the host's own name must not be looked up either
        for name in ("example.com", "www.python.org", "nonexistent.invalid"):
            with pytest.raises(socket.gaierror) as info:
                socket.getaddrinfo(name, 80)
            assert info.value.errno == socket.EAI_NONAME
            with pytest.raises(socket.gaierror):
                socket.gethostbyname(name)
        with pytest.raises(OSError):
            socket.gethostbyaddr("93.184.216.34")
    assert violations() == []


def test_clients_and_servers_create_no_real_inet_socket(
    audit: None, serving: Serving, hello_handler: type[http.server.BaseHTTPRequestHandler]
) -> None:
    with usersock.patched() as net:
        net.add_host("api.test")
        server = http.server.ThreadingHTTPServer(("api.test", 0), hello_handler)
        port = server.server_address[1]
        with serving(server):
            assert requests.get(f"http://api.test:{port}/r", timeout=10).text == "hello /r"
            with urllib.request.urlopen(f"http://api.test:{port}/u", timeout=10) as r:
                assert r.read() == b"hello /u"
            c = http.client.HTTPConnection("localhost", 1, timeout=10)
            with pytest.raises(ConnectionRefusedError):
                c.request("GET", "/")
            c.close()

        async def streams() -> None:
            async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                writer.write(await reader.readline())
                writer.close()

            srv = await asyncio.start_server(echo, "api.test", 0)
            async with srv:
                reader, writer = await asyncio.open_connection(
                    "api.test", srv.sockets[0].getsockname()[1]
                )
                writer.write(b"ping\n")
                assert await reader.readline() == b"ping\n"
                writer.close()
                await writer.wait_closed()

        asyncio.run(asyncio.wait_for(streams(), 10))
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as u:
            u.sendto(b"x", ("::1", 9))
    assert violations() == [], violations()
    # The virtual sockets' readiness descriptors are AF_UNIX pairs: those were seen.
    assert any(e == "socket.__new__" and a[1] == socket.AF_UNIX for e, a in EVENTS)


def test_unknown_addresses_are_blocked_not_reached(audit: None) -> None:
    with usersock.patched():
        for address in (("93.184.216.34", 80), ("10.9.9.9", 5432), ("2001:db8::1", 443)):
            family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
            with socket.socket(family) as s:
                s.settimeout(5)
                with pytest.raises(OSError) as info:
                    s.connect(address)
                # The message names the address and the option that allows it.
                assert address[0] in str(info.value)
                assert "allow" in str(info.value)
        with pytest.raises(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.sendto(b"x", ("8.8.8.8", 53))
        with pytest.raises(OSError):
            socket.create_connection(("192.0.2.1", 80), timeout=5)
    assert violations() == []


def test_no_resolver_call_even_for_literals(
    audit: None, serving: Serving, hello_handler: type[http.server.BaseHTTPRequestHandler]
) -> None:
    """Address literals need no resolver: ``patched()``'s ``getaddrinfo`` parses them itself.
    (A numeric lookup sends no DNS query; this pins that the real resolver is not called at
    all, so a misconfigured host resolver cannot slow or break a test.)"""
    with usersock.patched():
        assert socket.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)[0][4] == (
            "127.0.0.1",
            80,
        )
        assert socket.getaddrinfo("::1", 80, type=socket.SOCK_STREAM)[0][4][:2] == ("::1", 80)
    assert _numeric_lookups() == []
    assert violations() == []


def test_kernel_cannot_reach_a_virtual_server(
    serving: Serving, hello_handler: type[http.server.BaseHTTPRequestHandler]
) -> None:
    # A port that is free on the real loopback right now (nothing real will listen there).
    with RealSocket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with usersock.patched():
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), hello_handler)
        with serving(server):
            # The virtual server answers virtual clients ...
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v", timeout=10) as r:
                assert r.read() == b"hello /v"
            # ... and the kernel's loopback has nothing on that port.
            with RealSocket() as real:
                real.settimeout(10)
                with pytest.raises(ConnectionRefusedError):
                    real.connect(("127.0.0.1", port))
            with RealSocket(socket.AF_INET6) as real6:
                real6.settimeout(10)
                with pytest.raises(ConnectionRefusedError):
                    real6.connect(("::1", port))


def test_real_sockets_outside_patched_are_untouched() -> None:
    """After ``patched()`` the stdlib is restored: sockets are real again."""
    with usersock.patched():
        assert socket.socket is not RealSocket
    assert socket.socket is RealSocket
    with recording(), socket.socket() as s:
        s.bind(("127.0.0.1", 0))
    assert any("real AF_INET socket" in v for v in violations())
