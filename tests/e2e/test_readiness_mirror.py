"""The readiness mirror on its own: each state :meth:`Readiness.set` is given shows as the
``poll()`` mask ``tcp_poll`` would report, through the hang-up levels and the error."""

from __future__ import annotations

import os
import select
from collections.abc import Iterator

import pytest

from usersock.readiness import Readiness

IN, OUT, HUP, ERR, RDHUP = (
    select.POLLIN,
    select.POLLOUT,
    select.POLLHUP,
    select.POLLERR,
    select.POLLRDHUP,
)


@pytest.fixture
def mirror() -> Iterator[Readiness]:
    ready = Readiness()
    yield ready
    ready.close_inner()
    os.close(ready.exposed_fd)


def mask(ready: Readiness) -> int:
    p = select.poll()
    p.register(ready.exposed_fd, IN | OUT | RDHUP)
    events = p.poll(0)
    return events[0][1] & (IN | OUT | HUP | ERR | RDHUP) if events else 0


def test_readable_and_writable_follow_the_socket(mirror: Readiness) -> None:
    assert mask(mirror) == OUT
    mirror.set(True, True)
    assert mask(mirror) == IN | OUT
    mirror.set(True, False)
    assert mask(mirror) == IN
    mirror.set(False, False)
    assert mask(mirror) == 0
    mirror.set(False, True)
    assert mask(mirror) == OUT


def test_hang_ups_are_final(mirror: Readiness) -> None:
    mirror.set(False, True, 1)
    assert mask(mirror) == IN | OUT | RDHUP
    mirror.set(False, True, 0)  # a read-side hang-up is not undone
    assert mask(mirror) == IN | OUT | RDHUP
    mirror.set(False, False, 2)
    assert mask(mirror) == IN | OUT | RDHUP | HUP


@pytest.mark.parametrize(
    ("readable", "writable", "before"),
    [(False, True, 0), (True, True, 0), (False, False, 0), (True, False, 0), (False, True, 1)],
)
def test_an_error_shows_as_pollerr_until_it_is_taken(
    mirror: Readiness, readable: bool, writable: bool, before: int
) -> None:
    """From any earlier state (send side full or not, data marked or not, read side hung up
    or not) a connection that ended with an error polls POLLERR on top of the hang-up, as
    ``tcp_poll`` after a reset; once the error is taken (level 2) POLLERR goes."""
    mirror.set(readable, writable, before)
    mirror.set(True, True, 3)
    assert mask(mirror) == IN | OUT | RDHUP | HUP | ERR
    mirror.set(True, True, 3)  # no change, no system call that could clear it
    assert mask(mirror) == IN | OUT | RDHUP | HUP | ERR
    mirror.set(True, True, 2)
    assert mask(mirror) == IN | OUT | RDHUP | HUP
    mirror.set(True, True, 2)
    assert mask(mirror) == IN | OUT | RDHUP | HUP


def test_an_error_after_a_clean_hang_up_is_not_mirrored(mirror: Readiness) -> None:
    """Once both sides are shut the private end takes no data, so POLLERR cannot be raised:
    the mirror stays at POLLHUP (a documented gap)."""
    mirror.set(True, True, 2)
    mirror.set(True, True, 3)
    assert mask(mirror) == IN | OUT | RDHUP | HUP


@pytest.fixture
def fresh() -> Iterator[Readiness]:
    ready = Readiness(never_connected=True)
    yield ready
    ready.close_inner()
    os.close(ready.exposed_fd)


def test_a_never_connected_socket_polls_pollhup_until_it_connects(fresh: Readiness) -> None:
    """Level -1 is ``tcp_poll`` in ``TCP_CLOSE``: POLLOUT|POLLHUP. Leaving it connects the
    same descriptor, so an ``epoll`` registration made before still sees what follows."""
    assert mask(fresh) == OUT | HUP
    fresh.set(True, True, -1)  # still never connected: nothing changes
    assert mask(fresh) == OUT | HUP
    ep = select.epoll()
    try:
        ep.register(fresh.exposed_fd, select.EPOLLIN | select.EPOLLOUT)
        fresh.set(False, False, 0)  # connecting: neither readable nor writable
        assert mask(fresh) == 0
        assert ep.poll(0) == []
        fresh.set(True, True, 0)
        assert mask(fresh) == IN | OUT
        assert ep.poll(0) == [(fresh.exposed_fd, select.EPOLLIN | select.EPOLLOUT)]
        fresh.set(False, True, -1)  # a hang-up level below the mirrored one is ignored
        assert mask(fresh) == OUT
    finally:
        ep.close()


@pytest.mark.parametrize(
    ("level", "expected"), [(1, IN | OUT | RDHUP), (2, IN | OUT | RDHUP | HUP)]
)
def test_a_never_connected_socket_can_hang_up_at_once(
    fresh: Readiness, level: int, expected: int
) -> None:
    fresh.set(True, True, level)
    assert mask(fresh) == expected


def test_a_refused_connect_polls_pollerr_from_a_never_connected_mirror(fresh: Readiness) -> None:
    fresh.set(True, True, 3)
    assert mask(fresh) == IN | OUT | RDHUP | HUP | ERR
    fresh.set(True, True, 2)
    assert mask(fresh) == IN | OUT | RDHUP | HUP
