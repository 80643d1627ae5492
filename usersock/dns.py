"""Virtual name resolution: ``getaddrinfo`` and friends over a network's hosts table.

``patched()`` routes ``socket.getaddrinfo``, ``gethostbyname``, ``gethostbyname_ex``,
``gethostbyaddr`` and ``getnameinfo`` here. Each function takes the hosts table (a
:class:`usersock.Network`) first and then exactly the arguments of the ``socket`` function
it replaces, and answers as CPython on Linux/glibc does, error codes and messages included:

- The CPython layer (argument conversion): host names are IDNA-encoded, ports may be an
  ``int``, a ``str`` or ``bytes`` (``bool`` is refused: "Int or String expected"), C strings
  end at the first NUL, integer arguments overflow as C ``int`` does.
- The glibc layer (``sysdeps/posix/getaddrinfo.c``): ``EAI_NONAME`` for no host and no
  service comes first, then the flags (``EAI_BADFLAGS``), then the family
  (``EAI_FAMILY``); the service is parsed with ``strtoul`` semantics (a number that does not
  fit an ``int`` is looked up as a name, so ``"-1"`` is ``EAI_SERVICE``); socket type
  and protocol pick entries of glibc's ``gaih_inet_typeproto`` table (type 0 and protocol 0
  give one entry each for ``SOCK_STREAM``, ``SOCK_DGRAM`` and ``SOCK_RAW``);
  numeric IPv4 hosts are parsed with ``inet_aton`` (``"127.1"``, ``"0x7f.1"``,
  ``"010.0.0.1"`` is ``8.0.0.1``), IPv6 with ``inet_pton`` plus a ``%scope`` (an interface
  name only for link-local addresses); ``"*"`` means no host; ``AI_V4MAPPED``/``AI_ALL``
  map IPv4 addresses for ``AF_INET6``.
- Names come from the hosts table, never from a real resolver: a name the table does not
  know raises ``gaierror(EAI_NONAME)``; a known name without an address of the requested
  family raises ``gaierror(EAI_NODATA)``, as glibc does for a DNS name without such records;
  an unknown reverse lookup raises ``herror(1, "Unknown host")``. Literal addresses resolve
  to themselves; whether a socket may reach them is the socket's business.
- A name the user allowed (``patched(allow=["db.example.com"])``) is passed, with the
  caller's original arguments, to the real function captured here at import
  (:data:`real_getaddrinfo` and friends), and its addresses are recorded with
  ``allow_resolved`` so sockets may then connect to them.

Where the virtual answer deliberately differs from a real machine: ``localhost`` and every
other name resolve in hosts-table order (no RFC 6724 sorting, so ``127.0.0.1`` comes
before ``::1``), and no host gives the order of a connected machine (``0.0.0.0`` before
``::`` with ``AI_PASSIVE``, ``::1`` before ``127.0.0.1`` without); a trailing dot is
ignored; ``AI_ADDRCONFIG`` is ignored (the virtual network has both families); ``NI_NOFQDN``
never shortens a name (there is no local domain).
``getfqdn`` and ``gethostname`` need no replacement: ``socket.getfqdn`` calls
``gethostbyaddr`` through the ``socket`` module's globals, and the host name is not a
network lookup.
"""

from __future__ import annotations

import operator
import socket as _socket
import sys
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from usersock.dns_glibc import (
    EAI_ADDRFAMILY,
    EAI_BADFLAGS,
    EAI_FAMILY,
    EAI_NODATA,
    EAI_NONAME,
    _gaierror,
    _services,
)

#: The real resolver functions, captured before anything is patched.
real_getaddrinfo: Callable[..., list[Any]] = _socket.getaddrinfo
real_gethostbyname: Callable[..., str] = _socket.gethostbyname
real_gethostbyname_ex: Callable[..., tuple[str, list[str], list[str]]] = _socket.gethostbyname_ex
real_gethostbyaddr: Callable[..., tuple[str, list[str], list[str]]] = _socket.gethostbyaddr
real_getnameinfo: Callable[..., tuple[str, str]] = _socket.getnameinfo

AF_UNSPEC, AF_INET, AF_INET6 = _socket.AF_UNSPEC, _socket.AF_INET, _socket.AF_INET6
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW = _socket.SOCK_STREAM, _socket.SOCK_DGRAM, _socket.SOCK_RAW

