"""Readiness as ``select``, ``poll``, ``epoll`` and every ``selectors`` class see it: readable
after data and not once drained, writable when connected, a listener readable with a pending
connection, readable at EOF and after a reset, and the exact ``poll`` masks of each state.

Each test is a scenario run on real sockets and under ``usersock.patched()`` (see
``conftest.py``); it returns what the code observed. A scenario first waits (``select``, at
most 1 s) for the state it is about to look at, then takes the snapshot with timeout 0.
"""

from __future__ import annotations

import errno
import select
import selectors
import socket
from typing import TYPE_CHECKING, cast

import pytest

if TYPE_CHECKING:
    from tests.differential.conftest import Env

pytestmark = pytest.mark.timeout(60)

POLL_NAMES = [
    name
    for name in (
        "POLLIN",
        "POLLPRI",
        "POLLOUT",
        "POLLERR",
        "POLLHUP",
        "POLLNVAL",
        "POLLRDNORM",
        "POLLRDBAND",
        "POLLWRNORM",
        "POLLWRBAND",
        "POLLMSG",
        "POLLRDHUP",
    )
    if hasattr(select, name)
]
EPOLL_NAMES = [
    name
    for name in ("EPOLLIN", "EPOLLPRI", "EPOLLOUT", "EPOLLERR", "EPOLLHUP", "EPOLLRDHUP")
    if hasattr(select, name)
]
SELECTORS = [
    getattr(selectors, name)
    for name in ("SelectSelector", "PollSelector", "EpollSelector", "DefaultSelector")
    if hasattr(selectors, name)
]


#: The events to poll for when the read side's hang-up matters too.
WITH_RDHUP = select.POLLIN | select.POLLOUT | select.POLLRDHUP


def flags(mask: int, names: list[str]) -> list[str]:
    return [name for name in names if mask & getattr(select, name)]


def select_state(sock: socket.socket) -> dict[str, bool]:
    r, w, x = select.select([sock], [sock], [sock], 0)
    return {"r": bool(r), "w": bool(w), "x": bool(x)}


def poll_state(
    sock: socket.socket, events: int = select.POLLIN | select.POLLOUT | select.POLLPRI
) -> list[list[str]]:
    p = select.poll()
    p.register(sock, events)
    return [flags(mask, POLL_NAMES) for _, mask in p.poll(0)]


def epoll_state(
    sock: socket.socket, events: int = select.EPOLLIN | select.EPOLLOUT
) -> list[list[str]]:
    ep = select.epoll()
    try:
        ep.register(sock.fileno(), events)
        return [flags(mask, EPOLL_NAMES) for _, mask in ep.poll(0)]
    finally:
        ep.close()


# select ------------------------------------------------------------------------------------
def test_select_through_a_connection_lifecycle(env: Env) -> object:
    cli, conn, _ = env.connected()
    seen: dict[str, object] = {"idle": select_state(cli)}
    conn.sendall(b"data")
    env.readable(cli, 1.0)
    seen["with data"] = select_state(cli)
    cli.recv(100)
    seen["drained"] = select_state(cli)
    conn.shutdown(socket.SHUT_WR)
    env.readable(cli, 1.0)
    seen["at eof"] = select_state(cli)
    seen["recv at eof"] = cli.recv(10)
    seen["still readable"] = select_state(cli)
    return seen


def test_select_listener_with_pending_connection(env: Env) -> object:
    lst = env.listener()
    before = select_state(lst)
    cli = env.tcp()
    cli.connect(env.address(lst))
    pending = env.readable(lst, 1.0)
    with_pending = select_state(lst)
    conn, _ = lst.accept()
    env.own(conn)
    return {
        "before": before,
        "pending": pending,
        "with pending": with_pending,
        "after accept": select_state(lst),
    }


def test_select_two_listeners_only_one_pending(env: Env) -> object:
    a, b = env.listener(), env.listener()
    cli = env.tcp()
    cli.connect(env.address(b))
    r, _, _ = select.select([a, b], [], [], 1.0)
    return {"ready": [s is b for s in r]}


