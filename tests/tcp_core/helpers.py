"""Shared helpers for the TCP core tests: segment templates, a scripted peer, a wire."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from usersock.transport.tcp.connection import Connection, TCPConfig
from usersock.transport.tcp.seqnum import MASK
from usersock.transport.tcp.state import State
from usersock.wire.tcp import ACK, NO_OPTIONS, SYN, TCPHeader, TCPOptions

LOCAL = 40000
REMOTE = 80
ISS = 1000
PEER_ISS = 5000

Segment = tuple[TCPHeader, "bytes | memoryview"]


def seg(
    seq: int,
    ack: int = 0,
    flags: int = ACK,
    window: int = 65535,
    ts: tuple[int, int] | None = None,
    sack: tuple[tuple[int, int], ...] = (),
    src: int = REMOTE,
    dst: int = LOCAL,
    options: TCPOptions | None = None,
) -> TCPHeader:
    """A segment from the scripted peer."""
    if options is None:
        options = (
            NO_OPTIONS if ts is None and not sack else TCPOptions(timestamps=ts, sack_blocks=sack)
        )
    return TCPHeader(src, dst, seq & MASK, ack & MASK, flags, window, 0, options)


def config(**kw: object) -> TCPConfig:
    """A config without timestamps/SACK/scaling unless asked, so tests read simply."""
    base: dict[str, object] = dict(
        mss=1000,
        timestamps=False,
        sack=False,
        window_scaling=False,
        rcv_buf=65535,
        snd_buf=65535,
        nodelay=True,
    )
    base.update(kw)
    return TCPConfig(**base)  # type: ignore[arg-type]


def out(conn: Connection, now: float = 0.0) -> list[Segment]:
    return conn.segments_to_send(now)


def state_of(conn: Connection) -> State:
    """``conn.state``, read through a call: mypy keeps the narrowing of an earlier
    ``assert conn.state is ...`` across the calls that change the state, and would call the
    next check of it impossible."""
    return conn.state


def one(conn: Connection, now: float = 0.0) -> Segment:
    segs = conn.segments_to_send(now)
    assert len(segs) == 1, segs
    return segs[0]


def established(
    cfg: TCPConfig | None = None,
    peer_window: int = 65535,
    peer_mss: int = 1000,
    now: float = 0.0,
    sack: bool = False,
) -> Connection:
    """An active connection brought to ESTABLISHED by a scripted SYN,ACK (no options
    beyond MSS, and SACK-permitted if *sack*). Our next sequence number is ISS+1, the
    peer's PEER_ISS+1."""
    conn = Connection(LOCAL, REMOTE, ISS, cfg or config(sack=sack), now)
    conn.connect(now)
    ((syn, _),) = conn.segments_to_send(now)
    assert syn.flags == SYN
    opts = TCPOptions(mss=peer_mss, sack_permitted=sack)
    conn.handle_segment(seg(PEER_ISS, ISS + 1, SYN | ACK, peer_window, options=opts), b"", now)
    ((ack, _),) = conn.segments_to_send(now)
    assert ack.flags == ACK and ack.ack == PEER_ISS + 1
    assert conn.state is State.ESTABLISHED
    return conn


def timed(conn: Connection, rtt: float, now: float = 0.0) -> float:
    """Give *conn* an SRTT of *rtt*: one byte out at *now*, its ACK *rtt* later (Karn's
    timed segment; the connection must not use timestamps). Returns the time of the ACK."""
    snd = conn.snd
    conn.send(b"t")
    ((hdr, _),) = conn.segments_to_send(now)
    conn.handle_segment(seg(conn.rcv.rcv_nxt, (hdr.seq + 1) & MASK), b"", now + rtt)
    assert snd.srtt is not None and abs(snd.srtt - rtt) < 1e-9
    return now + rtt


def pair(
    cfg_a: TCPConfig | None = None, cfg_b: TCPConfig | None = None, now: float = 0.0
) -> tuple[Connection, Connection]:
    """Two connections handshaken back to back (a active on port 1, b passive on port 2)."""
    a = Connection(1, 2, 100, cfg_a or config(), now)
    a.connect(now)
    ((syn, _),) = a.segments_to_send(now)
    b = Connection.from_syn(syn, 2, 700, cfg_b or config(), now)
    exchange(a, b, now)
    assert a.state is State.ESTABLISHED and b.state is State.ESTABLISHED
    return a, b


def exchange(a: Connection, b: Connection, now: float = 0.0) -> None:
    """Deliver segments both ways until neither side has anything to send."""
    while True:
        moved = False
        for src, dst in ((b, a), (a, b)):
            for hdr, payload in src.segments_to_send(now):
                dst.handle_segment(hdr, payload, now)
                moved = True
        if not moved:
            return


@dataclass
class Wire:
    """Moves segments between two connections with seeded loss, reordering and
    duplication; time advances to the next deadline when nothing is in flight."""

    a: Connection
    b: Connection
    rng: random.Random
    loss: float = 0.0
    dup: float = 0.0
    reorder: float = 0.0
    delay: float = 0.001
    now: float = 0.0
    queue: list[tuple[float, int, Connection, TCPHeader, bytes]] = field(default_factory=list)
    counter: int = 0
    #: Free for a test to record when its transfer completed.
    done: float | None = None

    def _collect(self, src: Connection, dst: Connection) -> None:
        for hdr, payload in src.segments_to_send(self.now):
            data = bytes(payload)
            if self.rng.random() < self.loss:
                continue
            copies = 2 if self.rng.random() < self.dup else 1
            for _ in range(copies):
                extra = (
                    self.rng.random() * self.delay * 5 if self.rng.random() < self.reorder else 0
                )
                self.counter += 1
                self.queue.append((self.now + self.delay + extra, self.counter, dst, hdr, data))

    def pump(self) -> None:
        self._collect(self.a, self.b)
        self._collect(self.b, self.a)

    def step(self) -> bool:
        """Deliver the next segment or fire the next timer; False when nothing is left."""
        self.pump()
        if not self.queue:
            for c in (self.a, self.b):
                c.flush_ack(self.now)
            self.pump()
        deadlines = [d for d in (self.a.next_deadline(), self.b.next_deadline()) if d is not None]
        if self.queue:
            self.queue.sort(key=lambda e: (e[0], e[1]))
            t = self.queue[0][0]
            if deadlines and min(deadlines) < t:
                self._fire(min(deadlines))
                return True
            _, _, dst, hdr, data = self.queue.pop(0)
            self.now = max(self.now, t)
            dst.handle_segment(hdr, data, self.now)
            return True
        if deadlines:
            self._fire(min(deadlines))
            return True
        return False

    def _fire(self, t: float) -> None:
        self.now = max(self.now, t)
        for c in (self.a, self.b):
            d = c.next_deadline()
            if d is not None and d <= self.now:
                c.handle_timer(self.now)