AI_PASSIVE, AI_CANONNAME, AI_NUMERICHOST = 0x1, 0x2, 0x4
AI_V4MAPPED, AI_ALL, AI_NUMERICSERV = 0x8, 0x10, 0x400
#: Every flag glibc accepts (AI_ADDRCONFIG, AI_IDN, AI_CANONIDN and the deprecated IDN bits
#: included); anything else is EAI_BADFLAGS.
_AI_VALID = 0x7FF
NI_NUMERICHOST, NI_NUMERICSERV, NI_NAMEREQD, NI_DGRAM = 0x1, 0x2, 0x8, 0x10
_NI_VALID = 0xFF

HOST_NOT_FOUND = 1

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_ULONG_MAX = 2**64 - 1
_C_SPACE = " \t\n\v\f\r"
_IPV4_LOOPBACK = b"\x7f\x00\x00\x01"
_IPV6_LOOPBACK = bytes(15) + b"\x01"
_V4_MAPPED_ANY = bytes(10) + b"\xff\xff" + bytes(4)
_V4MAPPED_PREFIX = bytes(10) + b"\xff\xff"

Address = tuple[Any, ...]
AddrInfo = tuple[int, int, int, str, Address]


class HostTable(Protocol):
    """What the resolver needs from a network (:class:`usersock.Network` has it)."""

    def lookup(self, name: str) -> list[bytes] | None: ...

    def name_of(self, addr: bytes) -> str | None: ...

    def name_allowed(self, name: str) -> bool: ...

    def allow_resolved(self, name: str, addresses: Iterable[bytes]) -> None: ...


class _RealName(Exception):
    """Raised inside the resolver when a name is not virtual but the user allowed it: the
    public function then asks the real resolver with the caller's arguments."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unknown_host() -> _socket.herror:
    return _socket.herror(HOST_NOT_FOUND, "Unknown host")


# ------------------------------------------------------------------------------------------
# The CPython layer: argument conversion as socketmodule.c does it.


def _c_int(value: object) -> int:
    """A ``PyArg_Parse`` "i" conversion: an integer that fits a C int."""
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"'{type(value).__name__}' object cannot be interpreted as an integer"
        ) from None
    if number > _INT_MAX:
        raise OverflowError("signed integer is greater than maximum")
    if number < _INT_MIN:
        raise OverflowError("signed integer is less than minimum")
    return number


def _c_int_mask(value: object) -> int:
    """A ``PyArg_Parse`` "I" conversion: an integer masked to a C unsigned int."""
    try:
        return operator.index(value) & 0xFFFFFFFF  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"'{type(value).__name__}' object cannot be interpreted as an integer"
        ) from None


def _c_string(data: bytes) -> bytes:
    """What C sees of *data*: everything up to the first NUL."""
    end = data.find(b"\0")
    return data if end < 0 else data[:end]


def _host_arg(host: object) -> bytes | None:
    """``getaddrinfo``'s host: ``None``, ``str`` (IDNA-encoded) or ``bytes``."""
    if host is None:
        return None
    if isinstance(host, str):
        return _c_string(host.encode("idna"))
    if isinstance(host, bytes):
        return _c_string(host)
    raise TypeError("getaddrinfo() argument 1 must be string or None")


def _port_arg(port: object) -> bytes | None:
    """``getaddrinfo``'s port: exactly an ``int``, or ``str``, ``bytes``, ``None``."""
    if type(port) is int:
        if sys.version_info < (3, 12) and not _LONG_MIN <= port <= _LONG_MAX:
            raise OverflowError("Python int too large to convert to C long")
        return str(port).encode()
    if isinstance(port, str):
        return _c_string(port.encode("utf-8"))
    if isinstance(port, bytes):
        return _c_string(port)
    if port is None:
        return None
    raise OSError("Int or String expected")


def _name_arg(func: str, value: object) -> bytes:
    """A ``PyArg_Parse`` "et" conversion with the IDNA codec (``gethostbyname`` & co.)."""
    if isinstance(value, str):
        data = value.encode("idna")
    elif isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    else:
        shown = "None" if value is None else type(value).__name__
        raise TypeError(f"{func}() argument 1 must be str, bytes or bytearray, not {shown}")
    if b"\0" in data:
        raise TypeError(
            f"{func}() argument 1 must be encoded string without null bytes,"
            f" not {type(value).__name__}"
        )
    return data


