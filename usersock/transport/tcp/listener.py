"""A listening TCP socket: passive opens, the SYN queue and the bounded accept queue.

A SYN that reaches a listener creates a child endpoint in SYN-RECEIVED (registered in the
demux table under its own 4-tuple). When the handshake completes the child moves to the
accept queue, where ``accept()`` finds it. Like Linux, the listener drops SYNs while the
accept queue is full (``backlog`` children waiting) or too many handshakes are pending, and
the client's SYN retransmission tries again later (RFC 9293 section 3.10.7.2 leaves the
choice to the implementation). Closing the listener resets every child not yet accepted.

Every method needs the stack lock.
"""

from __future__ import annotations

import copy
from collections import deque
from typing import TYPE_CHECKING

from usersock.errors import Err, StackError
from usersock.stack.ports import PortOwner
from usersock.transport.tcp.connection import Connection
from usersock.transport.tcp.state import State
from usersock.wire.ipv4 import PROTO_TCP
from usersock.wire.packet import Packet
from usersock.wire.tcp import TCPHeader

if TYPE_CHECKING:
    from usersock.transport.tcp.endpoint import TCPEndpoint

#: Linux's net.core.somaxconn default caps the backlog.
SOMAXCONN = 4096


class Listener:
    """The accept side of a listening :class:`TCPEndpoint`."""

    def __init__(self, endpoint: TCPEndpoint, backlog: int) -> None:
        self.endpoint = endpoint
        self.backlog = max(0, min(backlog, SOMAXCONN))
        self.accept_queue: deque[TCPEndpoint] = deque()
        self.syn_queue: set[TCPEndpoint] = set()

    def set_backlog(self, backlog: int) -> None:
        """``listen()`` again on a listening socket only changes the backlog, as on Linux."""
        self.backlog = max(0, min(backlog, SOMAXCONN))

    def full(self) -> bool:
        # Linux: sk_acceptq_is_full() is "queued > backlog", so backlog 0 still takes one.
        return len(self.accept_queue) > self.backlog

    def handle_syn(self, packet: Packet, hdr: TCPHeader, now: float) -> None:
        """Answer a SYN with a new child in SYN-RECEIVED, unless the queues are full."""
        from usersock.transport.tcp.endpoint import TCPEndpoint

        parent = self.endpoint
        stack = parent.stack
        if self.full() or len(self.syn_queue) > max(self.backlog, 128):
            stack.stats.drop("listen-overflow")
            return
        net = packet.net
        try:
            route = stack.find_route(net.src, local=net.dst)
        except StackError:
            stack.stats.drop("no-route")
            return
        version = 4 if len(net.dst) == 4 else 6
        child = TCPEndpoint(stack, version, copy.copy(parent.config))
        child.family_version = parent.family_version
        child.reuse_addr = parent.reuse_addr
        child.reuse_port = parent.reuse_port
        # inet_csk_clone_lock: the child keeps the listener's IP options.
        child.ttl, child.tos = parent.ttl, parent.tos
        child.hop_limit, child.tclass = parent.hop_limit, parent.tclass
        iss = stack.isn.isn(net.dst, hdr.dst_port, net.src, hdr.src_port, now)
        child._attach_route(route)
        conn = Connection.from_syn(hdr, hdr.dst_port, iss, child.config, now)
        child.adopt(route, conn, self)
        child.owner = PortOwner(net.dst, parent.reuse_addr, parent.reuse_port, False)
        stack.ports.add(PROTO_TCP, hdr.dst_port, child.owner)
        self.syn_queue.add(child)
        stack.stats.tcp_passive_opens += 1
        stack.mark_dirty(child)

    def ready(self, child: TCPEndpoint) -> None:
        """The child's handshake completed: queue it for ``accept()``."""
        if child in self.syn_queue:
            self.syn_queue.discard(child)
            self.accept_queue.append(child)
            self.endpoint.notify()

    def forget(self, child: TCPEndpoint) -> None:
        """The child died before ``accept()`` (reset, or timed out in SYN-RECEIVED)."""
        if child in self.syn_queue:
            self.syn_queue.discard(child)
            child.detached = True
            child.release_port()
        # A child already in the accept queue stays there: accept() returns it and the
        # application sees the reset, as on Linux.

    def has_pending(self) -> bool:
        return bool(self.accept_queue)

    def accept(self) -> TCPEndpoint:
        """Take the oldest established child. Raises ``StackError(WOULD_BLOCK)``."""
        if not self.accept_queue:
            raise StackError(Err.WOULD_BLOCK)
        child = self.accept_queue.popleft()
        child.parent = None
        return child

    def close(self) -> None:
        """Reset every child that was never accepted."""
        for child in list(self.syn_queue) + list(self.accept_queue):
            child.parent = None
            child.detached = True
            conn = child.conn
            if conn is not None and conn.state is not State.CLOSED:
                conn.abort()
                child.stack.mark_dirty(child)
            else:
                child.release_port()
        self.syn_queue.clear()
        self.accept_queue.clear()
