"""TCP (RFC 9293): a sans-IO connection core plus the glue that ties it to a stack.

The core imports no ``socket``, ``threading``, ``time`` or stack module; its public names are
re-exported here. It is one connection object spread over modules by concern:
:mod:`.connection` (the object, segment arrival and output, user calls), :mod:`.handshake`,
:mod:`.closing` and :mod:`.timers`; the two halves of the transfer, :mod:`.sender` (with
:mod:`.sendbuffer`, :mod:`.recovery` and :mod:`.scoreboard`) and :mod:`.receiver`; and the
shared pieces :mod:`.config`, :mod:`.state` and :mod:`.seqnum`. The glue (``endpoint``,
``listener``, ``protocol``) is imported from its own modules.

Implemented: RFC 9293 segment processing and state machine; options MSS, window scale and
timestamps (RFC 7323, with PAWS) and SACK (RFC 2018), with D-SACK reports of duplicate
segments (RFC 2883); RTO per RFC 6298 with Karn's algorithm; congestion control per RFC 5681
with Limited Transmit (RFC 3042), NewReno (RFC 6582) without SACK and RFC 6675 loss recovery
with it; a tail loss probe and lost-retransmission detection after RACK-TLP (RFC 8985);
Nagle; silly window avoidance on both sides; zero-window probing; delayed ACKs; keepalive;
RFC 5961 RST/SYN/ACK hardening; TIME-WAIT and FIN-WAIT-2 timeouts.

Not implemented: urgent data (URG is ignored), data on SYN or SYN,ACK (TCP Fast Open;
such data is not acknowledged and the peer resends it), ECN, the rest of D-SACK (duplicates
of out-of-order data are not reported; received D-SACKs only judge tail loss probes),
RACK's per-segment loss detection, proportional rate reduction (RFC 6937), RFC 5961
challenge-ACK rate limiting, RFC 1337 TIME-WAIT assassination protection, MTU probing.
"""

from usersock.transport.tcp.connection import Connection, TCPConfig, reset_for
from usersock.transport.tcp.state import Event, State

__all__ = ["Connection", "Event", "State", "TCPConfig", "reset_for"]