def _enum_family(value: int) -> int:
    try:
        return _socket.AddressFamily(value)
    except ValueError:
        return value


def _enum_kind(value: int) -> int:
    try:
        return _socket.SocketKind(value)
    except ValueError:
        return value


# ------------------------------------------------------------------------------------------
# The glibc layer (the service half is in usersock.dns_glibc).


def _inet_aton(text: str) -> bytes | None:
    """glibc ``__inet_aton_exact``: ``inet_aton`` forms (1 to 4 parts, octal, hex), and
    nothing after them."""
    if not text or any(ch in _C_SPACE for ch in text):
        return None
    try:
        return _socket.inet_aton(text)
    except (OSError, ValueError):
        return None


def _inet_pton(family: int, text: str) -> bytes | None:
    try:
        return _socket.inet_pton(family, text)
    except (OSError, ValueError):
        return None


def _scope_id(addr: bytes, scope: str) -> int | None:
    """glibc ``__inet6_scopeid_pton``: an interface name (link-local and multicast
    node/link-local addresses only) or a decimal number up to 2**32 - 1."""
    link_local = addr[0] == 0xFE and addr[1] & 0xC0 == 0x80
    multicast_local = addr[0] == 0xFF and addr[1] & 0x0F in (0x1, 0x2)
    if (link_local or multicast_local) and scope:
        try:
            return _socket.if_nametoindex(scope)
        except (OSError, ValueError):
            pass
    if scope[:1].isdigit() and scope.isascii() and scope.isdigit():
        number = int(scope)
        if number <= 0xFFFFFFFF:
            return number
    return None


def _numeric_host(text: str, family: int, flags: int) -> tuple[int, bytes, int] | None:
    """A literal address as ``(family, packed, scope_id)``, ``None`` if *text* is a name.
    Raises ``EAI_ADDRFAMILY`` for a literal of the other family, ``EAI_NONAME`` for a bad
    scope."""
    v4 = _inet_aton(text)
    if v4 is not None:
        if family in (AF_UNSPEC, AF_INET):
            return AF_INET, v4, 0
        if family == AF_INET6 and flags & AI_V4MAPPED:
            return AF_INET6, _V4MAPPED_PREFIX + v4, 0
        raise _gaierror(EAI_ADDRFAMILY)
    head, delim, scope = text.partition("%")
    v6 = _inet_pton(AF_INET6, head)
    if v6 is None:
        return None
    if family in (AF_UNSPEC, AF_INET6):
        result = (AF_INET6, v6, 0)
    elif family == AF_INET and v6.startswith(_V4MAPPED_PREFIX):
        result = (AF_INET, v6[12:], 0)
    else:
        raise _gaierror(EAI_ADDRFAMILY)
    if delim:
        scope_id = _scope_id(v6, scope)
        if scope_id is None:
            raise _gaierror(EAI_NONAME)
        if result[0] == AF_INET6:
            result = (AF_INET6, v6, scope_id)
    return result


def _named_host(hosts: HostTable, name: str, family: int, flags: int) -> list[bytes]:
    """The addresses of a virtual name for *family*. Raises ``EAI_NONAME`` for a name the
    table does not know, ``EAI_NODATA`` if it has no address of *family*, and
    :class:`_RealName` for a name the user allowed."""
    addrs = hosts.lookup(name) if name else None
    if addrs is None:
        if name and hosts.name_allowed(name):
            raise _RealName(name)
        raise _gaierror(EAI_NONAME)
    v4 = [a for a in addrs if len(a) == 4]
    v6 = [a for a in addrs if len(a) == 16]
    if family == AF_INET:
        found = v4
    elif family == AF_INET6:
        found = v6
        if flags & AI_V4MAPPED and (not v6 or flags & AI_ALL):
            found = v6 + [_V4MAPPED_PREFIX + a for a in v4]
    else:
        found = list(addrs)
    if not found:
        raise _gaierror(EAI_NODATA)
    return found


def _sockaddr(family: int, packed: bytes, port: int, scope_id: int) -> Address:
    if family == AF_INET:
        return (_socket.inet_ntop(AF_INET, packed), port)
    return (_socket.inet_ntop(AF_INET6, packed), port, 0, scope_id)


