"""The rest of the socket.socket surface on virtual sockets: readiness descriptors, options,
makefile, dup, scatter/gather, sendfile, flags, repr and ResourceWarning."""

from __future__ import annotations

import errno
import gc
import io
import select
import selectors
import socket
import struct
import threading
import warnings

import pytest

import usersock

AF_INET, STREAM, DGRAM = socket.AF_INET, socket.SOCK_STREAM, socket.SOCK_DGRAM


def pair(stack: usersock.Stack) -> tuple[usersock.socket, usersock.socket]:
    srv = stack.socket(AF_INET, STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    cli = stack.socket(AF_INET, STREAM)
    cli.connect(srv.getsockname())
    conn, _ = srv.accept()
    srv.close()
    return cli, conn


def readable(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


def writable(sock: socket.socket) -> bool:
    return bool(select.select([], [sock], [], 0)[1])


def test_virtual_sockets_are_socket_sockets(stack: usersock.Stack) -> None:
    s = stack.socket(AF_INET, STREAM)
    assert isinstance(s, socket.socket)
    assert isinstance(s, socket.SocketType)
    assert s.family is socket.AF_INET and s.type is socket.SOCK_STREAM and s.proto == 0
    assert usersock.sockets.is_virtual(s)
    s.close()


def test_descriptor_mirrors_readiness(stack: usersock.Stack) -> None:
    cli, conn = pair(stack)
    assert conn.fileno() >= 0 and conn.fileno() != cli.fileno()
    assert not readable(conn)
    assert writable(conn)
    cli.sendall(b"data")
    assert readable(conn)
    assert conn.recv(10) == b"data"
    assert not readable(conn)  # drained: the selector goes quiet again
    cli.close()
    assert readable(conn)  # EOF is readable
    assert conn.recv(10) == b""


def test_descriptor_not_writable_while_send_buffer_full(stack: usersock.Stack) -> None:
    cli, conn = pair(stack)
    cli.setblocking(False)
    sent = 0
    with pytest.raises(BlockingIOError):
        while True:
            sent += cli.send(b"x" * 65536)
    assert sent > 0
    assert not writable(cli)
    got = 0
    while got < sent:
        got += len(conn.recv(1 << 20))
    assert writable(cli)


def test_listener_descriptor_readable_with_pending_connection(stack: usersock.Stack) -> None:
    srv = stack.socket(AF_INET, STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ)
    assert sel.select(0) == []
    cli = stack.socket(AF_INET, STREAM)
    cli.connect(srv.getsockname())
    assert [key.fileobj for key, _ in sel.select(0)] == [srv]
    srv.accept()[0].close()
    assert sel.select(0) == []
    sel.close()


def test_selector_wakes_from_another_thread(stack: usersock.Stack) -> None:
    cli, conn = pair(stack)
    sel = selectors.DefaultSelector()
    sel.register(conn, selectors.EVENT_READ)
    t = threading.Timer(0.05, lambda: cli.sendall(b"wake"))
    t.start()
    events = sel.select(timeout=5)
    t.join()
    assert [key.fileobj for key, _ in events] == [conn]
    sel.close()


def test_makefile_reads_lines_and_counts_references(stack: usersock.Stack) -> None:
    cli, conn = pair(stack)
    w = cli.makefile("wb")
    w.write(b"first line\nsecond line\n")
    w.flush()
    r = conn.makefile("r", encoding="ascii")
    assert r.readline() == "first line\n"
    assert r.readline() == "second line\n"
    conn.close()  # the file still holds a reference: the connection stays open
    cli.sendall(b"third\n")
    assert r.readline() == "third\n"
    r.close()  # last reference gone: now it really closes
    w.close()
    cli.close()
    with pytest.raises(OSError):
        conn.recv(1)


def test_dup_shares_the_connection(stack: usersock.Stack) -> None:
    cli, conn = pair(stack)
    twin = conn.dup()
    conn.close()
    cli.sendall(b"to the twin")
    assert twin.recv(100) == b"to the twin"
    twin.close()
    assert cli.recv(100) == b""  # last holder closed: FIN


def test_detach_of_a_virtual_socket_fails_loudly(stack: usersock.Stack) -> None:
    s = stack.socket(AF_INET, STREAM)
    with pytest.raises(OSError) as info:
        s.detach()
    assert info.value.errno == errno.EOPNOTSUPP
    s.close()


def test_socket_options(stack: usersock.Stack) -> None:
    cli, _conn = pair(stack)
    assert cli.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_STREAM
    assert cli.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    for level, opt in (
        (socket.IPPROTO_TCP, socket.TCP_NODELAY),
        (socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        (socket.SOL_SOCKET, socket.SO_REUSEADDR),
    ):
        assert cli.getsockopt(level, opt) == 0
        cli.setsockopt(level, opt, 1)
        assert cli.getsockopt(level, opt) == 1
    cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
    assert cli.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
    with pytest.raises(OSError) as info:
        cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 1000)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(OSError) as info:
        cli.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, 1)
    assert info.value.errno == errno.ENOPROTOOPT
    assert "SO_" in str(info.value) or "option" in str(info.value)
    raw = cli.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE, 4)
    assert struct.unpack("i", raw) == (socket.SOCK_STREAM,)


