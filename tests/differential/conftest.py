"""Differential harness: every test in this folder is a *scenario* that runs twice, once on the
kernel's loopback and once under ``usersock.patched()``, and the two *observations* must be
equal.

A scenario is a plain test function that takes an ``env`` (both address families: the test is
parametrized ``ipv4``/``ipv6``), an ``env4`` or an ``env6`` (one family) and returns an
observation: a JSON-able record of what the code saw — return values, bytes received,
exceptions with their errno, EOF, timeouts, readiness. Scenarios use only the standard
library's ``socket``, ``select`` and ``selectors`` modules, looked up at call time as
unmodified user code does, so the same function talks to real sockets in the first run and
virtual ones in the second. The ``pytest_pyfunc_call`` hook below does the two runs and the
comparison; a divergence fails the test with both observations side by side (``-rP``
shows the observation of passing tests too). A known divergence is marked
``xfail(strict=True)`` with the two results in its reason, so fixing usersock turns it into
a failure that asks for the mark to go.

The real run needs the kernel: under the plugin's ``--usersock`` flag (every test inside
``patched()``) the suite skips itself.

The :class:`Env` a scenario receives carries the family's loopback address and a few helpers
that only *observe* or *tidy up*:

* ``env.attempt(fn, *args)`` calls ``fn`` and returns its normalised result, or the exception
  as a string: ``"!ConnectionRefusedError(ECONNREFUSED)"``, ``"!TimeoutError('timed out')"``,
  ``"!TypeError"`` (only the type for errors without an errno: their messages are CPython's
  prose, not behaviour);
* ``env.tcp()``/``env.udp()``/``env.listener()``/``env.connected()`` make sockets with a 1 s
  timeout (so no scenario can hang) that are closed when the run ends; ``env.own(sock)`` adopts
  any other socket;
* ``env.readable(sock, timeout)``/``env.writable(...)`` ask ``select.select``;
* ``env.spawn(fn)`` runs a helper thread that is joined (and whose exception is re-raised)
  when the run ends.

Results are normalised (:func:`normalise`): bytes become their ``repr`` (or length and digest
when long), enums their name, and socket addresses keep the host but replace an ephemeral
port (>= 1024) by ``"port"``, so an observation never holds a run-specific number.

Ports are never hard-coded: servers bind port 0; ``env.closed_port()`` finds a port nobody
listens on by binding port 0 and closing. Real traffic goes only to 127.0.0.1 and ::1 (the
suite-wide audit hook in the root ``conftest.py`` enforces it).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import hashlib
import ipaddress
import json
import select
import socket
import threading
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from usersock.patch import is_patched, patched
from usersock.sockets import is_virtual

#: Timeout of the sockets the helpers make, and the longest a scenario waits for readiness.
WAIT = 1.0
#: Byte strings longer than this are observed as length and digest.
SHORT_BYTES = 64

#: Names for errnos that share a number (``errno.errorcode`` keeps the last alias).
_ERRNO_NAMES = {**errno.errorcode, errno.EOPNOTSUPP: "EOPNOTSUPP", errno.EAGAIN: "EAGAIN"}
_EAI_NAMES = {
    getattr(socket, name): name
    for name in dir(socket)
    if name.startswith("EAI_") and isinstance(getattr(socket, name), int)
}


# Observations ------------------------------------------------------------------------------
def describe_error(exc: BaseException) -> str:
    """``"!Type(ERRNO)"`` for an ``OSError`` with an errno, ``"!Type('message')"`` for one
    without (``TimeoutError('timed out')``), ``"!Type"`` for any other exception."""
    name = type(exc).__name__
    if isinstance(exc, socket.gaierror):
        return f"!gaierror({_EAI_NAMES.get(exc.errno, exc.errno)})"
    if isinstance(exc, OSError):
        if exc.errno is None:
            return f"!{name}({str(exc)!r})"
        return f"!{name}({_ERRNO_NAMES.get(exc.errno, exc.errno)})"
    return f"!{name}"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return False
    return True


def normalise(value: Any, env: Env | None = None) -> Any:
    """Turn *value* into a JSON-able observation without run-specific numbers."""
    if isinstance(value, BaseException):
        return describe_error(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if len(data) <= SHORT_BYTES:
            return repr(data)
        return {"len": len(data), "sha256": hashlib.sha256(data).hexdigest()[:16]}
    if isinstance(value, enum.Enum):
        return str(value) if value.name is None else f"{type(value).__name__}.{value.name}"
    if isinstance(value, socket.socket):
        if env is not None:
            env.own(value)
        return "<socket>"
    if isinstance(value, tuple) and len(value) in (2, 4) and isinstance(value[0], str):
        host, port = value[0], value[1]
        if isinstance(port, int) and _is_ip(host):
            shown: Any = "port" if port >= 1024 else port
            return [host, shown, *(normalise(v, env) for v in value[2:])]
    if isinstance(value, (list, tuple)):
        return [normalise(v, env) for v in value]
    if isinstance(value, dict):
        return {str(k): normalise(v, env) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"scenario returned a {type(value).__name__}, which is not observable")


class Env:
    """What a scenario gets: the family, its loopback address, and observing helpers."""

    def __init__(self, family: int, virtual: bool) -> None:
        self.family = family
        self.virtual = virtual
        v4 = family == socket.AF_INET
        #: The loopback address of the family.
        self.host = "127.0.0.1" if v4 else "::1"
        #: The wildcard address of the family.
        self.any = "0.0.0.0" if v4 else "::"
        #: A documentation address (RFC 5737 / RFC 3849) that no host owns.
        self.foreign = "192.0.2.1" if v4 else "2001:db8::1"
        self._owned: list[socket.socket] = []
        self._threads: list[tuple[threading.Thread, list[BaseException]]] = []

    # Sockets that are closed when the run ends --------------------------------------------
    def own(self, *socks: socket.socket) -> None:
        """Close *socks* when the run ends."""
        self._owned.extend(socks)

    def tcp(self, timeout: float | None = WAIT) -> socket.socket:
        """A TCP socket of the family (timeout :data:`WAIT` unless given)."""
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        self.own(sock)
        return sock

    def udp(self, timeout: float | None = WAIT) -> socket.socket:
        """A UDP socket of the family (timeout :data:`WAIT` unless given)."""
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        sock.settimeout(timeout)
        self.own(sock)
        return sock

    def bound_udp(self) -> socket.socket:
        """A UDP socket bound to the loopback address, port 0."""
        sock = self.udp()
        sock.bind((self.host, 0))
        return sock

    def listener(self, backlog: int = 8, reuse: bool = False) -> socket.socket:
        """A listening TCP socket on the loopback address, port 0."""
        sock = self.tcp()
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(backlog)
        return sock

    def connected(self) -> tuple[socket.socket, socket.socket, socket.socket]:
        """``(client, server side, listener)`` of one established connection, all with
        timeout :data:`WAIT`."""
        lst = self.listener()
        cli = self.tcp()
        cli.connect(self.address(lst))
        conn, _ = lst.accept()
        conn.settimeout(WAIT)
        self.own(conn)
        return cli, conn, lst

    def address(self, sock: socket.socket) -> tuple[str, int]:
        """``(host, port)`` of a bound socket, to connect or send to."""
        name = sock.getsockname()
        return name[0], name[1]

    def closed_port(self, kind: int = socket.SOCK_STREAM) -> int:
        """A port of the loopback address that no socket of *kind* is bound to."""
        with socket.socket(self.family, kind) as probe:
            probe.bind((self.host, 0))
            return int(probe.getsockname()[1])

    # Observing -----------------------------------------------------------------------------
    def attempt(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """The normalised result of ``fn(*args, **kwargs)``, or its exception as a string."""
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            return describe_error(exc)
        return normalise(result, self)

    def readable(self, sock: Any, timeout: float = 0.0) -> bool:
        """Whether ``select`` finds *sock* readable within *timeout* seconds."""
        return bool(select.select([sock], [], [], timeout)[0])

    def writable(self, sock: Any, timeout: float = 0.0) -> bool:
        """Whether ``select`` finds *sock* writable within *timeout* seconds."""
        return bool(select.select([], [sock], [], timeout)[1])

    def recv_all(self, sock: socket.socket, limit: int = 1 << 24) -> bytes:
        """Read until EOF (or *limit* bytes); each wait is bounded by the socket's timeout."""
        chunks = []
        total = 0
        while total < limit:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)

    def spawn(self, fn: Callable[..., Any], *args: Any) -> threading.Thread:
        """Run ``fn(*args)`` in a thread, joined when the run ends."""
        errors: list[BaseException] = []

        def body() -> None:
            try:
                fn(*args)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=body, daemon=True, name="differential-helper")
        self._threads.append((thread, errors))
        thread.start()
        return thread

    # End of run ----------------------------------------------------------------------------
    def finish(self) -> None:
        """Join helper threads and close every owned socket; re-raise a thread's error."""
        for sock in reversed(self._owned):
            with contextlib.suppress(OSError):
                sock.close()
        for thread, errors in self._threads:
            thread.join(10 * WAIT)
            if thread.is_alive():
                raise AssertionError("a helper thread did not finish")
            if errors:
                raise errors[0]

    def check_kinds(self) -> None:
        """Every socket of the run is virtual in the virtual run and real in the real one."""
        for sock in self._owned:
            if is_virtual(sock) != self.virtual:
                side = "virtual" if self.virtual else "real"
                raise AssertionError(f"the {side} run made a socket of the other kind: {sock!r}")