def _getaddrinfo(
    hosts: HostTable,
    host: bytes | None,
    service: bytes | None,
    family: int,
    socktype: int,
    proto: int,
    flags: int,
) -> list[AddrInfo]:
    """glibc ``getaddrinfo`` on C strings; plain ints in the results."""
    if host == b"*":
        host = None
    if host is None and service is None:
        raise _gaierror(EAI_NONAME)
    if flags & ~_AI_VALID or (flags & AI_CANONNAME and host is None):
        raise _gaierror(EAI_BADFLAGS)
    if family not in (AF_UNSPEC, AF_INET, AF_INET6):
        raise _gaierror(EAI_FAMILY)
    services = _services(service, socktype, proto, flags)
    canon = ""
    targets: list[tuple[int, bytes, int]]
    if host is None:
        # The order a connected Linux machine gives after RFC 6724 sorting: the wildcards
        # IPv4 first, the loopbacks IPv6 first.
        if flags & AI_PASSIVE:
            targets = [(AF_INET, bytes(4), 0), (AF_INET6, bytes(16), 0)]
        else:
            targets = [(AF_INET6, _IPV6_LOOPBACK, 0), (AF_INET, _IPV4_LOOPBACK, 0)]
        if family != AF_UNSPEC:
            targets = [t for t in targets if t[0] == family]
    else:
        text = host.decode("latin-1")
        numeric = _numeric_host(text, family, flags)
        if numeric is not None:
            targets = [numeric]
            canon = text
        elif flags & AI_NUMERICHOST:
            raise _gaierror(EAI_NONAME)
        else:
            addrs = _named_host(hosts, text, family, flags)
            targets = [(AF_INET if len(a) == 4 else AF_INET6, a, 0) for a in addrs]
            canon = text.lower().rstrip(".")
    with_canon = bool(flags & AI_CANONNAME)
    out: list[AddrInfo] = []
    for fam, packed, scope_id in targets:
        for c_type, c_proto, port in services:
            sockaddr = _sockaddr(fam, packed, port, scope_id)
            out.append((fam, c_type, c_proto, canon if with_canon and not out else "", sockaddr))
    return out


def _setipaddr(hosts: HostTable, name: bytes, family: int) -> tuple[int, bytes]:
    """CPython's ``setipaddr``: the one address ``gethostbyname`` & co. start from."""
    text = name.decode("latin-1")
    if not text:
        infos = _getaddrinfo(hosts, None, b"0", family, SOCK_DGRAM, 0, AI_PASSIVE)
        if len(infos) > 1:
            raise OSError("wildcard resolved to multiple address")
        return _packed(infos[0])
    if text in ("255.255.255.255", "<broadcast>"):
        if family not in (AF_INET, AF_UNSPEC):
            raise OSError("address family mismatched")
        return AF_INET, b"\xff\xff\xff\xff"
    if family in (AF_UNSPEC, AF_INET):
        v4 = _inet_pton(AF_INET, text)
        if v4 is not None:
            return AF_INET, v4
    if family in (AF_UNSPEC, AF_INET6) and "%" not in text:
        v6 = _inet_pton(AF_INET6, text)
        if v6 is not None:
            return AF_INET6, v6
    return _packed(_getaddrinfo(hosts, name, None, family, 0, 0, 0)[0])


def _packed(info: tuple[int, int, int, str, Address]) -> tuple[int, bytes]:
    family = int(info[0])
    return family, _socket.inet_pton(family, info[4][0])


# ------------------------------------------------------------------------------------------
# The replacements, argument for argument.


def getaddrinfo(
    hosts: HostTable,
    host: bytes | str | None,
    port: bytes | str | int | None,
    family: int = 0,
    type: int = 0,
    proto: int = 0,
    flags: int = 0,
) -> list[tuple[Any, Any, int, str, Address]]:
    """``socket.getaddrinfo`` over *hosts*.

    Raises ``socket.gaierror`` (codes and messages as glibc), ``TypeError``/``OSError``/
    ``OverflowError``/``UnicodeError`` for arguments CPython refuses.
    """
    c_family, c_type, c_proto, c_flags = _c_int(family), _c_int(type), _c_int(proto), _c_int(flags)
    c_host = _host_arg(host)
    c_port = _port_arg(port)
    try:
        infos = _getaddrinfo(hosts, c_host, c_port, c_family, c_type, c_proto, c_flags)
    except _RealName as real:
        found = real_getaddrinfo(host, port, family, type, proto, flags)
        hosts.allow_resolved(
            real.name, [_socket.inet_pton(int(f), sa[0]) for f, _, _, _, sa in found]
        )
        return found
    return [(_enum_family(f), _enum_kind(t), p, c, sa) for f, t, p, c, sa in infos]


