"""The usersock pytest plugin (registered through the ``pytest11`` entry point).

Three ways to put a test on its own fresh virtual network (:func:`usersock.patched`):

* the ``usersock_net`` fixture, which yields the :class:`usersock.Network` so the test can
  configure it (``usersock_net.add_host("api.test")``) and look at it
  (``usersock_net.connections()``);
* the marker ``@pytest.mark.usersock(allow=["db.example.com:5432"])`` (on a test, a class
  or a module; the ``allow`` lists of all markers that apply are joined);
* the ``--usersock`` command-line flag, or ``usersock = true`` in the ini file, which runs
  *every* test of a suite in its own network, the suite unmodified.

With the marker or the flag, the network spans the test's setup, call and teardown, so
function-scoped fixtures that start servers run on it too, and a test that also asks for
``usersock_net`` gets that same network. With the fixture alone, the network lives as long
as the fixture: fixtures that need it should depend on ``usersock_net``. Sockets made by
fixtures of a wider scope (module, session) belong to the network of the test that made
them and are closed when that test ends.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from usersock.net import Network
from usersock.patch import patched

_ACTIVE = pytest.StashKey[tuple[patched, Network]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    help_text = "run every test inside its own fresh usersock virtual network"
    parser.getgroup("usersock").addoption(
        "--usersock", action="store_true", default=False, help=help_text
    )
    parser.addini("usersock", help_text + " (like --usersock)", type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "usersock(allow=[...]): run the test inside a fresh usersock virtual network; allow"
        " lists the real hosts ('host', 'host:port') it may reach",
    )


def _allow_list(item: pytest.Item) -> list[str] | None:
    """The joined ``allow`` lists if the item runs on a network of its own, else ``None``."""
    markers = list(item.iter_markers("usersock"))
    enabled = item.config.getoption("usersock") or item.config.getini("usersock")
    if not markers and not enabled:
        return None
    allow: list[str] = []
    for marker in markers:
        unknown = set(marker.kwargs) - {"allow"}
        if marker.args or unknown:
            raise TypeError(
                f"{item.nodeid}: @pytest.mark.usersock takes only allow=[...],"
                f" not {list(marker.args) + sorted(unknown)}"
            )
        allow.extend(marker.kwargs.get("allow", ()))
    return allow


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Enter the item's network before its fixtures are set up."""
    allow = _allow_list(item)
    if allow is not None:
        ctx = patched(allow=allow)
        item.stash[_ACTIVE] = (ctx, ctx.__enter__())


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    """Leave it after everything else has torn down (also when teardown fails)."""
    yield
    active = item.stash.get(_ACTIVE, None)
    if active is not None:
        del item.stash[_ACTIVE]
        active[0].__exit__(None, None, None)


@pytest.fixture
def usersock_net(request: pytest.FixtureRequest) -> Iterator[Network]:
    """A fresh virtual network, patched in for this test; yields the :class:`Network`."""
    active = request.node.stash.get(_ACTIVE, None)
    if active is not None:
        yield active[1]
        return
    with patched() as network:
        yield network
