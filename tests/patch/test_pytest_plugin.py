"""The pytest plugin, run in real pytest sessions with ``pytester``: the ``usersock_net``
fixture, the ``usersock`` marker, the ``--usersock`` flag and the ``usersock`` ini option."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from usersock.patch import is_patched

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]


def plugin_args() -> list[str]:
    """``-p usersock.pytest_plugin`` unless an installed usersock already registers it."""
    names = {ep.value for ep in entry_points(group="pytest11")}
    return [] if "usersock.pytest_plugin" in names else ["-p", "usersock.pytest_plugin"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    result = pytester.runpytest(*plugin_args(), "-p", "no:cacheprovider", *args)
    assert not is_patched(), "the inner session left the stdlib patched"
    return result


PROBE = """
import socket
import pytest
from usersock.net import Network, current
from usersock.patch import is_patched
from usersock.sockets import PatchedSocket as VirtualSocket

def describe():
    return is_patched(), current()
"""


def test_fixture_gives_each_test_its_own_patched_network(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        PROBE
        + """
seen = []

def test_one(usersock_net):
    assert isinstance(usersock_net, Network)
    assert describe() == (True, usersock_net)
    usersock_net.add_host("api.test")
    assert socket.gethostbyname("api.test").startswith("198.18.")
    assert type(socket.socket()) is VirtualSocket
    seen.append(usersock_net)

def test_two(usersock_net):
    assert usersock_net is not seen[0] and seen[0].closed
    with pytest.raises(socket.gaierror):
        socket.gethostbyname("api.test")  # a fresh network: the host is gone

def test_without_the_fixture():
    assert describe() == (False, None)
"""
    )
    run(pytester).assert_outcomes(passed=3)


def test_fixture_network_is_live_for_fixtures_that_depend_on_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        PROBE
        + """
@pytest.fixture
def server(usersock_net):
    s = socket.create_server(("localhost", 0))
    yield s
    assert is_patched()  # still inside the network at teardown
    s.close()

def test_connect(server):
    assert type(server) is VirtualSocket
    with socket.create_connection(server.getsockname(), timeout=5):
        pass
"""
    )
    run(pytester).assert_outcomes(passed=1)


def test_marker_runs_one_test_in_a_fresh_network(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        PROBE
        + """
@pytest.mark.usersock
def test_marked():
    patched_now, net = describe()
    assert patched_now and isinstance(net, Network) and net.allow == []

@pytest.mark.usersock(allow=["db.example.com:5432", "203.0.113.9"])
def test_marked_with_allow(usersock_net):
    assert current() is usersock_net  # the fixture hands out the marker's network
    assert [(r.host, r.port) for r in usersock_net.allow] == [
        ("db.example.com", 5432), ("203.0.113.9", None)]

def test_unmarked():
    assert describe() == (False, None)
"""
    )
    run(pytester).assert_outcomes(passed=3)


def test_marker_network_spans_setup_and_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        PROBE
        + """
events = []

@pytest.fixture
def sock():
    events.append(("setup", describe()[0]))
    s = socket.socket()
    yield s
    events.append(("teardown", describe()[0]))
    s.close()

@pytest.mark.usersock
def test_uses_fixture(sock):
    assert type(sock) is VirtualSocket

def test_after():
    assert events == [("setup", True), ("teardown", True)]
    assert describe() == (False, None)
"""
    )
    run(pytester).assert_outcomes(passed=2)


def test_marker_on_a_class_and_a_module_joins_allow_lists(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        PROBE
        + """
pytestmark = pytest.mark.usersock(allow=["module.example"])

@pytest.mark.usersock(allow=["class.example"])
class TestSuite:
    @pytest.mark.usersock(allow=["function.example"])
    def test_all_three(self, usersock_net):
        assert sorted(r.host for r in usersock_net.allow) == [
            "class.example", "function.example", "module.example"]

    def test_class_and_module(self):
        net = current()
        assert sorted(r.host for r in net.allow) == ["class.example", "module.example"]
"""
    )
    run(pytester).assert_outcomes(passed=2)


def test_marker_with_unknown_arguments_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.usersock(alow=["typo.example"])
def test_typo():
    pass
"""
    )
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*usersock takes only allow=*alow*"])


def test_flag_runs_every_test_of_an_unmodified_suite_in_its_own_network(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        PROBE
        + """
networks = []

@pytest.fixture
def listener():
    s = socket.create_server(("127.0.0.1", 0))
    yield s
    s.close()

def test_one(listener):
    assert type(listener) is VirtualSocket
    networks.append(current())

def test_two():
    assert describe()[0]
    networks.append(current())
    assert networks[0] is not networks[1] and networks[0].closed

def test_with_fixture_too(usersock_net):
    assert current() is usersock_net

class TestInAClass:
    def test_method(self):
        assert describe()[0]
"""
    )
    run(pytester, "--usersock").assert_outcomes(passed=4)
    run(pytester).assert_outcomes(passed=1, failed=3)  # without the flag: real sockets


@pytest.mark.parametrize("ini", ["pytest.ini", "pyproject.toml"])
def test_ini_option_turns_the_flag_on(pytester: pytest.Pytester, ini: str) -> None:
    if ini == "pytest.ini":
        pytester.makeini("[pytest]\nusersock = true\n")
    else:
        pytester.makepyprojecttoml("[tool.pytest.ini_options]\nusersock = true\n")
    pytester.makepyfile(PROBE + "\ndef test_patched():\n    assert describe()[0]\n")
    run(pytester).assert_outcomes(passed=1)


def test_failures_and_setup_errors_still_restore(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        PROBE
        + """
@pytest.fixture
def broken():
    raise RuntimeError("setup fails")

@pytest.mark.usersock
def test_setup_error(broken):
    pass

@pytest.mark.usersock
def test_fails():
    assert False

def test_after():
    assert describe() == (False, None)
"""
    )
    run(pytester, "--usersock").assert_outcomes(passed=0, failed=2, errors=1)
    run(pytester).assert_outcomes(passed=1, failed=1, errors=1)


def test_help_and_markers_list_the_plugin(pytester: pytest.Pytester) -> None:
    run(pytester, "--help").stdout.fnmatch_lines(["*--usersock*", "*usersock (bool)*"])
    run(pytester, "--markers").stdout.fnmatch_lines(["@pytest.mark.usersock(allow=*"])


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is 3.11+")
def test_the_entry_point_is_declared() -> None:
    import tomllib  # type: ignore[import-not-found]  # 3.11+ (skipif above)

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["pytest11"] == {"usersock": "usersock.pytest_plugin"}


@pytest.mark.parametrize("flag", [[], ["--usersock"]])
def test_the_examples_pass(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, flag: list[str]
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT), prepend=":")
    for path in sorted((ROOT / "examples").glob("*.py")):
        pytester.makepyfile(**{path.stem: path.read_text()})
    result = pytester.runpytest_subprocess(*plugin_args(), "-p", "no:cacheprovider", *flag)
    result.assert_outcomes(passed=6)
