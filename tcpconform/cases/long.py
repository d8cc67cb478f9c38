"""Long cases: those whose mandated waiting is minutes (R2's give-up, a SYN's, a zero window held).

A long case says so (``long: true``).  It runs alone, since what it waits for are the target's
timers over minutes, which other connections beside it would only disturb, and ``--quick`` leaves
it out (with the count said), so a quick run or CI stays short while the full run keeps it.  Its
expected duration is what its steps must wait at the least: every ``silence`` and ``wait``, the
part no target can shorten; an expectation's ``within`` is an upper bound, often far from what a
target takes, so it is not counted.
"""

from __future__ import annotations

from collections.abc import Iterable

from tcpconform.cases.model import SilenceStep, TestCase, WaitStep


def expected_duration(case: TestCase) -> float:
    """Seconds the case waits whatever the target does: its silences and waits."""
    return sum(step.duration for step in case.steps if isinstance(step, SilenceStep | WaitStep))


def duration_text(seconds: float) -> str:
    """``about 20 min``, ``about 45 s``: a long case's expected duration as the reports say it."""
    if seconds >= 90:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds:.0f} s"


def long_label(case: TestCase) -> str | None:
    """``long: about 20 min`` for a long case, ``None`` for another."""
    return f"long: {duration_text(expected_duration(case))}" if case.long else None


def leave_out_long(cases: Iterable[TestCase], quick: bool) -> tuple[list[TestCase], list[TestCase]]:
    """The cases a run keeps and the long ones ``--quick`` leaves out (none without it)."""
    kept: list[TestCase] = []
    left: list[TestCase] = []
    for case in cases:
        (left if quick and case.long else kept).append(case)
    return kept, left


def left_out_text(left: list[TestCase]) -> str:
    """What a quick run says of the long cases it left out."""
    total = sum(expected_duration(c) for c in left)
    return (f"--quick: {len(left)} long case(s) left out ({duration_text(total)} of waiting): "
            + ", ".join(c.id for c in left))


def long_note(kept: list[TestCase], left: list[TestCase]) -> str | None:
    """What a run says of its long cases: those ``--quick`` left out, else those it will run (a real
    clock waits their minutes out; the in-process one does not), else nothing."""
    if left:
        return left_out_text(left)
    long = [c for c in kept if c.long]
    if not long:
        return None
    total = sum(expected_duration(c) for c in long)
    return (f"{len(long)} long case(s), {duration_text(total)} of mandated waiting on a real clock (no real time "
            "in-process), each run alone: --quick leaves them out")


def quick_faults(kept: list[TestCase], left: list[TestCase], only: tuple[str, ...]) -> tuple[str, ...] | None:
    """The faults a quick selftest tries: ``only`` (or every fault, ``None``) less those that only the
    left-out long cases name, which no case run could catch.  The responder's fault list is imported
    here, not with the module: a run imports this, and the responder package costs it a sixth of a second."""
    from tcpconform.responder.faults import FAULTS

    if not left:
        return only or None
    named = {f for c in kept for f in c.faults}
    unseen = {f for c in left for f in c.faults} - named
    return tuple(f for f in (only or tuple(FAULTS)) if f not in unseen)
