"""Glue between one TCP socket and the stack: routing, demux, timers, readiness.

The protocol itself lives in the sans-IO
:class:`~usersock.transport.tcp.connection.Connection`. A :class:`TCPEndpoint` owns one
connection (or a :class:`~usersock.transport.tcp.listener.Listener`), feeds it segments and
timer ticks, sends what it produces through the stack, and turns its state into socket
semantics: which call blocks, which errno a call reports and when.

Error reporting follows Linux: an error that ended the connection (reset, refused, timed out)
is reported once, by the next call that looks (or by ``SO_ERROR``); later reads see EOF and
later writes ``EPIPE``. A closed socket's connection lives on, orphaned, until it reaches
CLOSED (FIN exchange, TIME-WAIT); its port stays held meanwhile, as in the kernel.

Every method needs the stack lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from usersock.errors import Err, StackError
from usersock.stack.ports import PortOwner
from usersock.stack.stack import RouteInfo, Stack
from usersock.transport.endpoint import Endpoint, wildcard
from usersock.transport.tcp import closing, poll
from usersock.transport.tcp.connection import Connection, TCPConfig
from usersock.transport.tcp.state import SENDABLE, SYNCHRONIZED, State
from usersock.transport.tcp.timers import next_deadline
from usersock.wire.ipv4 import PROTO_TCP
from usersock.wire.packet import NetworkHeader, Packet
from usersock.wire.tcp import TCPHeader

if TYPE_CHECKING:
    from usersock.transport.tcp.listener import Listener

IP_TCP_OVERHEAD = {4: 40, 6: 60}
#: Longest an ACK waits for the application's answer, or a second full-sized segment.
ACK_DEFER = 0.001


class TCPEndpoint(Endpoint):
    """The protocol side of one TCP socket."""

    protocol = PROTO_TCP

    def __init__(self, stack: Stack, version: int, config: TCPConfig | None = None) -> None:
        super().__init__(stack, version)
        self.config = config if config is not None else TCPConfig()
        self.conn: Connection | None = None
        self.listener: Listener | None = None
        self.parent: Listener | None = None
        self.route: RouteInfo | None = None
        self.net_header: NetworkHeader | None = None
        self.key: tuple[int, bytes, int, bytes, int] | None = None
        self.error_reported = False
        self.icmp_error: Err | None = None
        self.shut_rd = False
        self.shut_wr = False
        self.detached = False
        #: Linux's ``sock->state`` for connect(): "unconnected", "connecting", "connected".
        self.sock_state = "unconnected"
        self.user_bound = False
        self.retransmissions_counted = 0
        self.reset_error: Err | None = None
        self.ack_defer_deadline: float | None = None
        #: The socket's owner waits inside its calls (blocking mode, no readiness
        #: descriptor to select() on); see flush().
        self.owner_waits_in_calls = True

    # Opening -------------------------------------------------------------------------------
    def connect(self, addr: bytes, port: int) -> Err:
        """``connect()`` as Linux's ``__inet_stream_connect`` runs it.

        On an unconnected socket start an active open and return ``IN_PROGRESS``; while a
        connect is under way return ``ALREADY_CONNECTING``. The caller then uses
        :meth:`connect_result` to wait for or report the outcome. Raises ``StackError`` with
        ``ALREADY_CONNECTED`` (connected, or listening), ``ADDRESS_NOT_AVAILABLE`` (no
        ephemeral port, or the 4-tuple is in use), or a routing error.
        """
        if self.sock_state == "connected":
            raise StackError(Err.ALREADY_CONNECTED)
        if self.sock_state == "connecting":
            return Err.ALREADY_CONNECTING
        if self.listener is not None or self.closed:
            raise StackError(Err.ALREADY_CONNECTED)
        conn = self.conn
        if conn is not None:
            if conn.state is not State.CLOSED:
                raise StackError(Err.ALREADY_CONNECTED)
            self._unregister()  # a failed attempt before: start afresh, as tcp_disconnect
            self.conn = None
            if not self.user_bound:
                self.release_port()
                self.local_addr, self.local_port = None, 0
        # The socket's state comes first, the address after (tcp_v6_connect).
        self.check_family(addr)
        if not 0 < port <= 0xFFFF:
            raise StackError(Err.CONNECTION_REFUSED if port == 0 else Err.INVALID_ARGUMENT)
        stack = self.stack
        bound = self.local_addr
        route = stack.find_route(addr, bound if bound is not None and any(bound) else None)
        if bound is None:
            owner = PortOwner(route.local, self.reuse_addr, self.reuse_port, False, self.v6only)
            self.local_port = stack.ports.pick_ephemeral(
                PROTO_TCP,
                owner,
                addr + port.to_bytes(2, "big"),
                lambda p: (PROTO_TCP, route.local, p, addr, port) not in stack.connections,
            )
            self.owner = owner
        key = (PROTO_TCP, route.local, self.local_port, addr, port)
        if key in stack.connections:
            raise StackError(Err.ADDRESS_NOT_AVAILABLE, "4-tuple in use")
        self.local_addr = route.local
        self.remote_addr, self.remote_port = addr, port
        self._attach_route(route)
        now = stack.clock.now()
        iss = stack.isn.isn(route.local, self.local_port, addr, port, now)
        self.conn = Connection(self.local_port, port, iss, self.config, now)
        self.retransmissions_counted = 0
        self.key = key
        stack.connections[key] = self
        self.error_reported = False
        self.icmp_error = None
        self.reset_error = None
        self.sock_state = "connecting"
        stack.stats.tcp_active_opens += 1
        self.conn.connect(now)
        stack.mark_dirty(self)
        stack.process()
        return Err.IN_PROGRESS

    def connect_result(self) -> None:
        """Report how a connect under way ended.

        Returns when established (the socket is then connected). Raises
        ``StackError(WOULD_BLOCK)`` while the handshake is under way, or the error that
        ended it (``ECONNABORTED`` if that error was already taken through ``SO_ERROR``),
        leaving the socket unconnected so a new ``connect()`` may start over.
        """
        conn = self.conn
        if self.sock_state == "connected":
            return
        if conn is None:
            raise StackError(Err.NOT_CONNECTED)
        if conn.state in (State.SYN_SENT, State.SYN_RECEIVED):
            raise StackError(Err.WOULD_BLOCK)
        if conn.state is State.CLOSED:
            self._disconnect()
            err = self.take_error()
            raise StackError(err if err is not None else Err.CONNECTION_ABORTED)
        self.sock_state = "connected"

    def _disconnect(self) -> None:
        """``tcp_disconnect`` after a connect that failed or was given up: unconnected
        again, the shutdown flags cleared; a local address the user did not bind is reset
        (``getsockname`` shows the wildcard, still with the old port, as Linux keeps
        ``inet_sport``) and the port goes back to the table, free to be bound by this
        socket or another. Waiters and the readiness mirrors of every socket object on the
        endpoint see the change. Needs the stack lock."""
        self.sock_state = "unconnected"
        self.shut_rd = self.shut_wr = False
        if not self.user_bound:
            self.release_port()
            self.local_addr = None
        self.notify()

    def bind(self, addr: bytes, port: int) -> None:
        super().bind(addr, port)
        self.user_bound = True

    def listen(self, backlog: int) -> None:
        """Become a listener (binding an ephemeral port first if unbound, as Linux does).

        Raises ``StackError`` with ``INVALID_ARGUMENT`` on a connected socket and
        ``ADDRESS_IN_USE`` if another socket listens on an overlapping address and port.
        """
        from usersock.transport.tcp.listener import Listener

        if self.listener is not None:
            self.listener.set_backlog(backlog)
            return
        if self.conn is not None or self.closed:
            raise StackError(Err.INVALID_ARGUMENT)  # also after a failed connect, as Linux
        if self.local_addr is None:
            self.bind(wildcard(self.version), 0)
        owner = self.owner
        assert owner is not None and self.local_addr is not None
        ports = self.stack.ports
        ports.release(PROTO_TCP, self.local_port, owner)
        owner.listening = True
        if ports.conflicts(PROTO_TCP, self.local_port, owner):
            owner.listening = False
            ports.add(PROTO_TCP, self.local_port, owner)
            raise StackError(Err.ADDRESS_IN_USE)
        ports.add(PROTO_TCP, self.local_port, owner)
        self.listener = Listener(self, backlog)
        self.register_bound()

    def accept(self) -> TCPEndpoint:
        """Take an established connection. Raises ``StackError`` with ``INVALID_ARGUMENT``
        if not listening and ``WOULD_BLOCK`` if none is waiting."""
        if self.listener is None:
            raise StackError(Err.INVALID_ARGUMENT)
        return self.listener.accept()

    def _attach_route(self, route: RouteInfo) -> None:
        self.route = route
        self.net_header = self.ip_header(route.local, route.remote, PROTO_TCP)
        config = self.config
        # Each endpoint owns its config record (listeners hand children a copy).
        config.mss = route.mtu - IP_TCP_OVERHEAD[self.version]

    def adopt(self, route: RouteInfo, conn: Connection, parent: Listener) -> None:
        """Become the child of *parent* for a passive open (the listener calls this)."""
        self.local_addr, self.local_port = route.local, conn.local_port
        self.remote_addr, self.remote_port = route.remote, conn.remote_port
        self._attach_route(route)
        self.conn = conn
        self.parent = parent
        self.sock_state = "connected"
        self.key = (PROTO_TCP, route.local, self.local_port, route.remote, self.remote_port)
        self.stack.connections[self.key] = self

    # Events from the stack ---------------------------------------------------------------
    def handle_segment(self, hdr: TCPHeader, payload: bytes | memoryview, now: float) -> None:
        """Feed one inbound segment to the connection.

        What the connection wants sent at once (an immediate ACK for an out-of-order
        segment, which the peer counts as a duplicate ACK for fast retransmit, or a
        loss-recovery retransmission) goes out now; the rest (data the ACK released, an ACK
        it may delay) waits for :meth:`flush`, when the stack is idle, so a burst of in-order
        segments is answered by one ACK.
        """
        conn = self.conn
        if conn is None:
            return
        before = conn.state
        conn.handle_segment(hdr, payload, now)
        if before is State.CLOSE_WAIT and conn.error is Err.CONNECTION_RESET:
            self.reset_error = Err.BROKEN_PIPE  # tcp_reset: a reset in CLOSE-WAIT is EPIPE
        if conn.rcv.ack_now or conn.snd.recovery_due:
            # An immediate ACK (each out-of-order segment must get its own: the peer counts
            # them as duplicate ACKs) or a loss-recovery retransmission goes out now.
            self._transmit(conn.segments_to_send(now))
        self.stack.mark_dirty(self)

    def on_timer(self, now: float) -> None:
        conn = self.conn
        if conn is None:
            return
        conn.handle_timer(now)
        self.stack.mark_dirty(self)

    def flush(self, now: float) -> None:
        """Send the connection's pending segments (and a due ACK), re-arm its timer and
        wake waiters.

        Delayed ACK (RFC 5681 section 4.2, RFC 1122 section 4.2.3.2): while less than two
        full-sized segments arrived since the last ACK, the ACK waits up to
        :data:`ACK_DEFER` seconds for the application's answer to carry it, or for the
        second full-sized segment, as Linux's delayed ACK does. So a request/response costs
        two segments instead of four, and bulk data one ACK per two segments. It never
        waits while a thread of this socket blocks (:meth:`before_wait`), nor once two
        full-sized segments are unacknowledged. The deadline is exact for a socket whose
        owner may wait in ``select()`` (non-blocking, or with a readiness descriptor); for a
        blocking socket used only through its own calls it is a lazy backstop that may fire
        up to ``TIMER_SLICE`` (40 ms) late (RFC 5681 allows 500 ms), since the owner's next
        wait or answer sends the ACK first.
        """
        conn = self.conn
        if conn is None:
            return
        rcv = conn.rcv
        deadline = self.ack_defer_deadline
        if (
            rcv.ack_pending
            and not rcv.ack_now
            and rcv.unacked_bytes < 2 * rcv.mss
            and conn.state is State.ESTABLISHED
            and (deadline is None or now < deadline)
        ):
            if deadline is None:
                self.ack_defer_deadline = now + ACK_DEFER
        else:
            conn.flush_ack(now)
        self._transmit(conn.segments_to_send(now))
        if not rcv.ack_pending:
            self.ack_defer_deadline = None
        retransmissions = conn.snd.retransmissions
        if retransmissions != self.retransmissions_counted:
            self.stack.stats.tcp_retransmissions += retransmissions - self.retransmissions_counted
            self.retransmissions_counted = retransmissions
        wake = next_deadline(conn)
        lazy = False
        if self.ack_defer_deadline is not None and (wake is None or self.ack_defer_deadline < wake):
            wake = self.ack_defer_deadline
            # An owner that waits inside recv() sends the ACK from that wait (before_wait),
            # or answers with data that carries it: the timer is only a backstop. One that
            # may sit in select() (non-blocking, or a readiness descriptor exists) would
            # not: keep it exact.
            lazy = self.owner_waits_in_calls
        self.stack.schedule(self, wake, lazy)
        self._after_event()

    def before_wait(self) -> None:
        """A thread is about to block on this socket: send a deferred ACK first, so the
        peer is never left waiting on an application that is itself waiting."""
        if self.ack_defer_deadline is not None:
            self.ack_defer_deadline = self.stack.clock.now()
            self.stack.mark_dirty(self)
            self.stack.process()

    def _transmit(self, segments: list[tuple[TCPHeader, bytes | memoryview]]) -> None:
        if not segments:
            return
        stack = self.stack
        route = self.route
        net = self.net_header
        assert route is not None and net is not None
        stack.stats.tcp_segments_out += len(segments)
        for hdr, payload in segments:
            stack.send_packet(route, Packet(net, hdr, payload))

    def _after_event(self) -> None:
        conn = self.conn
        assert conn is not None
        state = conn.state
        parent = self.parent
        if parent is not None and state in SYNCHRONIZED:
            parent.ready(self)
        if state is State.CLOSED:
            self._unregister()
            if parent is not None:
                parent.forget(self)
        self.notify()

    def _unregister(self) -> None:
        if self.key is not None:
            if self.stack.connections.get(self.key) is self:
                del self.stack.connections[self.key]
            self.key = None
        self.stack.schedule(self, None)
        if self.detached:
            self.release_port()

    def icmp_failure(self, err: Err) -> None:
        """A hard ICMP error (port or protocol unreachable) during the handshake fails the
        connect, as Linux's ``tcp_v4_err`` does; later ones are ignored (soft errors)."""
        conn = self.conn
        if conn is None or conn.state is not State.SYN_SENT:
            return
        self.icmp_error = err
        closing.fail(conn, err)
        self.stack.mark_dirty(self)

    # Application calls ---------------------------------------------------------------------
    def take_error(self) -> Err | None:
        """The error that ended the connection, reported once (``SO_ERROR`` semantics).
        Taking it updates the readiness mirrors (POLLERR goes), also those of a ``dup()``.
        Needs the stack lock."""
        err = self.peek_error()
        if err is not None:
            self.error_reported = True
            for watcher in self.watchers:
                watcher()
        return err

    def peek_error(self) -> Err | None:
        """The pending error without taking it."""
        if self.error_reported:
            return None
        if self.icmp_error is not None:
            return self.icmp_error
        if self.reset_error is not None:
            return self.reset_error
        return self.conn.error if self.conn is not None else None

    def is_connected(self) -> bool:
        return self.conn is not None and self.conn.state in SYNCHRONIZED

    def is_connecting(self) -> bool:
        return self.conn is not None and self.conn.state in (State.SYN_SENT, State.SYN_RECEIVED)

    def send(self, data: bytes | memoryview) -> int:
        """Queue as much of *data* as the send buffer takes and push it out.

        Raises ``StackError`` with the pending connection error, ``BROKEN_PIPE`` after
        ``shutdown(SHUT_WR)`` or once the connection is gone, ``NOT_CONNECTED`` before a
        connect, ``WOULD_BLOCK`` when the buffer is full or the handshake is under way.
        """
        err = self.take_error()
        if err is not None:
            raise StackError(err)
        conn = self.conn
        if conn is None:
            raise StackError(Err.BROKEN_PIPE)  # sk_stream_wait_connect: not connecting
        if self.shut_wr:
            raise StackError(Err.BROKEN_PIPE)
        state = conn.state
        if state not in SENDABLE:
            if state in (State.SYN_SENT, State.SYN_RECEIVED):
                raise StackError(Err.WOULD_BLOCK)
            raise StackError(Err.BROKEN_PIPE)
        n = conn.send(data)
        if n == 0:
            if not data:
                return 0
            raise StackError(Err.WOULD_BLOCK)
        self.stack.mark_dirty(self)
        self.stack.process()
        return n

    def recv(self, n: int, peek: bool = False) -> bytes:
        """Return up to *n* received bytes; ``b""`` at EOF.

        Raises ``StackError`` with the pending connection error, ``NOT_CONNECTED`` before a
        connect, ``WOULD_BLOCK`` when nothing has arrived yet.
        """
        conn = self._readable_conn()
        if conn is None:
            return b""
        data = conn.recv(n, peek)
        if not peek:
            self._after_read(conn)
        return data

    def recv_into(self, buf: memoryview, n: int, peek: bool = False, more: bool = False) -> int:
        """Like :meth:`recv`, filling *buf* directly; returns the byte count. *more* says
        the call already returned data (``MSG_WAITALL``): what is queued is still taken, but
        with nothing queued a pending error ends the call with 0 and stays pending for the
        next one, as ``tcp_recvmsg`` breaks once it copied. Needs the stack lock."""
        if more and self.peek_error() is not None:
            conn = self.conn
            if conn is None or not conn.readable_bytes():
                return 0
        conn = self._readable_conn()
        if conn is None:
            return 0
        got = conn.recv_into(buf, n, peek)
        if not peek:
            self._after_read(conn)
        return got

    def _after_read(self, conn: Connection) -> None:
        """Reading may open the window: send the update if the connection queued one.
        Nothing else changes (timers, waiters), so no full flush is needed."""
        if not conn.rcv.ack_now:
            return
        segments = conn.segments_to_send(self.stack.clock.now())
        if segments:
            self._transmit(segments)
            self.stack.mark_dirty(self)
            self.stack.process()

    def _readable_conn(self) -> Connection | None:
        """The connection if it has bytes to read; ``None`` at EOF; raises otherwise."""
        conn = self.conn
        if conn is None or self.sock_state == "unconnected":
            # Never connected, or disconnected (connect() reported the failure, or a
            # shutdown() gave the connect up; tcp_disconnect cleared SOCK_DONE):
            # tcp_recvmsg in TCP_CLOSE reports a pending error, else EOF once shut down,
            # else ENOTCONN.
            err = self.take_error() if conn is not None else None
            if err is not None:
                raise StackError(err)
            if self.shut_rd:
                return None
            raise StackError(Err.NOT_CONNECTED)
        if conn.readable_bytes():
            return conn
        if conn.rcv.fin_received:
            return None  # tcp_recvmsg: SOCK_DONE (FIN seen) reads EOF before any error
        err = self.take_error()
        if err is not None:
            raise StackError(err)
        if self.shut_rd or conn.at_eof() or conn.state is State.CLOSED:
            return None
        raise StackError(Err.WOULD_BLOCK)

    def shutdown(self, read: bool, write: bool) -> None:
        """``shutdown(2)`` as Linux's ``inet_shutdown``: on a listener, ``SHUT_RD`` (or
        ``SHUT_RDWR``) stops listening (pending connections are reset) and ``SHUT_WR`` does
        nothing. Raises ``StackError(NOT_CONNECTED)`` on an unconnected socket, whose
        flags are kept all the same, as Linux keeps them."""
        if self.listener is not None:
            if read:
                self._stop_listening()
            return
        conn = self.conn
        if conn is not None and conn.state is State.SYN_SENT:
            # inet_shutdown calls tcp_disconnect in TCP_SYN_SENT, whatever *how*: the
            # connect is given up (nothing sent), ECONNRESET is pending, the flags are
            # cleared and the socket may connect afresh.
            closing.fail(conn, Err.CONNECTION_RESET)
            self._unregister()
            self._disconnect()
            return
        if conn is None or (conn.state not in SYNCHRONIZED and conn.state is not State.SYN_SENT):
            # inet_shutdown in TCP_CLOSE: ENOTCONN, yet the flags are kept (reads then see
            # EOF, writes EPIPE, and poll() says so), also through a later connect().
            self.shut_rd |= read
            self.shut_wr |= write
            self.notify()
            raise StackError(Err.NOT_CONNECTED)
        if read:
            self.shut_rd = True
        if write and not self.shut_wr:
            self.shut_wr = True
            conn.shutdown_write()
            self.stack.mark_dirty(self)
        self.stack.process()
        self.notify()

    def _stop_listening(self) -> None:
        """Back to a bound, closed socket: reset the queued children, leave the demux. As
        ``tcp_disconnect`` does, clear the shutdown flags (set before ``listen()``)."""
        listener = self.listener
        assert listener is not None
        listener.close()
        self.listener = None
        self.shut_rd = self.shut_wr = False
        self.unregister_bound()
        if self.owner is not None:
            self.owner.listening = False
        self.stack.process()
        self.notify()

    def close(self, abort: bool = False) -> None:
        """The application closed the socket. With *abort* (``SO_LINGER`` 0) send RST.

        The connection carries on orphaned until CLOSED; the port is released then.
        """
        if self.closed:
            return
        self.closed = True
        self.detached = True
        if self.listener is not None:
            self._stop_listening()
            self.release_port()
            return
        conn = self.conn
        if conn is None:
            self.release_port()
            self.notify()
            return
        if abort or conn.state is State.SYN_SENT:
            conn.abort()
        else:
            conn.close()
        self.stack.mark_dirty(self)
        self.stack.process()
        if conn.state is State.CLOSED:
            self._unregister()
            self.release_port()
        self.notify()

    # Readiness: tcp_poll, in .poll -------------------------------------------------------
    readable = poll.readable
    writable = poll.writable
    readiness = poll.readiness
    hangup = poll.hangup
