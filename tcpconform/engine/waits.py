"""What a running case waits for, as types the scheduler matches on.

A case is a generator; whenever it must wait it yields one of these and the scheduler
(:mod:`tcpconform.engine.scheduler`), the only place that waits, resumes it:

- :class:`Recv`: with the next segment of the case's connection, or with ``None`` at the deadline;
- :class:`Sleep`: with ``None`` at the deadline, while the case's segments queue up.

Deadlines are on the link's clock.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

from tcpconform.links.base import Received


@dataclass(frozen=True, slots=True)
class Recv:
    """Resume me with my next segment, or with ``None`` at the deadline."""

    deadline: float


@dataclass(frozen=True, slots=True)
class Sleep:
    """Resume me at the deadline; my segments queue up meanwhile."""

    deadline: float


Wait: TypeAlias = Recv | Sleep

_T = TypeVar("_T")
Waiting: TypeAlias = Generator[Wait, Received | None, _T]
"""Code that may wait and then gives back a ``_T``: ``got = yield from ...`` inside a case."""
