"""The virtual resolver (:mod:`usersock.dns`) against a table of cases.

Two kinds of case:

* *differential* — numeric hosts, no host, service parsing, flags, families, socket types and
  protocols, argument errors: the same call goes to the real ``socket`` function and to the
  virtual one and both must answer the same (results, or exception type and args). To be
  sure the real side never sends a DNS query, every host there is either ``None`` or passed
  with ``AI_NUMERICHOST`` (``getnameinfo`` with ``NI_NUMERICHOST``), and ``gethostbyname``
  & co. get literals only; ``localhost`` is compared for ``AF_INET`` (``/etc/hosts``).
* *virtual* — names from the network's hosts table, with the answer written down.

No case may make the real resolver run inside the virtual call (checked with an audit hook).
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

import usersock
from usersock import dns

if TYPE_CHECKING:
    from tests.patch.conftest import AuditLog, FakeRealResolver
    from usersock.net import Network

# Plain ints: IntFlag arithmetic would turn -1 into "every known flag".
AI_NUMERICHOST = int(socket.AI_NUMERICHOST)
V4MAPPED, ALL, CANON = int(socket.AI_V4MAPPED), int(socket.AI_ALL), int(socket.AI_CANONNAME)


def outcome(func: Callable[..., object], *args: Any) -> tuple[str, Any]:
    try:
        return ("ok", func(*args))
    except Exception as exc:
        return (type(exc).__name__, exc.args)


NUMERIC_HOSTS = [
    None,
    "*",
    "127.0.0.1",
    "127.1",
    "0x7f.1",
    "010.0.0.1",
    "2130706433",
    "4294967295",
    "4294967296",
    "1.16777215",
    "1.16777216",
    "256.0.0.1",
    "1.2.3.08",
    "0x",
    "1.2.3.4 ",
    " 1.2.3.4",
    "1.2.3.4.",
    "127.0.0.1\x00junk",
    "::1",
    "::",
    "::ffff:1.2.3.4",
    "::1.2.3.4",
    "1::2::3",
    "fe80::1%1",
    "fe80::1%lo",
    "fe80::1%no-such-if",
    "::1%1",
    "::1%lo",
    "::1%4294967296",
    "fe80::1%4294967295",
    "fe80::1%",
    "ff02::1%lo",
    "ff05::1%lo",
    "::ffff:1.2.3.4%1",
    "[::1]",
    "\uff11\uff12\uff17.\uff10.\uff10.\uff11",  # full-width
    b"127.0.0.1",
    bytearray(b"1.2.3.4"),
    7,
    "a" * 64,
    "a..b",
    "\udc80",
    "",
]
PORTS = [
    80,
    0,
    65536,
    70000,
    -1,
    True,
    1.0,
    2**63,
    "80",
    "",
    " 80",
    " \t80",
    "80 ",
    "+80",
    "-1",
    "0x50",
    "08",
    "4294967376",
    "2147483648",
    "-4294967216",
    "18446744073709551696",
    "http",
    "domain",
    "no-such-service",
    b"53",
    bytearray(b"80"),
    None,
    "\udc80",
]
FAMILIES = [0, socket.AF_INET, socket.AF_INET6, socket.AF_UNIX, 2**31, "x"]
TYPES = [
    0,
    socket.SOCK_STREAM,
    socket.SOCK_DGRAM,
    socket.SOCK_RAW,
    socket.SOCK_RDM,
    socket.SOCK_SEQPACKET,
    6,
    socket.SOCK_STREAM | socket.SOCK_NONBLOCK,
]
PROTOS = [0, socket.IPPROTO_TCP, socket.IPPROTO_UDP, socket.IPPROTO_ICMP, 132, 136, 33, -1]
FLAGS = [0, 1, CANON, V4MAPPED, V4MAPPED | ALL, 0x400, 0x800, 0x7DF, -1, 1.5]  # no ADDRCONFIG


def gai_cases() -> Iterator[tuple[Any, Any, Any, Any, int, Any]]:
    for host in NUMERIC_HOSTS:
        for port in PORTS:
            yield (host, port, 0, 0, 0, AI_NUMERICHOST)
        for family in FAMILIES:
            for type_ in TYPES:
                yield (host, 80, family, type_, 0, AI_NUMERICHOST)
        for proto in PROTOS:
            for type_ in TYPES[:4]:
                yield (host, None, 0, type_, proto, AI_NUMERICHOST)
                yield (host, "domain", 0, type_, proto, AI_NUMERICHOST)
        for flags in FLAGS:
            for family in FAMILIES[:3]:
                f = flags if isinstance(flags, float) else flags | AI_NUMERICHOST
                yield (host, 80, family, socket.SOCK_STREAM, 0, f)
                yield (host, None, family, 0, 0, f)
                yield (host, "http", family, 0, 0, f)


GAI_CASES = list(gai_cases())


def test_the_differential_table_is_big() -> None:
    assert len(GAI_CASES) > 4000


@pytest.mark.parametrize("chunk", range(8))
def test_getaddrinfo_matches_the_real_resolver_for_numeric_hosts(
    chunk: int, network: Network, audit: AuditLog
) -> None:
    differences = []
    real: tuple[str, Any] | list[Any]
    virtual: tuple[str, Any] | list[Any]
    for case in GAI_CASES[chunk::8]:
        real = outcome(socket.getaddrinfo, *case)
        with audit.recording() as events:
            virtual = outcome(dns.getaddrinfo, network, *case)
        assert events == [], case
        if case[0] in (None, "*") and real[0] == virtual[0] == "ok":
            # No host: glibc sorts the two families by the machine's routes (RFC 6724), so
            # only the set is the same everywhere; the order is pinned below.
            real, virtual = sorted(real[1]), sorted(virtual[1])
        if real != virtual:
            differences.append(f"{case!r}:\n  real    {real}\n  virtual {virtual}")
    assert not differences, "\n".join(differences[:20])


@pytest.mark.parametrize("port", [80, None, "http"])
@pytest.mark.parametrize("type_", [0, socket.SOCK_STREAM])
@pytest.mark.parametrize("flags", [0, CANON])
@pytest.mark.parametrize("name", ["localhost", "LocalHost"])
def test_localhost_ipv4_matches_the_real_resolver(
    name: str, type_: int, flags: int, port: int | str | None, network: Network
) -> None:
    real = outcome(socket.getaddrinfo, name, port, socket.AF_INET, type_, 0, flags)
    if real[0] != "ok":
        pytest.skip(f"this machine's resolver does not know {name}: {real}")
    assert outcome(dns.getaddrinfo, network, name, port, socket.AF_INET, type_, 0, flags) == real


LITERALS = [
    "127.0.0.1",
    "127.1",
    "010.1.1.1",
    "0x7f.1",
    "255.255.255.255",
    "<broadcast>",
    "::ffff:1.2.3.4",
    "1.2.3.4 ",
    "127.0.0.01",
    "",
    b"127.0.0.1",
    bytearray(b"10.0.0.1"),
    "127.0.0.1\x00x",
    7,
    None,
    "a..b",
    "::1",
    "fe80::1%1",
]


@pytest.mark.parametrize("host", LITERALS)
def test_gethostbyname_matches_the_real_resolver_for_literals(
    host: object, network: Network
) -> None:
    assert outcome(dns.gethostbyname, network, host) == outcome(socket.gethostbyname, host)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",
        "127.0.0.01",
        "255.255.255.255",
        b"127.0.0.1",
        "a..b",
        7,
        "127.0.0.1\x00x",
        "::1",
        "fe80::1%1",
    ],
)
def test_gethostbyname_ex_matches_the_real_resolver_for_literals(
    host: object, network: Network
) -> None:
    assert outcome(dns.gethostbyname_ex, network, host) == outcome(socket.gethostbyname_ex, host)


@pytest.mark.parametrize("host", ["", 7, None, "a..b", "127.0.0.1\x00x", "1.2.3.4 "])
def test_gethostbyaddr_argument_errors_match_the_real_resolver(
    host: object, network: Network
) -> None:
    assert outcome(dns.gethostbyaddr, network, host) == outcome(socket.gethostbyaddr, host)


SOCKADDRS = [
    ("127.0.0.1", 80),
    ("127.0.0.1", 80, 0, 0),
    ("::1", 80),
    ("::1", 80, 0, 0),
    ("fe80::1", 80, 0, 1),
    ("ff02::1", 80, 0, 1),
    ("::1", 80, 0, 5),
    ("::1%5", 80),
    ("fe80::1%lo", 80, 0, 0),
    ("127.1", 53),
    ("127.0.0.1", 70000),
    ("127.0.0.1", -1),
    ("127.0.0.1", 2**31),
    ("::1", 80, 2**20),
    ("::1", 80, -1),
    ("::1", 80, 0, 2**32),
    ("::1", 80, 1.0),
    ("::1", "80"),
    (b"::1", 80),
    ("localhost", 80),
    ("*", 80),
    ("", 80),
    (None, 80),
    ("127.0.0.1",),
    ("127.0.0.1", 80, 5, 6, 7),
    ["127.0.0.1", 80],
    ("127.0.0.1\x00", 80),
    ("127.0.0.1", 22),
    ("127.0.0.1", 0),
]
NI_FLAGS = [
    socket.NI_NUMERICHOST,
    socket.NI_NUMERICHOST | socket.NI_NUMERICSERV,
    socket.NI_NUMERICHOST | socket.NI_DGRAM,
    socket.NI_NUMERICHOST | socket.NI_NAMEREQD,
    socket.NI_NUMERICHOST | socket.NI_NOFQDN,
    0x80 | socket.NI_NUMERICHOST,
    0x100 | 1,
    -1,
    "x",
    1.0,
    2**31,
]


@pytest.mark.parametrize("sockaddr", SOCKADDRS, ids=repr)
def test_getnameinfo_matches_the_real_resolver_for_numeric_answers(
    sockaddr: object, network: Network, audit: AuditLog
) -> None:
    for flags in NI_FLAGS:
        real = outcome(socket.getnameinfo, sockaddr, flags)
        with audit.recording() as events:
            virtual = outcome(dns.getnameinfo, network, sockaddr, flags)
        assert events == []
        assert virtual == real, (sockaddr, flags)


# Virtual names ---------------------------------------------------------------------------

STREAM = socket.SOCK_STREAM


def gai(network: Network, *args: Any) -> list[tuple[int, int, int, str, tuple[Any, ...]]]:
    return [(int(f), int(t), p, c, sa) for f, t, p, c, sa in dns.getaddrinfo(network, *args)]


@pytest.fixture
def hosts(network: Network) -> Network:
    network.add_host("api.test")  # 198.18.0.1
    network.add_host("DB.Test", "10.1.2.3", "fd00::3")
    network.add_host("v6only.test", "fd00::6")
    return network


def test_localhost_resolves_to_both_loopbacks_ipv4_first(network: Network) -> None:
    if len(network.lookup("localhost") or []) < 2:
        pytest.xfail("usersock.Network's hosts table lists only 127.0.0.1 for localhost")
    assert gai(network, "localhost", 80, 0, STREAM) == [
        (2, 1, 6, "", ("127.0.0.1", 80)),
        (10, 1, 6, "", ("::1", 80, 0, 0)),
    ]


def test_the_machines_own_name_is_on_the_loopback() -> None:
    """``gethostbyname(gethostname())`` and ``getfqdn()`` work inside ``patched()``, and a
    server bound to the machine's name is reached by it, as /etc/hosts makes it outside."""
    own = socket.gethostname()
    with usersock.patched() as net:
        assert net.lookup(own) == net.lookup("localhost")
        assert socket.gethostbyname(own) == "127.0.0.1"
        assert socket.getfqdn()  # no gaierror/herror on the way
        with socket.create_server((own, 0)) as srv:
            srv.settimeout(5)
            port = srv.getsockname()[1]
            with socket.create_connection((own, port), timeout=5) as cli:
                conn, peer = srv.accept()
                conn.close()
                assert peer[0] == cli.getsockname()[0] == "127.0.0.1"


