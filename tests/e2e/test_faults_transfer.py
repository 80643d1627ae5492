"""Loss repaired by retransmission: bulk data through the seeded fault wrapper arrives
byte-identical, both directions at once."""

from __future__ import annotations

import hashlib
import random
import socket
import threading

import pytest

import usersock
from usersock.link.faults import Faults
from usersock.link.loopback import Loopback
from usersock.transport.tcp.endpoint import TCPEndpoint

SIZE = 64 * 1024 * 1024


def stream(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.mark.slow
def test_64mib_each_way_through_loss_duplication_and_reordering() -> None:
    stack = usersock.Stack()
    faults = Faults(Loopback(mtu=9000), seed=20241019, loss=0.05, duplicate=0.01, reorder=0.05)
    stack.create_nic(1, faults)
    stack.add_address(1, "10.0.0.1/32")
    stack.set_route_table([usersock.Route("0.0.0.0/0", nic=1)])
    srv = stack.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("10.0.0.1", 9000))
    srv.listen()
    cli = stack.socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.settimeout(120)
    cli.connect(("10.0.0.1", 9000))
    conn, _ = srv.accept()
    conn.settimeout(120)
    up, down = stream(1, SIZE), stream(2, SIZE)
    digests: dict[str, bytes] = {}

    def reader(sock: usersock.socket, name: str) -> None:
        h = hashlib.sha256()
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        total = 0
        while total < SIZE:
            n = sock.recv_into(buf)
            assert n > 0, "early EOF"
            h.update(view[:n])
            total += n
        digests[name] = h.digest()

    threads = [
        threading.Thread(target=reader, args=(conn, "up")),
        threading.Thread(target=reader, args=(cli, "down")),
        threading.Thread(target=cli.sendall, args=(up,)),
        threading.Thread(target=conn.sendall, args=(down,)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads)
    assert digests["up"] == hashlib.sha256(up).digest()
    assert digests["down"] == hashlib.sha256(down).digest()
    assert faults.dropped > 0 and faults.duplicated > 0 and faults.reordered > 0
    assert stack.stats.tcp_retransmissions > 0
    assert stack.stats.internal_errors == 0
    stack.close()


def test_heavy_loss_transfer_completes_and_keeps_a_true_rtt() -> None:
    """30% loss each way, on a manual clock (time moves only when nothing else can): the
    data arrives intact, and SRTT stays the loopback's near-zero RTT — a retransmitted
    duplicate answered with the original's timestamp is no RTT sample."""
    clock = usersock.ManualClock()
    stack = usersock.Stack(clock=clock)
    stack.create_nic(1, Faults(Loopback(mtu=1500), seed=7, loss=0.3))
    stack.add_address(1, "10.0.0.1/32")
    stack.set_route_table([usersock.Route("0.0.0.0/0", nic=1)])
    srv = stack.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("10.0.0.1", 9100))
    srv.listen()
    srv.setblocking(False)
    cli = stack.socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.setblocking(False)
    cli.connect_ex(("10.0.0.1", 9100))
    conn = None
    for _ in range(10_000):
        try:
            conn, _ = srv.accept()
            break
        except BlockingIOError:
            clock.advance(0.05)
    assert conn is not None
    conn.setblocking(False)
    data = stream(3, 100_000)
    sent, got = 0, bytearray()
    for _ in range(200_000):
        if len(got) == len(data):
            break
        progress = False
        if sent < len(data):
            try:
                sent += cli.send(data[sent : sent + 8192])
                progress = True
            except BlockingIOError:
                pass
        try:
            chunk = conn.recv(65536)
            got += chunk
            progress = progress or bool(chunk)
        except BlockingIOError:
            pass
        if not progress:
            clock.advance(0.05)
    assert bytes(got) == data
    ep = cli._ep
    assert isinstance(ep, TCPEndpoint) and ep.conn is not None
    assert ep.conn.retransmissions > 10
    assert ep.conn.srtt is not None and ep.conn.srtt < 0.5
    for s in (cli, conn, srv):
        s.close()
    stack.close()
