"""The application steps that send urgent data (``write N urgent``) and read how the peer ended the
stream (``read-eof``, ``read-reset``): what the loader makes of them, and its messages for mistakes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from test_loader_errors import BASE

from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_case
from tcpconform.cases.model import AppStep


def _app_steps(write_case: Callable[..., str], lines: str) -> list[AppStep]:
    case = load_case(write_case(BASE + lines))
    return [s for s in case.steps if isinstance(s, AppStep)]


def test_an_urgent_write_and_the_two_reads_of_the_end(write_case: Callable[..., str]) -> None:
    steps = _app_steps(write_case, "  - app: write 5 urgent\n  - app: write 5\n  - app: read-eof\n  - app: read-reset\n")
    assert [(s.action, s.count, s.urgent) for s in steps[-4:]] == [
        ("write", 5, True), ("write", 5, False), ("read-eof", None, False), ("read-reset", None, False)]


@pytest.mark.parametrize(("line", "message"), [
    ("read-eof 3", "read-eof takes no argument (got 'read-eof 3')"),
    ("write 5 urgently", "write needs a byte count from 1 to 16,777,216: 'write N' (got 'write 5 urgently')"),
    ("read 5 urgent", "read needs a byte count from 1 to 16,777,216: 'read N' (got 'read 5 urgent')"),
])
def test_mistakes_are_named_at_their_line(write_case: Callable[..., str], line: str, message: str) -> None:
    with pytest.raises(CaseFileError) as err:
        load_case(write_case(BASE + f"  - app: {line}\n"))
    assert message in str(err.value)