def test_no_host_order(network: Network) -> None:
    assert [sa[0] for *_, sa in gai(network, None, 80, 0, STREAM)] == ["::1", "127.0.0.1"]
    passive = gai(network, None, 80, 0, STREAM, 0, socket.AI_PASSIVE)
    assert [sa[0] for *_, sa in passive] == ["0.0.0.0", "::"]


def test_a_virtual_name(hosts: Network) -> None:
    assert gai(hosts, "api.test", 8080, 0, STREAM) == [(2, 1, 6, "", ("198.18.0.1", 8080))]
    assert dns.gethostbyname(hosts, "api.test") == "198.18.0.1"
    assert dns.gethostbyname_ex(hosts, "API.test.") == ("api.test", [], ["198.18.0.1"])
    assert dns.gethostbyaddr(hosts, "198.18.0.1") == ("api.test", [], ["198.18.0.1"])
    assert dns.gethostbyaddr(hosts, "api.test") == ("api.test", [], ["198.18.0.1"])
    assert dns.getnameinfo(hosts, ("198.18.0.1", 80), 0) == ("api.test", "http")


def test_a_name_with_two_families_in_table_order(hosts: Network) -> None:
    assert gai(hosts, "db.test", "5432", 0, STREAM) == [
        (2, 1, 6, "", ("10.1.2.3", 5432)),
        (10, 1, 6, "", ("fd00::3", 5432, 0, 0)),
    ]
    assert gai(hosts, "db.test", 1, socket.AF_INET6, STREAM) == [
        (10, 1, 6, "", ("fd00::3", 1, 0, 0))
    ]
    assert dns.getnameinfo(hosts, ("fd00::3", 5432, 0, 0), socket.NI_NUMERICSERV) == (
        "db.test",
        "5432",
    )