def test_select_picks_the_sockets_with_data(env: Env) -> object:
    pairs = [env.connected() for _ in range(3)]
    pairs[1][1].sendall(b"x")
    r, _, _ = select.select([p[0] for p in pairs], [], [], 1.0)
    return [next(i for i, p in enumerate(pairs) if p[0] is s) for s in r]


def test_select_timeout_with_nothing_ready(env: Env) -> object:
    cli, _, _ = env.connected()
    return select.select([cli], [], [], 0.05)


def test_select_after_reset(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"unread")
    env.readable(conn, 1.0)
    conn.close()
    env.readable(cli, 1.0)
    return select_state(cli)


def test_select_on_a_fresh_socket(env: Env) -> object:
    s = env.tcp()
    return select_state(s)


def test_select_on_a_closed_socket(env: Env) -> object:
    s = env.tcp()
    s.close()
    return env.attempt(select.select, [s], [], [], 0)


def test_select_after_own_shutdowns(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.shutdown(socket.SHUT_WR)
    after_wr = select_state(cli)
    conn.shutdown(socket.SHUT_RD)
    return {"own SHUT_WR": after_wr, "own SHUT_RD (server)": select_state(conn)}


# poll and epoll masks ----------------------------------------------------------------------
def test_poll_masks_through_a_connection_lifecycle(env: Env) -> object:
    cli, conn, _ = env.connected()
    seen = {"idle": poll_state(cli)}
    conn.sendall(b"data")
    env.readable(cli, 1.0)
    seen["with data"] = poll_state(cli)
    cli.recv(100)
    seen["drained"] = poll_state(cli)
    conn.shutdown(socket.SHUT_WR)
    env.readable(cli, 1.0)
    seen["at eof"] = poll_state(cli)
    return seen


def test_poll_rdhup_at_eof_and_hup_when_both_directions_are_shut(env: Env) -> object:
    cli, conn, _ = env.connected()
    conn.shutdown(socket.SHUT_WR)
    env.readable(cli, 1.0)
    seen = {"at eof, RDHUP asked": poll_state(cli, select.POLLIN | select.POLLRDHUP)}
    cli.shutdown(socket.SHUT_WR)
    seen["both shut"] = poll_state(cli)
    return seen


def test_poll_masks_of_a_listener(env: Env) -> object:
    lst = env.listener()
    idle = poll_state(lst)
    cli = env.tcp()
    cli.connect(env.address(lst))
    env.readable(lst, 1.0)
    return {"idle": idle, "pending": poll_state(lst)}


def test_poll_masks_of_a_fresh_socket(env: Env) -> object:
    """A socket never connected polls POLLOUT|POLLHUP (``TCP_CLOSE``); the descriptor,
    taken then, must follow the socket through connect, and through listen for another."""
    cli = env.tcp()
    fresh = {"poll": poll_state(cli), "epoll": epoll_state(cli), "select": select_state(cli)}
    ep = select.epoll()
    try:
        ep.register(cli.fileno(), select.EPOLLIN | select.EPOLLOUT)
        srv = env.tcp()
        fd = srv.fileno()
        srv.bind((env.host, 0))
        bound = poll_state(srv)
        srv.listen()
        listening = poll_state(srv)
        assert srv.fileno() == fd
        cli.connect(env.address(srv))
        conn, _ = srv.accept()
        env.own(conn)
        connected = (poll_state(cli), [mask for _, mask in ep.poll(0)])
        conn.sendall(b"x")
        env.readable(cli, 1.0)
        # The epoll registration made before connect() still sees the data.
        data = [mask & select.EPOLLIN for _, mask in ep.poll(0)]
    finally:
        ep.close()
    return {
        "fresh": fresh,
        "bound": bound,
        "listening": listening,
        "connected": connected,
        "epoll after data": data,
        "recv": cli.recv(1),
    }


def test_poll_masks_after_reset(env: Env) -> object:
    cli, conn, _ = env.connected()
    cli.sendall(b"unread")
    env.readable(conn, 1.0)
    conn.close()
    env.readable(cli, 1.0)
    return {
        "after reset": poll_state(cli),
        "recv": env.attempt(cli.recv, 1),
        "after the error was read": poll_state(cli),
    }


def test_poll_masks_after_refused_nonblocking_connect(env: Env) -> object:
    port = env.closed_port()
    s = env.tcp()
    s.setblocking(False)
    env.attempt(s.connect, (env.host, port))
    env.writable(s, 1.0)
    return {
        "refused": poll_state(s),
        "epoll": epoll_state(s),
        "SO_ERROR": errno.errorcode.get(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)),
        "after SO_ERROR": poll_state(s),
        "SO_ERROR again": s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR),
    }


