"""``usersock.patched()``: what it swaps in, that it swaps everything back by identity (also
on error), nesting, the decorator forms, and the network it hands out."""

from __future__ import annotations

import asyncio
import inspect
import socket
import ssl
import threading
from typing import TYPE_CHECKING

import pytest

from usersock import dns
from usersock.net import Network, current
from usersock.patch import SITES, is_patched, patched
from usersock.sockets import PatchedSocket as VirtualSocket

if TYPE_CHECKING:
    from tests.patch.conftest import AuditLog

ORIGINALS = {name: getattr(module, name) for module, name, _ in SITES}
RESOLVERS = ["getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo"]


def assert_restored() -> None:
    for module, name, _ in SITES:
        assert getattr(module, name) is ORIGINALS[name], f"{module.__name__}.{name} not restored"
    assert not is_patched()
    assert current() is None


def test_sites_cover_the_socket_class_and_the_resolver() -> None:
    assert sorted(name for _, name, _ in SITES) == sorted(["socket", *RESOLVERS])
    assert all(module is socket for module, _, _ in SITES)


def test_enter_installs_every_site_and_exit_restores_by_identity() -> None:
    assert_restored()
    with patched() as net:
        assert isinstance(net, Network)
        assert is_patched()
        assert current() is net
        assert socket.socket is VirtualSocket
        for module, name, replacement in SITES:
            assert getattr(module, name) is replacement
    assert_restored()


def test_exit_restores_after_an_exception() -> None:
    with pytest.raises(KeyError), patched():
        raise KeyError("boom")
    assert_restored()


