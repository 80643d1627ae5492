"""glibc's service layer for the virtual resolver: ``gai_strerror`` texts, the
``gaih_inet_typeproto`` table, C ``strtoul`` port parsing and ``getservbyname`` lookups
(``/etc/services`` is a local file, never the network). :mod:`usersock.dns` builds
``getaddrinfo`` on these.
"""

from __future__ import annotations

import socket as _socket

SOCK_STREAM, SOCK_DGRAM, SOCK_RAW = _socket.SOCK_STREAM, _socket.SOCK_DGRAM, _socket.SOCK_RAW
AI_NUMERICSERV = 0x400
_ULONG_MAX = 2**64 - 1
_C_SPACE = " \t\n\v\f\r"

_SOCK_SEQPACKET = 5
_SOCK_DCCP = 6
_IPPROTO_DCCP = 33
_IPPROTO_UDPLITE = 136
_IPPROTO_SCTP = 132

EAI_BADFLAGS = _socket.EAI_BADFLAGS
EAI_NONAME = _socket.EAI_NONAME
EAI_FAMILY = _socket.EAI_FAMILY
EAI_SOCKTYPE = _socket.EAI_SOCKTYPE
EAI_SERVICE = _socket.EAI_SERVICE
EAI_ADDRFAMILY: int = getattr(_socket, "EAI_ADDRFAMILY", -9)
EAI_NODATA: int = getattr(_socket, "EAI_NODATA", -5)

#: glibc's gai_strerror texts.
GAI_MESSAGES: dict[int, str] = {
    EAI_BADFLAGS: "Bad value for ai_flags",
    EAI_NONAME: "Name or service not known",
    EAI_FAMILY: "ai_family not supported",
    EAI_SOCKTYPE: "ai_socktype not supported",
    EAI_SERVICE: "Servname not supported for ai_socktype",
    EAI_ADDRFAMILY: "Address family for hostname not supported",
    EAI_NODATA: "No address associated with hostname",
}


def _gaierror(code: int) -> _socket.gaierror:
    return _socket.gaierror(code, GAI_MESSAGES[code])


# gaih_inet_typeproto: (socktype, protocol, raw, in the default set, /etc/services name).
# The raw entry takes any protocol and no service.
_TYPEPROTO: tuple[tuple[int, int, bool, bool, str], ...] = (
    (SOCK_STREAM, _socket.IPPROTO_TCP, False, True, "tcp"),
    (SOCK_DGRAM, _socket.IPPROTO_UDP, False, True, "udp"),
    (_SOCK_DCCP, _IPPROTO_DCCP, False, False, "dccp"),
    (SOCK_DGRAM, _IPPROTO_UDPLITE, False, False, "udplite"),
    (SOCK_STREAM, _IPPROTO_SCTP, False, False, "sctp"),
    (_SOCK_SEQPACKET, _IPPROTO_SCTP, False, False, "sctp"),
    (SOCK_RAW, 0, True, True, "raw"),
)


def _strtoul(text: str) -> tuple[int, bool]:
    """C ``strtoul(text, &end, 10)``: the value and whether *end* reached the end."""
    i, n = 0, len(text)
    while i < n and text[i] in _C_SPACE:
        i += 1
    negative = i < n and text[i] == "-"
    if i < n and text[i] in "+-":
        i += 1
    j = i
    while j < n and "0" <= text[j] <= "9":
        j += 1
    if j == i:
        return 0, False  # no digits: end is the start of the string
    value = int(text[i:j])
    if value > _ULONG_MAX:
        value = _ULONG_MAX
    elif negative:
        value = -value & _ULONG_MAX
    return value, j == n


def _servbyname(name: str, proto: str) -> int | None:
    try:
        return _socket.getservbyname(name, proto)
    except (OSError, UnicodeError, ValueError):
        return None


def _services(
    service: bytes | None, socktype: int, proto: int, flags: int
) -> list[tuple[int, int, int]]:
    """The (socktype, protocol, port) entries for *service*, as glibc's ``gaih_inet``."""
    name: str | None = None
    port = 0
    if service:
        text = service.decode("latin-1")
        value, numeric = _strtoul(text)
        if not numeric:
            if flags & AI_NUMERICSERV:
                raise _gaierror(EAI_NONAME)
            name = text
        else:
            num = value & 0xFFFFFFFF
            if num & 0x80000000:
                name = text  # does not fit glibc's int: looked up as a name
            else:
                port = num & 0xFFFF
    entry: tuple[int, int, bool, bool, str] | None = None
    if socktype or proto:
        for candidate in _TYPEPROTO:
            c_type, c_proto, raw, _, _ = candidate
            if (socktype == 0 or socktype == c_type) and (proto == 0 or raw or proto == c_proto):
                entry = candidate
                break
        if entry is None:
            raise _gaierror(EAI_SOCKTYPE if socktype else EAI_SERVICE)
    if service and entry is not None and entry[2]:
        raise _gaierror(EAI_SERVICE)  # SOCK_RAW takes no service
    if name is not None:
        if entry is not None:
            found = _servbyname(name, entry[4])
            if found is None:
                raise _gaierror(EAI_SERVICE)
            return [(entry[0], proto if entry[2] else entry[1], found)]
        out = []
        for c_type, c_proto, raw, _, proto_name in _TYPEPROTO:
            if raw:
                continue
            found = _servbyname(name, proto_name)
            if found is not None:
                out.append((c_type, c_proto, found))
        if not out:
            raise _gaierror(EAI_SERVICE)
        return out
    if entry is not None:
        return [(entry[0], proto if entry[2] else entry[1], port)]
    return [(c_type, c_proto, port) for c_type, c_proto, _, default, _ in _TYPEPROTO if default]
