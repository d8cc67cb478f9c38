"""Mutants: a catalogue case cut after one of its sends, that send mutated, and the survival check.

A mutant of case C at send step k with mutation M runs C's steps before k as written (so the
target is in the state C reaches there), sends step k's segment changed by M, lets the target do
whatever it makes of it for 300 ms, and then opens a new connection from a fresh source port,
which must be answered (:file:`tail.yaml`).  It is ``may_crash``: the run runs it alone and checks
the target's health after it.  Its own invariants are off: a mutant judges survival only.

What the target made of the mutated segment is read from the run's record into an :class:`Answer`
(whether it reset the connection; for data, whether it took it) and compared with the clean
reference responder's answer to the same mutant.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from random import Random

from tcpconform.cases.model import (
    AnyStep,
    AppStep,
    ExpectStep,
    IpSpec,
    Requirement,
    SendStep,
    SilenceStep,
    StateStep,
    TestCase,
    WaitStep,
)
from tcpconform.cases.notation import render_segment
from tcpconform.mutate.fields import MUTATIONS, Mutation, pair
from tcpconform.results import CaseResult
from tcpconform.tcp.segment import Flags

__all__ = ["Answer", "Mutant", "answer", "build", "mutants", "tail"]

PREFIX_STEPS = (AppStep, StateStep, SendStep, ExpectStep, SilenceStep, WaitStep)
"""The steps a mutant's prefix may hold: each one a single exchange the state is made of."""


@cache
def tail() -> tuple[tuple[AnyStep, ...], tuple[Requirement, ...]]:
    """The survival steps and their requirement, from the package's :file:`tail.yaml`."""
    from tcpconform.cases.load import load_case

    with resources.as_file(resources.files(__package__).joinpath("tail.yaml")) as path:
        case = load_case(path)
    return case.steps, case.requirements


@dataclass(frozen=True)
class Mutant:
    """Case ``seed`` cut at send step ``index``, that send changed by ``mutation``, as ``case``."""

    seed: TestCase
    index: int
    mutation: Mutation
    case: TestCase
    kept: tuple[int, ...]
    """The indexes of the seed's steps before ``index`` that the prefix keeps (all, until reduced)."""

    @property
    def id(self) -> str:
        return self.case.id

    @property
    def segment(self) -> str:
        """The mutated segment, in the notation."""
        step = self.case.steps[len(self.kept)]
        return render_segment(step.segment) if isinstance(step, SendStep) else "?"


def build(seed: TestCase, index: int, mutation: Mutation, kept: Sequence[int] | None = None) -> Mutant | None:
    """The mutant of ``seed`` at ``index`` (a send step) by ``mutation``, its prefix the steps
    ``kept`` (default: all before ``index``); None if the mutation does not apply to that send."""
    send = seed.steps[index]
    assert isinstance(send, SendStep)
    changed = mutation.apply(send.segment)
    if changed is None:
        return None
    shown = render_segment(changed)
    changed = replace(changed, text=shown)
    keep = tuple(range(index)) if kept is None else tuple(kept)
    steps, requirements = tail()
    known = {r.id for r in seed.requirements}
    case = replace(
        seed, id=f"{seed.id}@{index}:{mutation.name}" + ("" if kept is None else f"/{len(keep)}"),
        title=f"{seed.id}, send step {index + 1} with {mutation.name}: the target survives it",
        steps=(*(seed.steps[i] for i in keep), replace(send, segment=changed, text=f"send {shown}", ip=(
            IpSpec(length_delta=mutation.length_delta) if mutation.length_delta else send.ip)), *steps),
        requirements=(*seed.requirements, *(r for r in requirements if r.id not in known)),
        may_crash=True, invariants=frozenset(), faults=(), alone=True, long=False)
    return Mutant(seed, index, mutation, case, keep)


def eligible(case: TestCase) -> list[int]:
    """The send steps of ``case`` a mutant may be cut at: those whose every step before is a plain
    exchange (:data:`PREFIX_STEPS`) and whose flags are given; none for a case of minutes or a table's."""
    if case.long or case.matrix_cell is not None or case.closed_port or case.address or case.peer:
        return []
    out = []
    for i, step in enumerate(case.steps):
        if isinstance(step, SendStep) and isinstance(step.segment.flags, Flags) and step.ip is None:
            out.append(i)
        if not isinstance(step, PREFIX_STEPS):
            break
    return out


def mutants(seeds: Sequence[TestCase], rng: Random, pairs: int) -> Iterator[Mutant]:
    """Every single-field mutant of every eligible send of ``seeds``, then ``pairs`` pairs a send
    (drawn by ``rng``); a mutant whose prefix and segment another already had is left out."""
    ordered = sorted(seeds, key=lambda c: "seed" not in c.tags)  # the seed scenario's cases first
    sends = [(seed, index) for seed in ordered for index in eligible(seed)]
    seen: set[tuple[str, ...]] = set()

    def fresh(m: Mutant) -> bool:
        key = (*(s.text for s in m.case.steps[:len(m.kept) + 1]), str(m.seed.numbering), str(m.seed.tester_window))
        if key in seen:
            return False
        seen.add(key)
        return True

    for seed, index in sends:  # send by send: every state the catalogue reaches comes early
        for mutation in MUTATIONS:
            made = build(seed, index, mutation)
            if made is not None and fresh(made):
                yield made
    for seed, index in sends:
        drawn = 0
        for _ in range(pairs * 4):
            if drawn >= pairs:
                break
            first, second = rng.sample(MUTATIONS, 2)
            both = pair(first, second)
            made = build(seed, index, both) if both is not None else None
            if made is not None and fresh(made):
                drawn += 1
                yield made


@dataclass(frozen=True)
class Answer:
    """What a target did with the mutated segment, in the two terms an RFC rule decides and the wire
    shows whatever else the target is doing at the time: whether it reset the connection, and, for
    a segment with data, whether it took the data (an ACK covering it).  Quiet against answered is
    not among them: a target's own retransmissions and delayed ACKs make it a matter of timing."""

    reached: bool
    reset: bool = False
    took: bool | None = None
    """None: the segment carried no data."""
    detail: str = ""

    @property
    def kind(self) -> str:
        if not self.reached:
            return "unreached"
        if self.reset:
            return "reset"
        return {None: "not reset", True: "not reset, data taken", False: "not reset, data not taken"}[self.took]


def answer(result: CaseResult, mutant: Mutant) -> Answer:
    """The :class:`Answer` in ``result`` (the mutant's run) to its mutated segment."""
    at = len(mutant.kept)
    sent = [s for s in result.segments if s.direction == "out" and s.step == at]
    if not sent:
        return Answer(False, detail=result.reason)
    fields = sent[0].fields
    size = int(fields.get("len", 0))
    end = (int(fields.get("seq", 0)) + size) & 0xFFFFFFFF
    got = [s for s in result.segments if s.direction == "in" and s.step in (at, at + 1)]
    shown = "; ".join(s.summary for s in got[:3])
    if any("R" in str(s.fields.get("flags", "")) for s in got):
        return Answer(True, reset=True, detail=shown)
    took = None if not size else any(
        "A" in str(s.fields.get("flags", "")) and (int(s.fields.get("ack", 0)) - end) % (1 << 32) < (1 << 31)
        for s in got)
    return Answer(True, took=took, detail=shown)
