"""Suite-wide guard: whatever the tests create (namespaces, links, firewall tables, processes, all
named ``tcpc…``) must be gone when the suite ends.  Each folder checks its own as well; this catches
what slips between them."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


def _can_look() -> bool:
    return os.geteuid() == 0


@pytest.fixture(scope="session", autouse=True)
def suite_leaves_nothing_behind() -> Iterator[None]:
    if not _can_look():
        yield
        return
    from tcpconform.cleanup import format_report, leftovers

    before = leftovers()
    yield
    after = leftovers()
    new = {kind: [x for x in items if x not in before.get(kind, [])] for kind, items in after.items()}
    if any(new.values()):
        pytest.fail(f"the test suite left behind:\n{format_report(new)}")