def test_type_zero_gives_stream_dgram_raw_per_address(hosts: Network) -> None:
    assert [(t, p) for _, t, p, _, _ in gai(hosts, "api.test", 53)] == [(1, 6), (2, 17), (3, 0)]


def test_canonical_name_on_the_first_entry_only(hosts: Network) -> None:
    infos = gai(hosts, "DB.TEST", 80, 0, 0, 0, CANON)
    assert [c for _, _, _, c, _ in infos] == ["db.test"] + [""] * (len(infos) - 1)


def test_a_name_without_the_family_is_nodata(hosts: Network) -> None:
    for call in (
        lambda: dns.getaddrinfo(hosts, "v6only.test", 80, socket.AF_INET),
        lambda: dns.gethostbyname(hosts, "v6only.test"),
        lambda: dns.gethostbyname_ex(hosts, "v6only.test"),
    ):
        with pytest.raises(socket.gaierror) as info:
            call()
        assert info.value.args == (socket.EAI_NODATA, "No address associated with hostname")


def test_v4mapped_for_ipv6_queries(hosts: Network) -> None:
    assert gai(hosts, "api.test", 80, socket.AF_INET6, STREAM, 0, V4MAPPED) == [
        (10, 1, 6, "", ("::ffff:198.18.0.1", 80, 0, 0))
    ]
    assert gai(hosts, "db.test", 80, socket.AF_INET6, STREAM, 0, V4MAPPED) == [
        (10, 1, 6, "", ("fd00::3", 80, 0, 0))
    ]
    assert gai(hosts, "db.test", 80, socket.AF_INET6, STREAM, 0, V4MAPPED | ALL) == [
        (10, 1, 6, "", ("fd00::3", 80, 0, 0)),
        (10, 1, 6, "", ("::ffff:10.1.2.3", 80, 0, 0)),
    ]


