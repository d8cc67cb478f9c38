"""Suite-wide guard: whatever the tests create (namespaces, links, firewall tables, processes, all
named ``tcpc…``) must be gone when the suite ends.  Each folder checks its own as well; this catches
what slips between them."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import settings

if "PYTHONPYCACHEPREFIX" not in os.environ:
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="tcpc-pycache-")
"""The tests start the command line as a process a few hundred times: each compiles the package
once for all into a bytecode cache of the suite's own (outside the checkout, removed at the end)
rather than every time, which an environment with PYTHONDONTWRITEBYTECODE would make it do
(half a second a process)."""

settings.register_profile(
    "suite", derandomize=True, deadline=None, database=None,
    max_examples=int(os.environ.get("TCPC_PROPERTY_EXAMPLES", "100")))
settings.load_profile("suite")
"""Property tests draw the same examples on every run, so the suite is a gate that cannot flicker;
``TCPC_PROPERTY_EXAMPLES`` raises the number drawn to explore further (``tcpconform bench --fuzz``
is the long campaign)."""


@pytest.fixture(scope="session", autouse=True)
def case_cache_of_the_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Validated case files are cached under the suite's own cache home (the CLI run as a process
    inherits it), so the tests use the cache as a user does without touching the user's."""
    from tcpconform.cases import cache as casecache

    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache-home"))
    casecache.directory.cache_clear()
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old
    casecache.directory.cache_clear()


def _can_look() -> bool:
    return os.geteuid() == 0


_before: dict[str, list[str]] = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    if _can_look() and not hasattr(session.config, "workerinput"):
        from tcpconform.lab.leftovers import leftovers

        _before.update(leftovers())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The suite-wide guard, where the whole suite is seen: in the process that ran it all or, under
    pytest-xdist, in the controller once every worker is done (a worker would see another's labs)."""
    if hasattr(session.config, "workerinput"):
        return
    cache = os.environ.get("PYTHONPYCACHEPREFIX", "")
    if os.path.basename(cache).startswith("tcpc-pycache-"):
        shutil.rmtree(cache, ignore_errors=True)
    if not _can_look():
        return
    from tcpconform.lab.leftovers import format_report, leftovers

    after = leftovers()
    new = {kind: [x for x in items if x not in _before.get(kind, [])] for kind, items in after.items()}
    if any(new.values()):
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"the test suite left behind:\n{format_report(new)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
