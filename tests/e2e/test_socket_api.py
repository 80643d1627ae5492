"""The socket-shaped API end to end over the in-process loopback.

Each test uses real TCP/UDP through the stack (handshake, data, FIN/RST) and checks what a
program observes: return values, bytes, and the errno Linux would give.
"""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import threading

import pytest

import usersock

AF_INET, AF_INET6, STREAM, DGRAM = (
    socket.AF_INET,
    socket.AF_INET6,
    socket.SOCK_STREAM,
    socket.SOCK_DGRAM,
)


def listener(
    stack: usersock.Stack, family: int = AF_INET, host: str = "127.0.0.1"
) -> usersock.socket:
    srv = stack.socket(family, STREAM)
    srv.bind((host, 0))
    srv.listen()
    return srv


def pair(
    stack: usersock.Stack, family: int = AF_INET, host: str = "127.0.0.1"
) -> tuple[usersock.socket, usersock.socket]:
    srv = listener(stack, family, host)
    cli = stack.socket(family, STREAM)
    cli.connect(srv.getsockname()[:2])
    conn, _ = srv.accept()
    srv.close()
    return cli, conn


@pytest.mark.parametrize(
    ("family", "host"), [(AF_INET, "192.168.1.1"), (AF_INET, "127.0.0.1"), (AF_INET6, "::1")]
)
def test_echo_and_addresses(stack: usersock.Stack, family: int, host: str) -> None:
    srv = listener(stack, family, host)
    port = srv.getsockname()[1]
    assert 32768 <= port <= 60999
    cli = stack.socket(family, STREAM)
    cli.connect((host, port))
    conn, remote = srv.accept()
    assert remote[:2] == cli.getsockname()[:2]
    assert conn.getsockname()[:2] == (host, port)
    assert cli.getpeername()[:2] == (host, port)
    assert cli.send(b"ping") == 4
    assert conn.recv(1024) == b"ping"
    conn.sendall(b"pong")
    assert cli.recv(1024) == b"pong"
    if family == AF_INET6:
        assert len(cli.getsockname()) == 4
    for s in (cli, conn, srv):
        s.close()


def test_connect_refused_without_listener(stack: usersock.Stack) -> None:
    cli = stack.socket(AF_INET, STREAM)
    with pytest.raises(ConnectionRefusedError) as info:
        cli.connect(("127.0.0.1", 9))
    assert info.value.errno == errno.ECONNREFUSED
    other = stack.socket(AF_INET, STREAM)
    assert other.connect_ex(("127.0.0.1", 9)) == errno.ECONNREFUSED
    assert stack.stats.tcp_resets_sent >= 2


def test_connect_to_unroutable_address_is_enetunreach() -> None:
    s = usersock.Stack()
    s.create_nic(1, usersock.link.Loopback())
    s.add_address(1, "10.0.0.1/32")
    cli = s.socket(AF_INET, STREAM)
    with pytest.raises(OSError) as info:
        cli.connect(("192.0.2.1", 80))
    assert info.value.errno == errno.ENETUNREACH
    s.close()


def test_bind_conflict_and_bad_address(stack: usersock.Stack) -> None:
    srv = listener(stack)
    other = stack.socket(AF_INET, STREAM)
    with pytest.raises(OSError) as info:
        other.bind(srv.getsockname())
    assert info.value.errno == errno.EADDRINUSE
    with pytest.raises(OSError) as info:
        other.bind(("10.9.9.9", 0))
    assert info.value.errno == errno.EADDRNOTAVAIL
    with pytest.raises(OverflowError):
        other.bind(("127.0.0.1", 70000))
    with pytest.raises(TypeError):
        other.bind("127.0.0.1")
    other.bind(("127.0.0.1", 0))
    with pytest.raises(OSError) as info:
        other.bind(("127.0.0.1", 0))
    assert info.value.errno == errno.EINVAL


