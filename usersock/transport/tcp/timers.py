"""Connection timers: one deadline for the caller, and what happens when it passes.

Theory of operation
-------------------
A connection never reads a clock. It keeps absolute deadlines (seconds on the caller's clock)
and reports the earliest with :func:`next_deadline`; the caller sleeps until then and calls
:func:`handle_timer` with the time it woke, which runs every timer that is due and leaves the
resulting segments to :meth:`Connection.segments_to_send`. A timer firing late or a spurious
wake-up is harmless: each timer checks its own deadline against ``now``.

The deadlines and who owns them:

* retransmission (RFC 6298), tail loss probe (RFC 8985 section 7) and persist
  (RFC 9293 section 3.8.6.1): the :class:`~usersock.transport.tcp.sender.Sender`;
* delayed ACK (RFC 9293 section 3.8.6.3): the
  :class:`~usersock.transport.tcp.receiver.Receiver`;
* TIME-WAIT (2*MSL, RFC 9293 section 3.6) and the orphan FIN-WAIT-2 timeout (as Linux's
  ``tcp_fin_timeout``): ``conn._wait_deadline``, one field since a connection is never in
  both states;
* keepalive (RFC 9293 section 3.8.4, Linux's ``keepidle``/``keepintvl``/``keepcnt``):
  derived from when the peer was last heard and when the last probe went out.

Running out of retransmissions or probes ends the connection with ``ETIMEDOUT``
(:func:`give_up`, RFC 9293 section 3.8.3, threshold R2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from usersock.errors import Err
from usersock.transport.tcp import closing
from usersock.transport.tcp.state import Event, State

if TYPE_CHECKING:
    from usersock.transport.tcp.connection import Connection

_S = State


def next_deadline(conn: Connection) -> float | None:
    """The earliest time :func:`handle_timer` has work, or ``None`` if no timer runs."""
    snd = conn.snd
    best = snd.rtx_deadline
    d = snd.tlp_deadline
    if d is not None and (best is None or d < best):
        best = d
    d = snd.persist_deadline
    if d is not None and (best is None or d < best):
        best = d
    d = conn.rcv.delack_deadline
    if d is not None and (best is None or d < best):
        best = d
    d = conn._wait_deadline
    if d is not None and (best is None or d < best):
        best = d
    if conn.config.keepalive:
        d = keepalive_deadline(conn)
        if d is not None and (best is None or d < best):
            best = d
    return best


def keepalive_deadline(conn: Connection) -> float | None:
    """When the next keepalive probe is due (RFC 9293 section 3.8.4), if one can be."""
    if conn.state is not _S.ESTABLISHED and conn.state is not _S.CLOSE_WAIT:
        return None
    cfg = conn.config
    if conn._keep_probes == 0:
        return conn._last_heard + cfg.keepidle
    return conn._last_probe + cfg.keepintvl


def handle_timer(conn: Connection, now: float) -> None:
    """Run every timer due at *now* (see the module docstring for the list)."""
    state = conn.state
    if state is _S.CLOSED:
        return
    snd = conn.snd
    handshake = state is _S.SYN_SENT or state is _S.SYN_RECEIVED
    if snd.on_timer(now, handshake):
        give_up(conn)
        return
    if handshake and snd.snd_nxt == conn.iss:
        conn._syn_pending = True  # the SYN (or SYN,ACK) retransmission
    conn.rcv.on_timer(now)
    d = conn._wait_deadline
    if d is not None and now >= d:
        conn._wait_deadline = None
        if state is _S.TIME_WAIT:
            conn._set_state(Event.TIMEOUT)
            closing.teardown(conn)
            return
        if state is _S.FIN_WAIT_2:
            # An orphan waited too long for the peer's FIN: reset, as Linux does.
            closing.send_reset(conn)
            conn._set_state(Event.TIMEOUT)
            closing.teardown(conn)
            return
    cfg = conn.config
    if cfg.keepalive:
        d = keepalive_deadline(conn)
        if d is not None and now >= d:
            if snd.snd_max != snd.snd_una or snd.has_unsent():
                conn._last_heard = now  # the retransmission timer watches the peer
            elif conn._keep_probes >= cfg.keepcnt:
                give_up(conn)
            else:
                conn._keep_probes += 1
                conn._last_probe = now
                conn._keep_probe_pending = True


def give_up(conn: Connection) -> None:
    """Retransmissions or probes went unanswered: ETIMEDOUT (RFC 9293 3.8.3, R2)."""
    conn.error = Err.TIMED_OUT
    if conn.state is not _S.SYN_SENT:
        closing.send_reset(conn)
    conn._set_state(Event.TIMEOUT)
    closing.teardown(conn)
