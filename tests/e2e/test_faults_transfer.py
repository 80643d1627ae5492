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