def test_recv_timeout_and_nonblocking(stack: usersock.Stack) -> None:
    cli, _conn = pair(stack)
    cli.settimeout(0.05)
    assert cli.gettimeout() == 0.05
    with pytest.raises(TimeoutError):
        cli.recv(10)
    cli.setblocking(False)
    with pytest.raises(BlockingIOError) as info:
        cli.recv(10)
    assert info.value.errno == errno.EAGAIN
    with pytest.raises(BlockingIOError):
        cli.recv(10, socket.MSG_DONTWAIT)
    with pytest.raises(ValueError):
        cli.settimeout(-1)


def test_half_close_and_eof(stack: usersock.Stack) -> None:
    cli, conn = pair(stack)
    cli.sendall(b"request")
    cli.shutdown(socket.SHUT_WR)
    assert conn.recv(100) == b"request"
    assert conn.recv(100) == b""  # FIN seen
    conn.sendall(b"response after half-close")
    assert cli.recv(100) == b"response after half-close"
    conn.close()
    assert cli.recv(100) == b""
    with pytest.raises(BrokenPipeError):
        cli.send(b"x")


def test_close_with_unread_data_resets_peer(stack: usersock.Stack) -> None:
    cli, conn = pair(stack)
    cli.sendall(b"never read")
    conn.close()  # unread data: RST, not FIN (RFC 2525 2.17, as Linux)
    with pytest.raises(ConnectionResetError):
        cli.recv(10)
    assert cli.recv(10) == b""  # the error is reported once
    with pytest.raises(BrokenPipeError):
        cli.send(b"x")


def test_peek_and_recv_into(stack: usersock.Stack) -> None:
    cli, conn = pair(stack)
    cli.sendall(b"abcdef")
    assert conn.recv(3, socket.MSG_PEEK) == b"abc"
    buf = bytearray(4)
    assert conn.recv_into(buf) == 4
    assert buf == b"abcd"
    assert conn.recv_into(buf, 2) == 2
    assert buf[:2] == b"ef"
    with pytest.raises(ValueError):
        conn.recv_into(buf, 10)


def test_blocking_accept_wakes_when_a_client_connects(stack: usersock.Stack) -> None:
    srv = listener(stack)
    accepted: list[bytes] = []

    def serve() -> None:
        conn, _ = srv.accept()
        accepted.append(conn.recv(5))
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    cli = stack.socket(AF_INET, STREAM)
    cli.connect(srv.getsockname())
    cli.sendall(b"hello")
    t.join(5)
    assert not t.is_alive()
    assert accepted == [b"hello"]


def test_blocking_recv_wakes_when_data_arrives(stack: usersock.Stack) -> None:
    cli, conn = pair(stack)
    got: list[bytes] = []
    t = threading.Thread(target=lambda: got.append(conn.recv(100)))
    t.start()
    cli.sendall(b"late data")
    t.join(5)
    assert got == [b"late data"]


