"""``setsockopt``/``getsockopt`` for virtual sockets: one table of supported options.

Each supported option maps to endpoint state with Linux's rules: ``SO_RCVBUF`` and
``SO_SNDBUF`` really size the TCP windows and buffers and read back doubled (as Linux
reports the bookkeeping overhead); ``SO_LINGER`` with a zero timeout makes ``close()`` send
RST; ``TCP_KEEPIDLE``/``INTVL``/``CNT`` take Linux's ranges; ``IPV6_V6ONLY`` exists only on
``AF_INET6`` sockets and only before ``bind``. Anything else fails loudly with
``OSError(ENOPROTOOPT)`` naming the option (and is listed in the README).

Every function needs the stack lock.
"""

from __future__ import annotations

import errno
import os
import socket as _socket
import struct
from typing import Any

from usersock.transport.endpoint import Endpoint
from usersock.transport.tcp.endpoint import TCPEndpoint
from usersock.transport.udp import UDPEndpoint
from usersock.wire import PROTO_TCP

S, T, V6 = _socket.SOL_SOCKET, _socket.IPPROTO_TCP, _socket.IPPROTO_IPV6
#: Smallest buffers Linux allows, as reported (doubled): SOCK_MIN_RCVBUF, SOCK_MIN_SNDBUF.
_MIN_REPORTED = {"SO_RCVBUF": 2304, "SO_SNDBUF": 4608}
_MAX_BUF = 4 * 1024 * 1024

_NAMES = {
    (S, _socket.SO_REUSEADDR): "SO_REUSEADDR",
    (S, _socket.SO_REUSEPORT): "SO_REUSEPORT",
    (S, _socket.SO_KEEPALIVE): "SO_KEEPALIVE",
    (S, _socket.SO_ERROR): "SO_ERROR",
    (S, _socket.SO_TYPE): "SO_TYPE",
    (S, _socket.SO_RCVBUF): "SO_RCVBUF",
    (S, _socket.SO_SNDBUF): "SO_SNDBUF",
    (S, _socket.SO_LINGER): "SO_LINGER",
    (S, _socket.SO_BROADCAST): "SO_BROADCAST",
    (S, _socket.SO_ACCEPTCONN): "SO_ACCEPTCONN",
    (S, _socket.SO_DOMAIN): "SO_DOMAIN",
    (S, _socket.SO_PROTOCOL): "SO_PROTOCOL",
    (T, _socket.TCP_NODELAY): "TCP_NODELAY",
    (T, _socket.TCP_KEEPIDLE): "TCP_KEEPIDLE",
    (T, _socket.TCP_KEEPINTVL): "TCP_KEEPINTVL",
    (T, _socket.TCP_KEEPCNT): "TCP_KEEPCNT",
    (T, _socket.TCP_MAXSEG): "TCP_MAXSEG",
    (T, _socket.TCP_QUICKACK): "TCP_QUICKACK",
    (V6, _socket.IPV6_V6ONLY): "IPV6_V6ONLY",
    (V6, _socket.IPV6_UNICAST_HOPS): "IPV6_UNICAST_HOPS",
    (V6, _socket.IPV6_TCLASS): "IPV6_TCLASS",
    (_socket.IPPROTO_IP, _socket.IP_TTL): "IP_TTL",
    (_socket.IPPROTO_IP, _socket.IP_TOS): "IP_TOS",
}
#: The ECN bits of the TOS / traffic class byte, which TCP keeps to itself (RFC 3168).
_ECN_MASK = 3
READ_ONLY = {"SO_ERROR", "SO_TYPE", "SO_ACCEPTCONN", "SO_DOMAIN", "SO_PROTOCOL"}


def _fail(code: int, what: str) -> OSError:
    return OSError(code, f"{os.strerror(code)} ({what})")


def option_name(level: int, opt: int) -> str:
    return _NAMES.get((level, opt), f"level={level} option={opt}")


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, int):
        return value
    data = bytes(value)
    if len(data) < 4:
        raise _fail(errno.EINVAL, f"{name} needs 4 bytes")
    return int(struct.unpack("i", data[:4])[0])


def _as_ip_int(value: Any) -> int:
    """An ``IPPROTO_IP`` option's value as ``do_ip_setsockopt`` reads it: an int, or a
    buffer of four bytes or more (a C int), else of one to three (an unsigned char), else 0."""
    if isinstance(value, int):
        return value
    data = bytes(value)
    if len(data) >= 4:
        return int(struct.unpack("i", data[:4])[0])
    return data[0] if data else 0


