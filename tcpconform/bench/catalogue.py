"""The whole catalogue: wall time serial and with ``--jobs``, against what the protocol makes it wait.

A case cannot finish sooner than the waiting its steps mandate: a silence window or a wait lasts
as long as it says, and an expected segment comes when the target sends it.  That waiting, summed
over a case's steps, is the case's *mandated waiting*; everything else in its duration is the
tester's own overhead (building, sending, matching, talking to the agent).  The sum over all cases is
what a serial run cannot beat.  With ``jobs`` at once, a run cannot beat the cases that must run
alone (:func:`~tcpconform.engine.scheduler.runs_alone`: one that may crash the target runs with
nothing beside it, so a death is blamed on it alone) one after the other, plus the rest spread over
the jobs, never less than the longest of them (:func:`parallel_bound`).
"""

from __future__ import annotations

import resource
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from tcpconform.cases.model import TestCase
from tcpconform.results import CaseResult, RunResult

WAITING_STEPS = ("silence", "wait", "slowread", "fillwindow")
"""Steps whose whole time is waiting: a slow read's pauses, a fill's rounds (each waits for the peer's ACKs
and a quiet after them)."""


def mandated_waiting(case: CaseResult) -> float:
    """Seconds the case spent waiting on the protocol or the peer, from its step timings.

    Silence windows and waits count whole; an expect step counts from its start until the last
    segment it saw arrived (the one that matched, or the one that failed it), or until it gave up.
    """
    total = 0.0
    for step in case.steps:
        if step.started is None or step.ended is None:
            continue
        if step.kind in WAITING_STEPS:
            total += step.ended - step.started
        elif step.kind == "expect":
            until = case.segments[step.observed[-1]].at if step.observed else step.ended
            total += max(0.0, until - step.started)
    return total


@dataclass
class Timed:
    """One run of the catalogue and what it cost."""

    jobs: int
    wall: float
    result: RunResult
    clock_span: float
    """How far the link's clock moved: the virtual time of an in-process run."""


Opener = Callable[[], AbstractContextManager[Any]]
"""A fresh session for each run (``tcpconform.session`` context managers): no state carried over."""


def run_once(cases: Sequence[TestCase], opener: Opener, jobs: int) -> Timed:
    """The catalogue once through a fresh session, with ``jobs`` cases at once."""
    from tcpconform.cases.profiles import get_profile
    from tcpconform.engine.run import execute

    with opener() as session:
        clock0 = session.link.now()
        t = time.perf_counter()
        result = execute(cases, session.link, session.target, get_profile(session.profile), jobs=jobs,
                         base_port=session.base_port)
        wall = time.perf_counter() - t
        return Timed(jobs, wall, result, session.link.now() - clock0)


def parallel_bound(waits: dict[str, float], alone: set[str], jobs: int) -> float:
    """The least wall time ``jobs`` connections at once can take: the mandated waiting of the cases in
    ``alone`` summed, as they run one after the other with nothing beside them, plus the others'
    spread evenly over the jobs but never less than the longest of them."""
    alone_sum = sum(w for k, w in waits.items() if k in alone)
    others = [w for k, w in waits.items() if k not in alone]
    return alone_sum + (max(max(others), sum(others) / jobs) if others else 0.0)


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def catalogue_figures(label: str, cases: Sequence[TestCase], opener: Opener, jobs: Sequence[int],
                      virtual: bool = False) -> Iterator[str]:
    """Wall time serial and for each ``jobs`` value, next to the mandated-waiting bounds."""
    from tcpconform.engine.scheduler import runs_alone

    serial = run_once(cases, opener, 1)
    waits = {c.id: mandated_waiting(c) for c in serial.result.cases}
    alone = {c.id for c in cases if runs_alone(c)}
    longest_id = max(waits, key=lambda k: waits[k])
    total = sum(waits.values())
    counts = serial.result.counts()
    yield (f"catalogue, {label}: {len(cases)} cases ({counts['pass']} pass, {counts['fail']} fail, "
           f"{counts['error']} error, {counts['skip']} skip)")
    yield (f"  mandated waiting: longest case {_s(waits[longest_id])} ({longest_id}); "
           f"{len(alone)} case(s) that run alone {_s(sum(w for k, w in waits.items() if k in alone))}; "
           f"sum over all cases {_s(total)} = the serial lower bound")
    runs = [serial] + [run_once(cases, opener, n) for n in jobs]
    for run in runs:
        spent = run.clock_span if virtual else run.wall
        bound = parallel_bound(waits, alone, run.jobs)
        line = f"  --jobs {run.jobs:<3} wall {_s(run.wall)}"
        if virtual:
            line += f", virtual time {_s(run.clock_span)}"
        if bound and run.jobs > 1:
            line += f", {spent / bound:.2f}x the lower bound for {run.jobs} jobs ({_s(bound)})"
        if run.jobs == 1 and total:
            line += f", {spent / total:.2f}x the serial bound"
        if run.jobs > 1:
            line += f"; {serial.wall / run.wall:.1f}x faster than serial"
        yield line


