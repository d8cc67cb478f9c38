"""The learner's throughput: queries a second, in-process (a whole L* run on the reference responder,
the clock virtual) and on a lab's wire (random queries against its kernel, ``--quiet`` real time a step)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

from tcpconform.learn.mapper import APP_INPUTS, INPUTS

__all__ = ["learn_figures", "wire_learn_figures"]

WIRE_QUIET = 0.05
"""A step's quiescence on the wire, as ``tcpconform learn --quiet 50``."""


def learn_figures() -> Iterator[str]:
    from tcpconform.learn.machine import learn
    from tcpconform.targets.reference import open_reference

    for letters, inputs in (("segments", tuple(INPUTS)), ("segments and application", (*INPUTS, *APP_INPUTS))):
        ref = open_reference((), isn=5000)
        got = learn(ref.link, ref.target, quiet=0.3, inputs=inputs)
        yield (f"learn, in-process reference responder, {len(inputs)} letters ({letters}): {len(got.machine.delta)} "
               f"states, {got.queries} queries, {got.steps} steps in {got.seconds:.2f} s: "
               f"{got.queries / got.seconds:.0f} queries/s, {got.steps / got.seconds:.0f} steps/s")


def wire_learn_figures(lab_name: str, queries: int) -> Iterator[str]:
    """``queries`` random queries of 1 to 4 letters (the application's among them) against the lab's Linux kernel."""
    from tcpconform.engine.run import PORT_SPAN
    from tcpconform.learn.sul import LinkSUL
    from tcpconform.session import lab_session

    draw, letters = random.Random(1), [*INPUTS, *APP_INPUTS]
    with lab_session("linux", lab_name=lab_name) as session:
        sul = LinkSUL(session.link, session.target, WIRE_QUIET, range(session.base_port, session.base_port + PORT_SPAN))
        t0 = time.perf_counter()
        for _ in range(queries):
            sul.query(tuple(draw.choice(letters) for _ in range(draw.randint(1, 4))))
        took = time.perf_counter() - t0
    yield (f"learn, lab Linux on the wire (--quiet {WIRE_QUIET * 1000:.0f}): {sul.counts.queries} random queries, "
           f"{sul.counts.steps} steps in {took:.1f} s: {sul.counts.queries / took:.1f} queries/s "
           f"({took / sul.counts.steps * 1000:.0f} ms a step, {WIRE_QUIET * 1000:.0f} of it the quiescence)")
