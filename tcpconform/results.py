"""What a run found: the results model and its JSON form (``results.json``).

One model serves every report: the console and every writer of :mod:`tcpconform.report` read
the same objects, and nothing here encodes or renders them.  Times inside a case are seconds since the case started, taken
from the link's clock (the kernel's receive timestamps on a wire, the virtual clock in-process).
The JSON schema is documented in ``docs/results.md``; bump :data:`SCHEMA` on incompatible change.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, cast

SCHEMA = "tcpconform-results/1"

Verdict = Literal["pass", "fail", "error", "skip"]
StepVerdict = Literal["pass", "fail", "error", "skip", "not-run"]


@dataclass(frozen=True, slots=True)
class RequirementRef:
    """The RFC clause a case checks, as its results carry it (a :class:`~tcpconform.cases.model.Requirement`
    with its level spelled out)."""

    id: str
    ref: str
    """``RFC 9293 3.8.6.3``."""
    level: str
    """``MUST``, ``SHOULD`` or ``MAY``."""
    rid: str | None
    """The RFC's own requirement id (``MUST-40``), when it has one."""
    text: str

    def __str__(self) -> str:
        """``RFC 9293 3.10.7.4 MUST-40 (MUST): text``, as the console and the reports write it."""
        rid = f" {self.rid}" if self.rid else ""
        return f"{self.ref}{rid} ({self.level}): {self.text}"


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
    """The segment itself (not written to JSON): a run without a wire gets its pcap frames built from
    it, only when a pcap is written, so recording a segment costs nothing more."""


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
    requirement: RequirementRef | None = None


@dataclass(slots=True)
class CaseResult:
    id: str
    title: str
    file: str
    line: int
    area: str
    level: str
    requirements: list[RequirementRef]
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
    unverified_checksums: int = 0
    """Segments from the target whose checksum could not be verified: the kernel says it was never
    computed (a transmit checksum offload on a veth or TAP).  No invariant judged them, either way."""
    long: float | None = None
    """A long case's expected duration in seconds (its mandated waiting); ``None``: not a long case."""
    again: str | None = None
    """Why the case ran a second time, alone, and this is that run's verdict: the tester itself was
    late before the first run's failure (:data:`tcpconform.engine.cleanup.LATE_LIMIT`)."""
    matrix_cell: tuple[str, str] | None = None
    """``(state, event)`` of a case generated from a matrix table (the reports' grid); not in the JSON."""

    @property
    def failed_step(self) -> StepResult | None:
        for step in self.steps:
            if step.verdict in ("fail", "error"):
                return step
        return None


@dataclass(frozen=True, slots=True)
class SessionMeta:
    """How the run's session was set up (filled by :mod:`tcpconform.session`); None: does not apply."""

    mode: str
    """``in-process``, ``lab (linux)``, ``lab (reference)`` or ``remote target``."""
    lab: str | None = None
    lab_created_for_run: bool | None = None
    interface: str | None = None
    tester_address: str | None = None
    rst_suppression: str | None = None
    """How the kernel's RSTs are kept off the tester's connections."""
    warnings: tuple[str, ...] | None = None
    """What may falsify the verdicts (offloads on the user's interface); None where nothing is checked."""


