"""Suite-wide guard: no test may open a real connection beyond loopback.

An audit hook (PEP 578) sees every real ``socket.connect``/``sendto``; a destination that is
not 127.0.0.0/8 or ::1 (or a Unix socket) makes the call raise, so the test fails loudly
instead of leaking traffic. usersock's virtual sockets never reach these events.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import Any

_GUARDED = {"socket.connect", "socket.sendto", "socket.sendmsg"}


class RealNetworkAccess(RuntimeError):
    """A test tried to reach the real network."""


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and other non-IP families
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode()
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event not in _GUARDED:
        return
    sock = args[0]
    family = getattr(sock, "family", None)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return
    address = args[1] if event != "socket.sendmsg" else args[1]
    if address is None or _is_loopback(address):
        return
    raise RealNetworkAccess(f"test tried to reach the real network: {event} {address!r}")


sys.addaudithook(_audit)