def gethostbyname(hosts: HostTable, hostname: str | bytes | bytearray, /) -> str:
    """``socket.gethostbyname`` over *hosts*: the first IPv4 address of *hostname*.

    Raises ``socket.gaierror`` as ``getaddrinfo`` does (``""`` is ``"0.0.0.0"``).
    """
    name = _name_arg("gethostbyname", hostname)
    try:
        _, packed = _setipaddr(hosts, name, AF_INET)
    except _RealName as real:
        result = real_gethostbyname(hostname)
        hosts.allow_resolved(real.name, [_socket.inet_aton(result)])
        return result
    return _socket.inet_ntop(AF_INET, packed)


def gethostbyname_ex(
    hosts: HostTable, hostname: str | bytes | bytearray, /
) -> tuple[str, list[str], list[str]]:
    """``socket.gethostbyname_ex`` over *hosts*: ``(name, aliases, IPv4 addresses)``.

    Raises ``socket.gaierror`` if the name does not resolve for IPv4 and
    ``socket.herror(1, "Unknown host")`` where glibc's ``gethostbyname_r`` finds nothing
    (``""``, ``"<broadcast>"``, IPv6 literals).
    """
    name = _name_arg("gethostbyname_ex", hostname)
    try:
        _setipaddr(hosts, name, AF_INET)
    except _RealName as real:
        result = real_gethostbyname_ex(hostname)
        hosts.allow_resolved(real.name, [_socket.inet_aton(a) for a in result[2]])
        return result
    text = name.decode("latin-1")
    if text and not text.endswith(".") and all(ch in "0123456789." for ch in text):
        packed = _inet_aton(text)  # glibc's digits-and-dots shortcut
        if packed is None:
            raise _unknown_host()
        return text, [], [_socket.inet_ntop(AF_INET, packed)]
    addrs = hosts.lookup(text) if text else None
    v4 = [a for a in addrs or () if len(a) == 4]
    if not v4:
        raise _unknown_host()
    return text.lower().rstrip("."), [], [_socket.inet_ntop(AF_INET, a) for a in v4]


def gethostbyaddr(
    hosts: HostTable, ip_address: str | bytes | bytearray, /
) -> tuple[str, list[str], list[str]]:
    """``socket.gethostbyaddr`` over *hosts*: the virtual name of an address (a name is
    resolved first). Raises ``socket.herror(1, "Unknown host")`` if the address has no
    virtual name, ``socket.gaierror`` if the name does not resolve."""
    name = _name_arg("gethostbyaddr", ip_address)
    try:
        family, packed = _setipaddr(hosts, name, AF_UNSPEC)
    except _RealName as real:
        result = real_gethostbyaddr(ip_address)
        hosts.allow_resolved(
            real.name, [_socket.inet_pton(AF_INET6 if ":" in a else AF_INET, a) for a in result[2]]
        )
        return result
    found = hosts.name_of(packed)
    if found is None:
        raise _unknown_host()
    return found, [], [_socket.inet_ntop(family, packed)]


def resolve_socket_host(hosts: HostTable, host: object, family: int) -> bytes:
    """The packed address CPython puts in a socket address for *host* (``bind``,
    ``connect``, ``sendto`` on an *family* socket): its ``idna_converter`` then
    ``setipaddr`` over *hosts*. ``""`` is the wildcard, ``"<broadcast>"`` 255.255.255.255,
    ``"127.1"`` 127.0.0.1; an allowed name goes to the real resolver (and is recorded).

    Raises ``TypeError`` for a host that is not ``str``/``bytes``/``bytearray`` or holds a
    NUL, ``socket.gaierror`` as ``getaddrinfo`` does, ``OSError("address family
    mismatched")`` for ``"<broadcast>"`` on IPv6.
    """
    if isinstance(host, str):
        name = host.encode("ascii") if host.isascii() else host.encode("idna")
    elif isinstance(host, (bytes, bytearray)):
        name = bytes(host)
    else:
        raise TypeError(f"str, bytes or bytearray expected, not {type(host).__name__}")
    if b"\0" in name:
        raise TypeError("host name must not contain null character")
    try:
        return _setipaddr(hosts, name, family)[1]
    except _RealName as real:
        found = real_getaddrinfo(host, None, family, SOCK_STREAM)
        packed = [_socket.inet_pton(int(f), sa[0]) for f, _, _, _, sa in found]
        hosts.allow_resolved(real.name, packed)
        return packed[0]