def set_option(sock: Any, ep: Endpoint, level: int, opt: int, value: Any) -> None:
    """Apply one ``setsockopt``. Raises ``OSError`` (``ENOPROTOOPT`` for unsupported
    options, ``EINVAL`` for bad values or the wrong moment)."""
    name = _NAMES.get((level, opt))
    if name is None or name in READ_ONLY:
        raise _fail(
            errno.ENOPROTOOPT, f"usersock does not support setting {option_name(level, opt)}"
        )
    tcp = ep if isinstance(ep, TCPEndpoint) else None
    v6 = sock._vfamily == _socket.AF_INET6
    if level == V6 and not v6:
        # ip_setsockopt: a level other than SOL_IP, before the value is looked at
        raise _fail(errno.ENOPROTOOPT, f"{name} on an AF_INET socket")
    if name in ("IP_TTL", "IP_TOS"):
        _set_ip_option(ep, name, _as_ip_int(value))
        return
    if name in ("IPV6_UNICAST_HOPS", "IPV6_TCLASS"):
        _set_ip_option(ep, name, _as_int(value, name))
        return
    if name == "SO_LINGER":
        data = bytes(value) if not isinstance(value, int) else b""
        if len(data) < 8:
            raise _fail(errno.EINVAL, "SO_LINGER takes struct linger (8 bytes)")
        onoff, seconds = struct.unpack("ii", data[:8])
        sock._linger = (bool(onoff), max(0, seconds))
        return
    number = _as_int(value, name)
    if name == "SO_REUSEADDR":
        ep.reuse_addr = bool(number)
        if ep.owner is not None:
            ep.owner.reuse_addr = bool(number)
    elif name == "SO_REUSEPORT":
        ep.reuse_port = bool(number)
        if ep.owner is not None:
            ep.owner.reuse_port = bool(number)
    elif name == "SO_BROADCAST":
        sock._broadcast = bool(number)
    elif name in ("SO_RCVBUF", "SO_SNDBUF"):
        size = min(max(number, _MIN_REPORTED[name] // 2), _MAX_BUF)
        if tcp is not None:
            if name == "SO_RCVBUF":
                tcp.config.rcv_buf = size
            else:
                tcp.config.snd_buf = size
        elif isinstance(ep, UDPEndpoint) and name == "SO_RCVBUF":
            ep.rcv_buf = size
        sock._buffers[name] = size
    elif tcp is None:
        if level == T:
            raise _fail(errno.ENOPROTOOPT, f"{name} on a UDP socket")
        if name == "SO_KEEPALIVE":
            sock._keepalive = bool(number)
        elif name == "IPV6_V6ONLY":
            _set_v6only(ep, v6, number)
    elif name == "SO_KEEPALIVE":
        tcp.config.keepalive = bool(number)
        _refresh(tcp)
    elif name == "TCP_NODELAY":
        tcp.config.nodelay = bool(number)
        _refresh(tcp)
    elif name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL"):
        if not 1 <= number <= 32767:
            raise _fail(errno.EINVAL, f"{name} must be 1-32767")
        setattr(tcp.config, "keepidle" if name == "TCP_KEEPIDLE" else "keepintvl", float(number))
        _refresh(tcp)
    elif name == "TCP_KEEPCNT":
        if not 1 <= number <= 127:
            raise _fail(errno.EINVAL, "TCP_KEEPCNT must be 1-127")
        tcp.config.keepcnt = number
    elif name == "TCP_MAXSEG":
        raise _fail(errno.ENOPROTOOPT, "usersock does not support setting TCP_MAXSEG")
    elif name == "TCP_QUICKACK":
        sock._quickack = bool(number)  # ACKs already go out when the stack is idle
    elif name == "IPV6_V6ONLY":
        _set_v6only(ep, v6, number)


def _set_ip_option(ep: Endpoint, name: str, number: int) -> None:
    """``IP_TTL``/``IPV6_UNICAST_HOPS`` (-1 is the default, else 1-255 / 0-255) and
    ``IP_TOS``/``IPV6_TCLASS`` (a TCP socket keeps the ECN bits), with the ranges of
    ``do_ip_setsockopt``/``do_ipv6_setsockopt``. A connection's next packets carry them.
    The caller has refused IPv6 options on an ``AF_INET`` socket."""
    ecn = _ECN_MASK if isinstance(ep, TCPEndpoint) else 0
    if name == "IP_TTL":
        if number != -1 and not 1 <= number <= 255:
            raise _fail(errno.EINVAL, "IP_TTL must be -1 or 1-255")
        ep.ttl = number
    elif name == "IPV6_UNICAST_HOPS":
        if not -1 <= number <= 255:
            raise _fail(errno.EINVAL, "IPV6_UNICAST_HOPS must be -1-255")
        ep.hop_limit = number
    elif name == "IP_TOS":
        ep.tos = (number & ~ecn | ep.tos & ecn) & 0xFF
    else:
        if not -1 <= number <= 255:
            raise _fail(errno.EINVAL, "IPV6_TCLASS must be -1-255")
        ep.tclass = max(number, 0) & ~ecn | ep.tclass & ecn
    if isinstance(ep, TCPEndpoint) and ep.route is not None:
        ep.net_header = ep.ip_header(ep.route.local, ep.route.remote, PROTO_TCP)


def _set_v6only(ep: Endpoint, v6: bool, number: int) -> None:
    if not v6:
        raise _fail(errno.ENOPROTOOPT, "IPV6_V6ONLY on an AF_INET socket")
    if ep.local_addr is not None:
        raise _fail(errno.EINVAL, "IPV6_V6ONLY after bind")
    ep.v6only = bool(number)


def _refresh(ep: TCPEndpoint) -> None:
    """A live connection picks the new setting up at once (Nagle, keepalive timers)."""
    if ep.conn is not None:
        ep.stack.mark_dirty(ep)
        ep.stack.process()


def get_option(sock: Any, ep: Endpoint, level: int, opt: int) -> int | bytes:
    """Read one option as ``getsockopt`` returns it (an int, or bytes for ``SO_LINGER``)."""
    name = _NAMES.get((level, opt))
    tcp = ep if isinstance(ep, TCPEndpoint) else None
    own_level = T if tcp is not None else _socket.IPPROTO_UDP
    v6 = sock._vfamily == _socket.AF_INET6
    if not v6 and level not in (S, own_level, _socket.IPPROTO_IP):
        # ip_getsockopt: a level an IPv4 socket does not handle is EOPNOTSUPP
        raise _fail(errno.EOPNOTSUPP, f"{option_name(level, opt)} on an AF_INET socket")
    if name is None or (level == T and tcp is None):
        raise _fail(errno.ENOPROTOOPT, f"usersock does not support {option_name(level, opt)}")
    if name == "SO_ERROR":
        err = tcp.take_error() if tcp is not None else _udp_error(ep)
        return err.value if err is not None else 0
    if name == "SO_TYPE":
        return int(sock._vtype)
    if name == "SO_DOMAIN":
        return int(sock._vfamily)
    if name == "SO_PROTOCOL":
        return _socket.IPPROTO_TCP if tcp is not None else _socket.IPPROTO_UDP
    if name == "SO_ACCEPTCONN":
        return int(tcp is not None and tcp.listener is not None)
    if name == "SO_REUSEADDR":
        return int(ep.reuse_addr)
    if name == "SO_REUSEPORT":
        return int(ep.reuse_port)
    if name == "SO_BROADCAST":
        return int(sock._broadcast)
    if name == "SO_LINGER":
        onoff, seconds = sock._linger
        return struct.pack("ii", int(onoff), seconds)
    if name in ("SO_RCVBUF", "SO_SNDBUF"):
        if tcp is not None:
            size = tcp.config.rcv_buf if name == "SO_RCVBUF" else tcp.config.snd_buf
        else:
            size = sock._buffers.get(name, ep.rcv_buf if isinstance(ep, UDPEndpoint) else 212992)
        return 2 * size
    if name == "IPV6_V6ONLY":
        if not v6:
            raise _fail(errno.ENOPROTOOPT, "IPV6_V6ONLY on an AF_INET socket")
        return int(ep.v6only)
    if name in ("IP_TTL", "IPV6_UNICAST_HOPS"):
        value = ep.ttl if name == "IP_TTL" else ep.hop_limit
        return 64 if value < 0 else value
    if name == "IP_TOS":
        return ep.tos
    if name == "IPV6_TCLASS":
        return ep.tclass
    if tcp is None:
        if name == "SO_KEEPALIVE":
            return int(sock._keepalive)
        raise _fail(errno.ENOPROTOOPT, f"{name} on a UDP socket")
    config = tcp.config
    if name == "SO_KEEPALIVE":
        return int(config.keepalive)
    if name == "TCP_NODELAY":
        return int(config.nodelay)
    if name == "TCP_KEEPIDLE":
        return int(config.keepidle)
    if name == "TCP_KEEPINTVL":
        return int(config.keepintvl)
    if name == "TCP_KEEPCNT":
        return config.keepcnt
    if name == "TCP_MAXSEG":
        conn = tcp.conn
        return conn.peer_mss if conn is not None and tcp.is_connected() else config.mss
    if name == "TCP_QUICKACK":
        return int(sock._quickack)
    raise _fail(errno.ENOPROTOOPT, name)  # pragma: no cover - every name handled above


def _udp_error(ep: Endpoint) -> Any:
    if isinstance(ep, UDPEndpoint) and ep.pending_error is not None:
        err, ep.pending_error = ep.pending_error, None
        return err
    return None
