"""The SACK scoreboard (RFC 6675 section 4): merging blocks, IsLost, SetPipe and the gaps
NextSeg walks, table-driven on stream offsets. Offsets here are in units of 100 bytes for
readability: the MSS is 100."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usersock.transport.tcp.scoreboard import Scoreboard

MSS = 100
#: The sequence number of stream offset 0 in these tables (near the wrap on purpose).
BASE_SEQ = 2**32 - 250


def board(*ranges: tuple[int, int]) -> Scoreboard:
    b = Scoreboard()
    b.ranges = [[lo, hi] for lo, hi in ranges]
    return b


def blocks(*ranges: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """Stream-offset ranges as the sequence-number SACK blocks a peer would send."""
    return tuple(((BASE_SEQ + lo) % 2**32, (BASE_SEQ + hi) % 2**32) for lo, hi in ranges)


@pytest.mark.parametrize(
    ("before", "sack", "after", "newly"),
    [
        ([], [(100, 200)], [[100, 200]], 100),
        ([[100, 200]], [(100, 200)], [[100, 200]], 0),  # nothing new: not a duplicate ACK
        ([[100, 200]], [(200, 300)], [[100, 300]], 100),  # adjacent ranges merge
        ([[100, 200], [400, 500]], [(150, 450)], [[100, 500]], 200),  # bridges a gap
        ([[100, 200]], [(400, 500), (100, 300)], [[100, 300], [400, 500]], 200),
        ([], [(-100, 0)], [], 0),  # below SND.UNA (a D-SACK): ignored
        ([], [(100, 2000)], [], 0),  # beyond SND.MAX: ignored
        ([], [(300, 200)], [], 0),  # empty or inverted
    ],
)
def test_update_merges_and_counts_new_bytes(
    before: list[list[int]],
    sack: list[tuple[int, int]],
    after: list[list[int]],
    newly: int,
) -> None:
    b = board(*[(lo, hi) for lo, hi in before])
    assert b.update(blocks(*sack), 0, BASE_SEQ, 1000) == newly
    assert b.ranges == after


def test_update_relative_to_a_moved_snd_una() -> None:
    b = Scoreboard()
    # SND.UNA is stream offset 5000 and sequence number BASE_SEQ + 5000.
    assert b.update(blocks((5100, 5200)), 5000, (BASE_SEQ + 5000) % 2**32, 1000) == 100
    assert b.ranges == [[5100, 5200]]


def test_advance_trims_what_snd_una_covers() -> None:
    b = board((100, 200), (300, 400))
    b.advance(150)
    assert b.ranges == [[150, 200], [300, 400]]
    b.advance(350)
    assert b.ranges == [[350, 400]]
    b.advance(400)
    assert b.ranges == []


@pytest.mark.parametrize(
    ("ranges", "lost_end"),
    [
        ([], 0),
        ([(100, 300)], 0),  # two segments SACKed above: not yet lost
        ([(100, 301)], 100),  # more than (DupThresh - 1) * SMSS bytes
        ([(100, 150), (200, 250)], 0),
        ([(100, 150), (200, 250), (300, 350)], 100),  # DupThresh discontiguous ranges
        ([(100, 200), (300, 400), (500, 800)], 500),  # the top range alone suffices
    ],
)
def test_lost_end_is_the_islost_boundary(ranges: list[tuple[int, int]], lost_end: int) -> None:
    assert board(*ranges).lost_end(0, MSS) == lost_end


@pytest.mark.parametrize(
    ("ranges", "high_rxt", "pipe"),
    [
        ([], 0, 1000),  # nothing SACKed: everything is in flight
        ([(100, 400)], 0, 600),  # [0, 100) lost; [400, 1000) in flight
        ([(100, 400)], 100, 700),  # ... and [0, 100) retransmitted
        # Only [0, 100) has three ranges above it: the other gaps are still in flight.
        ([(100, 200), (300, 400), (500, 600)], 0, 600),
        ([(100, 200), (300, 400), (500, 600)], 300, 800),  # + [0, 100) and [200, 300) resent
    ],
)
def test_pipe_is_setpipe(ranges: list[tuple[int, int]], high_rxt: int, pipe: int) -> None:
    b = board(*ranges)
    assert b.pipe(0, 1000, b.lost_end(0, MSS), high_rxt) == pipe


@pytest.mark.parametrize(
    ("ranges", "off", "end", "gap"),
    [
        ([], 0, 1000, (0, 1000)),
        ([(100, 200)], 0, 1000, (0, 100)),
        ([(100, 200)], 100, 1000, (200, 1000)),
        ([(100, 200)], 150, 180, None),
        ([(0, 100), (200, 300)], 0, 1000, (100, 200)),
        ([(100, 200)], 0, 50, (0, 50)),
    ],
)
def test_next_gap(
    ranges: list[tuple[int, int]], off: int, end: int, gap: tuple[int, int] | None
) -> None:
    assert board(*ranges).next_gap(off, end) == gap


@pytest.mark.parametrize(
    ("ranges", "start", "end", "gap"),
    [
        ([], 0, 1000, (0, 1000)),
        ([(500, 1000)], 0, 1000, (0, 500)),
        ([(100, 200), (500, 1000)], 0, 1000, (200, 500)),
        ([(100, 200)], 0, 1000, (200, 1000)),
        ([(0, 1000)], 0, 1000, None),
        ([(100, 200), (500, 1000)], 300, 1000, (300, 500)),
        ([(100, 200), (500, 1000)], 500, 1000, None),
    ],
)
def test_last_gap(
    ranges: list[tuple[int, int]], start: int, end: int, gap: tuple[int, int] | None
) -> None:
    assert board(*ranges).last_gap(start, end) == gap


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(-50, 1100), st.integers(-50, 1100)), max_size=4),
        max_size=12,
    )
)
def test_update_keeps_ranges_sorted_disjoint_and_counts_exactly(
    acks: list[list[tuple[int, int]]],
) -> None:
    b = Scoreboard()
    covered: set[int] = set()
    for sack in acks:
        newly = b.update(blocks(*sack), 0, BASE_SEQ, 1000)
        before = len(covered)
        for lo, hi in sack:
            if 0 <= lo < hi <= 1000:
                covered.update(range(lo, hi))
        assert newly == len(covered) - before
        flat = [x for r in b.ranges for x in r]
        assert flat == sorted(flat) and all(lo < hi for lo, hi in b.ranges)
        assert all(b.ranges[i][1] < b.ranges[i + 1][0] for i in range(len(b.ranges) - 1))
        assert {x for lo, hi in b.ranges for x in range(lo, hi)} == covered