def resolve_socket_address(hosts: HostTable, host: object, version: int, for_bind: bool) -> bytes:
    """The packed address a socket's ``bind`` (*for_bind*) or ``connect``/``sendto`` uses
    for *host* on an IPv*version* socket: :func:`resolve_socket_host`, with the wildcard
    turned into the loopback address for a connect, as Linux treats a connect to
    ``0.0.0.0``/``::`` (and ``::ffff:0.0.0.0``, IPv4's wildcard on a dual-stack socket)."""
    packed = resolve_socket_host(hosts, host, AF_INET if version == 4 else AF_INET6)
    if not for_bind:
        if not any(packed):
            return _IPV4_LOOPBACK if version == 4 else _IPV6_LOOPBACK
        if packed == _V4_MAPPED_ANY:
            return _V4_MAPPED_ANY[:12] + _IPV4_LOOPBACK
    return packed


def _sockaddr_arg(sockaddr: object) -> tuple[str, int, int, int]:
    """CPython's ``"si|II;getnameinfo(): illegal sockaddr argument"`` parse."""
    if not isinstance(sockaddr, tuple):
        raise TypeError("getnameinfo() argument 1 must be a tuple")
    illegal = "getnameinfo(): illegal sockaddr argument"
    if not 2 <= len(sockaddr) <= 4 or not isinstance(sockaddr[0], str):
        raise TypeError(illegal)
    host = sockaddr[0]
    if "\0" in host:
        raise ValueError("embedded null character")
    port = _c_int(sockaddr[1])
    extra = [_c_int_mask(v) for v in sockaddr[2:]]
    flowinfo, scope_id = [*extra, 0, 0][:2]
    return host, port, flowinfo, scope_id


def getnameinfo(hosts: HostTable, sockaddr: tuple[Any, ...], flags: int, /) -> tuple[str, str]:
    """``socket.getnameinfo`` over *hosts*: ``(host, service)`` for a numeric *sockaddr*.

    The host is the virtual name of the address, else the numeric form (``NI_NAMEREQD``:
    ``gaierror(EAI_NONAME)``); the service comes from ``/etc/services`` unless
    ``NI_NUMERICSERV``. Raises ``socket.gaierror(EAI_NONAME)`` for a host that is not a
    literal address, as CPython does.
    """
    c_flags = _c_int(flags)
    host, port, flowinfo, scope_id = _sockaddr_arg(sockaddr)
    if flowinfo > 0xFFFFF:
        raise OverflowError("getnameinfo(): flowinfo must be 0-1048575.")
    infos = _getaddrinfo(
        hosts, host.encode("utf-8"), str(port).encode(), AF_UNSPEC, SOCK_DGRAM, 0, AI_NUMERICHOST
    )
    if len(infos) > 1:
        raise OSError("sockaddr resolved to multiple addresses")
    family, _, _, _, resolved = infos[0]
    if family == AF_INET and len(sockaddr) != 2:
        raise OSError("IPv4 sockaddr must be 2 tuple")
    if c_flags & ~_NI_VALID:
        raise _gaierror(EAI_BADFLAGS)
    packed = _socket.inet_pton(family, resolved[0])
    name = None if c_flags & NI_NUMERICHOST else hosts.name_of(packed)
    if name is None:
        if c_flags & NI_NAMEREQD:
            raise _gaierror(EAI_NONAME)
        name = resolved[0]
        if family == AF_INET6 and scope_id:
            link_local = packed[0] == 0xFE and packed[1] & 0xC0 == 0x80
            multicast_link = packed[0] == 0xFF and packed[1] & 0x0F == 0x2
            scope = str(scope_id)
            if link_local or multicast_link:
                try:
                    scope = _socket.if_indextoname(scope_id)
                except OSError:
                    pass
            name = f"{name}%{scope}"
    number = resolved[1]
    service = None
    if not c_flags & NI_NUMERICSERV:
        try:
            service = _socket.getservbyport(number, "udp" if c_flags & NI_DGRAM else "tcp")
        except OSError:
            service = None
    return name, service if service is not None else str(number)
