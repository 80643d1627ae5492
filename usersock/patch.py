"""``usersock.patched()``: swap the standard library's socket names for virtual ones, and back.

Theory of operation. Everything is built once, at import: the list of patch sites
(:data:`SITES`, the one place that says what is patched) and the replacement objects. The
replacements do not hold a network; they look up the innermost network of
``patched()`` (:func:`usersock.net.current`) on every call. Entering the first ``patched()``
saves what each site holds and installs the replacements; nested ``patched()`` blocks only
push their network, so the inner one is current and the outer one is current again after;
leaving the last restores every saved object by identity. No imports, no scans on the way
in or out: a handful of ``setattr`` calls under one lock (see ``benchmarks/patch_cost.py``).

The function replacements are ``wrapt.FunctionWrapper`` objects around the originals, so
``inspect.signature``, ``__name__``, ``__doc__`` and ``__wrapped__`` show the original. A
replacement called when no network is current (someone kept a reference past the end of
``patched()``) calls the original.

Patch sites, and what was searched to find them. ``grep -rn "from socket import\\|from
_socket import\\|import _socket"`` over CPython 3.10-3.13's ``Lib`` (tests excluded), and a
search for module- or class-level references to ``socket.<name>`` bound at import time:

==============================  ============================================================
``socket.socket``               the virtual class (:class:`usersock.socket`); with a
                                ``fileno`` or a family other than ``AF_INET``/``AF_INET6``
                                it hands back a real socket, so ``AF_UNIX`` stays real.
``socket.getaddrinfo``,         ``wrapt`` wrappers over :mod:`usersock.dns`.
``gethostbyname``,
``gethostbyname_ex``,
``gethostbyaddr``,
``getnameinfo``
==============================  ============================================================

Not patched, on purpose:

- ``socket.SocketType`` is ``_socket.socket``, the C base class of the real *and* the
  virtual class, so ``isinstance(x, socket.SocketType)`` already holds for both; nothing in
  the standard library calls it to make a socket.
- ``socket.getfqdn`` is Python code in ``socket.py`` that calls ``gethostname()`` (not a
  lookup) and ``gethostbyaddr`` through the module globals: it follows the patch.
- ``socket.create_connection``, ``create_server``, ``has_dualstack_ipv6``, ``fromfd`` and
  ``socketpair`` are Python code in ``socket.py`` that reach ``socket`` and ``getaddrinfo``
  through the module globals at call time: they follow the patch. ``socketpair`` (over
  ``_socket.socketpair``) and ``fromfd`` pass a descriptor, so they return real sockets, as
  asyncio's self-pipe needs. So does a real socket's ``accept()``.
- ``ssl`` binds ``socket``, ``SOCK_STREAM`` and ``create_connection`` at import
  (``from socket import ...``). ``ssl.socket`` is used only as ``SSLSocket``'s base class,
  and ``ssl.create_connection`` *is* ``socket.create_connection`` (it follows the patch).
  TLS over virtual sockets needs ``SSLContext.wrap_socket`` support and is not done here.
- ``http.client.HTTPConnection`` binds ``socket.create_connection`` per instance (at
  ``__init__``): the Python function above, which follows the patch.
- ``asyncio.base_events`` reads ``socket.getaddrinfo`` at call time (and calls it in an
  executor thread: the network is process-wide, so that thread sees it too).
- ``nntplib`` and ``ftplib`` import only ``_GLOBAL_DEFAULT_TIMEOUT``; ``types`` imports
  ``_socket`` only for ``CapsuleType``.
- The ``_socket`` module itself: only ``socket.py`` calls it. Code that calls
  ``_socket.getaddrinfo`` or ``_socket.socket`` directly reaches the real network.

Thread safety: entering and leaving take one module lock, so the first entry installs the
patches before any other thread's nested entry returns, and the last exit restores them.
The network is process-wide, not per thread: while one thread is inside ``patched()``,
every thread's sockets are virtual.
"""

from __future__ import annotations

import functools
import inspect
import socket as _socket_module
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable
from types import ModuleType, TracebackType
from typing import Any, ParamSpec, TypeVar, cast

import wrapt

from usersock import dns
from usersock.clock import Clock
from usersock.net import Network, current, pop, push
from usersock.sockets import PatchedSocket, is_virtual

P = ParamSpec("P")
R = TypeVar("R")

__all__ = ["SITES", "is_patched", "patched"]


