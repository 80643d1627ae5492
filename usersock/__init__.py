"""usersock: a userspace TCP/IP network stack in pure Python, and a drop-in socket
replacement built on it.

>>> import socket, usersock
>>> from usersock.link import Loopback
>>> stack = usersock.Stack()
>>> stack.create_nic(1, Loopback())
>>> stack.add_address(1, "192.168.1.1/32")
>>> stack.set_route_table([usersock.Route(destination="0.0.0.0/0", nic=1)])
>>> srv = stack.socket(socket.AF_INET, socket.SOCK_STREAM)
"""

from typing import TYPE_CHECKING

from usersock import link
from usersock.api import Stack
from usersock.clock import Clock, ManualClock, MonotonicClock
from usersock.errors import Err, StackError
from usersock.net import Network, RealNetworkBlocked
from usersock.sockets import socket
from usersock.stack.route import Route

if TYPE_CHECKING:
    from usersock.patch import is_patched, patched

__all__ = [
    "Clock",
    "Err",
    "ManualClock",
    "MonotonicClock",
    "Network",
    "RealNetworkBlocked",
    "Route",
    "Stack",
    "StackError",
    "is_patched",
    "link",
    "patched",
    "socket",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``patched`` and ``is_patched`` load on first use: they need ``wrapt``, and the stack
    (and ``python -m usersock demo``) must work on a bare Python."""
    if name in ("patched", "is_patched"):
        from usersock import patch

        return getattr(patch, name)
    raise AttributeError(f"module 'usersock' has no attribute {name!r}")