@pytest.mark.parametrize("blocking", [True, False], ids=["blocking", "nonblocking"])
def test_poll_masks_after_connect_reported_the_refusal(env: Env, blocking: bool) -> object:
    """Once ``connect()`` itself has reported the failure, Linux disconnects the socket
    (``tcp_disconnect``): it polls as a fresh one, POLLOUT|POLLHUP, and may connect again."""
    port = env.closed_port()
    lst = env.listener()
    s = env.tcp(timeout=None)  # a timeout is CPython's own poll and SO_ERROR: not this path
    fd = s.fileno()
    if not blocking:
        s.setblocking(False)
        env.attempt(s.connect, (env.host, port))
        env.writable(s, 1.0)
    reported = env.attempt(s.connect, (env.host, port))
    after = poll_state(s)
    recv, send = env.attempt(s.recv, 1), env.attempt(s.send, b"x")  # ENOTCONN, EPIPE
    s.settimeout(1.0)
    again = env.attempt(s.connect, env.address(lst))
    conn, _ = lst.accept()
    env.own(conn)
    return {
        "reported": reported,
        "after": after,
        "recv": recv,
        "send": send,
        "peer": env.attempt(s.getpeername),
        "again": again,
        "connected": poll_state(s),
        "same fd": s.fileno() == fd,
    }


@pytest.mark.parametrize(
    "how", [socket.SHUT_RD, socket.SHUT_WR, socket.SHUT_RDWR], ids=["rd", "wr", "rdwr"]
)
def test_shutdown_before_connect_is_kept(env: Env, how: int) -> object:
    """``shutdown()`` of a socket never connected fails with ENOTCONN, but Linux keeps the
    flags: poll() shows them, reads see EOF, writes EPIPE, also after a later connect()."""
    lst = env.listener()
    s = env.tcp()
    shut = env.attempt(s.shutdown, how)
    fresh = poll_state(s, WITH_RDHUP)
    s.setblocking(False)
    recv, send = env.attempt(s.recv, 1), env.attempt(s.send, b"x")
    s.settimeout(1.0)
    connect = env.attempt(s.connect, env.address(lst))
    conn, _ = lst.accept()
    env.own(conn)
    conn.sendall(b"y")
    env.readable(s, 1.0)
    return {
        "shutdown": shut,
        "fresh": fresh,
        "recv": recv,
        "send": send,
        "connect": connect,
        "connected": poll_state(s, WITH_RDHUP),
        "recv after": env.attempt(s.recv, 1),
        "send after": env.attempt(s.send, b"z"),
    }


