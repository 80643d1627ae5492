"""TCP connection states and every legal transition between them, in one table.

The states are those of RFC 9293 section 3.3.2. A connection moves between them only
through ``Connection._set_state(event)``, which looks the ``(state, event)`` pair up in
:data:`TRANSITIONS` and refuses anything that is not there: the table below *is* the state
machine, and the rest of the core only decides which :class:`Event` happened.

Two simplifications against the RFC diagram, both as in Linux:

* A connection object never goes back to LISTEN. Listening is the listener's job; a passive
  connection starts in CLOSED, takes PASSIVE_OPEN to LISTEN and the SYN to SYN-RECEIVED, and a
  reset SYN-RECEIVED connection goes to CLOSED (the listener simply forgets it).
* CLOSE in SYN-SENT or SYN-RECEIVED that must send a FIN is deferred until ESTABLISHED, which
  RFC 9293 section 3.10.4 allows ("queue for processing after entering ESTABLISHED state").
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    """A TCP connection state (RFC 9293 section 3.3.2, figure 5)."""

    #: No connection (the fictional state of RFC 9293 section 3.3.2).
    CLOSED = "CLOSED"
    #: Waiting for a connection request from any remote TCP peer.
    LISTEN = "LISTEN"
    #: SYN sent; waiting for a matching connection request.
    SYN_SENT = "SYN-SENT"
    #: SYN received and sent; waiting for the acknowledgement of our SYN.
    SYN_RECEIVED = "SYN-RECEIVED"
    #: An open connection; data flows both ways.
    ESTABLISHED = "ESTABLISHED"
    #: We closed; waiting for the peer's FIN or the ACK of our FIN.
    FIN_WAIT_1 = "FIN-WAIT-1"
    #: Our FIN is acknowledged; waiting for the peer's FIN.
    FIN_WAIT_2 = "FIN-WAIT-2"
    #: The peer closed; waiting for the local user to close.
    CLOSE_WAIT = "CLOSE-WAIT"
    #: Both sides closed at once; waiting for the ACK of our FIN.
    CLOSING = "CLOSING"
    #: The peer closed first and so did we; waiting for the ACK of our FIN.
    LAST_ACK = "LAST-ACK"
    #: Waiting 2*MSL so the peer surely got the ACK of its FIN (RFC 9293 section 3.6).
    TIME_WAIT = "TIME-WAIT"


class Event(enum.Enum):
    """What moves a connection from one state to another (the arcs of RFC 9293 figure 5)."""

    #: The user called connect(): send SYN.
    ACTIVE_OPEN = "active open"
    #: A listener created the connection for an incoming SYN.
    PASSIVE_OPEN = "passive open"
    #: A SYN without ACK arrived (passive open, or simultaneous open in SYN-SENT).
    RCV_SYN = "rcv SYN"
    #: The SYN,ACK answering our SYN arrived.
    RCV_SYN_ACK = "rcv SYN,ACK"
    #: The ACK of our SYN arrived in SYN-RECEIVED.
    RCV_ACK_OF_SYN = "rcv ACK of SYN"
    #: The user closed (or shut down) the sending side: send FIN after queued data.
    CLOSE = "close"
    #: The peer's FIN arrived in sequence.
    RCV_FIN = "rcv FIN"
    #: The ACK of our FIN arrived.
    RCV_ACK_OF_FIN = "rcv ACK of FIN"
    #: An acceptable RST arrived (RFC 9293 section 3.10.7.4, RFC 5961 section 3.2).
    RCV_RST = "rcv RST"
    #: A timer ended the state: TIME-WAIT or FIN-WAIT-2 expiry, retransmission or
    #: keepalive give-up.
    TIMEOUT = "timeout"
    #: The user aborted (or closed with unread data): RST and forget.
    ABORT = "abort"


_S = State
_E = Event

#: Every legal transition: ``(state, event) -> next state``. Nothing else may happen.
# Members are singletons compared by identity, so hash them by identity too: Enum's own
# ``__hash__`` is Python code (``hash(self._name_)``), and state sets and the transition
# table are consulted on every segment.
State.__hash__ = object.__hash__  # type: ignore[method-assign]
Event.__hash__ = object.__hash__  # type: ignore[method-assign]

TRANSITIONS: dict[tuple[State, Event], State] = {
    # Opening (RFC 9293 section 3.5).
    (_S.CLOSED, _E.ACTIVE_OPEN): _S.SYN_SENT,
    (_S.CLOSED, _E.PASSIVE_OPEN): _S.LISTEN,
    (_S.LISTEN, _E.RCV_SYN): _S.SYN_RECEIVED,
    (_S.LISTEN, _E.CLOSE): _S.CLOSED,
    (_S.LISTEN, _E.ABORT): _S.CLOSED,
    (_S.SYN_SENT, _E.RCV_SYN_ACK): _S.ESTABLISHED,
    (_S.SYN_SENT, _E.RCV_SYN): _S.SYN_RECEIVED,  # simultaneous open
    (_S.SYN_SENT, _E.RCV_RST): _S.CLOSED,  # connection refused
    (_S.SYN_SENT, _E.CLOSE): _S.CLOSED,
    (_S.SYN_SENT, _E.TIMEOUT): _S.CLOSED,  # syn_retries exhausted
    (_S.SYN_SENT, _E.ABORT): _S.CLOSED,
    (_S.SYN_RECEIVED, _E.RCV_ACK_OF_SYN): _S.ESTABLISHED,
    (_S.SYN_RECEIVED, _E.RCV_RST): _S.CLOSED,
    (_S.SYN_RECEIVED, _E.TIMEOUT): _S.CLOSED,
    (_S.SYN_RECEIVED, _E.ABORT): _S.CLOSED,
    # Data transfer and closing (RFC 9293 section 3.6).
    (_S.ESTABLISHED, _E.CLOSE): _S.FIN_WAIT_1,
    (_S.ESTABLISHED, _E.RCV_FIN): _S.CLOSE_WAIT,
    (_S.ESTABLISHED, _E.RCV_RST): _S.CLOSED,
    (_S.ESTABLISHED, _E.TIMEOUT): _S.CLOSED,
    (_S.ESTABLISHED, _E.ABORT): _S.CLOSED,
    (_S.FIN_WAIT_1, _E.RCV_ACK_OF_FIN): _S.FIN_WAIT_2,
    (_S.FIN_WAIT_1, _E.RCV_FIN): _S.CLOSING,  # simultaneous close
    (_S.FIN_WAIT_1, _E.RCV_RST): _S.CLOSED,
    (_S.FIN_WAIT_1, _E.TIMEOUT): _S.CLOSED,
    (_S.FIN_WAIT_1, _E.ABORT): _S.CLOSED,
    (_S.FIN_WAIT_2, _E.RCV_FIN): _S.TIME_WAIT,
    (_S.FIN_WAIT_2, _E.RCV_RST): _S.CLOSED,
    (_S.FIN_WAIT_2, _E.TIMEOUT): _S.CLOSED,  # orphan FIN-WAIT-2 timeout
    (_S.FIN_WAIT_2, _E.ABORT): _S.CLOSED,
    (_S.CLOSE_WAIT, _E.CLOSE): _S.LAST_ACK,
    (_S.CLOSE_WAIT, _E.RCV_RST): _S.CLOSED,
    (_S.CLOSE_WAIT, _E.TIMEOUT): _S.CLOSED,
    (_S.CLOSE_WAIT, _E.ABORT): _S.CLOSED,
    (_S.CLOSING, _E.RCV_ACK_OF_FIN): _S.TIME_WAIT,
    (_S.CLOSING, _E.RCV_RST): _S.CLOSED,
    (_S.CLOSING, _E.TIMEOUT): _S.CLOSED,
    (_S.CLOSING, _E.ABORT): _S.CLOSED,
    (_S.LAST_ACK, _E.RCV_ACK_OF_FIN): _S.CLOSED,
    (_S.LAST_ACK, _E.RCV_RST): _S.CLOSED,
    (_S.LAST_ACK, _E.TIMEOUT): _S.CLOSED,
    (_S.LAST_ACK, _E.ABORT): _S.CLOSED,
    (_S.TIME_WAIT, _E.TIMEOUT): _S.CLOSED,  # 2*MSL elapsed
    (_S.TIME_WAIT, _E.RCV_RST): _S.CLOSED,
    (_S.TIME_WAIT, _E.ABORT): _S.CLOSED,
}

#: The ``(old, new)`` state pairs the table allows, for checks that only see states.
LEGAL_MOVES: frozenset[tuple[State, State]] = frozenset(
    (old, new) for (old, _event), new in TRANSITIONS.items()
)

#: States in which both sides have exchanged SYNs (RFC 9293 section 3.3.2 "synchronized").
SYNCHRONIZED: frozenset[State] = frozenset(
    {
        State.ESTABLISHED,
        State.FIN_WAIT_1,
        State.FIN_WAIT_2,
        State.CLOSE_WAIT,
        State.CLOSING,
        State.LAST_ACK,
        State.TIME_WAIT,
    }
)

#: States in which the user may still queue data to send.
CAN_SEND: frozenset[State] = frozenset(
    {State.SYN_SENT, State.SYN_RECEIVED, State.ESTABLISHED, State.CLOSE_WAIT}
)

#: States in which the peer may still send us data (we have not seen its FIN).
CAN_RECEIVE: frozenset[State] = frozenset(
    {State.SYN_RECEIVED, State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2}
)


class IllegalTransition(RuntimeError):
    """A bug in the core: it tried a ``(state, event)`` pair absent from the table."""

    def __init__(self, state: State, event: Event) -> None:
        super().__init__(f"no TCP transition from {state.value} on {event.value}")
        self.state = state
        self.event = event


#: States in which a socket's send() goes through (the core also queues data during the
#: handshake, but a socket's send() waits for it to finish).
SENDABLE: frozenset[State] = frozenset({State.ESTABLISHED, State.CLOSE_WAIT})
