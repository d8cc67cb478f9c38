"""RFC 9293's labelled requirements against the cases: those that check each (``tcpconform coverage``),
and what a run showed of each (the HTML report's requirements table)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tcpconform.cases.requirements import OBSERVABLE, CoverageRow, LabelledRequirement, rfc9293
from tcpconform.results import RunResult

STATUS_WORDS = {"checked": "checked", "partly": "partly", "missing": "MISSING", "unobservable": "not on wire"}


def coverage_lines(rows: Sequence[CoverageRow], *, levels: Sequence[str] = (), only_missing: bool = False,
                   verbose: bool = False) -> Iterator[str]:
    """A line per requirement (its cases, or what is missing), then the counts per level; ``levels``
    (lower case) and ``only_missing`` (partly or not checked) select the rows."""
    rows = [r for r in rows if (not levels or r.requirement.level.value.lower() in levels)
            and (not only_missing or r.status in ("partly", "missing"))]
    for row in rows:
        req = row.requirement
        head = f"{req.rid:<8} {req.level.value:<6} {STATUS_WORDS[row.status]:<11} {req.section:<10} {req.text}"
        yield head
        if row.cases:
            yield from _wrapped("cases: " + ", ".join(row.cases))
        if req.missing and (verbose or not row.cases):
            label = "why: " if req.observable == "no" else f"missing ({OBSERVABLE[req.observable]}): "
            yield from _wrapped(label + req.missing.removeprefix("not observable on the wire: "))
    yield ""
    yield from summary_lines(rows)


def summary_lines(rows: Sequence[CoverageRow]) -> Iterator[str]:
    """Per level: how many requirements are checked, partly, missing (observable) and not observable."""
    for level in ("MUST", "SHOULD", "MAY"):
        of = [r for r in rows if r.requirement.level.value == level]
        counts = {s: sum(1 for r in of if r.status == s) for s in STATUS_WORDS}
        observable = len(of) - counts["unobservable"]
        yield (f"{level:<6} {len(of):>3}: {counts['checked']:>3} checked, {counts['partly']:>3} partly, "
               f"{counts['missing']:>3} missing, {counts['unobservable']:>3} not observable on the wire "
               f"({counts['checked'] + counts['partly']} of {observable} observable have a case)")


def _wrapped(text: str) -> Iterator[str]:
    yield from textwrap.wrap(text, width=110, initial_indent=" " * 9, subsequent_indent=" " * 11)


@dataclass(frozen=True, slots=True)
class RunRequirement:
    """One labelled requirement as a run judged it: the cases citing it, by what they showed of it."""

    requirement: LabelledRequirement
    failed: tuple[str, ...]
    """Cases whose failing step checked this requirement."""
    passed: tuple[str, ...]
    """Cases that passed."""
    other: tuple[str, ...]
    """Cases citing it that neither passed nor failed at it: failed elsewhere, errored, were skipped."""

    @property
    def verdict(self) -> str:
        return "fail" if self.failed else "pass" if self.passed else "not judged"


def run_requirements(result: RunResult) -> list[RunRequirement]:
    """The labelled requirements the run's cases cite, in the RFC's order: which failed, which passed."""
    by_rid: dict[str, dict[str, list[str]]] = {}
    for case in result.cases:
        failing = case.failed_step.requirement if case.failed_step is not None else None
        for req in case.requirements:
            if req.rid is None:
                continue
            row = by_rid.setdefault(req.rid, {"failed": [], "passed": [], "other": []})
            if case.verdict == "fail" and failing is not None and failing.rid == req.rid:
                row["failed"].append(case.id)
            elif case.verdict == "pass":
                row["passed"].append(case.id)
            else:
                row["other"].append(case.id)
    return [RunRequirement(labelled, *(tuple(by_rid[rid][k]) for k in ("failed", "passed", "other")))
            for rid, labelled in rfc9293().items() if rid in by_rid]
