"""A mutation campaign: mutants run against the target and against the clean reference responder,
crashes reduced and written as case files, differences an RFC rule decides reported with the rule.

Each batch of mutants runs twice: on the target's session (the run's health checks after each
mutant; a dead target is brought back by ``restart`` where one is given, the bundled responder
always) and on the clean reference responder in this process (on its virtual clock: a batch
there costs milliseconds).  A mutant is

- a **crash** where the reference survives it and the target does not (its new connection is not
  answered, or the run's health probe finds the target dead after it);
- a **difference** where both survive but answer the mutated segment differently where a rule
  decides and the wire shows it whatever the timing: a reset or not, the data taken or not
  (:class:`~tcpconform.mutate.mutants.Answer`);
- nothing otherwise, or ``unreached`` where the target failed the seed's own steps before it.

The campaign's state (what was tried, what was found) is written after every batch, so
``--resume`` goes on from there; mutants come in one fixed order for a given seed, so the same
seed makes the same campaign.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from random import Random
from typing import Any

from tcpconform.cases.model import AppStep, TestCase
from tcpconform.engine.health import DIED_AFTER, command_restart
from tcpconform.mutate.fields import UNCHANGED
from tcpconform.mutate.mutants import Answer, Mutant, answer, build, mutants
from tcpconform.mutate.reduce import ddmin, reproducer
from tcpconform.results import CaseResult
from tcpconform.run import Opened

__all__ = ["BATCH", "Campaign", "Crash", "Difference", "Limits"]

BATCH = 32
"""Mutants a run holds: the state is saved and the budget looked at between runs."""
STATE = "mutate-state.json"


@dataclass(frozen=True)
class Limits:
    budget: float = 600.0
    """Seconds of wall time the campaign may take (reduction included)."""
    most: int | None = None
    """The most mutants tried (None: all)."""
    seed: int = 1
    pairs: int = 8
    """Pairs of mutations tried per send, after every single one."""


@dataclass
class Crash:
    mutant: str
    seed_case: str
    mutation: str
    segment: str
    rule: str
    target: str
    """How the target failed (the run's reason)."""
    again: list[str] = field(default_factory=list)
    """Later mutants with this crash's mutation in them (another state, or paired) that crashed too:
    the same fault, most likely, so neither reduced nor written again."""
    reduced_steps: list[int] = field(default_factory=list)
    case_file: str = ""
    reproduces: bool = False


@dataclass
class Difference:
    mutant: str
    mutation: str
    segment: str
    rule: str
    reference: str
    target: str


@dataclass
class Progress:
    tried: list[str] = field(default_factory=list)
    crashes: list[Crash] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    unreached: int = 0


def crashed(result: CaseResult, mutant: Mutant) -> bool:
    """Whether ``result`` (the mutant's run) says the target did not survive the mutated segment."""
    if DIED_AFTER in result.reason:
        return True
    failed = result.failed_step
    return result.verdict == "fail" and failed is not None and failed.index == len(mutant.case.steps) - 1


class Campaign:
    """One campaign against ``target`` (an open session), judged by ``reference`` (the clean one)."""

    def __init__(self, target: Opened, reference: Opened, *, name: str, out: Path, fault: str | None,
                 restart: str | None, say: Callable[[str], None]) -> None:
        self.target, self.reference, self.name, self.out = target, reference, name, out
        self.fault, self.restart, self.say = fault, restart, say
        self.progress = Progress()
        self._dead = False
        self._unmutated: dict[tuple[str, int], bool] = {}

    # -- state ------------------------------------------------------------------------------------
    def resume(self, limits: Limits) -> None:
        """Take up the campaign saved in ``out`` (same target, same seed), or say why not."""
        from tcpconform.errors import UsageError

        path = self.out / STATE
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise UsageError(f"--resume: cannot read {path}: {err}") from None
        if not isinstance(data, dict) or data.get("target") != self.name or data.get("seed") != limits.seed:
            got = data if isinstance(data, dict) else {}
            raise UsageError(f"--resume: {path} is a campaign against {got.get('target')!r} with seed "
                             f"{got.get('seed')}, not {self.name!r} with seed {limits.seed}")
        try:
            self.progress = Progress([str(t) for t in data["tried"]], [Crash(**c) for c in data["crashes"]],
                                     [Difference(**d) for d in data["differences"]], int(data.get("unreached", 0)))
        except (KeyError, TypeError, ValueError) as err:
            raise UsageError(f"--resume: {path} is not a campaign's state ({type(err).__name__}: {err})") from None

    def _save(self, limits: Limits) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        state = {"target": self.name, "seed": limits.seed, **asdict(self.progress)}
        tmp = self.out / (STATE + ".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.out / STATE)

    # -- running ----------------------------------------------------------------------------------
    def _both(self, batch: Sequence[Mutant]) -> tuple[dict[str, CaseResult], dict[str, CaseResult]]:
        """``batch`` run on the target (brought back first if the last run left it dead) and on the reference."""
        if self._dead:
            if self.restart:
                self.say(f"mutate: bringing the target back ({self.restart})")
            command_restart(self.restart or "", self.target.session.target)()
        cases = [m.case for m in batch]
        theirs = {r.id: r for r in self.target.execute(cases, case_paths=(), restart=self.restart or "").cases}
        ours = {r.id: r for r in self.reference.execute(cases, case_paths=(), restart="").cases}
        self._dead = any(crashed(theirs[m.id], m) for m in batch if m.id in theirs)
        return theirs, ours

    def run(self, seeds: Sequence[TestCase], limits: Limits) -> Progress:
        """Try the mutants of ``seeds`` within ``limits``; the progress, saved as it goes.

        A batch is judged up to its first crash only: the mutants after it met a target that
        crashed (and was brought back, or not), so they run again in the next batch, on a target
        known to be alive; no mutant is ever judged on what an earlier one did."""
        start = time.monotonic()
        done = set(self.progress.tried)
        todo = [m for m in mutants(seeds, Random(limits.seed), limits.pairs) if m.id not in done]
        if limits.most is not None:
            todo = todo[:max(0, limits.most - len(done))]
        total, said, at = len(todo), time.monotonic(), 0
        self.say(f"mutate: {total} mutant(s) to try against {self.name} ({len(done)} tried before)")
        while at < total:
            if time.monotonic() - start > limits.budget:
                self.say(f"mutate: budget of {limits.budget:.0f} s spent, {total - at} mutant(s) left (--resume)")
                break
            batch = todo[at:at + BATCH]
            theirs, ours = self._both(batch)
            for mutant in batch:
                at += 1
                self.progress.tried.append(mutant.id)
                if self._judge(mutant, theirs.get(mutant.id), ours.get(mutant.id), start, limits):
                    break
            self._save(limits)
            now = time.monotonic()
            if now - said > 2.0 or at >= total:
                said = now
                rate = at / max(now - start, 1e-9)
                self.say(f"mutate: {at}/{total} tried ({rate:.0f}/s), {len(self.progress.crashes)} crash(es), "
                         f"{len(self.progress.differences)} difference(s); about {(total - at) / max(rate, 1e-9):.0f} s left")
        return self.progress

    def _judge(self, mutant: Mutant, theirs: CaseResult | None, ours: CaseResult | None, start: float,
               limits: Limits) -> bool:
        """Judge one mutant; True if the target crashed on it."""
        if theirs is None or ours is None or ours.verdict != "pass":
            return False  # the reference itself does not survive it, or did not run it: no judge of the target
        if crashed(theirs, mutant):
            if not self._survives_unmutated(mutant):
                return True  # the seed's own segment crashes it: the catalogue's finding, not a mutant's
            known = self._known(mutant)
            if known is not None:
                known.again.append(mutant.id)
            else:
                self._crash(mutant, theirs, start, limits)
            return True
        if theirs.verdict != "pass" and answer(theirs, mutant).kind == "unreached":
            self.progress.unreached += 1
            return False
        mine, yours = answer(ours, mutant), answer(theirs, mutant)
        if mine.reached and yours.reached and mine.kind != yours.kind:
            self.progress.differences.append(Difference(
                mutant.id, mutant.mutation.name, mutant.segment, str(mutant.mutation.rule), _shown(mine), _shown(yours)))
        return False

    # -- a crash ----------------------------------------------------------------------------------
    def _survives_unmutated(self, mutant: Mutant) -> bool:
        """Whether the target survives the same cut with the send as the case wrote it (asked once a send)."""
        key = (mutant.seed.id, mutant.index)
        if key not in self._unmutated:
            plain = build(mutant.seed, mutant.index, UNCHANGED)
            assert plain is not None
            theirs, _ = self._both([plain])
            got = theirs.get(plain.id)
            self._unmutated[key] = got is not None and not crashed(got, plain)
        return self._unmutated[key]

    def _known(self, mutant: Mutant) -> Crash | None:
        """The crash found earlier whose mutation (or one of its pair's) ``mutant``'s includes."""
        mine = set(mutant.mutation.name.split("+"))
        return next((c for c in self.progress.crashes if set(c.mutation.split("+")) <= mine), None)

    def _still_crashes(self, mutant: Mutant, kept: list[int]) -> bool:
        reduced = build(mutant.seed, mutant.index, mutant.mutation, kept)
        if reduced is None:
            return False
        theirs, ours = self._both([reduced])
        mine, yours = ours.get(reduced.id), theirs.get(reduced.id)
        return mine is not None and yours is not None and mine.verdict == "pass" and crashed(yours, reduced)

    def _crash(self, mutant: Mutant, result: CaseResult, start: float, limits: Limits) -> None:
        crash = Crash(mutant.id, mutant.seed.id, mutant.mutation.name, mutant.segment, str(mutant.mutation.rule),
                      result.reason)
        self.say(f"mutate: CRASH {mutant.id}: {mutant.segment}; reducing")
        # The application's steps stay: what they set (a listening port) outlives a run in the session,
        # so a reduction without them would pass on the reference for a reason the case file lacks.
        fixed = [i for i in mutant.kept if isinstance(mutant.seed.steps[i], AppStep)]
        kept = list(mutant.kept)
        if time.monotonic() - start < limits.budget:
            rest = ddmin([i for i in kept if i not in fixed],
                         lambda subset: self._still_crashes(mutant, sorted([*fixed, *subset])))
            kept = sorted([*fixed, *rest])
        small = build(mutant.seed, mutant.index, mutant.mutation, kept)
        assert small is not None
        crash.reduced_steps = [i + 1 for i in kept]
        number = len(self.progress.crashes) + 1
        case_id = f"mutate-{number}-{mutant.seed.id}"[:60]
        try:
            text = reproducer(small, case_id, self.name, self.fault)
        except (OSError, ValueError) as err:
            self.say(f"mutate: {mutant.id}: no case file written ({err})")
        else:
            folder = self.out / "cases"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{case_id}.yaml"
            path.write_text(text, encoding="utf-8")
            crash.case_file = str(path)
            crash.reproduces = self._reproduces(path)
        self.progress.crashes.append(crash)

    def _reproduces(self, path: Path) -> bool:
        """Whether the written case, loaded back, passes on the reference and fails on the target."""
        from tcpconform.cases.load import load_file
        from tcpconform.run import TargetChoice, open_target

        cases = load_file(path)
        if self._dead:
            command_restart(self.restart or "", self.target.session.target)()
        with open_target(TargetChoice()) as fresh:  # a reference with no past: the case file alone decides
            ours = fresh.execute(cases, case_paths=(str(path),), restart="")
        theirs = self.target.execute(cases, case_paths=(str(path),), restart=self.restart or "")
        self._dead = True  # it crashed it, if it reproduces: bring it back before the next run either way
        return [r.verdict for r in ours.cases] == ["pass"] and [r.verdict for r in theirs.cases] == ["fail"]


def _shown(got: Answer) -> str:
    return got.kind + (f" ({got.detail})" if got.detail else "")


def summary(progress: Progress) -> dict[str, Any]:
    """The campaign as ``mutate.json`` holds it."""
    return {"tried": len(progress.tried), "unreached": progress.unreached,
            "crashes": [asdict(c) for c in progress.crashes],
            "differences": [asdict(d) for d in progress.differences]}