def test_numerichost_refuses_names(hosts: Network) -> None:
    with pytest.raises(socket.gaierror) as info:
        dns.getaddrinfo(hosts, "api.test", 80, 0, 0, 0, AI_NUMERICHOST)
    assert info.value.args == (socket.EAI_NONAME, "Name or service not known")


@pytest.mark.parametrize("name", ["example.com", "localhost.localdomain", "api.test.example"])
def test_unknown_names_raise_eai_noname_without_a_real_query(
    name: str, hosts: Network, audit: AuditLog
) -> None:
    with audit.recording() as events:
        for call in (dns.getaddrinfo, dns.gethostbyname, dns.gethostbyname_ex, dns.gethostbyaddr):
            args = (name, 80) if call is dns.getaddrinfo else (name,)
            with pytest.raises(socket.gaierror) as info:
                call(hosts, *args)
            assert info.value.args == (socket.EAI_NONAME, "Name or service not known")
    assert events == []


def test_unknown_addresses_have_no_name(hosts: Network, audit: AuditLog) -> None:
    with audit.recording() as events:
        for addr in ("127.0.0.2", "203.0.113.1", "2001:db8::1", "255.255.255.255"):
            with pytest.raises(socket.herror) as info:
                dns.gethostbyaddr(hosts, addr)
            assert info.value.args == (1, "Unknown host")
            sockaddr = (addr, 80) if ":" not in addr else (addr, 80, 0, 0)
            assert dns.getnameinfo(hosts, sockaddr, 0) == (addr, "http")
            with pytest.raises(socket.gaierror) as gai_info:
                dns.getnameinfo(hosts, sockaddr, socket.NI_NAMEREQD)
            assert gai_info.value.errno == socket.EAI_NONAME
    assert events == []


