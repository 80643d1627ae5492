"""Ending a connection: FIN after the data, close and abort, resets both ways, teardown.

Theory of operation
-------------------
These functions are the closing part of :class:`~usersock.transport.tcp.connection.Connection`
(RFC 9293 sections 3.6, 3.10.4 and 3.10.5). Like :mod:`.handshake` they take the connection as
their first argument, change state only through ``conn._set_state`` and only queue what must
be sent.

* An orderly close queues a FIN behind the data (``snd.fin_queued``); the sender sends it when
  the data is out, and the ACK of the FIN moves the state on (see
  :meth:`Connection.handle_segment`). A close asked for during the handshake waits for
  ESTABLISHED (:func:`.handshake.established`).
* :func:`close` is the socket's close: after it the connection is *orphaned* — no user will
  read again — so unread or further incoming data resets it (RFC 2525 section 2.17, as Linux),
  and FIN-WAIT-2 is bounded by ``fin_wait2_timeout`` (see :mod:`.timers`).
* :func:`abort` and every error end queue ``<SEQ=SND.MAX><CTL=RST,ACK>`` (:func:`send_reset`)
  where the peer still holds state, and :func:`teardown` stops the timers and drops what can no
  longer be sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from usersock.errors import Err, StackError
from usersock.transport.tcp.state import Event, State
from usersock.wire.tcp import ACK, RST, TCPHeader

if TYPE_CHECKING:
    from usersock.transport.tcp.connection import Connection

_S = State

#: States in which the peer holds a connection that an abort must reset (RFC 9293 3.10.5).
_RESET_ON_ABORT = frozenset(
    {_S.SYN_RECEIVED, _S.ESTABLISHED, _S.FIN_WAIT_1, _S.FIN_WAIT_2, _S.CLOSE_WAIT}
)


def shutdown_write(conn: Connection) -> None:
    """Send a FIN after the queued data (``shutdown(SHUT_WR)``, RFC 9293 3.10.4).

    Deferred until ESTABLISHED when called during the handshake; a no-op if already shut
    down. Raises ``StackError(NOT_CONNECTED)`` on a connection never opened.
    """
    state = conn.state
    if state is _S.CLOSED or state is _S.LISTEN:
        if conn.error is None and conn.snd.snd_max == conn.iss and not conn._passive:
            raise StackError(Err.NOT_CONNECTED)
        return
    if conn._write_shut:
        return
    conn._write_shut = True
    if state is _S.SYN_SENT or state is _S.SYN_RECEIVED:
        conn._close_pending = True
    elif state is _S.ESTABLISHED or state is _S.CLOSE_WAIT:
        conn.snd.fin_queued = True
        conn._set_state(Event.CLOSE)


def close(conn: Connection) -> None:
    """The user closed the socket (RFC 9293 section 3.10.4); see the module docstring."""
    state = conn.state
    if state is _S.CLOSED:
        return
    if state is _S.LISTEN or state is _S.SYN_SENT:
        conn._set_state(Event.CLOSE)
        teardown(conn)
        return
    conn._orphaned = True
    if conn.rcv.queued and state is not _S.TIME_WAIT:
        abort(conn)
        return
    shutdown_write(conn)
    if conn.state is _S.FIN_WAIT_2 and conn._wait_deadline is None:
        conn._wait_deadline = conn._now + conn.config.fin_wait2_timeout


def abort(conn: Connection) -> None:
    """Reset the connection now (RFC 9293 section 3.10.5; ``SO_LINGER`` 0).

    A RST is queued in the states where the peer holds a connection; the local side ends in
    CLOSED without an error, and unread data is discarded.
    """
    state = conn.state
    if state is _S.CLOSED:
        return
    if state in _RESET_ON_ABORT:
        send_reset(conn)
    conn._set_state(Event.ABORT)
    teardown(conn)
    conn.rcv.discard()


def fail(conn: Connection, err: Err) -> None:
    """A hard error reported from below (ICMP port or protocol unreachable during the
    handshake, RFC 1122 section 4.2.3.9): CLOSED with *err* and nothing sent, as Linux's
    ``tcp_v4_err`` ends a connect with ``tcp_done``."""
    if conn.state is _S.CLOSED:
        return
    conn.error = err
    conn._set_state(Event.ABORT)
    teardown(conn)


def reset_by_peer(conn: Connection) -> None:
    """An acceptable RST arrived (RFC 9293 section 3.10.7.4 step 2)."""
    state = conn.state
    if state is _S.SYN_RECEIVED:
        conn.error = Err.CONNECTION_RESET if conn._passive else Err.CONNECTION_REFUSED
    elif state in (_S.ESTABLISHED, _S.FIN_WAIT_1, _S.FIN_WAIT_2, _S.CLOSE_WAIT):
        conn.error = Err.CONNECTION_RESET
    conn._set_state(Event.RCV_RST)
    teardown(conn)


def send_reset(conn: Connection) -> None:
    """Queue <SEQ=SND.NXT><CTL=RST> (RFC 9293 section 3.10.5 ABORT); SND.NXT is the highest
    sequence number sent (SND.MAX), which the peer expects exactly (RFC 5961)."""
    conn._rst_pending = TCPHeader(
        conn.local_port, conn.remote_port, conn.snd.snd_max, conn.rcv.rcv_nxt, RST | ACK, 0
    )


def teardown(conn: Connection) -> None:
    """Entering CLOSED: stop every timer and drop what can no longer be sent."""
    conn.snd.teardown()
    conn.rcv.teardown()
    conn._wait_deadline = None
    conn._syn_pending = False
    conn._keep_probe_pending = False
