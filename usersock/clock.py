"""Clocks: where a stack gets ``now`` from.

The stack never reads time directly; it asks its injected :class:`Clock`. The default,
:class:`MonotonicClock`, is real monotonic time and timers fire from a background thread.
:class:`ManualClock` only moves when a test calls :meth:`ManualClock.advance`, which makes
retransmission and TIME-WAIT tests deterministic; with it the stack starts no timer thread and
fires due timers when the clock is advanced.
"""

from __future__ import annotations

import time
from typing import Protocol


class TimerSource(Protocol):
    """What a manual clock drives: a stack's timer wheel."""

    def next_deadline(self) -> float | None: ...

    def fire_due_timers(self) -> None: ...


class Clock:
    """Interface of a clock. ``now()`` returns seconds as a float; it never goes backwards."""

    #: True if time only moves through :meth:`advance` (no timer thread is needed).
    manual: bool = False

    def now(self) -> float:
        raise NotImplementedError

    def attach(self, source: TimerSource) -> None:
        """Register a stack whose timers this clock drives (only a manual clock needs it)."""


class MonotonicClock(Clock):
    """Real time from ``time.monotonic()``."""

    #: ``time.monotonic`` itself: the stack reads the clock several times per segment.
    now = staticmethod(time.monotonic)


class ManualClock(Clock):
    """A clock that moves only when told to.

    ``advance(seconds)`` moves time forward and then runs the owning stack's due timers, so a
    test reads like a timeline: send, advance past the RTO, observe the retransmission.
    """

    manual = True

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._sources: list[TimerSource] = []

    def now(self) -> float:
        return self._now

    def attach(self, source: TimerSource) -> None:
        self._sources.append(source)

    def advance(self, seconds: float) -> None:
        """Move time forward by *seconds* (>= 0), firing every timer that falls due on the way.

        Time steps to each deadline in order, so a retransmission timer that backs off from
        1 s to 2 s to 4 s fires three times in ``advance(7)``, each at its own instant.
        Raises ``ValueError`` for a negative step.
        """
        if seconds < 0:
            raise ValueError("a clock never goes backwards")
        target = self._now + seconds
        while True:
            due = [d for d in (s.next_deadline() for s in self._sources) if d is not None]
            earliest = min(due, default=None)
            if earliest is None or earliest > target:
                break
            self._now = max(self._now, earliest)
            for source in list(self._sources):
                source.fire_due_timers()
        self._now = target
