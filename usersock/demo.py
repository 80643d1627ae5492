"""``python -m usersock demo``: the seed program, a TCP server and clients on one stack.

One stack, a loopback NIC with 192.168.1.1/32, a default route, a TCP server on
192.168.1.1:8080 in a thread, and clients in turn that each send ``Hello, TCP Server!`` and
receive ``Hey TCP Client``, logging as the original gVisor program does. ``--trace`` logs
every packet through the sniffer (the SYN, SYN-ACK and ACK are visible); ``--pcap FILE``
writes a capture that Wireshark, tshark or scapy can read.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import threading
from collections.abc import Sequence

from usersock.api import Stack
from usersock.link.loopback import Loopback
from usersock.link.pcap import PcapWriter
from usersock.link.sniffer import Sniffer
from usersock.sockets import socket as usocket
from usersock.stack.route import Route

SERVER_ADDRESS = "192.168.1.1"
SERVER_PORT = 8080
log = logging.getLogger("usersock.demo")


def _full_address(addr: tuple[str, int]) -> str:
    """Print an address the way the Go program prints a ``tcpip.FullAddress`` result."""
    return f"{{0 {addr[0]} {addr[1]} }} <nil>"


def handle_connection(conn: usocket, remote: tuple[str, int]) -> None:
    """Serve one client: read its message, answer, close."""
    with conn:
        message = conn.recv(1024)
        local = conn.getsockname()
        log.info("Remote Addr %s:%d, Local Address %s:%d", remote[0], remote[1], local[0], local[1])
        log.info("Received message on Server: %s", message.decode())
        conn.sendall(b"Hey TCP Client")


def serve(listener: usocket) -> None:
    """Accept connections until the listener is closed."""
    while True:
        try:
            conn, remote = listener.accept()
        except OSError:
            return
        threading.Thread(target=handle_connection, args=(conn, remote), daemon=True).start()


def start_client(stack: Stack) -> str:
    """Connect, send the greeting, return the answer (the seed's ``startClient``)."""
    with stack.socket(socket.AF_INET, socket.SOCK_STREAM) as conn:
        conn.connect((SERVER_ADDRESS, SERVER_PORT))
        log.info("%s", _full_address(conn.getsockname()))
        log.info("%s", _full_address(conn.getpeername()))
        conn.sendall(b"Hello, TCP Server!")
        response = conn.recv(1024).decode()
        log.info("Received response: %s", response)
        return response


def build_stack(trace: bool, pcap: PcapWriter | None) -> Stack:
    """The seed's stack: loopback NIC 1, 192.168.1.1/32, default route via NIC 1."""
    stack = Stack()
    link = Loopback()
    if trace or pcap is not None:
        sniffer_log = logging.getLogger("usersock.sniffer")
        sniffer_log.setLevel(logging.INFO if trace else logging.WARNING)
        stack.create_nic(1, Sniffer(link, logger=sniffer_log, pcap=pcap))
    else:
        stack.create_nic(1, link)
    stack.add_address(1, f"{SERVER_ADDRESS}/32")
    stack.set_route_table([Route(destination="0.0.0.0/0", nic=1)])
    return stack


def run(clients: int = 3, trace: bool = False, pcap_path: str | None = None) -> list[str]:
    """Run the demo; returns the responses the clients received."""
    pcap = PcapWriter(pcap_path) if pcap_path else None
    stack = build_stack(trace, pcap)
    try:
        listener = stack.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((SERVER_ADDRESS, SERVER_PORT))
        listener.listen()
        log.info("Starting TCP server")
        server = threading.Thread(target=serve, args=(listener,), daemon=True)
        server.start()
        responses = [start_client(stack) for _ in range(clients)]
        listener.close()
        server.join(timeout=5)
        return responses
    finally:
        stack.close()
        if pcap is not None:
            pcap.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m usersock demo",
        description="A TCP server and three clients on one userspace stack (the gVisor seed).",
    )
    parser.add_argument("--clients", type=int, default=3, help="how many clients (default 3)")
    parser.add_argument("--trace", action="store_true", help="log every packet")
    parser.add_argument("--pcap", metavar="FILE", help="write a pcap capture to FILE")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%Y/%m/%d %H:%M:%S",
        stream=sys.stdout,
    )
    responses = run(args.clients, args.trace, args.pcap)
    return 0 if responses == ["Hey TCP Client"] * args.clients else 1
