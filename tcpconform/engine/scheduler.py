"""Many test connections over one link: demultiplexing by 4-tuple, and the only place that waits.

Each case is a generator (:class:`tcpconform.engine.case.CaseRun`) that yields what it waits for.
The scheduler keeps up to ``jobs`` of them active, each on its own source port, reads the link
until the earliest deadline among them, hands every segment to the case whose connection it
belongs to, and resumes whichever case can go on.  With ``jobs=1`` this is a plain serial run;
with more, waiting that the protocol mandates (delayed-ACK bounds, silences) overlaps.

A case that declares ``alone`` (ISN statistics over many connections, anything touching the
target's global state) runs with no other case active; such cases go first, so the rest of the
run can overlap freely afterwards.  With more than one job the others start longest first (by the
waiting their steps declare), so a long retransmission case does not start last and set the end
of the run alone.  Results come back in the order the cases were given.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tcpconform.cases.model import ExpectStep, IsnSampleStep, SilenceStep, TestCase, WaitStep
from tcpconform.engine.case import CaseRun
from tcpconform.links.base import Link, Received
from tcpconform.results import CaseResult
from tcpconform.targets.base import Target
from tcpconform.tcp.segment import FourTuple, Segment


def declared_wait(case: TestCase) -> float:
    """How long a case's steps say it may wait: silences, waits, expect bounds, sampling.

    An upper bound, not a prediction, but it ranks a case expecting a retransmission within 3 s
    above one whose whole exchange takes a round trip, which is all the ordering needs.
    """
    total = 0.0
    for step in case.steps:
        if isinstance(step, SilenceStep | WaitStep):
            total += step.duration
        elif isinstance(step, ExpectStep) and step.within is not None:
            total += step.within
        elif isinstance(step, IsnSampleStep):
            total += step.count * step.interval
    return total


@dataclass
class Stray:
    """A segment that belonged to no running case (late retransmission, another host...)."""

    at: float
    segment: Segment


@dataclass
class Scheduler:
    link: Link
    target: Target
    jobs: int = 1
    on_case_done: Callable[[CaseResult], None] | None = None
    strays: list[Stray] = field(default_factory=list)

    def run(self, runs: Iterable[CaseRun]) -> list[CaseResult]:
        given = list(runs)
        order = [r.result for r in given]
        if self.jobs > 1:
            given_order = sorted(given, key=lambda r: (not r.case.alone, -declared_wait(r.case)))
        else:
            given_order = sorted(given, key=lambda r: not r.case.alone)  # stable: alone ones first
        pending = deque(given_order)
        active: dict[FourTuple, tuple[CaseRun, object, tuple[str, float] | None]] = {}
        by_key: dict[FourTuple, CaseRun] = {}

        def may_start() -> bool:
            if not pending or len(active) >= max(1, self.jobs):
                return False
            if pending[0].case.alone and active:
                return False
            return not any(r.case.alone for r, _, _ in active.values())

        def start(run: CaseRun) -> None:
            for key in run.keys:
                if key in by_key:
                    raise ValueError(f"two cases on one connection {key}")
            gen = run.body()
            for key in run.keys:
                by_key[key] = run
            advance(run, gen, None, first=True)

        def advance(run: CaseRun, gen: object, value: Received | None, first: bool = False) -> None:
            try:
                request = gen.send(None) if first else gen.send(value)  # type: ignore[attr-defined]
            except StopIteration:
                self._route_events(by_key)
                active.pop(run.key, None)
                for key in run.keys:
                    del by_key[key]
                if self.on_case_done is not None:
                    self.on_case_done(run.result)
                return
            active[run.key] = (run, gen, request)

        while pending or active:
            while may_start():
                start(pending.popleft())
            progressed = True
            while progressed:  # resume every case that can go on without waiting
                progressed = False
                self._drain(by_key)  # what already arrived counts before any deadline is declared passed
                now = self.link.now()
                for key, (run, gen, request) in list(active.items()):
                    kind, deadline = request  # type: ignore[misc]
                    if kind == "recv" and run.inbox and run.inbox[0].at <= deadline:
                        advance(run, gen, run.inbox.popleft())
                        progressed = True
                    elif deadline <= now:
                        advance(run, gen, None)
                        progressed = True
                    if key not in active and may_start():
                        start(pending.popleft())
                self._route_events(by_key)
            if not active:
                continue
            earliest = min(req[1] for _, _, req in active.values())  # type: ignore[index]
            got = self.link.receive(max(0.0, earliest - self.link.now()))
            if got is not None:
                self._dispatch(got, by_key)
            self._route_events(by_key)
        return order

    def _drain(self, by_key: dict[FourTuple, CaseRun]) -> None:
        """Hand out every segment the link already holds, without waiting.

        When a case has kept the scheduler busy (an agent call, say), segments of other cases may
        have arrived in time and still sit in the socket: they must reach their case before its
        deadline is judged, or a slow tester would blame the target.
        """
        while (got := self.link.receive(0.0)) is not None:
            self._dispatch(got, by_key)

    def _dispatch(self, got: Received, by_key: dict[FourTuple, CaseRun]) -> None:
        run = by_key.get(got.segment.key.reversed())
        if run is None:
            self.strays.append(Stray(got.at, got.segment))
        else:
            run.inbox.append(got)

    def _route_events(self, by_key: dict[FourTuple, CaseRun]) -> None:
        for key, event in self.target.drain_events():
            run = by_key.get(key)
            if run is not None and key == run.key:  # a sample's many half-connections stay out of its ladder
                run.add_event(event)
