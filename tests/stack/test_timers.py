"""The timer queue and the manual clock that drives it."""

from __future__ import annotations

from typing import cast

import pytest

from usersock.clock import ManualClock
from usersock.stack.timers import TimerQueue


class Probe:
    def __init__(self, name: str, log: list[tuple[str, float]]) -> None:
        self.name = name
        self.log = log
        self.timer_deadline: float | None = None
        self.timer_queued: float | None = None

    def on_timer(self, now: float) -> None:
        self.log.append((self.name, now))


def test_fires_in_deadline_order_and_honours_rearm() -> None:
    log: list[tuple[str, float]] = []
    q = TimerQueue()
    a, b, c = Probe("a", log), Probe("b", log), Probe("c", log)
    q.arm(a, 5.0)
    q.arm(b, 3.0)
    q.arm(c, 4.0)
    q.arm(a, 1.0)  # earlier: a new entry
    q.arm(b, 6.0)  # later: the old entry is moved, not fired early
    q.arm(c, None)  # cancelled
    assert q.next_deadline() == 1.0
    due = q.pop_due(5.5)
    assert [cast(Probe, p).name for p in due] == ["a"]
    assert q.next_deadline() == 6.0
    assert [cast(Probe, p).name for p in q.pop_due(6.0)] == ["b"]
    assert q.next_deadline() is None


def test_arm_reports_when_the_earliest_deadline_moves() -> None:
    q = TimerQueue()
    log: list[tuple[str, float]] = []
    assert q.arm(Probe("a", log), 5.0) is True
    assert q.arm(Probe("b", log), 7.0) is False
    assert q.arm(Probe("c", log), 2.0) is True


class FakeStack:
    """A timer source that re-arms itself: 1, 2, 4, 8... like an RTO backing off."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.fired: list[float] = []
        self.deadline: float | None = 1.0
        self.step = 1.0

    def next_deadline(self) -> float | None:
        return self.deadline

    def fire_due_timers(self) -> None:
        now = self.clock.now()
        assert self.deadline is not None and self.deadline <= now
        self.fired.append(now)
        self.step *= 2
        self.deadline = now + self.step


def test_manual_clock_steps_through_each_deadline() -> None:
    clock = ManualClock()
    source = FakeStack(clock)
    clock.attach(source)
    clock.advance(7.5)
    assert source.fired == [1.0, 3.0, 7.0]
    assert clock.now() == 7.5
    with pytest.raises(ValueError):
        clock.advance(-1)
