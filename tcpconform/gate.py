"""The CI gate: which failures fail a run, known deviations, and comparing two runs.

A gate that fails on every SHOULD gets switched off, and one that cannot accept a known deviation
hides every new failure behind the old one.  So: ``--fail-on must`` (the default) fails the run
on a failed MUST only; a **baseline** file lists known deviations (case id, target, reason) that are
reported as expected, an unexpected pass is flagged so the baseline gets cleaned, and only new
failures count.  ``compare`` tells two runs apart (two stacks, or two firmware builds).

Rule: :func:`evaluate` decides a run's :class:`GateVerdict` once; the console, the reports, the
exit code and the pytest summary render that verdict and never judge the verdicts again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from tcpconform.errors import UsageError
from tcpconform.results import CaseResult, RunResult

FAIL_ON = {"must": 0, "should": 1, "any": 2}
"""``--fail-on`` thresholds as the highest level rank that fails the run (MUST 0, SHOULD 1, MAY 2)."""
_RANK = {"MUST": 0, "SHOULD": 1, "MAY": 2}
_COUNTED = {"must": "MUST", "should": "MUST or SHOULD", "any": "any"}

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
"""Exit codes: every case passed or was skipped; the gate failed; a case could not run."""


class BaselineError(UsageError):
    """The baseline file is malformed; the message names the file, entry and field."""


@dataclass(frozen=True, slots=True)
class Deviation:
    case: str
    """Case id or shell-style pattern."""
    reason: str
    target: str = "*"
    """Pattern on the run's target name (``Linux*``); ``*`` for any target."""

    def covers(self, case: CaseResult, target: str) -> bool:
        return fnmatchcase(case.id, self.case) and fnmatchcase(target, self.target)


def load_baseline(path: Path) -> list[Deviation]:
    """A YAML (or JSON) file: ``deviations: [{case, reason, target?}, ...]``."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise BaselineError(f"{path}: cannot read: {err.strerror}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise BaselineError(f"{where}: not valid YAML: {getattr(err, 'problem', err)}") from None
    if not isinstance(data, dict) or not isinstance(data.get("deviations"), list):
        raise BaselineError(f"{path}: expected a mapping with a 'deviations' list")
    out = []
    for i, entry in enumerate(data["deviations"]):
        where = f"{path}: deviations[{i}]"
        if not isinstance(entry, dict):
            raise BaselineError(f"{where}: expected a mapping with case, reason and optionally target")
        unknown = set(entry) - {"case", "reason", "target"}
        if unknown:
            raise BaselineError(f"{where}: unknown field(s) {', '.join(sorted(unknown))} (known: case, reason, target)")
        for key in ("case", "reason"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise BaselineError(f"{where}.{key}: required, a non-empty string")
        out.append(Deviation(entry["case"], entry["reason"], str(entry.get("target", "*"))))
    return out


def apply_baseline(result: RunResult, deviations: list[Deviation]) -> None:
    """Mark each case ``expected-fail``, ``unexpected-pass`` or ``new-failure`` (in place)."""
    target = result.meta.target
    for case in result.cases:
        known = next((d for d in deviations if d.covers(case, target)), None)
        if known is not None and case.verdict == "fail":
            case.baseline = "expected-fail"
            case.reason = f"{case.reason} [known deviation: {known.reason}]"
        elif known is not None and case.verdict == "pass":
            case.baseline = "unexpected-pass"
        elif case.verdict == "fail":
            case.baseline = "new-failure" if deviations else None


def gate_failures(result: RunResult, fail_on: str) -> list[CaseResult]:
    """Failed cases that fail the run: not known deviations, and at a level ``fail_on`` counts."""
    limit = FAIL_ON[fail_on]
    return [
        c for c in result.cases
        if c.verdict == "fail" and c.baseline != "expected-fail"
        and _RANK.get(c.failed_level or c.level, 0) <= limit
    ]


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """What the gate made of a run's verdicts."""

    fail_on: str | None
    """The ``--fail-on`` threshold; None for a run without one (pytest), where every failure counts."""
    passed: bool
    counted: tuple[str, ...]
    """Ids of the failures that fail the run."""
    judged: tuple[tuple[str, str], ...]
    """``(case id, "expected-fail" | "unexpected-pass")`` in the run's order: what the baseline said."""
    failed: int
    """Failed cases, counted or not."""
    errors: int
    """Cases that could not run."""
    summary: str
    """The gate's line for the console ("" when no case failed)."""
    exit_code: int

    @property
    def known(self) -> tuple[str, ...]:
        """Baseline deviations seen (failures the baseline expects)."""
        return tuple(cid for cid, how in self.judged if how == "expected-fail")

    @property
    def stale(self) -> tuple[str, ...]:
        """Baseline entries that now pass (to be removed from the baseline)."""
        return tuple(cid for cid, how in self.judged if how == "unexpected-pass")


