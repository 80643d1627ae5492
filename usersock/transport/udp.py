"""UDP (RFC 768): datagram endpoints and the protocol's demux.

A datagram for a port nobody holds is answered with ICMP port unreachable (RFC 1122 section
4.1.3.1); that error, coming back to a *connected* UDP socket, makes its next call fail with
``ECONNREFUSED``, as on Linux. Unconnected sockets ignore ICMP errors. A connected socket
receives only from its peer. The receive queue is bounded by ``rcv_buf`` bytes of payload;
datagrams beyond it are dropped and counted, as the kernel does. Datagrams larger than the
route MTU are not fragmented: ``send`` fails with ``EMSGSIZE``.
"""

from __future__ import annotations

from collections import deque

from usersock.errors import Err, StackError
from usersock.network import icmp
from usersock.network.ip import IPProtocol
from usersock.stack.nic import NIC
from usersock.stack.route import IPV4_ANY, IPV6_ANY
from usersock.stack.stack import RouteInfo, Stack
from usersock.transport.endpoint import Endpoint, lookup_bound, wildcard
from usersock.wire.ipv4 import PROTO_UDP
from usersock.wire.packet import Packet
from usersock.wire.udp import UDPHeader

DEFAULT_RCVBUF = 212992  # Linux's net.core.rmem_default
UDP_HEADER = 8


class UDPEndpoint(Endpoint):
    """One UDP socket's protocol side. Every method needs the stack lock."""

    protocol = PROTO_UDP

    def __init__(self, stack: Stack, version: int) -> None:
        super().__init__(stack, version)
        self.rcv_buf = DEFAULT_RCVBUF
        self.queue: deque[tuple[bytes, bytes, int]] = deque()
        self.queued_bytes = 0
        self.pending_error: Err | None = None
        self.route: RouteInfo | None = None
        self.connection_key: tuple[int, bytes, int, bytes, int] | None = None
        self.shut_rd = False
        self.shut_wr = False

    def _autobind(self) -> None:
        if self.local_addr is None:
            self.bind(wildcard(self.version), 0)
            self.register_bound()

    def bind(self, addr: bytes, port: int) -> None:
        super().bind(addr, port)
        self.register_bound()

    def connect(self, addr: bytes, port: int) -> None:
        """Fix the peer: sends default to it and only its datagrams are received.

        Raises ``StackError`` (``NETWORK_UNREACHABLE``, ``ADDRESS_NOT_AVAILABLE``...).
        """
        self.check_family(addr)
        self._autobind()
        assert self.local_addr is not None
        local = self.local_addr if any(self.local_addr) else None
        route = self.stack.find_route(addr, local)
        self.disconnect()
        self.route = route
        self.remote_addr, self.remote_port = addr, port
        self.unregister_bound()
        key = (PROTO_UDP, route.local, self.local_port, addr, port)
        self.stack.connections[key] = self
        self.connection_key = key
        self.pending_error = None

    def disconnect(self) -> None:
        """Forget the peer (``connect(AF_UNSPEC)``), going back to the bound table."""
        if self.connection_key is not None:
            self.stack.connections.pop(self.connection_key, None)
            self.connection_key = None
            self.remote_addr, self.remote_port = None, 0
            self.route = None
            self.register_bound()

    @property
    def connected_local(self) -> bytes | None:
        """The source address in use: the route's once connected, else the bound one."""
        return self.route.local if self.route is not None else self.local_addr

    def send_to(self, data: bytes | memoryview, addr: bytes | None, port: int) -> int:
        """Send one datagram to *addr*:*port* (``None``: the connected peer).

        Raises ``StackError``, in the order ``udp_sendmsg`` finds them:
        ``DESTINATION_REQUIRED`` when unconnected and no address is given, a family or
        routing error, ``MESSAGE_TOO_LONG`` beyond 64 KiB or the route MTU (no
        fragmentation), then a pending ICMP error (taken), then ``BROKEN_PIPE`` after
        ``shutdown(SHUT_WR)`` (``sock_alloc_send_pskb`` checks them in that order).
        """
        self._autobind()
        assert self.local_addr is not None
        if addr is None:
            if self.route is None:
                raise StackError(Err.DESTINATION_REQUIRED)
            route, addr, port = self.route, self.remote_addr, self.remote_port
            assert addr is not None
        else:
            self.check_family(addr)
            if not 0 < port <= 0xFFFF:
                raise StackError(Err.INVALID_ARGUMENT, "bad port")
            local = self.local_addr if any(self.local_addr) else None
            route = self.stack.find_route(addr, local)
        header_len = 20 if self.version == 4 else 40
        limit = 65535 - UDP_HEADER - (20 if self.version == 4 else 0)
        if len(data) > limit or len(data) + UDP_HEADER + header_len > route.mtu:
            raise StackError(Err.MESSAGE_TOO_LONG)
        if self.pending_error is not None:
            err, self.pending_error = self.pending_error, None
            raise StackError(err)
        if self.shut_wr:
            raise StackError(Err.BROKEN_PIPE)
        packet = Packet(
            self.ip_header(route.local, addr, PROTO_UDP),
            UDPHeader(self.local_port, port),
            bytes(data),
        )
        self.stack.stats.udp_datagrams_out += 1
        self.stack.send_packet(route, packet)
        self.stack.process()
        return len(data)

    def deliver(self, payload: bytes, src: bytes, src_port: int) -> None:
        """Queue an inbound datagram, or drop it (counted) when the buffer is full."""
        if self.closed:
            self.stack.stats.drop("udp-closed")
            return  # (shutdown(SHUT_RD) does not stop delivery on Linux: udp keeps queueing)
        if self.queued_bytes + len(payload) > self.rcv_buf and self.queue:
            self.stack.stats.drop("udp-rcvbuf-full")
            return
        self.queue.append((payload, src, src_port))
        self.queued_bytes += len(payload)
        self.notify()

    def recv_from(self, n: int, peek: bool = False, wait: bool = False) -> tuple[bytes, bytes, int]:
        """Return ``(data, src, src_port)`` for the next datagram, cut to *n* bytes.

        *wait* says the caller would block for one (a blocking socket). After ``SHUT_RD``
        such a call gets ``b""`` when nothing is queued, as ``udp_recvmsg`` gives once its
        wait sees the shutdown; a non-blocking one still gets ``EAGAIN``, as on Linux.
        Raises ``StackError(WOULD_BLOCK)`` when nothing is queued, or a pending ICMP error.
        """
        if self.pending_error is not None:
            err, self.pending_error = self.pending_error, None
            raise StackError(err)
        if not self.queue:
            if self.shut_rd and wait:
                return b"", b"", 0
            raise StackError(Err.WOULD_BLOCK)
        data, src, port = self.queue[0]
        if not peek:
            self.queue.popleft()
            self.queued_bytes -= len(data)
        return data[:n], src, port

    def shutdown(self, read: bool, write: bool) -> None:
        """``shutdown(2)``: the flags are kept even on an unconnected socket, which then
        raises ``StackError(NOT_CONNECTED)`` (Linux's ``inet_shutdown`` in ``TCP_CLOSE``).
        Datagrams still arrive after ``SHUT_RD``; sends fail with ``EPIPE`` after
        ``SHUT_WR``. Needs the stack lock."""
        self.shut_rd = self.shut_rd or read
        self.shut_wr = self.shut_wr or write
        self.notify()
        if self.remote_addr is None:
            raise StackError(Err.NOT_CONNECTED)

    def readable(self) -> bool:
        return bool(self.queue) or self.pending_error is not None or self.shut_rd or self.closed

    def writable(self) -> bool:
        return True

    def hangup(self) -> int:
        if self.shut_rd:
            return 2 if self.shut_wr else 1
        return 0

    def close(self) -> None:
        """Release the port and leave the demux tables (idempotent)."""
        if self.closed:
            return
        self.closed = True
        if self.connection_key is not None:
            self.stack.connections.pop(self.connection_key, None)
            self.connection_key = None
        self.unregister_bound()
        self.release_port()
        self.queue.clear()
        self.notify()


