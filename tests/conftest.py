"""Suite-wide guard: whatever the tests create (namespaces, links, firewall tables, processes, all
named ``tcpc…``) must be gone when the suite ends.  Each folder checks its own as well; this catches
what slips between them."""

from __future__ import annotations

import os
from collections.abc import Iterator

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


@pytest.fixture(scope="session", autouse=True)
def suite_leaves_nothing_behind() -> Iterator[None]:
    if not _can_look():
        yield
        return
    from tcpconform.lab.leftovers import format_report, leftovers

    before = leftovers()
    yield
    after = leftovers()
    new = {kind: [x for x in items if x not in before.get(kind, [])] for kind, items in after.items()}
    if any(new.values()):
        pytest.fail(f"the test suite left behind:\n{format_report(new)}")