def test_exit_restores_what_was_there_when_entered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone else's patch from before patched() is what comes back, not our import-time
    snapshot."""

    def theirs(*args: object, **kwargs: object) -> str:
        return "theirs"

    monkeypatch.setattr(socket, "gethostbyname", theirs)
    with patched():
        assert socket.gethostbyname("localhost") == "127.0.0.1"
    assert socket.gethostbyname is theirs


def test_nesting_makes_the_inner_network_current_and_the_outer_one_after() -> None:
    with patched() as outer:
        outer.add_host("outer.test")
        with patched() as inner:
            assert current() is inner and inner is not outer
            assert is_patched()
            with pytest.raises(socket.gaierror):
                socket.gethostbyname("outer.test")  # the inner network does not know it
        assert current() is outer
        assert is_patched()
        assert socket.gethostbyname("outer.test").startswith("198.18.")
        assert inner.closed and not outer.closed
    assert_restored()
    assert outer.closed


def test_inner_error_leaves_the_outer_network_patched() -> None:
    with patched() as outer:
        with pytest.raises(RuntimeError), patched():
            raise RuntimeError
        assert current() is outer and socket.socket is VirtualSocket
    assert_restored()


def test_a_given_network_is_used_as_is_and_not_closed(network: Network) -> None:
    network.add_host("given.test")
    with patched(network) as net:
        assert net is network
        assert socket.gethostbyname("given.test").startswith("198.18.")
    assert not network.closed
    assert_restored()


def test_the_same_network_may_be_entered_twice(network: Network) -> None:
    with patched(network), patched(network) as again:
        assert again is network
    assert_restored()
    assert not network.closed


def test_allow_and_clock_go_to_the_network_made() -> None:
    with patched(allow=["db.example.com:5432", "203.0.113.9"]) as net:
        assert [(r.host, r.port) for r in net.allow] == [
            ("db.example.com", 5432),
            ("203.0.113.9", None),
        ]


def test_allow_with_a_given_network_is_refused(network: Network) -> None:
    with pytest.raises(TypeError, match="Network"):
        patched(network, allow=["x.test"])


def test_one_patched_object_can_be_entered_repeatedly_and_reentrantly() -> None:
    ctx = patched()
    with ctx as first:
        with ctx as second:
            assert second is not first and current() is second
        assert current() is first
    assert_restored()
    with ctx as third:
        assert third is not first
    assert_restored()


def test_decorator_on_a_function_gives_each_call_a_fresh_network() -> None:
    seen = []

    @patched()
    def work(x: int, *, y: int) -> int:
        seen.append(current())
        assert socket.socket is VirtualSocket
        return x + y

    assert work(1, y=2) == 3
    assert work(1, y=3) == 4
    assert seen[0] is not seen[1] and all(net is not None and net.closed for net in seen)
    assert work.__name__ == "work"
    assert list(inspect.signature(work).parameters) == ["x", "y"]
    assert_restored()


def test_decorator_restores_when_the_function_raises() -> None:
    @patched()
    def fails() -> None:
        raise ValueError

    with pytest.raises(ValueError):
        fails()
    assert_restored()


def test_decorator_on_a_coroutine_function() -> None:
    @patched(allow=["db.example.com"])
    async def work() -> bool:
        await asyncio.sleep(0)
        net = current()
        assert net is not None and net.name_allowed("db.example.com")
        return socket.socket is VirtualSocket

    assert inspect.iscoroutinefunction(work)
    assert asyncio.run(work()) is True
    assert_restored()


def test_decorator_without_parentheses_is_refused() -> None:
    def work() -> None:
        pass

    with pytest.raises(TypeError, match="parentheses"):
        patched(work)  # type: ignore[arg-type]


def test_decorator_refuses_a_class() -> None:
    with pytest.raises(TypeError, match="not classes"):
        patched()(type("Suite", (), {}))


@pytest.mark.parametrize("name", RESOLVERS)
def test_function_replacements_look_like_the_originals(name: str) -> None:
    with patched():
        replacement = getattr(socket, name)
        original = ORIGINALS[name]
        assert replacement is not original
        assert replacement.__wrapped__ is original
        assert replacement.__name__ == original.__name__
        assert replacement.__doc__ == original.__doc__
        if name == "getaddrinfo":
            assert inspect.signature(replacement) == inspect.signature(original)


def test_a_replacement_kept_past_the_end_calls_the_original(audit: AuditLog) -> None:
    with patched():
        kept = socket.getaddrinfo
    # No network is current: the wrapper hands the call to the real function (which raises
    # the audit event the virtual resolver never raises).
    with audit.recording() as events:
        infos = kept("127.0.0.1", 80, type=socket.SOCK_STREAM)
    assert infos == ORIGINALS["getaddrinfo"]("127.0.0.1", 80, type=socket.SOCK_STREAM)
    assert any(e.startswith("socket.getaddrinfo") for e in events)


def test_socket_type_is_left_alone_and_still_matches_both_kinds() -> None:
    """``socket.SocketType`` is ``_socket.socket``, a base of the real and the virtual class."""
    import _socket

    assert socket.SocketType is _socket.socket
    with patched() as net:
        assert socket.SocketType is _socket.socket
        with net.socket() as virtual, socket.socket(socket.AF_UNIX) as real:
            assert isinstance(virtual, socket.SocketType)
            assert isinstance(real, socket.SocketType)


def test_virtual_sockets_are_real_socket_instances() -> None:
    with patched(), socket.socket() as s:
        assert type(s) is VirtualSocket
        assert isinstance(s, ORIGINALS["socket"])


_HAS_METACLASS = type(VirtualSocket).__instancecheck__ is not type.__instancecheck__


@pytest.mark.xfail(
    not _HAS_METACLASS, strict=True, reason="usersock.socket has no __instancecheck__ yet"
)
def test_real_sockets_are_socket_socket_instances_while_patched() -> None:
    with patched():
        a, b = socket.socketpair()
        with a, b:
            assert isinstance(a, socket.socket)


def test_af_unix_and_socketpair_stay_real() -> None:
    with patched():
        a, b = socket.socketpair()
        with a, b:
            assert type(a) is ORIGINALS["socket"] and a.family == socket.AF_UNIX
            a.sendall(b"x")
            assert b.recv(1) == b"x"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as u:
            assert type(u) is ORIGINALS["socket"]


def test_fromfd_wraps_a_real_descriptor() -> None:
    real = ORIGINALS["socket"](socket.AF_UNIX, socket.SOCK_STREAM)
    with real, patched():
        dup = socket.fromfd(real.fileno(), socket.AF_UNIX, socket.SOCK_STREAM)
        with dup:
            assert type(dup) is ORIGINALS["socket"]


def test_create_connection_and_create_server_follow_the_patch() -> None:
    """Python code in socket.py reaches ``socket`` and ``getaddrinfo`` through the module
    globals, so it needs no patch of its own."""
    with patched() as net:
        net.add_host("api.test")
        with socket.create_server(("api.test", 0)) as server:
            assert type(server) is VirtualSocket
            port = server.getsockname()[1]
            with socket.create_connection(("api.test", port), timeout=5) as client:
                assert type(client) is VirtualSocket
                conn, _ = server.accept()
                with conn:
                    client.sendall(b"ping")
                    assert conn.recv(4) == b"ping"


def test_getfqdn_follows_the_patched_gethostbyaddr() -> None:
    with patched() as net:
        assert socket.getfqdn("127.0.0.1") == "localhost"
        net.add_host("api.test", "10.9.8.7")
        assert socket.getfqdn("10.9.8.7") == "api.test"
        assert socket.getfqdn("unknown.invalid") == "unknown.invalid"  # no real lookup
        # The machine's name is on the loopback, whose reverse name is localhost (as on a
        # machine whose /etc/hosts lists the name after localhost on 127.0.0.1).
        assert socket.getfqdn() == "localhost"


def test_ssl_and_http_client_bindings_need_no_patch() -> None:
    """What the stdlib binds at import time: ``ssl`` took ``create_connection`` (the Python
    function, which follows the patch) and ``socket`` only as ``SSLSocket``'s base class."""
    import http.client

    assert ssl.create_connection is socket.create_connection  # type: ignore[attr-defined]
    assert issubclass(ssl.SSLSocket, ORIGINALS["socket"])
    with patched():
        conn = http.client.HTTPConnection("localhost", 1)
        assert conn._create_connection is socket.create_connection  # type: ignore[attr-defined]


def test_patching_is_process_wide_threads_see_it() -> None:
    seen = []
    with patched() as net:
        thread = threading.Thread(target=lambda: seen.append((current(), socket.socket)))
        thread.start()
        thread.join()
    assert seen == [(net, VirtualSocket)]


def test_concurrent_enters_and_exits_leave_everything_restored() -> None:
    errors = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(200):
                with patched():
                    assert current() is not None and socket.socket is VirtualSocket
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert_restored()


def test_is_patched_and_current_outside() -> None:
    assert not is_patched()
    assert current() is None
    assert dns.real_getaddrinfo is ORIGINALS["getaddrinfo"]
