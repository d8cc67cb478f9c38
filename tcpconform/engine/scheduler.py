"""Many test connections over one link: demultiplexing by 4-tuple, and the only place that waits.

Each case is a generator (:class:`tcpconform.engine.case.CaseRun`) that yields what it waits for.
The scheduler keeps up to ``jobs`` of them active, each on its own source port, reads the link
until the earliest deadline among them, hands every segment to the case whose connection it
belongs to, and resumes whichever case can go on.  With ``jobs=1`` this is a plain serial run;
with more, waiting that the protocol mandates (delayed-ACK bounds, silences) overlaps.

A case that declares ``alone`` (ISN statistics over many connections, anything touching the
target's global state) runs with no other case active; such cases go first, so the rest of the
run can overlap freely afterwards.  A case that declares ``may_crash`` (malformed options, bad
offsets) runs alone too, and last: if it kills the target, nothing else was running to be blamed,
and only the cases after it are lost.  A ``long`` case (minutes of mandated waiting) runs alone as
well, after the others and before those that may crash: the short verdicts come first, and its
minutes of the target's timers are its own.

With a :class:`~tcpconform.engine.health.Health`, the scheduler checks the target answers before
the first case, and after every case that ended in silence or may crash it; while a probe runs no
case starts.  A case's verdict is reported once the target is proven to have outlived it (its last
segment, or the end of the silence it ended in; see :class:`~tcpconform.engine.health.Alive`), so a
verdict a dying target caused is never reported.  When the target no longer answers, the cases that
sent a segment it is not proven to have outlived are the suspects: a single one gets the verdict;
several are run again, each alone and followed by a probe, after a restart (``--restart``, or the
target's own), so the one after which it dies again is named; with no restart each gets an error
naming them all.  The other cases are not blamed (a skip: "target not answering") and the rest are
not run, unless ``restart`` brings the target back: then those cases run from the start, and the
rest after them.  With more than one job the others start longest first (by the
waiting their steps declare), so a long retransmission case does not start last and set the end
of the run alone.  Results come back in the order the cases were given.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from tcpconform import interrupts
from tcpconform.cases.model import TestCase
from tcpconform.engine.case import CaseGen, CaseRun
from tcpconform.engine.health import (
    PROBE_INTERVAL,
    Alive,
    Health,
    Probe,
    TargetDown,
    ended_in_silence,
    forget,
    mark_died_after,
    mark_not_run,
    mark_suspected,
)
from tcpconform.engine.steps import kind_of
from tcpconform.engine.waits import Recv, Sleep, Wait
from tcpconform.errors import SetupError
from tcpconform.links.base import Link, Received
from tcpconform.results import CaseResult
from tcpconform.targets.base import AppFailed, Capability, Restartable, Target, TargetError
from tcpconform.tcp.segment import Flags, FourTuple, Segment
from tcpconform.tcp.seqnum import MASK


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
    since: float = 0.0
    """When the case began to wait (link clock): what it is handed later than this, or than its
    deadline, it is handed late, and the lateness is the tester's (:meth:`CaseRun.note_lateness`)."""


def runs_alone(case: TestCase) -> bool:
    """Whether no other case may run beside ``case``: it says so, it is long (its minutes of the target's
    timers are its own), or it may crash the target."""
    return case.alone or case.long or case.may_crash


@dataclass
class _Probing:
    """A liveness probe running, and why."""

    probe: Probe
    gen: CaseGen
    wait: Wait
    purpose: Literal["start", "check", "revive"]


@dataclass
class _Ended:
    """A case over whose verdict waits until the target is proven to have outlived it."""

    run: CaseRun
    last_sent: float
    """When its last segment left (``-inf``: it sent none): a target that outlived it, it did not kill."""
    stands_after: float
    """Its verdict stands once the target outlived this: its last segment, or the end of its silence."""
    needs_probe: bool
    """It ended in silence, may crash the target, or runs alone to be told apart: probe after it."""


def answered(run: CaseRun, got: Received) -> float | None:
    """When the earliest segment of ``run``'s that ``got`` (from the target) acknowledges the end of
    left, in link time; None if it acknowledges no end of any sent before it came."""
    seg = got.segment
    if Flags.ACK not in seg.flags:
        return None
    for rec in run.result.segments:
        out, at = rec.segment, run.t0 + rec.at
        if at > got.at:
            break
        if rec.direction == "out" and isinstance(out, Segment) and (out.seq + out.seg_len) & MASK == seg.ack:
            return at
    return None


def last_sent(run: CaseRun) -> float:
    """When ``run``'s last segment left, in link time; ``-inf`` if it sent none."""
    return max((run.t0 + s.at for s in run.result.segments if s.direction == "out"), default=-math.inf)


