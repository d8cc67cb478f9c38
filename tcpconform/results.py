"""What a run found: the results model and its JSON form (``results.json``).

One model serves every report: the console, ``results.json`` and, later, HTML, JUnit and pcap
writers read the same objects.  Times inside a case are seconds since the case started, taken
from the link's clock (the kernel's receive timestamps on a wire, the virtual clock in-process).
The JSON schema is documented in ``docs/results.md``; bump :data:`SCHEMA` on incompatible change.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

SCHEMA = "tcpconform-results/1"

Verdict = Literal["pass", "fail", "error", "skip"]
StepVerdict = Literal["pass", "fail", "error", "skip", "not-run"]


@dataclass(slots=True)
class Mismatch:
    field: str
    expected: str
    actual: str


@dataclass(slots=True)
class SegmentRecord:
    """One segment on the case's connection, in either direction."""

    direction: Literal["out", "in"]
    at: float
    summary: str
    """tcpdump-like, sequence numbers in the case's own numbering."""
    wire: str
    """The same with absolute (wire) numbers."""
    fields: dict[str, Any]
    step: int | None = None
    note: str = ""
    frame: bytes | None = field(default=None, repr=False)
    """The exact frame on the wire, when the link saw one (not written to JSON; the pcap has it)."""
    segment: Any = field(default=None, repr=False, compare=False)
    """The segment itself (not written to JSON): a run without a wire builds its pcap frames from it,
    only when a pcap is written, so recording a segment costs nothing more."""

    @property
    def wire_frame(self) -> bytes | None:
        """The frame on the wire, or the one this segment would have been."""
        if self.frame is not None or self.segment is None:
            return self.frame
        from tcpconform.wire import encode
        from tcpconform.wire.ethernet import TARGET_MAC, TESTER_MAC

        macs = (TESTER_MAC, TARGET_MAC) if self.direction == "out" else (TARGET_MAC, TESTER_MAC)
        self.frame = encode(self.segment, *macs)
        return self.frame


@dataclass(slots=True)
class TargetEvent:
    at: float
    kind: str
    detail: str
    old: str | None = None
    new: str | None = None


@dataclass(slots=True)
class StepResult:
    index: int
    loc: str
    kind: str
    text: str
    verdict: StepVerdict = "not-run"
    started: float | None = None
    ended: float | None = None
    expected: str | None = None
    observed: list[int] = field(default_factory=list)
    """Indexes into the case's ``segments`` of what this step saw."""
    mismatches: list[Mismatch] = field(default_factory=list)
    message: str = ""
    requirement: dict[str, Any] | None = None


@dataclass(slots=True)
class CaseResult:
    id: str
    title: str
    file: str
    line: int
    area: str
    level: str
    requirements: list[dict[str, Any]]
    verdict: Verdict = "error"
    failed_level: str | None = None
    reason: str = ""
    duration: float = 0.0
    started: float = 0.0
    connection: dict[str, Any] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    segments: list[SegmentRecord] = field(default_factory=list)
    target_events: list[TargetEvent] = field(default_factory=list)
    pcap: str | None = None
    """The case's pcap, relative to the report directory, once written."""
    baseline: str | None = None
    """How the baseline judged this verdict: ``expected-fail``, ``unexpected-pass`` or ``new-failure``."""
    started_wall: float = 0.0
    """When the case started, as a Unix time (pcap timestamps of in-process runs are built from it)."""
    figures: dict[str, Any] = field(default_factory=dict)
    """What the case measured, by name (ISN statistics...), for the reports whatever the verdict."""

    @property
    def failed_step(self) -> StepResult | None:
        for step in self.steps:
            if step.verdict in ("fail", "error"):
                return step
        return None


@dataclass(slots=True)
class RunResult:
    meta: dict[str, Any]
    cases: list[CaseResult] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "error": 0, "skip": 0}
        for case in self.cases:
            out[case.verdict] += 1
        return out

    def counts_by_level(self) -> dict[str, dict[str, int]]:
        """Verdicts per level; a failure counts at the level of the requirement that failed."""
        out: dict[str, dict[str, int]] = {}
        for case in self.cases:
            level = (case.failed_level or case.level) if case.verdict == "fail" else case.level
            row = out.setdefault(level, {"pass": 0, "fail": 0, "error": 0, "skip": 0})
            row[case.verdict] += 1
        return out

    @property
    def ok(self) -> bool:
        return all(c.verdict in ("pass", "skip") for c in self.cases)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "run": self.meta,
            "summary": {"counts": self.counts(), "by_level": self.counts_by_level()},
            "cases": [_case_dict(c) for c in self.cases],
        }

    def write_json(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "results.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, default=_json_default) + "\n")
        tmp.replace(path)  # a reader never sees half a file
        return path


_NOT_IN_JSON = ("frame", "segment")


def _case_dict(case: CaseResult) -> dict[str, Any]:
    """A case as JSON data; frames and segment objects stay out (the pcaps hold the bytes)."""
    out: dict[str, Any] = {}
    for f in fields(case):
        value = getattr(case, f.name)
        out[f.name] = [asdict(x) for x in value] if f.name in ("steps", "target_events") else value
    out["segments"] = [
        {f.name: getattr(s, f.name) for f in fields(s) if f.name not in _NOT_IN_JSON} for s in case.segments
    ]
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, frozenset | set | tuple):
        return list(value)
    return str(value)