def test_gethostbyname_ex_of_names_glibc_does_not_find(hosts: Network) -> None:
    for name in ("", "<broadcast>", "::ffff:1.2.3.4"):
        with pytest.raises(socket.herror) as info:
            dns.gethostbyname_ex(hosts, name)
        assert info.value.args == (1, "Unknown host")


def test_gethostbyaddr_of_the_wildcard_is_ambiguous(hosts: Network) -> None:
    with pytest.raises(OSError, match="wildcard resolved to multiple address"):
        dns.gethostbyaddr(hosts, "")


def test_literal_real_addresses_resolve_to_themselves(hosts: Network, audit: AuditLog) -> None:
    with audit.recording() as events:
        assert gai(hosts, "203.0.113.5", 443, 0, STREAM) == [(2, 1, 6, "", ("203.0.113.5", 443))]
        assert dns.gethostbyname(hosts, "8.8.8.8") == "8.8.8.8"
    assert events == []


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12+ formats big ports with str()")
def test_big_int_ports_overflow_before_312(hosts: Network) -> None:
    with pytest.raises(OverflowError, match="C long"):
        dns.getaddrinfo(hosts, "127.0.0.1", 2**63)


# Names the user allowed ------------------------------------------------------------------


def test_an_allowed_name_goes_to_the_real_resolver_and_its_addresses_are_allowed(
    fake_real_resolver: FakeRealResolver,
) -> None:
    from usersock.net import Network, RealNetworkBlocked

    net = Network(allow=["db.example.com:5432"])
    try:
        with pytest.raises(RealNetworkBlocked):
            net.check_real(socket.inet_aton(fake_real_resolver.V4), 5432)
        infos = dns.getaddrinfo(net, "DB.example.com", 5432, 0, STREAM)
        assert fake_real_resolver.calls == [
            ("getaddrinfo", ("DB.example.com", 5432, 0, STREAM, 0, 0))
        ]
        assert [sa[0] for *_, sa in infos] == [fake_real_resolver.V4, fake_real_resolver.V6]
        net.check_real(socket.inet_aton(fake_real_resolver.V4), 5432)  # now allowed
        net.check_real(socket.inet_pton(socket.AF_INET6, fake_real_resolver.V6), 5432)
        with pytest.raises(RealNetworkBlocked):
            net.check_real(socket.inet_aton(fake_real_resolver.V4), 22)  # other port
        assert dns.gethostbyname(net, "db.example.com") == fake_real_resolver.V4
        assert dns.gethostbyname_ex(net, "db.example.com")[2] == [fake_real_resolver.V4]
        assert dns.gethostbyaddr(net, "db.example.com")[0] == "db.example.com"
        assert [c[0] for c in fake_real_resolver.calls] == [
            "getaddrinfo",
            "gethostbyname",
            "gethostbyname_ex",
            "gethostbyaddr",
        ]
    finally:
        net.close()


def test_allowing_a_name_checks_flags_and_service_first(
    fake_real_resolver: FakeRealResolver,
) -> None:
    from usersock.net import Network

    net = Network(allow=["db.example.com"])
    try:
        with pytest.raises(socket.gaierror) as info:
            dns.getaddrinfo(net, "db.example.com", "no-such-service")
        assert info.value.errno == socket.EAI_SERVICE
        with pytest.raises(socket.gaierror):
            dns.getaddrinfo(net, "db.example.com", 80, 0, 0, 0, AI_NUMERICHOST)
        assert fake_real_resolver.calls == []
    finally:
        net.close()


