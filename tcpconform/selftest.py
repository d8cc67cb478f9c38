"""``selftest``: proof that every case can fail, and fails for the reason it claims.

A conformance test that cannot fail proves nothing.  The reference responder has named faults;
each case names the faults that must make it fail (or says why none applies).  The selftest runs
every case against the clean responder (all must pass) and against the responder with each fault
(each fault must be caught by at least one case, and each case must fail under every fault it
names).  Its matrix is the evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

from tcpconform.cases.model import TestCase
from tcpconform.results import RunResult
from tcpconform.run import RunRequest, TargetChoice, run


@dataclass
class SelftestReport:
    cases: list[str]
    faults: list[str]
    clean: dict[str, str] = field(default_factory=dict)
    """Case id -> verdict against the clean responder."""
    matrix: dict[str, dict[str, str]] = field(default_factory=dict)
    """Fault -> case id -> verdict."""
    declared: dict[str, list[str]] = field(default_factory=dict)
    """Case id -> faults the case says must make it fail."""
    no_fault: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok, "cases": self.cases, "faults": self.faults, "clean": self.clean,
            "matrix": self.matrix, "declared": self.declared, "no_fault": self.no_fault,
            "problems": self.problems,
        }


def _run(cases: Sequence[TestCase], faults: Sequence[str], lab_name: str | None, ipv6: bool) -> RunResult:
    """One run of every case, one connection at a time, against the responder with ``faults``:
    in-process, or on the wire in lab ``lab_name``."""
    choice = TargetChoice(tuple(faults), "reference" if lab_name is not None else None, lab_name or "0", ipv6=ipv6)
    return run(RunRequest(cases, choice, jobs=1, fail_on=None)).result


def run_selftest(cases: Sequence[TestCase], only_faults: Sequence[str] | None = None,
                 lab_name: str | None = None, *, ipv6: bool = False) -> SelftestReport:
    """Every case clean and under every fault; in-process, or on the wire in lab ``lab_name``; over
    IPv4 or IPv6.  A fault that can only show over the other family is left out (there is nothing
    for a case to catch), and so are cases declared for the other family (they would only skip)."""
    from tcpconform.responder.faults import FAULTS, applies

    family = "ipv6" if ipv6 else "ipv4"
    cases = [c for c in cases if c.family in (None, family)]
    faults = [f for f in (only_faults or FAULTS) if applies(f, family)]

    with ExitStack() as stack:
        if lab_name is not None:
            from tcpconform.lab.lab import find_lab, temporary_lab

            if find_lab(lab_name) is None:  # one lab for all the runs, gone afterwards
                stack.enter_context(temporary_lab(lab_name))
        return _selftest(cases, faults, lab_name, ipv6)


def _selftest(cases: Sequence[TestCase], faults: list[str], lab_name: str | None, ipv6: bool) -> SelftestReport:
    report = SelftestReport([c.id for c in cases], faults)
    report.declared = {c.id: list(c.faults) for c in cases}
    report.no_fault = {c.id: c.no_fault for c in cases if c.no_fault}

    clean = _run(cases, (), lab_name, ipv6)
    report.clean = {c.id: c.verdict for c in clean.cases}
    for cid, verdict in report.clean.items():
        if verdict != "pass":
            report.problems.append(f"{cid}: {verdict} against the clean reference responder (must pass)")

    for fault in faults:
        result = _run(cases, (fault,), lab_name, ipv6)
        report.matrix[fault] = {c.id: c.verdict for c in result.cases}
        if not any(v == "fail" for v in report.matrix[fault].values()):
            report.problems.append(f"fault {fault}: no case detects it")
    for case in cases:
        for fault in case.faults:
            if fault not in report.matrix:
                continue
            verdict = report.matrix[fault][case.id]
            if verdict != "fail":
                report.problems.append(f"{case.id}: names fault {fault} but gives '{verdict}' under it")
        if not case.faults and not case.no_fault:
            report.problems.append(f"{case.id}: names no fault and does not say why none applies")
    return report


def format_matrix(report: SelftestReport) -> list[str]:
    """The case x fault matrix: ``X`` caught as declared, ``x`` caught though not declared,
    ``!`` declared but not caught, ``.`` passes; a first column for the clean responder."""
    width = max([len(c) for c in report.cases] + [8])
    lines = ["Faults:"]
    for i, fault in enumerate(report.faults):
        lines.append(f"  F{i + 1:<3} {fault}")
    head = f"{'case':<{width}}  clean  " + " ".join(f"F{i + 1:<3}" for i in range(len(report.faults)))
    lines += ["", head]
    for cid in report.cases:
        clean = "pass" if report.clean.get(cid) == "pass" else report.clean.get(cid, "?").upper()
        cells = []
        for fault in report.faults:
            verdict = report.matrix.get(fault, {}).get(cid, "?")
            declared = fault in report.declared.get(cid, [])
            if verdict == "fail":
                cells.append("X" if declared else "x")
            elif declared:
                cells.append("!")
            else:
                cells.append("." if verdict == "pass" else verdict[:1].upper())
        lines.append(f"{cid:<{width}}  {clean:<5}  " + " ".join(f"{c:<4}" for c in cells))
    detected = sum(1 for f in report.faults if any(v == "fail" for v in report.matrix.get(f, {}).values()))
    lines.append("")
    lines.append("X caught as the case declares   x caught, not declared   ! declared, not caught   . passes")
    lines.append(f"{detected}/{len(report.faults)} faults detected; "
                 f"{sum(1 for v in report.clean.values() if v == 'pass')}/{len(report.cases)} cases pass clean")
    if report.problems:
        lines.append("PROBLEMS:")
        lines += [f"  - {p}" for p in report.problems]
    else:
        lines.append("selftest OK: every case passes clean, every fault is caught, every case can fail")
    return lines