def test_bulk_transfer_both_directions_at_once(stack: usersock.Stack) -> None:
    cli, conn = pair(stack)
    size = 8 * 1024 * 1024
    up, down = os.urandom(size), os.urandom(size)
    received: dict[str, bytes] = {}

    def reader(sock: usersock.socket, name: str) -> None:
        chunks = []
        total = 0
        buf = bytearray(65536)
        while total < size:
            n = sock.recv_into(buf)
            assert n > 0
            chunks.append(bytes(buf[:n]))
            total += n
        received[name] = b"".join(chunks)

    threads = [
        threading.Thread(target=reader, args=(conn, "up")),
        threading.Thread(target=reader, args=(cli, "down")),
        threading.Thread(target=cli.sendall, args=(up,)),
        threading.Thread(target=conn.sendall, args=(down,)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert hashlib.sha256(received["up"]).digest() == hashlib.sha256(up).digest()
    assert hashlib.sha256(received["down"]).digest() == hashlib.sha256(down).digest()


def test_many_sequential_connections(stack: usersock.Stack) -> None:
    srv = listener(stack)
    addr = srv.getsockname()
    ports = set()
    for i in range(300):
        with stack.socket(AF_INET, STREAM) as cli:
            cli.connect(addr)
            conn, remote = srv.accept()
            ports.add(remote[1])
            cli.sendall(b"%d" % i)
            assert conn.recv(10) == b"%d" % i
            conn.close()
    assert len(ports) == 300


def test_operations_after_close_raise_ebadf(stack: usersock.Stack) -> None:
    s = stack.socket(AF_INET, STREAM)
    s.close()
    s.close()
    for call in (lambda: s.recv(1), lambda: s.send(b"x"), lambda: s.bind(("127.0.0.1", 0))):
        with pytest.raises(OSError) as info:
            call()
        assert info.value.errno == errno.EBADF
    assert "[closed]" in repr(s)


def test_getpeername_unconnected_and_listen_on_connected(stack: usersock.Stack) -> None:
    s = stack.socket(AF_INET, STREAM)
    assert s.getsockname() == ("0.0.0.0", 0)
    with pytest.raises(OSError) as info:
        s.getpeername()
    assert info.value.errno == errno.ENOTCONN
    with pytest.raises(OSError) as info:
        s.recv(1)
    assert info.value.errno == errno.ENOTCONN
    cli, _conn = pair(stack)
    with pytest.raises(OSError) as info:
        cli.listen()
    assert info.value.errno == errno.EINVAL
    with pytest.raises(OSError) as info:
        cli.connect(cli.getpeername())
    assert info.value.errno == errno.EISCONN


def test_nonblocking_connect_reports_in_progress_then_connects(stack: usersock.Stack) -> None:
    srv = listener(stack)
    cli = stack.socket(AF_INET, STREAM)
    cli.setblocking(False)
    # Linux's __inet_stream_connect: a non-blocking connect says EINPROGRESS, the next call
    # reports the outcome (0 once established) and only the one after says EISCONN.
    assert cli.connect_ex(srv.getsockname()) == errno.EINPROGRESS
    assert cli.connect_ex(srv.getsockname()) == 0
    assert cli.connect_ex(srv.getsockname()) == errno.EISCONN


def test_unknown_host_is_gaierror(stack: usersock.Stack) -> None:
    s = stack.socket(AF_INET, STREAM)
    with pytest.raises(socket.gaierror):
        s.connect(("no-such-host.invalid", 80))
    with pytest.raises(socket.gaierror):
        s.connect(("::1", 80))


def test_udp_datagrams(stack: usersock.Stack) -> None:
    a = stack.socket(AF_INET, DGRAM)
    b = stack.socket(AF_INET, DGRAM)
    a.bind(("127.0.0.1", 0))
    assert b.sendto(b"one", a.getsockname()) == 3
    b.sendto(b"two", 0, a.getsockname())
    data, src = a.recvfrom(100)
    assert b.getsockname()[0] == "0.0.0.0"  # autobound to the wildcard, as on Linux
    assert data == b"one" and src == ("127.0.0.1", b.getsockname()[1])
    assert a.recvfrom(2) == (b"tw", src)  # truncated datagram
    a.settimeout(0)
    with pytest.raises(BlockingIOError):
        a.recvfrom(10)


def test_udp_connected_socket_sees_port_unreachable(stack: usersock.Stack) -> None:
    s = stack.socket(AF_INET, DGRAM)
    s.connect(("127.0.0.1", 9))
    s.send(b"anyone?")
    with pytest.raises(ConnectionRefusedError):
        s.recv(10)
    assert stack.stats.icmp_out >= 1


def test_udp_ipv6(stack: usersock.Stack) -> None:
    a = stack.socket(AF_INET6, DGRAM)
    a.bind(("::1", 0))
    b = stack.socket(AF_INET6, DGRAM)
    b.sendto(b"v6", a.getsockname())
    data, src = a.recvfrom(10)
    assert data == b"v6" and src == ("::1", b.getsockname()[1], 0, 0)


def test_kernel_cannot_reach_a_virtual_server(stack: usersock.Stack) -> None:
    probe = socket.socket(AF_INET, STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    srv = stack.socket(AF_INET, STREAM)
    srv.bind(("127.0.0.1", port))
    srv.listen()
    real = socket.socket(AF_INET, STREAM)
    real.settimeout(5)
    with pytest.raises(ConnectionRefusedError):
        real.connect(("127.0.0.1", port))
    real.close()
    srv.close()
