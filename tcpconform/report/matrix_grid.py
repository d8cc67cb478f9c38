"""The verdicts of a run's matrix cases as a state x event grid, for the console and the HTML report.

A run's list of verdicts hides the pattern that matters in a matrix (a whole row failing says "this
state is mishandled", a column "this segment kind is"), so the grid shows it at a glance.  A case
belongs to the grid when its result carries a ``matrix_cell`` (state, event), which only cases
generated from a matrix table do; rows follow the order of :class:`~tcpconform.tcp.states.State`,
columns :data:`~tcpconform.cases.matrix.EVENT_ORDER`, then other events as first seen.
"""

from __future__ import annotations

from collections.abc import Iterable

from tcpconform.cases.matrix import EVENT_ORDER
from tcpconform.results import CaseResult, RunResult
from tcpconform.tcp.states import State

__all__ = ["matrix_summary"]

_GLYPH = {"pass": "ok", "fail": "FAIL", "error": "ERR", "skip": "skip"}


def matrix_summary(results: RunResult | Iterable[CaseResult]) -> list[str]:
    """The grid's lines: a header of events, one line per state, then the counts.

    Cells without a case (omitted in the table, or not selected) are ``-``.  No matrix case: no lines.
    """
    cases = results.cases if isinstance(results, RunResult) else list(results)
    grid: dict[tuple[str, str], str] = {}
    for case in cases:
        if case.matrix_cell is not None:
            grid[case.matrix_cell] = case.verdict
    if not grid:
        return []
    states = [s.value for s in State if any(k[0] == s for k in grid)]
    seen = list(dict.fromkeys(e for _, e in grid))
    events = [e for e in EVENT_ORDER if e in seen] + [e for e in seen if e not in EVENT_ORDER]
    first = max(len(s) for s in states)
    widths = [max(len(e), 4) for e in events]
    lines = [" " * first + "  " + "  ".join(e.ljust(w) for e, w in zip(events, widths, strict=True)).rstrip()]
    for state in states:
        cells = [_GLYPH.get(grid.get((state, e), ""), "-").ljust(w) for e, w in zip(events, widths, strict=True)]
        lines.append(f"{state:<{first}}  " + "  ".join(cells).rstrip())
    counts = {v: sum(1 for x in grid.values() if x == v) for v in ("pass", "fail", "error", "skip")}
    lines.append(f"{len(grid)} cells: " + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
                 + "  (- no case: omitted or not run)")
    return lines