class UDPProtocol:
    """The UDP transport protocol: demux of inbound datagrams and ICMP errors."""

    number = PROTO_UDP

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def new_endpoint(self, version: int) -> UDPEndpoint:
        return UDPEndpoint(self.stack, version)

    def handle_packet(self, nic: NIC, packet: Packet) -> None:
        """Deliver a datagram to its endpoint or answer port unreachable. Needs the lock."""
        stack = self.stack
        hdr = packet.transport
        if not isinstance(hdr, UDPHeader):
            stack.stats.drop("udp-malformed")
            return
        stack.stats.udp_datagrams_in += 1
        net = packet.net
        if len(net.dst) == 4 and stack.is_broadcast(net.dst):
            self._deliver_broadcast(packet, hdr)
            return
        ep = stack.connections.get((PROTO_UDP, net.dst, hdr.dst_port, net.src, hdr.src_port))
        if ep is None:
            ep = lookup_bound(stack, PROTO_UDP, net.dst, hdr.dst_port, net.src, hdr.src_port)
        if ep is None:
            stack.stats.drop("udp-no-port")
            ip = stack.network_protocols[4 if len(net.dst) == 4 else 6]
            assert isinstance(ip, IPProtocol)
            icmp.send_port_unreachable(stack, ip, packet)
            return
        ep.deliver(bytes(packet.payload), net.src, hdr.src_port)

    def _deliver_broadcast(self, packet: Packet, hdr: UDPHeader) -> None:
        """A datagram to a broadcast address goes to every socket bound to that address or
        to the wildcard on its port (dual-stack IPv6 ones too), as Linux's
        ``__udp4_lib_mcast_deliver``; connected sockets, whose receive address is their
        source, never match. Nobody listening is no ICMP error (RFC 1122 section 3.2.2).
        Needs the lock."""
        stack = self.stack
        bound = stack.bound
        port = hdr.dst_port
        eps = list(bound.get((PROTO_UDP, packet.net.dst, port), ()))
        eps += bound.get((PROTO_UDP, IPV4_ANY, port), ())
        eps += [ep for ep in bound.get((PROTO_UDP, IPV6_ANY, port), ()) if not ep.v6only]
        if not eps:
            stack.stats.drop("udp-no-port")
            return
        data = bytes(packet.payload)
        for ep in eps:
            ep.deliver(data, packet.net.src, hdr.src_port)

    def handle_icmp_error(
        self, err: Err, local: bytes, local_port: int, remote: bytes, remote_port: int
    ) -> None:
        ep = self.stack.connections.get((PROTO_UDP, local, local_port, remote, remote_port))
        if isinstance(ep, UDPEndpoint):
            ep.pending_error = err
            ep.notify()

    def close(self) -> None:
        eps = {id(ep): ep for ep in self.stack.connections.values() if isinstance(ep, UDPEndpoint)}
        for group in list(self.stack.bound.values()):
            for ep in group:
                if isinstance(ep, UDPEndpoint):
                    eps[id(ep)] = ep
        for ep in eps.values():
            ep.close()
