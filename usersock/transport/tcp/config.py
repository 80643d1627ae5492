"""Per-connection TCP settings: one mutable record every part of the core reads.

Theory of operation: a :class:`TCPConfig` is handed to a
:class:`~usersock.transport.tcp.connection.Connection` when it is created and shared with its
:class:`~usersock.transport.tcp.sender.Sender` and
:class:`~usersock.transport.tcp.receiver.Receiver`; nothing in the core copies a field, so a
change (``TCP_NODELAY``, buffer sizes, keepalive) takes effect on the next call that reads it.
The endpoint glue owns the record and replaces it with :func:`dataclasses.replace` when a field
must differ per connection (the route's MSS). The class is re-exported by
:mod:`.connection`, where the rest of the stack imports it from.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TCPConfig"]


@dataclass
class TCPConfig:
    """Per-connection settings; mutable before and (for most fields) while connected.

    ``mss`` is what we announce and the largest segment we send (route MTU minus 40 for
    IPv4, 60 for IPv6). ``delayed_ack == 0`` acknowledges when the stack goes idle
    (:meth:`Connection.flush_ack`), ``> 0`` is the maximum delay of RFC 9293 section 3.8.6.3.
    Times are in seconds; the retry counts are as Linux's ``tcp_syn_retries`` and
    ``tcp_retries2``.
    """

    mss: int = 1460
    rcv_buf: int = 262144
    snd_buf: int = 262144
    nodelay: bool = False
    delayed_ack: float = 0.0
    window_scaling: bool = True
    sack: bool = True
    timestamps: bool = True
    rto_initial: float = 1.0
    rto_min: float = 0.2
    rto_max: float = 120.0
    syn_retries: int = 6
    retries2: int = 15
    time_wait: float = 60.0
    keepalive: bool = False
    keepidle: float = 7200.0
    keepintvl: float = 75.0
    keepcnt: int = 9
    fin_wait2_timeout: float = 60.0