def _resolver(func: Callable[..., Any]) -> Callable[..., Any]:
    """A ``wrapt`` wrapper that sends a call to *func* with the current network first, or
    to the original when no network is current."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        network = current()
        if network is None:
            return wrapped(*args, **kwargs)
        return func(network, *args, **kwargs)

    return wrapper


def _wrap(module: ModuleType, name: str, func: Callable[..., Any]) -> tuple[ModuleType, str, Any]:
    return module, name, wrapt.FunctionWrapper(getattr(module, name), _resolver(func))


#: Every patch site: (module, attribute, replacement). The one list; see the module docstring
#: for what was searched and why the other names are left alone.
SITES: tuple[tuple[ModuleType, str, Any], ...] = (
    (_socket_module, "socket", PatchedSocket),
    _wrap(_socket_module, "getaddrinfo", dns.getaddrinfo),
    _wrap(_socket_module, "gethostbyname", dns.gethostbyname),
    _wrap(_socket_module, "gethostbyname_ex", dns.gethostbyname_ex),
    _wrap(_socket_module, "gethostbyaddr", dns.gethostbyaddr),
    _wrap(_socket_module, "getnameinfo", dns.getnameinfo),
)

_lock = threading.Lock()
_saved: list[Any] = []  # what each site held before the first patched(); empty when unpatched


_asyncio_hooked = False


def hook_asyncio_sendfile() -> None:
    """Make asyncio fall back to ``send()`` for virtual sockets in ``loop.sock_sendfile`` and
    ``loop.sendfile`` (aiohttp's ``FileResponse``).

    asyncio's native path calls ``os.sendfile(sock.fileno(), ...)``, which would write the
    file into the readiness descriptor instead of the connection. The hook raises asyncio's
    own ``SendfileNotAvailableError`` for a virtual socket, which sends asyncio down its
    documented fallback; real sockets are untouched. Installed once, when asyncio's Unix
    event loop is loaded (at the first ``patched()``, or at a virtual socket's first
    ``fileno()``), and kept: it only ever acts on virtual sockets.
    """
    global _asyncio_hooked
    if _asyncio_hooked:
        return
    unix_events = sys.modules.get("asyncio.unix_events")
    if unix_events is None:
        return
    loop_class = unix_events._UnixSelectorEventLoop
    native = loop_class._sock_sendfile_native
    exceptions = sys.modules["asyncio.exceptions"]

    async def _sock_sendfile_native(self: Any, sock: Any, *args: Any, **kwargs: Any) -> Any:
        if is_virtual(sock):
            raise exceptions.SendfileNotAvailableError("a usersock socket has no kernel sendfile")
        return await native(self, sock, *args, **kwargs)

    functools.update_wrapper(_sock_sendfile_native, native)
    loop_class._sock_sendfile_native = _sock_sendfile_native
    _asyncio_hooked = True


def _install() -> None:
    hook_asyncio_sendfile()
    _saved[:] = [getattr(module, name) for module, name, _ in SITES]
    for module, name, replacement in SITES:
        setattr(module, name, replacement)


def _restore() -> None:
    for (module, name, _), original in zip(SITES, _saved, strict=True):
        setattr(module, name, original)
    _saved.clear()


def is_patched() -> bool:
    """True while at least one ``patched()`` is active (the stdlib names are virtual)."""
    return bool(_saved)


class patched:
    """Run code over a virtual network: ``with usersock.patched() as net: ...``.

    A context manager that yields the :class:`usersock.Network` — a fresh one made with
    ``Network(allow=allow, clock=clock)``, or *network* as given — and, for its duration,
    makes ``socket.socket``, ``getaddrinfo`` and the other names in :data:`SITES` virtual.
    Leaving restores the originals exactly (by identity), also on error, and closes the
    network if ``patched()`` made it (every socket it made, their descriptors, the stack's
    timer thread). Nestable: the inner network is current inside, the outer one again after.

    Also a decorator, for sync and ``async`` functions: each call runs inside its own fresh
    network (``usersock.net.current()`` returns it).

    *allow* lists what may reach the real network: ``"host"``, ``"host:port"``,
    ``"[v6]:port"``; a name in it is also resolved by the real resolver. Raises
    ``TypeError`` if *allow* or *clock* is given together with *network* (configure the
    network itself instead).
    """

    def __init__(
        self,
        network: Network | None = None,
        allow: Iterable[str] = (),
        *,
        clock: Clock | None = None,
    ) -> None:
        if callable(network) and not isinstance(network, Network):
            raise TypeError("use @patched() as a decorator, with the parentheses")
        self._allow = tuple(allow)
        if network is not None and (self._allow or clock is not None):
            raise TypeError(
                "patched(network, ...) uses the network as it is: give allow= and clock="
                " to Network(...) instead"
            )
        self._network = network
        self._clock = clock
        self._entered: list[tuple[Network, bool]] = []

    def __enter__(self) -> Network:
        network = self._network
        created = network is None
        if network is None:
            network = Network(allow=self._allow, clock=self._clock)
        with _lock:
            if push(network):
                _install()
        self._entered.append((network, created))
        return network

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        network, created = self._entered.pop()
        try:
            if created:
                network.close()
        finally:
            with _lock:
                if pop(network):
                    _restore()

    def _fresh(self) -> patched:
        again = patched.__new__(patched)
        again._network, again._allow, again._clock = self._network, self._allow, self._clock
        again._entered = []
        return again

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorate *func* so every call runs inside ``patched()``. Raises ``TypeError`` for
        a class (decorate its methods instead)."""
        if isinstance(func, type):
            raise TypeError("patched() decorates functions and coroutine functions, not classes")
        if inspect.iscoroutinefunction(func):
            async_func = cast(Callable[P, Awaitable[Any]], func)

            @functools.wraps(func)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                with self._fresh():
                    return await async_func(*args, **kwargs)

            return cast(Callable[P, R], run_async)

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with self._fresh():
                return func(*args, **kwargs)

        return run