def memory_figures(cases: Sequence[TestCase], opener: Opener) -> Iterator[str]:
    """Peak memory: the process's high-water mark, and what one serial catalogue run allocates at peak."""
    tracemalloc.start()
    try:
        run_once(cases, opener, 1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    yield (f"memory: peak resident set of this process {rss / 1024:.0f} MiB; Python allocations at peak "
           f"during one catalogue run {peak / 2**20:.1f} MiB (tracemalloc)")


def verdicts(result: RunResult) -> dict[str, str]:
    """Each case's verdict as ``results.json`` has it (a failure with the level it failed at)."""
    out = {}
    for case in result.cases:
        out[case.id] = case.verdict + (f" ({case.failed_level})" if case.verdict == "fail" and case.failed_level else "")
    return out


def _differences(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return [f"{cid}: {a.get(cid)} / {b.get(cid)}" for cid in sorted(set(a) | set(b)) if a.get(cid) != b.get(cid)]


def equality_figures(label: str, cases: Sequence[TestCase], opener: Opener, repeat: int, jobs: int) -> Iterator[str]:
    """The catalogue ``repeat`` times serially and ``repeat`` times with ``jobs``: do verdicts ever differ?"""
    serial: list[dict[str, str]] = []
    parallel: list[dict[str, str]] = []
    for i in range(repeat):
        runs = (run_once(cases, opener, 1).result, run_once(cases, opener, jobs).result)
        serial.append(verdicts(runs[0]))
        parallel.append(verdicts(runs[1]))
        yield (f"  round {i + 1}/{repeat}: serial vs --jobs {jobs}: "
               f"{len(_differences(serial[-1], parallel[-1]))} verdict(s) differ")
        for which, result, mine, theirs in (("serial", runs[0], serial[-1], parallel[-1]),
                                            (f"--jobs {jobs}", runs[1], parallel[-1], serial[-1])):
            for case in result.cases:  # why, while it is at hand: a flaky verdict must be explainable
                if case.verdict != "pass" and mine[case.id] != theirs.get(case.id):
                    yield f"    {which}: {case.id}: {case.verdict}: {case.reason[:300]}"
    checks = [
        ("serial vs --jobs", [(f"round {i + 1}", s, p) for i, (s, p) in enumerate(zip(serial, parallel, strict=True))]),
        ("serial run to run", [(f"round {i + 1} vs 1", s, serial[0]) for i, s in enumerate(serial[1:], 1)]),
        (f"--jobs {jobs} run to run", [(f"round {i + 1} vs 1", p, parallel[0]) for i, p in enumerate(parallel[1:], 1)]),
    ]
    yield f"verdict equality, {label}: {repeat} serial and {repeat} --jobs {jobs} runs of {len(cases)} cases"
    for name, pairs in checks:
        differing = [(where, diff) for where, a, b in pairs if (diff := _differences(a, b))]
        cells = sum(len(diff) for _, diff in differing)
        yield f"  {name}: {cells} differing verdict(s) in {len(differing)} of {len(pairs)} comparison(s)"
        for where, diff in differing:
            for line in diff:
                yield f"    {where}: {line}"
