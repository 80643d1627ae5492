"""The transition table: one place, every state reachable, nothing leaves CLOSED by itself."""

from __future__ import annotations

import logging

import pytest

from usersock.transport.tcp.connection import Connection
from usersock.transport.tcp.state import LEGAL_MOVES, TRANSITIONS, Event, IllegalTransition, State

from .helpers import config


def test_every_state_reachable_from_closed() -> None:
    seen = {State.CLOSED}
    frontier = [State.CLOSED]
    while frontier:
        s = frontier.pop()
        for (old, _e), new in TRANSITIONS.items():
            if old is s and new not in seen:
                seen.add(new)
                frontier.append(new)
    assert seen == set(State)


def test_every_state_but_closed_can_end() -> None:
    for s in State:
        if s is not State.CLOSED:
            assert (s, State.CLOSED) in LEGAL_MOVES or (s, Event.ABORT) in TRANSITIONS


def test_closed_only_opens() -> None:
    assert {e for (s, e) in TRANSITIONS if s is State.CLOSED} == {
        Event.ACTIVE_OPEN,
        Event.PASSIVE_OPEN,
    }


@pytest.mark.parametrize(
    ("state", "event", "new"),
    [
        (State.SYN_SENT, Event.RCV_SYN, State.SYN_RECEIVED),
        (State.FIN_WAIT_1, Event.RCV_FIN, State.CLOSING),
        (State.CLOSING, Event.RCV_ACK_OF_FIN, State.TIME_WAIT),
        (State.TIME_WAIT, Event.TIMEOUT, State.CLOSED),
        (State.CLOSE_WAIT, Event.CLOSE, State.LAST_ACK),
    ],
)
def test_rfc_arcs(state: State, event: Event, new: State) -> None:
    assert TRANSITIONS[(state, event)] is new


def test_set_state_refuses_illegal() -> None:
    conn = Connection(1, 2, 3, config(), 0.0)
    with pytest.raises(IllegalTransition):
        conn._set_state(Event.RCV_FIN)
    assert conn.state is State.CLOSED


def test_state_docstrings_cite_rfc() -> None:
    assert State.__doc__ is not None and "RFC 9293 section 3.3.2" in State.__doc__


def test_transitions_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    from .helpers import established

    conn = established()
    with caplog.at_level(logging.DEBUG, logger="usersock.tcp"):
        conn.shutdown_write()
    assert any("ESTABLISHED=>FIN-WAIT-1" in r.getMessage() for r in caplog.records)
