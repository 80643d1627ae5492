"""What ``poll()`` reports for a TCP socket, as Linux's ``tcp_poll`` does: readable,
writable and how far it has hung up. The readiness mirrors (:mod:`usersock.readiness`) and
the socket calls' waits read it; :class:`~.endpoint.TCPEndpoint` takes these functions as its
methods. All need the stack lock."""

from __future__ import annotations

from typing import TYPE_CHECKING

from usersock.transport.tcp.state import SENDABLE, State

if TYPE_CHECKING:
    from usersock.transport.tcp.endpoint import TCPEndpoint


def readable(ep: TCPEndpoint) -> bool:
    """``tcp_poll``'s POLLIN (or POLLHUP, which ``select`` counts as readable)."""
    if ep.listener is not None:
        return ep.listener.has_pending()
    conn = ep.conn
    if conn is None:
        return True  # a closed (never connected) socket polls POLLHUP
    return bool(
        conn.readable_bytes()
        or conn.rcv.fin_received
        or ep.shut_rd
        or ep.peek_error() is not None
        or conn.state is State.CLOSED
    )


def writable(ep: TCPEndpoint) -> bool:
    """``tcp_poll``'s POLLOUT."""
    if ep.listener is not None:
        return False
    conn = ep.conn
    if conn is None:
        return True  # a closed socket is "writable" (the write fails at once)
    if ep.peek_error() is not None or conn.state is State.CLOSED:
        return True
    if conn.state in SENDABLE and not ep.shut_wr:
        # sk_stream_is_writeable: free space at least half of what is queued
        space = conn.send_space()
        return space > 0 and 2 * space >= conn.config.snd_buf - space
    return conn.state not in (State.SYN_SENT, State.SYN_RECEIVED)


def readiness(ep: TCPEndpoint) -> tuple[bool, bool, int]:
    """``(readable(), writable(), hangup())``, computed at once for the common case (an
    established connection with no error and nothing shut down: readable with data,
    writable as ``sk_stream_is_writeable``, no hang-up); otherwise by the three calls."""
    conn = ep.conn
    if (
        conn is not None
        and conn.state is State.ESTABLISHED
        and conn.error is None
        and ep.listener is None
        and ep.icmp_error is None
        and ep.reset_error is None
        and not ep.shut_rd
        and not ep.shut_wr
    ):
        snd_buf = conn.config.snd_buf
        space = snd_buf - len(conn.snd.buf)
        return conn.rcv.queued > 0, space > 0 and 2 * space >= snd_buf - space, 0
    return readable(ep), writable(ep), hangup(ep)


def hangup(ep: TCPEndpoint) -> int:
    """How far the socket has hung up, for the readiness mirror: 1 when the read side
    is shut (peer FIN, or ``SHUT_RD``: POLLRDHUP), 2 when both sides are (POLLHUP), 3
    when the connection ended with an error not yet taken (POLLHUP and POLLERR), as
    ``tcp_poll`` reports them; -1 for a socket never connected nor listening, whose
    POLLHUP ``connect()`` or ``listen()`` ends, or one whose ``connect()`` reported
    that the connection failed (Linux then calls ``tcp_disconnect``: a fresh socket);
    2 for such a socket shut down for reading."""
    if ep.listener is not None:
        return 0
    conn = ep.conn
    if conn is None or ep.sock_state == "unconnected":
        if conn is not None and ep.peek_error() is not None:
            return 3  # disconnected by shutdown() with the error pending
        return 2 if ep.shut_rd else -1  # TCP_CLOSE: POLLHUP, RDHUP too once SHUT_RD
    if conn.state is State.CLOSED:
        return 3 if ep.peek_error() is not None else 2
    read_shut = ep.shut_rd or conn.rcv.fin_received
    if not read_shut:
        return 0
    return 2 if ep.shut_wr or conn.state in (State.LAST_ACK, State.TIME_WAIT) else 1
