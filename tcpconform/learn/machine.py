"""Learning a target's TCP as a Mealy machine (AALpy's L*), drawing it, and telling two apart.

:func:`learn` runs AALpy's L* with its random W-method equivalence oracle over
:class:`~tcpconform.learn.sul.LinkSUL`, seeded, so the same target gives the same machine.  The
machine is kept as plain data (:class:`Machine`): states named ``s0``, ``s1``... in the order a
breadth-first walk from the initial state meets them, letters in :data:`~tcpconform.learn.mapper.INPUTS`
order, so two runs that learn the same machine write the same DOT byte for byte.  :func:`difference`
is the shortest input sequence on which two machines answer differently (a breadth-first walk of
their product), the seed of a case that tells the two stacks apart.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tcpconform.learn.mapper import INPUTS
from tcpconform.learn.sul import PORTS, LinkSUL, NonDeterministic
from tcpconform.links.base import Link
from tcpconform.targets.base import Target

__all__ = ["Learned", "Machine", "NonDeterministic", "difference", "differences", "learn", "learn_reference"]


@dataclass(frozen=True)
class Machine:
    """A Mealy machine: ``delta[state][letter] = (next state, output)``; the initial state is ``s0``."""

    inputs: tuple[str, ...]
    delta: dict[str, dict[str, tuple[str, str]]]

    def run(self, letters: Sequence[str]) -> list[str]:
        state, out = "s0", []
        for letter in letters:
            state, output = self.delta[state][letter]
            out.append(output)
        return out

    def to_dot(self, name: str = "tcp") -> str:
        lines = [f'digraph "{name}" {{', '  rankdir=LR;', '  __start [shape=none, label=""];', '  __start -> s0;']
        for state in self.delta:
            lines.append(f'  {state} [shape=circle, label="{state}"];')
        for state, edges in self.delta.items():
            for letter in self.inputs:
                nxt, output = edges[letter]
                lines.append(f'  {state} -> {nxt} [label="{letter} / {output}"];')
        return "\n".join([*lines, "}"]) + "\n"


@dataclass(frozen=True)
class Learned:
    machine: Machine
    queries: int
    steps: int
    seconds: float


def learn(link: Link, target: Target, *, quiet: float, seed: int = 1, walks_per_state: int = 20,
          walk_len: int = 8, inputs: Sequence[str] = tuple(INPUTS), ports: range = PORTS, repeat: int = 1,
          provided: Sequence[Sequence[str]] = ()) -> Learned:
    """The target's machine over ``inputs``; ``quiet``: how long a silence ends a step's answer;
    ``ports``: the source ports the queries take in turn; ``repeat``: how many times each query is
    asked (answers that differ raise :class:`NonDeterministic`); ``provided``: input sequences the
    equivalence oracle tries first (AALpy's ``ProvidedSequencesOracleWrapper``): the machine
    learnt answers each of them as the target does."""
    from aalpy.learning_algs import run_Lstar
    from aalpy.oracles import ProvidedSequencesOracleWrapper, RandomWMethodEqOracle

    sul = LinkSUL(link, target, quiet, ports, repeat)
    alphabet = list(inputs)
    state = random.getstate()
    random.seed(seed)  # AALpy's oracle draws its walks from the module's generator
    t0 = time.perf_counter()
    try:
        oracle = RandomWMethodEqOracle(alphabet, sul, walks_per_state=walks_per_state, walk_len=walk_len)
        if provided:
            oracle = ProvidedSequencesOracleWrapper(alphabet, sul, oracle, [list(p) for p in provided])
        model = run_Lstar(alphabet, sul, oracle, automaton_type="mealy", print_level=0)
    except SystemExit as stop:  # AALpy's cache stops the process on a conflict; the message says which
        raise NonDeterministic(str(stop.code)) from None
    finally:
        random.setstate(state)
    return Learned(_canonical(model, alphabet), sul.counts.queries, sul.counts.steps, time.perf_counter() - t0)


def _canonical(model: object, alphabet: list[str]) -> Machine:
    """AALpy's machine with its states named in breadth-first order from the initial one."""
    initial = model.initial_state  # type: ignore[attr-defined]
    names: dict[int, str] = {id(initial): "s0"}
    order, todo = [initial], deque([initial])
    while todo:
        state = todo.popleft()
        for letter in alphabet:
            nxt = state.transitions[letter]
            if id(nxt) not in names:
                names[id(nxt)] = f"s{len(names)}"
                order.append(nxt)
                todo.append(nxt)
    delta = {names[id(s)]: {a: (names[id(s.transitions[a])], str(s.output_fun[a])) for a in alphabet} for s in order}
    return Machine(tuple(alphabet), delta)


ROUNDS = 5
"""How many times :func:`learn_reference` learns the reference again with the sequences it got wrong."""


def learn_reference(fresh: Callable[[], tuple[Link, Target]], other: Machine, most: int, *, quiet: float,
                    seed: int = 1, walks_per_state: int = 20,
                    inputs: Sequence[str] = tuple(INPUTS)) -> tuple[Learned, list[list[str]]]:
    """The reference's machine (each learning on ``fresh()``'s reference, in-process) and up to
    ``most`` sequences on which ``other`` answers otherwise, each asked of the reference again.

    A random equivalence oracle can stop short of the whole machine: two states it never told apart
    make a "difference" from ``other`` that the reference, asked, does not show.  Each such sequence
    goes to the next learning as a provided one, so every difference returned is one the reference
    really answers as its machine says."""
    provided: list[list[str]] = []
    for _ in range(ROUNDS):
        link, target = fresh()
        base = learn(link, target, quiet=quiet, seed=seed, walks_per_state=walks_per_state, inputs=inputs,
                     provided=provided)
        found = differences(base.machine, other, most)
        link, target = fresh()
        asked = LinkSUL(link, target, quiet)
        wrong = [d for d in found if list(asked.query(tuple(d))) != base.machine.run(d)]
        if not wrong:
            return base, found
        provided += wrong
    return base, [d for d in found if d not in wrong]


def difference(a: Machine, b: Machine) -> list[str] | None:
    """The shortest input sequence on which ``a`` and ``b`` answer differently (None: they are the same)."""
    found = differences(a, b, 1)
    return found[0] if found else None


def differences(a: Machine, b: Machine, most: int) -> list[list[str]]:
    """Up to ``most`` input sequences on which ``a`` and ``b`` answer differently, shortest first:
    a breadth-first walk of the two machines side by side, one sequence for each pair of states and
    letter where the outputs differ (the walk does not go on past a difference)."""
    start = ("s0", "s0")
    seen: dict[tuple[str, str], tuple[str, ...]] = {start: ()}
    todo: deque[tuple[str, str]] = deque([start])
    found: list[list[str]] = []
    while todo and len(found) < most:
        pair = todo.popleft()
        path = seen[pair]
        for letter in a.inputs:
            (na, oa), (nb, ob) = a.delta[pair[0]][letter], b.delta[pair[1]][letter]
            if oa != ob:
                found.append([*path, letter])
                if len(found) == most:
                    break
            elif (na, nb) not in seen:
                seen[(na, nb)] = (*path, letter)
                todo.append((na, nb))
    return found
