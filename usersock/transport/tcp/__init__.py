"""TCP (RFC 9293): a sans-IO connection core plus the glue that ties it to a stack.

The core — :mod:`.seqnum`, :mod:`.state`, :mod:`.sender`, :mod:`.receiver` and
:mod:`.connection` — imports no ``socket``, ``threading``, ``time`` or stack module; its
public names are re-exported here. The glue (``endpoint``, ``listener``, ``protocol``) is
imported from its own modules.

Implemented: RFC 9293 segment processing and state machine; options MSS, window scale and
timestamps (RFC 7323, with PAWS) and SACK (RFC 2018); RTO per RFC 6298 with Karn's
algorithm; congestion control per RFC 5681 with NewReno (RFC 6582) and a SACK scoreboard;
Nagle; silly window avoidance on both sides; zero-window probing; delayed ACKs; keepalive;
RFC 5961 RST/SYN/ACK hardening; TIME-WAIT and FIN-WAIT-2 timeouts.

Not implemented: urgent data (URG is ignored), data on SYN or SYN,ACK (TCP Fast Open;
such data is not acknowledged and the peer resends it), ECN, D-SACK, RFC 6675 pipe-based
recovery and RACK, RFC 5961 challenge-ACK rate limiting, RFC 1337 TIME-WAIT assassination
protection, MTU probing.
"""

from usersock.transport.tcp.connection import Connection, TCPConfig, reset_for
from usersock.transport.tcp.state import Event, State

__all__ = ["Connection", "Event", "State", "TCPConfig", "reset_for"]