def evaluate(result: RunResult, fail_on: str | None, baseline: list[Deviation] | None = None) -> GateVerdict:
    """Judge ``result`` once: the baseline applied to its cases (in place), then the gate's verdict."""
    if baseline:
        apply_baseline(result, baseline)
    counted = tuple(c.id for c in gate_failures(result, fail_on or "any"))
    failed = sum(1 for c in result.cases if c.verdict == "fail")
    errors = sum(1 for c in result.cases if c.verdict == "error")
    summary = ""
    if fail_on is not None and counted:
        summary = f"gate: FAIL ({len(counted)} new failure(s) at {_COUNTED[fail_on]} level: {', '.join(counted)})"
    elif fail_on is not None and errors:
        summary = (f"gate: ERROR ({errors} case(s) could not run: the gate cannot pass on cases it did not judge"
                   + (f"; {failed} failure(s), none counted with --fail-on {fail_on}" if failed else "") + ")")
    elif fail_on is not None and failed:
        summary = f"gate: pass ({failed} failure(s), none counted with --fail-on {fail_on})"
    exit_code = EXIT_FAIL if counted else EXIT_ERROR if errors else EXIT_OK
    judged = tuple((c.id, str(c.baseline)) for c in result.cases if c.baseline in ("expected-fail", "unexpected-pass"))
    return GateVerdict(fail_on, exit_code == EXIT_OK, counted, judged, failed, errors, summary, exit_code)


@dataclass
class Comparison:
    regressions: list[tuple[str, str, str]]
    fixes: list[tuple[str, str, str]]
    other: list[tuple[str, str, str]]
    only_a: list[str]
    only_b: list[str]
    unfinished: list[str] = field(default_factory=list)
    """What says that a run compared did not finish (``run.state`` other than complete), one line each."""

    @property
    def ok(self) -> bool:
        return not self.regressions


def _load_run(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise BaselineError(f"{path}: cannot read: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise BaselineError(f"{path}:{err.lineno}: not JSON: {err.msg}") from None
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("tcpconform-results/"):
        raise BaselineError(f"{path}: not a tcpconform results.json (no 'schema': 'tcpconform-results/…')")
    return data


def compare(a_path: Path, b_path: Path) -> Comparison:
    """How verdicts changed from run A to run B; a regression is a case that passed in A and not in B."""
    runs = {label: _load_run(path) for label, path in (("A", a_path), ("B", b_path))}
    a = {c["id"]: c["verdict"] for c in runs["A"]["cases"]}
    b = {c["id"]: c["verdict"] for c in runs["B"]["cases"]}
    out = Comparison([], [], [], sorted(set(a) - set(b)), sorted(set(b) - set(a)))
    for label, data in runs.items():
        state = data.get("run", {}).get("state", "complete")
        if state != "complete":
            why = {"running": "it was killed, or is still going on", "interrupted": "it was interrupted",
                   "aborted": f"it stopped on an error: {data['run'].get('abort_reason', '?')}"}.get(state, state)
            out.unfinished.append(f"{label} is a run that did not finish ({why}): it lacks the cases it did not reach")
    for cid in sorted(set(a) & set(b)):
        va, vb = a[cid], b[cid]
        if va == vb:
            continue
        if va == "pass" and vb in ("fail", "error"):
            out.regressions.append((cid, va, vb))
        elif va in ("fail", "error") and vb == "pass":
            out.fixes.append((cid, va, vb))
        else:
            out.other.append((cid, va, vb))
    return out
