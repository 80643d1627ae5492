"""The readiness mirror on its own: each state :meth:`Readiness.set` is given shows as the
``poll()`` mask ``tcp_poll`` would report, through the hang-up levels and the error."""

from __future__ import annotations

import os
import pathlib
import select
import subprocess
import sys
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
    mirror.set(False, False, 1)  # EOF stays readable, and the read side stays shut
    assert mask(mirror) == IN | RDHUP
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
        fresh.set(False, True, -1)  # a listener shut down: never connected again
        assert mask(fresh) == OUT | HUP
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


@pytest.mark.parametrize(
    ("level", "then", "expected"),
    [(3, 0, OUT), (2, 0, OUT), (1, 0, OUT), (2, -1, OUT | HUP), (3, 1, IN | OUT | RDHUP)],
)
def test_a_lower_level_is_a_new_life_on_the_same_descriptor(
    mirror: Readiness, level: int, then: int, expected: int
) -> None:
    """A socket that connects again after a final hang-up (or a listener shut back to never
    connected) gets a new mirror, ``dup2``'d onto the same descriptor number."""
    fd = mirror.exposed_fd
    mirror.set(True, True, level)
    mirror.set(False, True, then)
    assert mirror.exposed_fd == fd
    assert mask(mirror) == expected
    mirror.set(True, False, then)  # and it mirrors the new life from there on
    assert mask(mirror) == (expected if then < 0 else (expected | IN) & ~OUT)


_EXHAUSTED = """
import logging, os, resource, select, sys
from usersock.readiness import Readiness

logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(message)s")
def mask(fd):
    p = select.poll(); p.register(fd, select.POLLIN | select.POLLOUT)
    return [m for _, m in p.poll(0)]
ready = Readiness(never_connected=True)
before = mask(ready.exposed_fd)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
top = max(int(n) for n in os.listdir("/proc/self/fd"))
resource.setrlimit(resource.RLIMIT_NOFILE, (top + 1, hard))  # no descriptor left
fillers = []
while True:
    try:
        fillers.append(os.dup(ready.exposed_fd))  # a descriptor known to be open
    except OSError:
        break
ready.set(False, False, 0)  # connect() started: the pair cannot be made, and no raise
during = (ready.hangup, mask(ready.exposed_fd))
for f in fillers:
    os.close(f)
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
ready.set(False, False, 0)  # tried again on the next update
print("RESULT", before, during, ready.hangup, mask(ready.exposed_fd))
"""


def test_no_descriptor_left_is_logged_and_tried_again() -> None:
    """``set`` runs inside the stack's processing, so it never raises for want of
    descriptors: the mirror keeps showing what it did, logs, and pairs on a later update.
    Run in a child process, whose descriptor limit can be lowered safely."""
    out = subprocess.run(
        [sys.executable, "-c", _EXHAUSTED],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=pathlib.Path(__file__).parents[2],
    ).stdout
    assert "not connected: [Errno 24]" in out, out
    result = out.split("RESULT", 1)[1].split()
    assert " ".join(result) == f"[{OUT | HUP}] (-1, [{OUT | HUP}]) 0 []", out
