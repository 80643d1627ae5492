"""Property test: random segments, user calls and timer ticks in every state never make the
core raise, and every state change is a legal transition of the table (h2/wsproto style)."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usersock.errors import StackError
from usersock.transport.tcp.connection import Connection
from usersock.transport.tcp.state import LEGAL_MOVES, Event, State
from usersock.wire.tcp import ACK, FIN, SYN, TCPHeader, TCPOptions

from .helpers import ISS, LOCAL, PEER_ISS, REMOTE, config

P = PEER_ISS + 1
S = ISS + 1


class Recording(Connection):
    """A connection that remembers every transition it made."""

    moves: list[tuple[State, State]]

    def _set_state(self, event: Event) -> None:
        old = self.state
        super()._set_state(event)
        if not hasattr(self, "moves"):
            self.moves = []
        self.moves.append((old, self.state))


def _feed(conn: Connection, hdr: TCPHeader, payload: bytes, now: float) -> None:
    conn.handle_segment(hdr, payload, now)
    conn.segments_to_send(now)


def _build(start: str, cfg_kw: dict[str, Any]) -> Connection:
    cfg = config(**cfg_kw)
    syn_opts = TCPOptions(
        mss=1000,
        wscale=2 if cfg.window_scaling else None,
        sack_permitted=cfg.sack,
        timestamps=(100, 0) if cfg.timestamps else None,
    )
    if start == "SYN_RECEIVED":
        conn: Connection = Recording.from_syn(
            TCPHeader(REMOTE, LOCAL, PEER_ISS, 0, SYN, 8000, 0, syn_opts), LOCAL, ISS, cfg, 0.0
        )
        conn.segments_to_send(0.0)
        return conn
    conn = Recording(LOCAL, REMOTE, ISS, cfg, 0.0)
    if start == "CLOSED":
        return conn
    conn.connect(0.0)
    conn.segments_to_send(0.0)
    if start == "SYN_SENT":
        return conn
    synack_opts = TCPOptions(
        mss=1000,
        wscale=syn_opts.wscale,
        sack_permitted=cfg.sack,
        timestamps=(100, syn_opts.timestamps[0]) if syn_opts.timestamps else None,
    )
    _feed(conn, TCPHeader(REMOTE, LOCAL, PEER_ISS, S, SYN | ACK, 8000, 0, synack_opts), b"", 0.0)
    ts = (101, 0) if cfg.timestamps else None
    opts = TCPOptions(timestamps=ts)
    if start in ("FIN_WAIT_1", "FIN_WAIT_2", "CLOSING", "TIME_WAIT"):
        conn.shutdown_write()
        conn.segments_to_send(0.0)
    if start == "FIN_WAIT_2":
        _feed(conn, TCPHeader(REMOTE, LOCAL, P, S + 1, ACK, 8000, 0, opts), b"", 0.0)
    if start == "CLOSING":
        _feed(conn, TCPHeader(REMOTE, LOCAL, P, S, ACK | FIN, 8000, 0, opts), b"", 0.0)
    if start == "TIME_WAIT":
        _feed(conn, TCPHeader(REMOTE, LOCAL, P, S + 1, ACK | FIN, 8000, 0, opts), b"", 0.0)
    if start in ("CLOSE_WAIT", "LAST_ACK"):
        _feed(conn, TCPHeader(REMOTE, LOCAL, P, S, ACK | FIN, 8000, 0, opts), b"", 0.0)
    if start == "LAST_ACK":
        conn.close()
        conn.segments_to_send(0.0)
    assert conn.state.name == start, (conn.state, start)
    return conn


_offsets = st.one_of(
    st.integers(-3, 3),
    st.integers(-70000, 70000),
    st.sampled_from([2**31, -(2**31), 2**32 - 1]),
)

_options = st.builds(
    TCPOptions,
    mss=st.one_of(st.none(), st.integers(0, 65535)),
    wscale=st.one_of(st.none(), st.integers(0, 20)),
    sack_permitted=st.booleans(),
    timestamps=st.one_of(
        st.none(), st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
    ),
    sack_blocks=st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)), max_size=4
    ).map(tuple),
)

_segment = st.tuples(
    st.just("seg"),
    _offsets,  # seq relative to what the connection expects
    _offsets,  # ack relative to SND.UNA
    st.integers(0, 255),  # flags
    st.integers(0, 65535),  # window
    _options,
    st.binary(max_size=3000),
)

_action = st.one_of(
    _segment,
    st.tuples(st.just("send"), st.integers(0, 5000)),
    st.tuples(st.just("recv"), st.integers(0, 5000)),
    st.tuples(st.just("time"), st.floats(0, 200, allow_nan=False)),
    st.sampled_from([("close",), ("abort",), ("shutdown",), ("flush",), ("timer",), ("peek",)]),
)

STATES = [
    "CLOSED",
    "SYN_SENT",
    "SYN_RECEIVED",
    "ESTABLISHED",
    "FIN_WAIT_1",
    "FIN_WAIT_2",
    "CLOSE_WAIT",
    "CLOSING",
    "LAST_ACK",
    "TIME_WAIT",
]


@settings(
    max_examples=int(os.environ.get("TCP_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    start=st.sampled_from(STATES),
    opts=st.fixed_dictionaries(
        {
            "timestamps": st.booleans(),
            "sack": st.booleans(),
            "window_scaling": st.booleans(),
            "delayed_ack": st.sampled_from([0.0, 0.04]),
            "nodelay": st.booleans(),
            "keepalive": st.booleans(),
            "rcv_buf": st.sampled_from([2000, 65535]),
        }
    ),
    actions=st.lists(_action, max_size=40),
)
def test_random_input_never_raises(start: str, opts: dict[str, Any], actions: list[Any]) -> None:
    conn = _build(start, opts)
    now = 0.0
    for act in actions:
        kind = act[0]
        if kind == "seg":
            _, dseq, dack, flags, window, options, payload = act
            base = conn.rcv.rcv_nxt if conn.state is not State.SYN_SENT else PEER_ISS
            hdr = TCPHeader(
                REMOTE,
                LOCAL,
                (base + dseq) & 0xFFFFFFFF,
                (conn.snd.snd_una + dack) & 0xFFFFFFFF,
                flags,
                window,
                0,
                options,
            )
            conn.handle_segment(hdr, payload, now)
        elif kind == "send":
            with contextlib.suppress(StackError):
                conn.send(bytes(act[1]))
        elif kind == "recv":
            conn.recv(act[1])
        elif kind == "peek":
            conn.recv_into(bytearray(100), 100, peek=True)
        elif kind == "time":
            now += act[1]
        elif kind == "close":
            conn.close()
        elif kind == "abort":
            conn.abort()
        elif kind == "shutdown":
            with contextlib.suppress(StackError):
                conn.shutdown_write()
        elif kind == "flush":
            conn.flush_ack(now)
        elif kind == "timer":
            d = conn.next_deadline()
            if d is not None:
                now = max(now, d)
                conn.handle_timer(now)
        for hdr, payload in conn.segments_to_send(now):
            assert 0 <= hdr.seq < 2**32 and 0 <= hdr.ack < 2**32
            assert 0 <= hdr.window <= 0xFFFF
            assert len(payload) <= 1000
        d = conn.next_deadline()
        if conn.state is State.CLOSED:
            assert d is None
        assert conn.readable_bytes() >= 0
        assert conn.send_space() >= 0
    for move in getattr(conn, "moves", []):
        assert move in LEGAL_MOVES