def test_poll_masks_of_a_dup_after_the_error_is_taken(env: Env) -> object:
    """Both descriptors of a ``dup()`` lose POLLERR when either takes the error."""
    port = env.closed_port()
    a = env.tcp()
    a.setblocking(False)
    b = a.dup()
    env.own(b)
    env.attempt(a.connect, (env.host, port))
    env.writable(a, 1.0)
    refused = (poll_state(a), poll_state(b))
    err = errno.errorcode.get(a.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
    return {"refused": refused, "SO_ERROR": err, "after": (poll_state(a), poll_state(b))}


def test_poll_masks_of_a_socket_connected_again_after_a_refusal(env: Env) -> object:
    """Linux lets a socket whose connect failed connect again; its descriptor must follow
    the new connection (the old one's hang-up and error are gone): a new mirror on the
    same descriptor number."""
    port = env.closed_port()
    lst = env.listener()
    s = env.tcp()
    s.setblocking(False)
    env.attempt(s.connect, (env.host, port))
    env.writable(s, 1.0)
    err = errno.errorcode.get(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
    after_error = poll_state(s)
    # The first connect() after the failure reports it (ECONNABORTED); the next one starts.
    again = [env.attempt(s.connect, env.address(lst)) for _ in range(2)]
    conn, _ = lst.accept()
    env.own(conn)
    env.writable(s, 1.0)
    connected = poll_state(s)
    conn.sendall(b"x")
    env.readable(s, 1.0)
    return {
        "SO_ERROR": err,
        "after the error": after_error,
        "connect again": again,
        "connected": connected,
        "data": poll_state(s),
        "recv": s.recv(1),
        "after recv": poll_state(s),
    }


def test_poll_masks_with_a_full_send_buffer(env: Env) -> object:
    cli, _, _ = env.connected()
    cli.setblocking(False)
    try:
        while True:
            cli.send(b"f" * 65536)
    except BlockingIOError:
        pass
    return poll_state(cli)


def test_epoll_masks_through_a_connection_lifecycle(env: Env) -> object:
    cli, conn, _ = env.connected()
    seen = {"idle": epoll_state(cli)}
    conn.sendall(b"data")
    env.readable(cli, 1.0)
    seen["with data"] = epoll_state(cli)
    cli.recv(100)
    conn.shutdown(socket.SHUT_WR)
    env.readable(cli, 1.0)
    seen["at eof"] = epoll_state(cli)
    return seen


def test_epoll_rdhup_at_eof(env: Env) -> object:
    cli, conn, _ = env.connected()
    conn.shutdown(socket.SHUT_WR)
    env.readable(cli, 1.0)
    return epoll_state(cli, select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP)


def test_epoll_edge_triggered_reports_new_data_once(env: Env) -> object:
    cli, conn, _ = env.connected()
    ep = select.epoll()
    try:
        ep.register(cli.fileno(), select.EPOLLIN | select.EPOLLET)
        first = ep.poll(0)
        conn.sendall(b"one")
        env.readable(cli, 1.0)
        second = ep.poll(1.0)
        third = ep.poll(0)
        return {
            "before": len(first),
            "data": [flags(m, EPOLL_NAMES) for _, m in second],
            "again without new data": len(third),
        }
    finally:
        ep.close()


# selectors ---------------------------------------------------------------------------------
def _events(selector: selectors.BaseSelector, timeout: float = 0.0) -> list[list[object]]:
    names: list[list[object]] = []
    for key, mask in selector.select(timeout):
        names.append(
            [key.data, bool(mask & selectors.EVENT_READ), bool(mask & selectors.EVENT_WRITE)]
        )
    return sorted(names)


@pytest.mark.parametrize("kind", SELECTORS, ids=lambda k: k.__name__)
def test_selector_through_a_connection_lifecycle(
    env: Env, kind: type[selectors.BaseSelector]
) -> object:
    cli, conn, _ = env.connected()
    with kind() as sel:
        sel.register(cli, selectors.EVENT_READ | selectors.EVENT_WRITE, "client")
        seen: dict[str, object] = {"idle": _events(sel)}
        conn.sendall(b"ping")
        env.readable(cli, 1.0)
        seen["with data"] = _events(sel)
        cli.recv(10)
        seen["drained"] = _events(sel)
        sel.modify(cli, selectors.EVENT_READ, "client")
        seen["read only, drained"] = _events(sel, 0.05)
        conn.close()
        env.readable(cli, 1.0)
        seen["peer closed"] = _events(sel)
        sel.unregister(cli)
        seen["unregistered"] = _events(sel, 0.05)
        seen["map empty"] = len(sel.get_map())
    return seen


@pytest.mark.parametrize("kind", SELECTORS, ids=lambda k: k.__name__)
def test_selector_accept_loop(env: Env, kind: type[selectors.BaseSelector]) -> object:
    lst = env.listener()
    lst.setblocking(False)
    accepted: list[object] = []
    with kind() as sel:
        sel.register(lst, selectors.EVENT_READ, "listener")
        clients = [env.tcp() for _ in range(3)]
        for c in clients:
            c.connect(env.address(lst))
        rounds = 0
        while len(accepted) < 3 and rounds < 20:
            rounds += 1
            for key, _ in sel.select(1.0):
                try:
                    conn, peer = cast(socket.socket, key.fileobj).accept()
                except BlockingIOError:
                    continue
                env.own(conn)
                accepted.append(peer)
        names = [c.getsockname() for c in clients]
        return {
            "accepted in order": [names.index(p) for p in accepted],
            "then idle": _events(sel),
        }


@pytest.mark.parametrize("kind", SELECTORS, ids=lambda k: k.__name__)
def test_selector_echo_server_round_trip(env: Env, kind: type[selectors.BaseSelector]) -> object:
    lst = env.listener()
    lst.setblocking(False)
    cli = env.tcp()
    cli.connect(env.address(lst))
    cli.sendall(b"hello selector")
    cli.shutdown(socket.SHUT_WR)
    served = b""
    with kind() as sel:
        sel.register(lst, selectors.EVENT_READ, "listener")
        done = False
        rounds = 0
        while not done and rounds < 50:
            rounds += 1
            for key, _ in sel.select(1.0):
                if key.data == "listener":
                    conn, _ = lst.accept()
                    env.own(conn)
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ, "conn")
                    continue
                sock = cast(socket.socket, key.fileobj)
                data = sock.recv(4096)
                if data:
                    served += data
                    sock.sendall(data.upper())
                else:
                    sel.unregister(sock)
                    sock.close()
                    done = True
    return {"served": served, "client got": env.recv_all(cli)}


def test_poll_masks_after_connect_reports_an_error_already_taken(env: Env) -> object:
    """A refused non-blocking connect whose error was taken through ``SO_ERROR``: the next
    ``connect()`` reports ``ECONNABORTED`` and leaves a fresh socket (POLLOUT|POLLHUP) on
    both descriptors of a ``dup()``, polled before and after."""
    port = env.closed_port()
    a = env.tcp(0.0)
    b = a.dup()
    env.own(b)
    env.attempt(a.connect, (env.host, port))
    env.writable(a, 1.0)
    err = errno.errorcode.get(a.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
    taken = (poll_state(a), poll_state(b))
    again = env.attempt(a.connect, (env.host, port))
    return {
        "SO_ERROR": err,
        "taken": taken,
        "connect again": again,
        "after": (poll_state(a, WITH_RDHUP), poll_state(b, WITH_RDHUP)),
    }


def test_shutdown_of_a_listener_clears_flags_set_before_it_listened(env: Env) -> object:
    """Stopping a listener (``SHUT_RD``) disconnects it (``tcp_disconnect``), which also
    clears shutdown flags kept from before ``listen()``: a fresh socket again."""
    s = env.tcp(0.0)
    before = env.attempt(s.shutdown, socket.SHUT_RD)
    s.bind((env.host, 0))
    s.listen()
    stop = env.attempt(s.shutdown, socket.SHUT_RD)
    return {
        "before listen": before,
        "stop": stop,
        "poll": poll_state(s, WITH_RDHUP),
        "recv": env.attempt(s.recv, 1),
        "listen again": env.attempt(s.listen),
    }


@pytest.mark.parametrize(
    "how", [socket.SHUT_RD, socket.SHUT_WR, socket.SHUT_RDWR], ids=["rd", "wr", "rdwr"]
)
def test_shutdown_during_the_handshake_gives_the_connect_up(env: Env, how: int) -> object:
    """``shutdown()`` in SYN-SENT (the listener's queue is full, so the SYN goes
    unanswered) disconnects the socket whatever *how*: ECONNRESET is pending (select sees
    it; the poll mask differs, see the README), reads report it, writes fail with EPIPE,
    and the socket connects afresh, its flags cleared."""
    lst = env.listener(backlog=0)
    first = env.tcp()
    first.connect(env.address(lst))  # fills the accept queue
    s = env.tcp(0.0)
    started = env.attempt(s.connect, env.address(lst))
    shut = env.attempt(s.shutdown, how)
    seen = select_state(s)
    recv, send = env.attempt(s.recv, 1), env.attempt(s.send, b"x")
    taken = poll_state(s, WITH_RDHUP)
    conn, _ = lst.accept()
    env.own(conn)
    again = env.attempt(s.connect, env.address(lst))
    env.writable(s, 5.0)
    return {
        "started": started,
        "shutdown": shut,
        "select": seen,
        "recv": recv,
        "send": send,
        "error taken": taken,
        "again": again,
        "SO_ERROR": s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR),
        "peer": env.attempt(s.getpeername),
    }
