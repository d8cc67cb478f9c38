"""What a step's handler may use of the case it runs in: :class:`StepEnv`, and the run's settings.

Handlers (:mod:`tcpconform.engine.steps`, :mod:`tcpconform.engine.isn`) see a case only through this
protocol, which :class:`~tcpconform.engine.case.CaseRun` implements: the connection and its
numbering, the link and the target, the results being recorded, and the three ways to wait (for the
next segment, for a segment of a kind, for a time).  They never touch the case's queue of segments
or its other members, so a handler can be read, and tested, on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from tcpconform.cases.model import TestCase
from tcpconform.cases.profiles import Profile
from tcpconform.engine.connection import TesterConnection
from tcpconform.engine.waits import Waiting
from tcpconform.links.base import Link, Received
from tcpconform.results import CaseResult
from tcpconform.targets.base import Target
from tcpconform.tcp.icmp import IcmpError
from tcpconform.tcp.segment import FourTuple, Segment

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class CaseSettings:
    profile: Profile
    tester_isn: int | None = None
    """Wire ISN of the tester; ``None`` uses the number the case writes."""
    cleanup: bool = True
    """Reset a connection left open at the end of a case, as packetdrill does, so no state leaks."""


class StepEnv(Protocol):
    """The case a step runs in, as its handler sees it."""

    case: TestCase
    key: FourTuple
    """The case's connection, tester to target."""
    conn: TesterConnection
    link: Link
    target: Target
    settings: CaseSettings
    result: CaseResult
    spare_ports: range
    """Source ports the case may use besides its own (ISN samples); their segments reach it too."""
    t_ref: float
    """When the previous step ended, on the link's clock: what an expect step's bound counts from."""
    t_sent: float
    """When the tester last sent on the case's connection: a segment that arrived before it answers
    something earlier, never what was sent then."""

    def record(self, direction: Literal["out", "in"], seg: Segment | IcmpError, at: float, step: int | None,
               note: str = "", frame: bytes | None = None) -> int:
        """Add a segment (or an ICMP error the tester sent) to the case's exchange; returns its index
        in ``result.segments``."""
        ...

    def next(self, deadline: float) -> Waiting[Received | None]:
        """The next segment of the case's connections that arrived by ``deadline``, or ``None``."""
        ...

    def take(self, wanted: Callable[[Segment], bool], deadline: float) -> Waiting[Received | None]:
        """The first segment ``wanted`` accepts, of those that arrived or arrive by ``deadline``;
        while waiting for it, what else arrives is dropped."""
        ...

    def unread(self, seen: list[Received]) -> None:
        """Give back segments a step took with :meth:`next` but did not use, in arrival order: the
        next step gets them first, as if never taken (a step records only what it used)."""
        ...

    def sleep(self, deadline: float) -> Waiting[None]:
        """Let time pass until ``deadline``; segments arriving meanwhile wait for the next step."""
        ...

    def reconnect(self) -> None:
        """Speak from the case's fresh source port from here on: ``key`` becomes that 4-tuple."""
        ...

    def keep(self, value: object) -> None:
        """Leave ``value`` for the steps after this one (an ISN sample for the check that follows)."""
        ...

    def kept(self, of: type[_T]) -> _T | None:
        """What an earlier step of the case kept, of type ``of``."""
        ...


def transmit(env: StepEnv, seg: Segment, step: int | None, note: str = "") -> float:
    """Send ``seg`` on the case's link as the tester's, note it on the connection and in the
    exchange; returns when it left.  Every segment the tester sends goes through here."""
    sent = env.link.send(seg)
    env.conn.note_sent(seg)
    env.record("out", seg, sent.at, step, note, frame=sent.frame)
    return sent.at