def test_rcvbuf_really_sizes_the_window() -> None:
    from tests.conftest import make_loopback_stack

    stack = make_loopback_stack()
    srv = stack.socket(AF_INET, STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    assert srv.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 32768  # doubled, as Linux
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    cli = stack.socket(AF_INET, STREAM)
    cli.connect(srv.getsockname())
    conn, _ = srv.accept()
    cli.setblocking(False)
    sent = 0
    try:
        while True:
            sent += cli.send(b"x" * 4096)
    except BlockingIOError:
        pass
    # What is in flight is bounded by the receiver's 16 KiB window plus the sender's buffer.
    in_receiver = conn.recv(1 << 20)
    assert 0 < len(in_receiver) <= 16384
    assert sent <= 16384 + cli.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    stack.close()


def test_linger_zero_sends_reset(stack: usersock.Stack) -> None:
    cli, conn = pair(stack)
    cli.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert cli.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8) == struct.pack("ii", 1, 0)
    cli.close()
    with pytest.raises(ConnectionResetError):
        conn.recv(10)


def test_msg_waitall_and_peek(stack: usersock.Stack) -> None:
    cli, conn = pair(stack)

    def send_two() -> None:
        cli.sendall(b"ab")
        cli.sendall(b"cdef")

    t = threading.Thread(target=send_two)
    t.start()
    assert conn.recv(6, socket.MSG_WAITALL) == b"abcdef"
    t.join()
    cli.sendall(b"zz")
    assert conn.recv(1, socket.MSG_PEEK) == b"z"
    assert conn.recv(5) == b"zz"
    with pytest.raises(OSError) as info:
        conn.recv(1, socket.MSG_OOB)
    assert info.value.errno == errno.EOPNOTSUPP


def test_sendmsg_recvmsg_and_truncation(stack: usersock.Stack) -> None:
    a = stack.socket(AF_INET, DGRAM)
    b = stack.socket(AF_INET, DGRAM)
    a.bind(("127.0.0.1", 0))
    assert b.sendmsg([b"hello ", memoryview(b"world")], [], 0, a.getsockname()) == 11
    data, anc, flags, addr = a.recvmsg(5)
    assert (data, anc, flags & socket.MSG_TRUNC) == (b"hello", [], socket.MSG_TRUNC)
    assert addr == ("127.0.0.1", b.getsockname()[1])
    b.sendto(b"scatter", a.getsockname())
    bufs = [bytearray(3), bytearray(10)]
    n, _, _, _ = a.recvmsg_into(bufs)
    assert n == 7 and bytes(bufs[0]) == b"sca" and bytes(bufs[1][:4]) == b"tter"
    with pytest.raises(OSError):
        b.sendmsg([b"x"], [(socket.SOL_SOCKET, 1, b"\0")], 0, a.getsockname())
    buf = bytearray(16)
    b.sendto(b"into", a.getsockname())
    assert a.recvfrom_into(buf) == (4, ("127.0.0.1", b.getsockname()[1]))


def test_sendfile(stack: usersock.Stack) -> None:
    cli, conn = pair(stack)
    payload = bytes(range(256)) * 1000
    assert cli.sendfile(io.BytesIO(payload)) == len(payload)
    cli.shutdown(socket.SHUT_WR)
    got = b""
    while chunk := conn.recv(65536):
        got += chunk
    assert got == payload


def test_unclosed_socket_warns_when_collected(stack: usersock.Stack) -> None:
    s = stack.socket(AF_INET, STREAM)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del s
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)


def test_unsupported_type_and_family(stack: usersock.Stack) -> None:
    with pytest.raises(OSError) as info:
        stack.socket(AF_INET, socket.SOCK_RAW)
    assert info.value.errno == errno.EPROTONOSUPPORT
    unix = stack.socket(socket.AF_UNIX, STREAM)  # AF_UNIX stays real
    assert type(unix) is socket.socket
    unix.close()