def test_a_virtual_name_wins_over_an_allowed_one(fake_real_resolver: FakeRealResolver) -> None:
    from usersock.net import Network

    net = Network(allow=["api.test"])
    try:
        net.add_host("api.test", "10.0.0.1")
        assert dns.gethostbyname(net, "api.test") == "10.0.0.1"
        assert fake_real_resolver.calls == []
    finally:
        net.close()


def test_an_allowed_machine_name_goes_to_the_real_resolver(
    fake_real_resolver: FakeRealResolver,
) -> None:
    """The machine's own name is virtual (the loopback) only while the user has not allowed
    it: ``allow=[gethostname()]`` sends it to the real resolver like any allowed name."""
    from usersock.net import Network

    own = socket.gethostname()
    net = Network(allow=[own.upper()])
    try:
        assert own.lower() not in net.hosts
        assert dns.gethostbyname(net, own) == fake_real_resolver.V4
        assert [c[0] for c in fake_real_resolver.calls] == ["gethostbyname"]
    finally:
        net.close()
    with Network() as plain:
        assert dns.gethostbyname(plain, own) == "127.0.0.1"


# Socket addresses --------------------------------------------------------------------------

SOCKET_HOSTS = [
    (socket.AF_INET, "127.0.0.1"),
    (socket.AF_INET, "127.1"),
    (socket.AF_INET, "0x7f.1"),
    (socket.AF_INET, "0177.0.0.1"),
    (socket.AF_INET, "2130706433"),
    (socket.AF_INET, ""),
    (socket.AF_INET, "0.0.0.0"),
    (socket.AF_INET, "127.0.0.01"),
    (socket.AF_INET, "::1"),
    (socket.AF_INET, b"127.0.0.1"),
    (socket.AF_INET, "127.0.0.1\x00"),
    (socket.AF_INET, 7),
    (socket.AF_INET, None),
    (socket.AF_INET, "::ffff:127.0.0.1"),
    (socket.AF_INET, "localhost"),
    (socket.AF_INET6, ""),
    (socket.AF_INET6, "::"),
    (socket.AF_INET6, "127.0.0.1"),
    (socket.AF_INET6, "<broadcast>"),
    (socket.AF_INET6, bytearray(b"::")),
]


def real_bind(family: int, host: object) -> object:
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0) if family == socket.AF_INET else (host, 0, 0, 0))
        return s.getsockname()[0]


@pytest.mark.parametrize(("family", "host"), SOCKET_HOSTS, ids=repr)
def test_socket_address_hosts_match_a_real_bind(
    family: int, host: object, network: Network, audit: AuditLog
) -> None:
    """What ``bind``/``connect`` would use: CPython's ``setipaddr`` (literals and
    ``localhost`` only, so the real side sends no DNS query)."""
    real = outcome(real_bind, family, host)
    with audit.recording() as events:
        virtual = outcome(
            lambda: socket.inet_ntop(family, dns.resolve_socket_host(network, host, family))
        )
    assert virtual == real
    assert events == []


def test_socket_address_hosts_by_name(hosts: Network, fake_real_resolver: FakeRealResolver) -> None:
    assert dns.resolve_socket_host(hosts, "db.test", socket.AF_INET6) == socket.inet_pton(
        socket.AF_INET6, "fd00::3"
    )
    with pytest.raises(socket.gaierror) as info:
        dns.resolve_socket_host(hosts, "a..b", socket.AF_INET)  # ASCII skips IDNA checks
    assert info.value.errno == socket.EAI_NONAME
    with pytest.raises(socket.gaierror) as info:
        dns.resolve_socket_host(hosts, "v6only.test", socket.AF_INET)
    assert info.value.errno == socket.EAI_NODATA
    assert fake_real_resolver.calls == []


def test_socket_address_of_an_allowed_name(fake_real_resolver: FakeRealResolver) -> None:
    from usersock.net import Network

    net = Network(allow=["db.example.com:5432"])
    try:
        packed = dns.resolve_socket_host(net, "db.example.com", socket.AF_INET)
        assert packed == socket.inet_aton(fake_real_resolver.V4)
        net.check_real(packed, 5432)  # recorded as allowed
        assert fake_real_resolver.calls == [
            ("getaddrinfo", ("db.example.com", None, socket.AF_INET, socket.SOCK_STREAM, 0, 0))
        ]
    finally:
        net.close()
