"""Suite-wide guard: whatever the tests create (namespaces, links, firewall tables, processes, all
named ``tcpc…``) must be gone when the suite ends.  Each folder checks its own as well; this catches
what slips between them."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

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


WIRE = re.compile(r"wirelab|support\.stacks|agentlab|lab_up|netns|lab_session|\"--lab\"|needs_root|geteuid|cleanup")
"""What marks a test module as one that builds namespaces, links or firewall tables (or looks at them)."""


def _is_wire(path: Path, seen: dict[Path, bool]) -> bool:
    if path not in seen:
        seen[path] = bool(WIRE.search(path.read_text(errors="replace")))
    return seen[path]


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``-n N --dist loadgroup``) the tests on real links run one after another
    in one worker, as they do without it: they share lab names and stack prefixes, a test of
    ``tcpconform cleanup`` removes every ``tcpc`` namespace, and their verdicts time the target.
    The tests that touch no network are spread over the other workers."""
    seen: dict[Path, bool] = {}
    for item in items:
        path = Path(str(item.fspath))
        if _is_wire(path, seen) or any(_is_wire(c, seen) for c in _conftests(path)):
            item.add_marker(pytest.mark.xdist_group("wire"))


def _conftests(path: Path) -> list[Path]:
    """The conftest.py files between the test's folder and tests/ (their fixtures may build labs)."""
    found, folder = [], path.parent
    while folder.name != "tests" and folder != folder.parent:
        if (folder / "conftest.py").is_file():
            found.append(folder / "conftest.py")
        folder = folder.parent
    return found


_before: dict[str, list[str]] = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    if _can_look() and not hasattr(session.config, "workerinput"):
        from tcpconform.lab.leftovers import leftovers

        _before.update(leftovers())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The suite-wide guard, where the whole suite is seen: in the process that ran it all or, under
    pytest-xdist, in the controller once every worker is done (a worker would see another's labs)."""
    if not _can_look() or hasattr(session.config, "workerinput"):
        return
    from tcpconform.lab.leftovers import format_report, leftovers

    after = leftovers()
    new = {kind: [x for x in items if x not in _before.get(kind, [])] for kind, items in after.items()}
    if any(new.values()):
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"the test suite left behind:\n{format_report(new)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
