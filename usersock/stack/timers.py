"""The stack's timer queue: one lazily-cancelled heap entry per armed object.

A timed object (a TCP endpoint, a delayed packet) has two attributes the queue manages:
``timer_deadline`` (when it wants to run next, or ``None``) and ``timer_queued`` (the
earliest deadline it has in the heap). Re-arming to a later time pushes nothing: the early
entry fires, sees the deadline moved, and is re-pushed then. This keeps the per-segment cost
of re-arming a retransmission timer at one comparison. Needs the stack lock.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Protocol


class Timed(Protocol):
    timer_deadline: float | None
    timer_queued: float | None

    def on_timer(self, now: float) -> None:
        """Run with the stack lock held when ``timer_deadline`` has passed."""


class TimerQueue:
    """A heap of ``(deadline, seq, obj)`` with lazy cancellation."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timed]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def arm(self, obj: Timed, deadline: float | None) -> bool:
        """Set *obj*'s deadline. Returns True if the heap's earliest deadline moved earlier
        (a sleeping timer thread must wake)."""
        obj.timer_deadline = deadline
        if deadline is None:
            return False
        queued = obj.timer_queued
        if queued is not None and queued <= deadline:
            return False
        obj.timer_queued = deadline
        earlier = not self._heap or deadline < self._heap[0][0]
        heapq.heappush(self._heap, (deadline, next(self._seq), obj))
        return earlier

    def next_deadline(self) -> float | None:
        """The earliest live deadline, dropping stale heap entries on the way."""
        heap = self._heap
        while heap:
            deadline, _, obj = heap[0]
            if obj.timer_queued != deadline:
                heapq.heappop(heap)
                continue
            wanted = obj.timer_deadline
            if wanted is None:
                heapq.heappop(heap)
                obj.timer_queued = None
                continue
            if wanted > deadline:
                # Re-armed later: move the entry instead of firing early.
                heapq.heappop(heap)
                obj.timer_queued = wanted
                heapq.heappush(heap, (wanted, next(self._seq), obj))
                continue
            return deadline
        return None

    def pop_due(self, now: float) -> list[Timed]:
        """Remove and return every object whose deadline is at or before *now*."""
        due: list[Timed] = []
        while True:
            deadline = self.next_deadline()
            if deadline is None or deadline > now:
                return due
            _, _, obj = heapq.heappop(self._heap)
            obj.timer_queued = None
            obj.timer_deadline = None
            due.append(obj)

    def clear(self) -> None:
        for _, _, obj in self._heap:
            obj.timer_queued = None
            obj.timer_deadline = None
        self._heap.clear()
