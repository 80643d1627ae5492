"""Shared pieces for the ``patched()``, resolver and plugin tests.

* ``audit`` — records the audit events that mean "the real resolver was asked" or "a real
  AF_INET/AF_INET6 socket was made" while a ``with audit.recording():`` block runs. Audit
  hooks cannot be removed, so one hook is installed once, at import, and records only while
  a block is open.
* ``network`` — a fresh :class:`usersock.Network`, closed after the test.
* ``fake_real_resolver`` — replaces the real resolver functions that :mod:`usersock.dns`
  captured at import with fakes, so allow-list tests never send a DNS query.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from usersock import dns
from usersock.net import Network

RESOLVER_EVENTS = frozenset(
    {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo"}
)


class AuditLog:
    """What the hook saw: resolver calls and real IP sockets, as readable strings."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self._active = threading.Event()

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self._active.is_set():
            return
        if event in RESOLVER_EVENTS:
            self.events.append(f"{event}{args!r}")
        elif event == "socket.__new__":
            sock, family = args[0], args[1]
            from usersock.sockets import socket as virtual

            # A virtual socket's C half is only ever a readiness AF_UNIX descriptor.
            virtual_half = virtual in type(sock).__mro__  # not isinstance: see the metaclass
            if family in (socket.AF_INET, socket.AF_INET6) and not virtual_half:
                self.events.append(f"real {socket.AddressFamily(family).name} socket")

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[str]]:
        self.events.clear()
        self._active.set()
        try:
            yield self.events
        finally:
            self._active.clear()


_LOG = AuditLog()
sys.addaudithook(_LOG.hook)


@pytest.fixture
def audit() -> AuditLog:
    return _LOG


@pytest.fixture
def network() -> Iterator[Network]:
    net = Network()
    try:
        yield net
    finally:
        net.close()


def open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


class FakeRealResolver:
    """Stands in for the real resolver: knows ``db.example.com`` (203.0.113.7 and
    2001:db8::7, documentation ranges) and records every call."""

    V4, V6 = "203.0.113.7", "2001:db8::7"

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def getaddrinfo(
        self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[Any]:
        self.calls.append(("getaddrinfo", (host, port, family, type, proto, flags)))
        out: list[Any] = []
        if family in (0, socket.AF_INET):
            out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (self.V4, port or 0)))
        if family in (0, socket.AF_INET6):
            out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (self.V6, port or 0, 0, 0)))
        return out

    def gethostbyname(self, host: Any) -> str:
        self.calls.append(("gethostbyname", (host,)))
        return self.V4

    def gethostbyname_ex(self, host: Any) -> tuple[str, list[str], list[str]]:
        self.calls.append(("gethostbyname_ex", (host,)))
        return "db.example.com", [], [self.V4]

    def gethostbyaddr(self, host: Any) -> tuple[str, list[str], list[str]]:
        self.calls.append(("gethostbyaddr", (host,)))
        return "db.example.com", [], [self.V4]


@pytest.fixture
def fake_real_resolver(monkeypatch: pytest.MonkeyPatch) -> FakeRealResolver:
    fake = FakeRealResolver()
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
        monkeypatch.setattr(dns, f"real_{name}", getattr(fake, name))
    return fake
