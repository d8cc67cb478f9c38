"""Console rendering of results: one line per case, and on failure everything needed to debug it.

A failure shows the step's ``file:line`` and source, the RFC clause with its level, every field
that differed (expected vs actual), the segment expected and the segment seen, the exchange so
far as a compact ladder, and the target's state transitions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from tcpconform.cases.long import duration_text
from tcpconform.engine.health import DIED_AFTER, NOT_ANSWERING
from tcpconform.gate import Comparison, GateVerdict
from tcpconform.results import CaseResult, RunResult, StepResult

Echo = Callable[[str], None]

_MARK = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "skip": "SKIP"}


def _style(text: str, verdict: str, color: bool) -> str:
    if not color:
        return text
    code = {"pass": "32", "fail": "31", "error": "35", "skip": "33"}.get(verdict, "0")
    return f"\x1b[{code}m{text}\x1b[0m"


def case_line(case: CaseResult, color: bool = False, index: int | None = None, total: int | None = None,
              elapsed: float | None = None) -> str:
    mark = _style(f"{_MARK[case.verdict]:<5}", case.verdict, color)
    level = f"[{case.failed_level or case.level}]"
    progress = f"[{index}/{total}] " if index is not None and total is not None else ""
    if elapsed is not None:
        progress += f"{elapsed:6.1f}s "
    line = f"{progress}{mark} {case.id:<28} {level:<8} {case.duration * 1000:8.1f} ms  {case.title}"
    if case.long is not None:
        line += f"\n      long: {duration_text(case.long)} of mandated waiting, run alone"
    if case.again is not None:
        line += f"\n      again: {case.again}"
    if case.verdict == "skip":
        line += f"\n      skipped: {case.reason}"
    if case.figures:
        line += "\n      figures: " + ", ".join(f"{k} {v}" for k, v in case.figures.items())
    return line


def failure_detail(case: CaseResult) -> list[str]:
    """The block printed under a failed or errored case."""
    step = case.failed_step
    if step is None:  # failed after its steps (its answer to the cleanup RST): the reason and the exchange
        out = [f"      {case.reason}"] if case.reason else []
        if case.verdict == "fail" and case.segments:
            out += ["      exchange:", *("        " + line for line in ladder(case))]
        return out
    out = [f"      {DIED_AFTER}"] if case.reason.startswith(DIED_AFTER) else []
    out.append(f"      at {step.loc}   {step.text}")
    req = step.requirement
    if req:
        out.append(f"      {req}")
    out.append(f"      {step.message}")
    if step.mismatches:
        width = max(8, *(len(m.field) for m in step.mismatches))
        wexp = max(8, *(len(m.expected) for m in step.mismatches))
        out.append(f"        {'field':<{width}}  {'expected':<{wexp}}  actual")
        for m in step.mismatches:
            out.append(f"        {m.field:<{width}}  {m.expected:<{wexp}}  {m.actual}")
    if step.expected:
        out.append(f"      expected: {step.expected}")
    for idx in step.observed[-3:]:
        seg = case.segments[idx]
        out.append(f"      observed: {seg.summary}   (wire: {seg.wire}){'  ' + seg.note if seg.note else ''}")
    out.append("      exchange:")
    out.extend("        " + line for line in ladder(case, step))
    return out


def ladder(case: CaseResult, upto: StepResult | None = None) -> list[str]:
    """The exchange as text, tester on the left, target on the right, state changes interleaved."""
    rows: list[tuple[float, int, str]] = []
    # At equal timestamps the target's own events come first: the tester saw them before it acted.
    for i, seg in enumerate(case.segments, start=10_000):
        note = f"  [{seg.note}]" if seg.note and seg.note != "matched" else ""
        if seg.direction == "out":
            rows.append((seg.at, i, f"{seg.at * 1000:9.3f} ms  {seg.summary:<44} -->{note}"))
        else:
            rows.append((seg.at, i, f"{seg.at * 1000:9.3f} ms  {'':<44} <-- {seg.summary}{note}"))
    for j, ev in enumerate(case.target_events):
        rows.append((ev.at, j, f"{ev.at * 1000:9.3f} ms  {'':<44}     target: {ev.detail}"))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in rows]


def summary(run: RunResult, color: bool = False) -> str:
    counts = run.counts()
    parts = [
        _style(f"{counts['pass']} passed", "pass", color and counts["pass"] > 0),
        _style(f"{counts['fail']} failed", "fail", color and counts["fail"] > 0),
        f"{counts['error']} errors",
        f"{counts['skip']} skipped" + (f", {down} of them not run: {NOT_ANSWERING}" if (down := _not_run(run)) else ""),
    ]
    levels = []
    for level, row in sorted(run.counts_by_level().items()):
        if row["fail"] or row["error"]:
            levels.append(f"{level}: {row['fail']} failed")
    text = ", ".join(parts)
    if levels:
        text += " (" + "; ".join(levels) + ")"
    if run.meta.target_restarts:
        text += f"; the target was restarted {run.meta.target_restarts} time(s)"
    return f"{text} in {run.meta.duration:.2f} s"


def _not_run(run: RunResult) -> int:
    """Cases a target that stopped answering kept from running."""
    return sum(1 for c in run.cases if c.verdict == "skip" and c.reason.startswith(NOT_ANSWERING))


def checksum_warning(run: RunResult) -> str | None:
    """The one line a run gets when segments came with a checksum that could not be verified: why,
    and what to change (the checksum the target's side leaves to an offload).  None when there were none."""
    count = run.meta.unverified_checksums
    if not count:
        return None
    session = run.meta.session
    iface = session.interface.split(" in ")[0] if session is not None and session.interface else None
    where = f"on a veth, the peer of {iface}" if iface else "on a veth, the tester's peer"
    return (f"{count} segment(s) from the target came with a TCP checksum the kernel says was never computed "
            "(the sender left it to a transmit checksum offload, which a veth or TAP never fills in): not "
            "verified, neither passed nor failed by the checksum invariant; to check them, turn transmit "
            f"checksum offload off where the target sends from ({where}: 'ethtool -K <that interface> tx off')")


def gate_lines(gate: GateVerdict) -> list[str]:
    """What the gate made of the verdicts: known deviations, stale baseline entries, the verdict."""
    out = []
    for cid, how in gate.judged:
        if how == "expected-fail":
            out.append(f"known deviation (baseline): {cid}")
        else:
            out.append(f"UNEXPECTED PASS: {cid} passes but the baseline lists it as a known deviation "
                       "(remove it from the baseline)")
    if gate.summary:
        out.append(gate.summary)
    return out


def print_run(run: RunResult, echo: Echo, color: bool = False, verbose: bool = False) -> None:
    for case in run.cases:
        echo(case_line(case, color))
        if case.verdict in ("fail", "error"):
            for line in failure_detail(case):
                echo(line)
        elif verbose:
            for line in ladder(case):
                echo("        " + line)


def comparison_lines(cmp: Comparison) -> Iterator[str]:
    """``tcpconform compare``: each case that changed verdict, those in one run only, then the counts."""
    for title, rows in (("regression", cmp.regressions), ("fixed", cmp.fixes), ("changed", cmp.other)):
        for cid, va, vb in rows:
            yield f"{title:<11} {cid:<30} {va} -> {vb}"
    yield from (f"{'only in A':<11} {cid}" for cid in cmp.only_a)
    yield from (f"{'only in B':<11} {cid}" for cid in cmp.only_b)
    yield from (f"note: {line}" for line in cmp.unfinished)
    yield f"{len(cmp.regressions)} regression(s), {len(cmp.fixes)} fixed, {len(cmp.other)} other change(s)"