# The two runs ------------------------------------------------------------------------------
class Spec:
    """The fixture value of ``env``/``env4``/``env6``: which family the hook builds an
    :class:`Env` for."""

    def __init__(self, family: int) -> None:
        self.family = family


@pytest.fixture(params=[socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def env(request: pytest.FixtureRequest) -> Spec:
    return Spec(request.param)


@pytest.fixture
def env4() -> Spec:
    return Spec(socket.AF_INET)


@pytest.fixture
def env6() -> Spec:
    return Spec(socket.AF_INET6)


def _run(func: Callable[..., Any], kwargs: dict[str, Any], virtual: bool) -> Any:
    envs = {k: Env(v.family, virtual) for k, v in kwargs.items() if isinstance(v, Spec)}
    args = {**kwargs, **envs}
    (first,) = envs.values()
    try:
        result = normalise(func(**args), first)
        for e in envs.values():
            e.check_kinds()
    finally:
        for e in envs.values():
            e.finish()
    json.dumps(result)
    return result


def _show(observation: Any) -> str:
    return json.dumps(observation, indent=1, sort_keys=True)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a scenario on real sockets, then under ``patched()``, and compare."""
    argnames = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in argnames}
    if not any(isinstance(v, Spec) for v in kwargs.values()):
        return None
    if is_patched():
        pytest.skip("differential scenarios need real sockets; they cannot run inside patched()")
    real = _run(pyfuncitem.obj, kwargs, virtual=False)
    pyfuncitem.add_report_section("call", "observation", _show(real))
    with patched() as network:
        try:
            virtual = _run(pyfuncitem.obj, kwargs, virtual=True)
        except Exception as exc:
            virtual = {
                "uncaught": describe_error(exc),
                "traceback": traceback.format_exc().splitlines()[-6:],
            }
        internal_errors = network.stack.stats.internal_errors
    assert virtual == real, f"real:\n{_show(real)}\nvirtual:\n{_show(virtual)}"
    assert internal_errors == 0, "usersock's protocol code raised (see the log)"
    return True
