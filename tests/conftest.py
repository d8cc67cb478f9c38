"""Suite-wide guard: whatever the tests create (namespaces, links, firewall tables, processes, all
named ``tcpc…``) must be gone when the suite ends.  Each folder checks its own as well; this catches
what slips between them."""

from __future__ import annotations

import inspect
import os
import re
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


WIRE = re.compile(r"wirelab|support\.stacks|agentlab|lab_up|netns|lab_session|\"--lab\"|needs_root|geteuid|cleanup|stack_up")
"""What marks a test, or a fixture it uses, as one that builds namespaces, links or firewall tables
(or looks at them)."""


def _touches_the_wire(func: object, seen: dict[object, bool]) -> bool:
    if func not in seen:
        try:
            seen[func] = bool(WIRE.search(inspect.getsource(func)))  # type: ignore[arg-type]
        except (OSError, TypeError):
            seen[func] = False
    return seen[func]


def _is_wire(item: pytest.Item, seen: dict[object, bool]) -> bool:
    """The test's own source or any fixture it uses (all the way down) touches the wire; a module
    whose top level does (a module-wide skip on root, say) counts for every test in it."""
    module = getattr(item, "module", None)
    if module is not None and _module_top_level(module, seen):
        return True
    if _touches_the_wire(getattr(item, "function", None), seen):
        return True
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info is not None else ()):
        if any(_touches_the_wire(d.func, seen) for d in defs):
            return True
    return False


def _module_top_level(module: object, seen: dict[object, bool]) -> bool:
    key = ("top", module)
    if key not in seen:
        try:
            text = inspect.getsource(module)  # type: ignore[arg-type]
        except (OSError, TypeError):
            text = ""
        top = "\n".join(line for line in text.splitlines() if line and not line[0].isspace()
                        and not line.startswith(("def ", "class ", "@", "#", '"', ")", "]", "}")))
        seen[key] = bool(re.search(r"needs_root|pytestmark|wirelab|support\.stacks|agentlab", top))
    return seen[key]


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``-n N --dist loadgroup``) the tests on real links run one after another
    in one worker, as they do without it: they share lab names and stack prefixes, a test of
    ``tcpconform cleanup`` removes every ``tcpc`` namespace, and their verdicts time the target.
    The tests that touch no network are spread over the other workers."""
    seen: dict[object, bool] = {}
    for item in items:
        if _is_wire(item, seen):
            item.add_marker(pytest.mark.xdist_group("wire"))


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
