"""How a step ends when it does not pass: by whose fault it is.

Rule: the **target's** fault is a ``fail``; the **case's** or the **tester's** is an ``error``; a
check that does not apply to this target is a ``skip``; anything else escaping a step is a bug of
ours, an ``error`` that says so, and the run goes on.  :func:`judge` applies it:

- ``fail`` (the case stops): :class:`StepFailed`, and ``AppFailed`` (the target's application
  refused an action: no such connection, connection reset);
- ``skip`` (the case goes on without the step): :class:`StepSkipped`;
- ``unobservable`` (the case stops, skipped, with the reason): :class:`CaseUnobservable`, what
  the case asserts from here on cannot be observed on this target;
- ``error`` (the case stops): :class:`CaseError` (the case asks for something impossible), and every
  other ``TcpconformError``, such as the environment's setup errors (``TargetError``: the
  target control failed; ``LinkSetupError``: the link could not send);
- ``internal`` (an error, "please report it"): any other exception.

``AppFailed`` and ``TargetError`` are apart (neither derives from the other): what a target raised
decides the verdict, not the order of the checks.  Only the catch-all for the package's other
errors comes after the specific classes, as catch-alls do.
"""

from __future__ import annotations

from typing import Literal

from tcpconform.errors import TcpconformError
from tcpconform.results import Mismatch
from tcpconform.targets.base import AppFailed


class StepFailed(TcpconformError):
    """The target did something a conformant TCP does not: the step fails, with every field that
    differed and, when it is not the step's own, the requirement it broke."""

    def __init__(self, message: str, mismatches: list[Mismatch] | None = None, requirement: str | None = None) -> None:
        super().__init__(message)
        self.mismatches = mismatches or []
        self.requirement = requirement


class StepSkipped(TcpconformError):
    """The step cannot be checked on this target; the case goes on without it."""


class ProbeUnanswered(StepSkipped):
    """A probe for a connection the case asserts gone (CLOSED) drew no answer.  The case goes on, but
    if this was its last check of the target, it cannot pass: a connection that ignored the RST
    that should have ended it is as silent as one that took it, so what passed before shows only
    the way there.  (A connection asserted alive is different: the wrong turns it could take, a
    RST, an ACK of what it should have dropped, are segments the earlier steps would have seen.)"""


class CaseUnobservable(TcpconformError):
    """What the case asserts from here on cannot be observed on this target: the case is skipped,
    with the reason, never passed or failed on what was left."""


class CaseError(TcpconformError):
    """The case (or the tester) got it wrong, not the target: an error verdict, not a failure."""


Judgement = Literal["fail", "skip", "unobservable", "error", "internal"]


def judge(err: Exception) -> Judgement:
    """What ``err``, escaping a step, makes of it, by the rule above."""
    if isinstance(err, StepFailed | AppFailed):
        return "fail"
    if isinstance(err, StepSkipped):
        return "skip"
    if isinstance(err, CaseUnobservable):
        return "unobservable"
    if isinstance(err, TcpconformError):
        return "error"
    return "internal"


def as_failure(err: Exception) -> StepFailed:
    """A failure as a :class:`StepFailed`: the target application's refusal says only why."""
    return err if isinstance(err, StepFailed) else StepFailed(str(err))