@dataclass(slots=True)
class RunMeta:
    """The ``run`` section of results.json, in its order: the run itself (filled by the engine), the
    session, then what the request asked (filled by :mod:`tcpconform.run`).  None is left out of the JSON."""

    target: str
    target_address: str
    family: Literal["ipv4", "ipv6"]
    link: str
    clock: str
    """``virtual`` in-process, ``realtime`` on a wire: the clock case times and pcap stamps are on."""
    profile: str
    jobs: int
    started: str
    """ISO 8601, UTC, to the second."""
    duration: float
    """Wall-clock seconds."""
    link_time: float
    """Seconds on the link's clock, summed over the cases."""
    versions: dict[str, str]
    strays: list[str]
    """Segments that belonged to no case."""
    frames_dropped: int | None = None
    """Frames the link could not read in time; None for a link that cannot drop any."""
    target_restarts: int | None = None
    """How often the target stopped answering and answered again after ``--restart``; None: never."""
    interrupted: bool | None = None
    """Ctrl-C ended the run: the cases that had not finished are skipped as not run."""
    target_control_error: str | None = None
    """Why the target's control (its agent) failed during the run, if it did: the cases that needed
    it from then on are errors, the others ran."""
    unverified_checksums: int = 0
    """Segments from the target, over every case, whose checksum could not be verified (never
    computed, the kernel says: a transmit checksum offload on a veth or TAP)."""
    session: SessionMeta | None = None
    faults: list[str] | None = None
    case_paths: list[str] | None = None
    fail_on: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "session":
                out.update(_present(asdict(value)) if value is not None else {})
            elif value is not None:
                out[f.name] = value
        return out


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@dataclass(slots=True)
class RunResult:
    meta: RunMeta
    cases: list[CaseResult] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return verdict_counts(self.cases)

    def counts_by_level(self) -> dict[str, dict[str, int]]:
        """Verdicts per level; a failure counts at the level of the requirement that failed."""
        return level_counts(self.cases)

    @property
    def ok(self) -> bool:
        return all(c.verdict in ("pass", "skip") for c in self.cases)

    @property
    def state(self) -> RunState:
        return "interrupted" if self.meta.interrupted else "complete"

    def to_dict(self) -> dict[str, Any]:
        """results.json as data: :meth:`json_text` read back, so there is one way the document is made."""
        return cast(dict[str, Any], json.loads(self.json_text()))

    def json_text(self) -> str:
        """results.json's text: :func:`results_text` of the whole run."""
        return results_text({"state": self.state, **self.meta.to_dict()}, self.cases, [case_json(c) for c in self.cases])

    def write_json(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        return write_atomically(directory / "results.json", self.json_text())


RunState = Literal["running", "complete", "interrupted", "aborted"]
"""``run.state`` in results.json: ``running`` while the run goes on (left so by a run that was
killed), ``interrupted`` by Ctrl-C, ``aborted`` by an error (``run.abort_reason`` says which), else
``complete``.  Only a complete run has a verdict for every case it was given."""


def verdict_counts(cases: list[CaseResult]) -> dict[str, int]:
    out = {"pass": 0, "fail": 0, "error": 0, "skip": 0}
    for case in cases:
        out[case.verdict] += 1
    return out


def level_counts(cases: list[CaseResult]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for case in cases:
        level = (case.failed_level or case.level) if case.verdict == "fail" else case.level
        row = out.setdefault(level, {"pass": 0, "fail": 0, "error": 0, "skip": 0})
        row[case.verdict] += 1
    return out


def case_json(case: CaseResult) -> str:
    """One case as results.json has it; computed once per finished case while a run goes on."""
    return json.dumps(_case_dict(case), indent=1, default=_json_default)


def results_text(run: dict[str, Any], cases: list[CaseResult], case_texts: list[str]) -> str:
    """results.json from its ``run`` section and the cases' texts (:func:`case_json`, in ``cases``' order)."""
    head = json.dumps({"schema": SCHEMA, "run": run,
                       "summary": {"counts": verdict_counts(cases), "by_level": level_counts(cases)}},
                      indent=1, default=_json_default)
    return head[:-2] + ',\n "cases": [' + ",\n".join(case_texts) + "]\n}\n"


def write_atomically(path: Path, text: str) -> Path:
    """``path`` holds ``text`` whole or keeps what it held: a reader, or a kill at any instant, never
    sees half a file.  The temporary file is removed if writing fails (a full disk)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


_NOT_IN_JSON = ("frame", "segment")
_CASE_NOT_IN_JSON = ("matrix_cell",)


def _case_dict(case: CaseResult) -> dict[str, Any]:
    """A case as JSON data; frames and segment objects stay out (the pcaps hold the bytes)."""
    out: dict[str, Any] = {}
    for f in fields(case):
        if f.name in _CASE_NOT_IN_JSON:
            continue
        value = getattr(case, f.name)
        out[f.name] = [asdict(x) for x in value] if f.name in ("steps", "target_events", "requirements") else value
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
