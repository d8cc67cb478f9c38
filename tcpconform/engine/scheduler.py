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

from tcpconform.cases.model import TestCase
from tcpconform.engine.case import CaseGen, CaseRun
from tcpconform.engine.steps import kind_of
from tcpconform.engine.waits import Recv, Sleep, Wait
from tcpconform.links.base import Link, Received
from tcpconform.results import CaseResult
from tcpconform.targets.base import Target
from tcpconform.tcp.segment import FourTuple, Segment


def declared_wait(case: TestCase) -> float:
    """How long a case's steps say it may wait: silences, waits, expect bounds, sampling.

    An upper bound, not a prediction, but it ranks a case expecting a retransmission within 3 s
    above one whose whole exchange takes a round trip, which is all the ordering needs.
    """
    return sum(kind_of(step).declared_wait(step) for step in case.steps)


@dataclass
class Stray:
    """A segment that belonged to no running case (late retransmission, another host...)."""

    at: float
    segment: Segment


@dataclass
class _Active:
    """A case that has started and not finished: its generator and what it waits for."""

    run: CaseRun
    gen: CaseGen
    wait: Wait


@dataclass
class Scheduler:
    link: Link
    target: Target
    jobs: int = 1
    on_case_done: Callable[[CaseResult], None] | None = None
    strays: list[Stray] = field(default_factory=list)
    pending: deque[CaseRun] = field(default_factory=deque, init=False, repr=False)
    """Cases not started yet, in the order they will start."""
    active: dict[FourTuple, _Active] = field(default_factory=dict, init=False, repr=False)
    """Cases running, by their own connection."""
    by_key: dict[FourTuple, CaseRun] = field(default_factory=dict, init=False, repr=False)
    """Cases running, by every connection they own: where a segment goes."""

    def run(self, runs: Iterable[CaseRun]) -> list[CaseResult]:
        given = list(runs)
        order = [r.result for r in given]
        if self.jobs > 1:
            given = sorted(given, key=lambda r: (not r.case.alone, -declared_wait(r.case)))
        else:
            given = sorted(given, key=lambda r: not r.case.alone)  # stable: alone ones first
        self.pending = deque(given)
        while self.pending or self.active:
            while self._may_start():
                self._start(self.pending.popleft())
            self._resume_all()
            if not self.active:
                continue
            earliest = min(a.wait.deadline for a in self.active.values())
            got = self.link.receive(max(0.0, earliest - self.link.now()))
            if got is not None:
                self._dispatch(got)
            self._route_events()
        return order

    def _may_start(self) -> bool:
        if not self.pending or len(self.active) >= max(1, self.jobs):
            return False
        if self.pending[0].case.alone and self.active:
            return False
        return not any(a.run.case.alone for a in self.active.values())

    def _start(self, run: CaseRun) -> None:
        for key in run.keys:
            if key in self.by_key:
                raise ValueError(f"two cases on one connection {key}")
        gen = run.body()
        for key in run.keys:
            self.by_key[key] = run
        self._advance(run, gen, None)

    def _advance(self, run: CaseRun, gen: CaseGen, value: Received | None) -> None:
        """Resume ``run`` with ``value``; it goes on waiting, or it is done."""
        try:
            wait = gen.send(value)
        except StopIteration:
            self._route_events()
            self.active.pop(run.key, None)
            for key in run.keys:
                del self.by_key[key]
            if self.on_case_done is not None:
                self.on_case_done(run.result)
            return
        self.active[run.key] = _Active(run, gen, wait)

    def _resume_all(self) -> None:
        """Resume every case that can go on without waiting, until none can."""
        progressed = True
        while progressed:
            progressed = False
            self._drain()  # what already arrived counts before any deadline is declared passed
            now = self.link.now()
            for key, active in list(self.active.items()):
                progressed = self._resume(active, now) or progressed
                if key not in self.active and self._may_start():
                    self._start(self.pending.popleft())
            self._route_events()

    def _resume(self, active: _Active, now: float) -> bool:
        """Resume ``active`` if what it waits for has come; whether it was."""
        run, inbox = active.run, active.run.inbox
        match active.wait:
            case Recv(deadline) if inbox and inbox[0].at <= deadline:
                self._advance(run, active.gen, inbox.popleft())
            case Recv(deadline) | Sleep(deadline) if deadline <= now:
                self._advance(run, active.gen, None)
            case _:
                return False
        return True

    def _drain(self) -> None:
        """Hand out every segment the link already holds, without waiting.

        When a case has kept the scheduler busy (an agent call, say), segments of other cases may
        have arrived in time and still sit in the socket: they must reach their case before its
        deadline is judged, or a slow tester would blame the target.
        """
        while (got := self.link.receive(0.0)) is not None:
            self._dispatch(got)

    def _dispatch(self, got: Received) -> None:
        run = self.by_key.get(got.segment.key.reversed())
        if run is None:
            self.strays.append(Stray(got.at, got.segment))
        else:
            run.arrived(got)

    def _route_events(self) -> None:
        for key, event in self.target.drain_events():
            run = self.by_key.get(key)
            if run is not None and key == run.key:  # a sample's many half-connections stay out of its ladder
                run.add_event(event)