@dataclass
class Scheduler:
    link: Link
    target: Target
    jobs: int = 1
    on_case_done: Callable[[CaseResult], None] | None = None
    strays: list[Stray] = field(default_factory=list)
    health: Health | None = None
    """Check the target answers (see the module docstring); None: never check."""
    restarts: int = 0
    """How often the target was restarted and answered again."""
    listened: bool = field(default=False, init=False, repr=False)
    """Whether the target's application was made to listen for the first probe's sake."""
    pending: deque[CaseRun] = field(default_factory=deque, init=False, repr=False)
    """Cases not started yet, in the order they will start."""
    active: dict[FourTuple, _Active] = field(default_factory=dict, init=False, repr=False)
    """Cases running, by their own connection."""
    by_key: dict[FourTuple, CaseRun] = field(default_factory=dict, init=False, repr=False)
    """Cases running, by every connection they own: where a segment goes."""

    probing: _Probing | None = field(default=None, init=False, repr=False)
    alive: Alive = field(default_factory=Alive, init=False, repr=False)
    unproven: list[_Ended] = field(default_factory=list, init=False, repr=False)
    """Cases over whose verdict is not reported yet: the target is not proven to have outlived them."""
    isolated: set[int] = field(default_factory=set, init=False, repr=False)
    """Runs (by id) of suspects run again alone, each followed by a probe, to tell which one kills."""
    interrupted: bool = field(default=False, init=False)
    """Ctrl-C ended the run: the cases not finished are marked not run."""
    control_error: str | None = field(default=None, init=False)
    """Why the target's control channel stopped answering during the run, if it did."""
    slots: list[CaseRun] = field(default_factory=list, init=False, repr=False)
    """The runs in the order given (a run started again after a restart takes its slot)."""
    retry_ports: list[int] = field(default_factory=list)
    """Source ports no case of the run uses, for the cases run again alone (:meth:`_retried`)."""
    retried: set[int] = field(default_factory=set, init=False, repr=False)
    """Runs (by id) that are a case's second run, alone: the tester was late in its first."""

    def run(self, runs: Iterable[CaseRun]) -> list[CaseResult]:
        given = list(runs)
        self.slots = list(given)
        if self.jobs > 1:
            given = sorted(given, key=lambda r: (not r.case.alone, r.case.may_crash, r.case.long, -declared_wait(r.case)))
        else:  # stable: alone ones first, then the others, the long ones, and those that may crash the target last
            given = sorted(given, key=lambda r: (not r.case.alone, r.case.may_crash, r.case.long))
        self.pending = deque(given)
        try:
            self._loop(given)
        except KeyboardInterrupt:  # what finished stands; the rest is marked, and the caller writes it
            interrupts.taken()
            self.interrupted = True
            for run in [*(a.run for a in self.active.values()), *self.pending]:
                mark_not_run(run.result, "the run was interrupted", prefix="not run")
        return [r.result for r in self.slots]

    def _loop(self, given: list[CaseRun]) -> None:
        if self.health is not None and given:
            self._probe("start")
        while self.pending or self.active or self.probing or self.unproven:
            if self.unproven and not (self.pending or self.active or self.probing):
                self._probe("check")  # the last verdicts wait for the target to be proven alive after them
            while self._may_start():
                self._start(self.pending.popleft())
            self._resume_all()
            waits = [a.wait.deadline for a in self.active.values()]
            if self.probing is not None:
                waits.append(self.probing.wait.deadline)
            if not waits:
                continue
            wait = max(0.0, min(waits) - self.link.now())
            if self.link.clock != "virtual":
                interrupts.check()  # a Ctrl-C whose KeyboardInterrupt was lost on the way
                wait = min(wait, interrupts.TURN)
            got = self.link.receive(wait)
            if got is not None:
                self._dispatch(got)
            self._route_events()

    def _may_start(self) -> bool:
        if not self.pending or len(self.active) >= max(1, self.jobs) or self.probing is not None:
            return False
        if self._alone(self.pending[0]) and self.active:
            return False
        return not any(self._alone(a.run) for a in self.active.values())

    def _alone(self, run: CaseRun) -> bool:
        return runs_alone(run.case) or id(run) in self.isolated or id(run) in self.retried

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
            self.active.pop(run.own_key, None)
            for key in run.keys:
                del self.by_key[key]
            self._ended(run)
            return
        self.active[run.own_key] = _Active(run, gen, wait, self.link.now())

    def _done(self, run: CaseRun) -> None:
        if self._retried(run):
            return
        if self.on_case_done is not None:
            self.on_case_done(run.result)

    def _retried(self, run: CaseRun) -> bool:
        """A case whose failure the tester's own lateness made a skip runs once more, alone, from
        source ports of its own (the target may still hold the first run's connection); that run's
        verdict is the case's, with why it ran twice.  Whether ``run`` was queued again."""
        need = 1 + (run.fresh_key is not None)
        if not run.late_skip or run.result.verdict != "skip" or id(run) in self.retried or len(self.retry_ports) < need:
            return False
        port, fresh = self.retry_ports.pop(0), self.retry_ports.pop(0) if need == 2 else None
        again = run.moved(port, fresh)
        again.result.again = (f"the case ran a second time, alone: in its first run the tester reacted "
                              f"{run.late * 1000:.0f} ms late before the failure it saw")
        self.retried.add(id(again))
        self.slots[self.slots.index(run)] = again
        self.pending.append(again)
        return True

    def _ended(self, run: CaseRun) -> None:
        """A case is over: its verdict waits until the target is proven to have outlived it.  A
        failure after the target's control failed is not trusted: the agent's death took the
        target's application (its sockets) with it, so the case errors, with why."""
        res = run.result
        if self.control_error is not None and res.verdict == "fail":
            res.verdict, res.failed_level = "error", None
            res.reason = ("the target's control failed during the run, so this failure is not the TCP's for sure: "
                          f"{self.control_error}")
        if self.health is None:
            self._done(run)
            return
        silent = ended_in_silence(run.result)
        sent = last_sent(run)
        self.unproven.append(_Ended(run, sent, self.link.now() if silent else sent,
                                    silent or run.case.may_crash or id(run) in self.isolated))
        self._release()
        if self.probing is None and any(e.needs_probe for e in self.unproven):
            self._probe("check")

    def _release(self) -> None:
        """Report every case over the target is proven to have outlived."""
        for ended in list(self.unproven):
            if self.alive.outlived(ended.stands_after):
                self.unproven.remove(ended)
                self._done(ended.run)

    def _resume_all(self) -> None:
        """Resume every case that can go on without waiting, until none can."""
        progressed = True
        while progressed:
            progressed = False
            self._drain()  # what already arrived counts before any deadline is declared passed
            now = self.link.now()
            for key, active in list(self.active.items()):
                if key not in self.active:  # ended meanwhile: the target died under it
                    continue
                progressed = self._resume(active, now) or progressed
                if key not in self.active and self._may_start():
                    self._start(self.pending.popleft())
            progressed = self._resume_probe(now) or progressed
            self._route_events()

    def _resume(self, active: _Active, now: float) -> bool:
        """Resume ``active`` if what it waits for has come; whether it was."""
        run, inbox = active.run, active.run.inbox
        match active.wait:
            case Recv(deadline) if inbox and inbox[0].at <= deadline:
                run.note_lateness(now - max(inbox[0].at, active.since))
                self._advance(run, active.gen, inbox.popleft())
            case Recv(deadline) | Sleep(deadline) if deadline <= now:
                run.note_lateness(now - max(deadline, active.since))
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
        key = got.segment.key.reversed()
        if self.probing is not None and key == self.probing.probe.key:
            self.probing.probe.inbox.append(got)
            return
        run = self.by_key.get(key)
        if run is None:
            self.strays.append(Stray(got.at, got.segment))
        else:
            run.arrived(got)
            if self.health is not None and (read := answered(run, got)) is not None:
                self.alive.answered(read)
                if self.unproven:
                    self._release()

    def _route_events(self) -> None:
        """Hand the target's events to their cases.  A control channel that failed (an agent that
        died) ends nothing here: each case that needs it errors at its own step, and the run goes
        on with those that do not (``control_error`` says why)."""
        if self.control_error is not None:
            return
        try:
            events = self.target.drain_events()
        except TargetError as err:
            self.control_error = str(err)
            return
        for key, event in events:
            run = self.by_key.get(key)
            if run is not None and key == run.key:  # a sample's many half-connections stay out of its ladder
                run.add_event(event)

    # -- the target's health ---------------------------------------------------------------------
    def _probe(self, purpose: Literal["start", "check", "revive"]) -> None:
        """Start a liveness probe; no case starts until it has answered."""
        assert self.health is not None
        first = self.slots[0].key
        src = first.src if self.slots[0].case.peer is None else self.link.local_ip  # never a group address
        target_key = FourTuple(src, first.sport, self.target.ip, self.target.port)
        tries = math.ceil(self.health.restart_wait / PROBE_INTERVAL) if purpose == "revive" else None
        probe = self.health.probe(target_key, self.link, *(() if tries is None else (max(1, tries),)))
        gen = probe.body()
        self.probing = _Probing(probe, gen, next(gen), purpose)

    def _resume_probe(self, now: float) -> bool:
        """Resume the running probe if its answer came or its deadline passed; whether it was."""
        probing = self.probing
        if probing is None:
            return False
        inbox = probing.probe.inbox
        if inbox and inbox[0].at <= probing.wait.deadline:
            value: Received | None = inbox.popleft()
        elif probing.wait.deadline <= now:
            value = None
        else:
            return False
        try:
            probing.wait = probing.gen.send(value)
        except StopIteration:
            self.probing = None
            forget(self.target, probing.probe.key)
            self._answered(probing)
        return True

    def _answered(self, probing: _Probing) -> None:
        """What the probe's answer (or its absence) makes of the run."""
        probe = probing.probe
        if probe.answered:
            self.alive.answered(probe.first_sent)
            if probing.purpose == "revive":
                self.restarts += 1
            self._release()
            if any(e.needs_probe for e in self.unproven):
                self._probe("check")  # a case ended in silence after this probe's SYN left
            return
        k = probe.key
        if probing.purpose == "start" and not self.listened and Capability.APP in self.target.capabilities:
            # A stack that sends no RST for a port nothing listens on (a deviation the cases judge,
            # not a death): let its application listen, as the cases' first step does, and ask again.
            self.listened = True
            try:
                self.target.app_listen(k)
            except (AppFailed, TargetError):
                pass
            else:
                self._probe("start")
                return
        if probing.purpose == "start":
            raise TargetDown(
                f"the target {k.dst} port {k.dport} does not answer: {probe.tries} SYN(s) from port {k.sport}, "
                f"{PROBE_INTERVAL:g} s apart, got neither a SYN-ACK nor a RST; is it up, and is the address right?")
        assert self.health is not None
        if probing.purpose == "revive":
            self._give_up([], f"it did not answer within {self.health.restart_wait:g} s of the restart")
            return
        self._died()

    def _died(self) -> None:
        """The target stopped answering: blame what can be shown, then restart or stop."""
        assert self.health is not None
        ended = [(e.run, e.last_sent) for e in self.unproven]
        self.unproven.clear()
        ended += [(run, last_sent(run)) for run in self._abort_active()]
        suspects = [run for run, sent in ended if not self.alive.outlived(sent)]
        victims = [run for run, _ in ended if run not in suspects]
        own = self.target.restart if isinstance(self.target, Restartable) else None
        told_apart = len(suspects) > 1 and (self.health.restart is not None or own is not None)
        if len(suspects) == 1:
            mark_died_after(suspects[0].result, suspects[0].case.level.value)
            self._done(suspects[0])
        elif len(suspects) > 1 and not told_apart:
            ids = [run.case.id for run in suspects]
            for run in suspects:
                mark_suspected(run.result, ids)
                self._done(run)
        again = [run for run in suspects if told_apart]
        if self.health.restart is None:  # no going on: only suspects still to tell apart run again
            self._give_up(victims, "", keep_isolated=True)
            victims = []
        restart = self.health.restart or own
        if restart is None or not (again or victims or self.pending):
            self._give_up(victims, "")
            return
        try:
            restart()
        except SetupError as err:
            self._give_up(again + victims, f"the restart failed: {err}")
            return
        fresh = [self._again(run) for run in again]
        self.isolated.update(id(run) for run in fresh)
        self.pending.extendleft(reversed([*fresh, *(self._again(run) for run in victims)]))
        self._probe("revive")

    def _give_up(self, victims: list[CaseRun], why: str, keep_isolated: bool = False) -> None:
        """``victims`` and the cases not started are not run (``keep_isolated``: but suspects to tell apart)."""
        kept = [run for run in self.pending if keep_isolated and id(run) in self.isolated]
        for run in [*victims, *(run for run in self.pending if run not in kept)]:
            mark_not_run(run.result, why)
            self._done(run)
        self.pending = deque(kept)

    def _abort_active(self) -> list[CaseRun]:
        """Stop every case still running: the target died under them, so their verdict is not theirs."""
        stopped = []
        for active in list(self.active.values()):
            active.gen.close()
            run = active.run
            del self.active[run.own_key]
            for key in run.keys:
                self.by_key.pop(key, None)
            forget(self.target, run.key)
            stopped.append(run)
        return stopped

    def _again(self, run: CaseRun) -> CaseRun:
        """``run`` from the start, in its slot: the target was restarted under it."""
        fresh = run.fresh()
        self.slots[self.slots.index(run)] = fresh
        return fresh
