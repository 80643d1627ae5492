"""The options on outgoing segments: timestamps echo TS.Recent, SACK blocks when holes exist,
and timestamp-only options are shared while nothing in them changes."""

from __future__ import annotations

from usersock.transport.tcp.config import TCPConfig
from usersock.transport.tcp.receiver import Receiver


def receiver() -> Receiver:
    rcv = Receiver(TCPConfig())
    rcv.start(1000)
    rcv.sack_enabled = True
    return rcv


def test_timestamp_only_options_are_reused_until_a_value_changes() -> None:
    rcv = receiver()
    rcv.ts_recent = 7
    first = rcv.ack_options(100, True)
    assert first.timestamps == (100, 7) and first.sack_blocks == ()
    assert rcv.ack_options(100, True) is first
    later = rcv.ack_options(101, True)
    assert later.timestamps == (101, 7)
    rcv.ts_recent = 8
    echoed = rcv.ack_options(101, True)
    assert echoed.timestamps == (101, 8)
    assert echoed is not later


def test_holes_and_duplicates_bypass_the_shared_options() -> None:
    rcv = receiver()
    rcv.ts_recent = 5
    plain = rcv.ack_options(50, True)
    assert not rcv.on_segment(1001 + 100, b"y" * 10, False, 0.0)  # a hole before it
    with_sack = rcv.ack_options(50, True)
    assert with_sack is not plain
    assert with_sack.sack_blocks == ((1101, 1111),)
    assert with_sack.timestamps == (50, 5)
    rcv.dsack = (900, 910)
    first = rcv.ack_options(50, True)
    assert first.sack_blocks[0] == (900, 910)
    assert rcv.dsack is None  # reported once


def test_without_sack_holes_are_not_reported() -> None:
    rcv = receiver()
    assert not rcv.on_segment(1001 + 100, b"y" * 10, False, 0.0)
    opts = rcv.ack_options(60, False)
    assert opts.sack_blocks == () and opts.timestamps == (60, 0)
