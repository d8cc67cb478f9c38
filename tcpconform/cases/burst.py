"""The ``challenge_burst`` step from a case file (its row of :data:`~tcpconform.cases.build.STEP_BUILDERS`).

It sees the case's builder and the step only through the two protocols below, the members every
step builder uses, so it lives apart from the builder itself.  Invariant: a step is built only with
``at_most`` below ``count`` (else no throttle could show), which the schema cannot say.
"""

from __future__ import annotations

from typing import Any, Protocol

from tcpconform.cases.document import Path_
from tcpconform.cases.model import ChallengeBurstStep, SourceLoc


class _Doc(Protocol):
    def error(self, path: Path_, message: str) -> None: ...


class _Entry(Protocol):
    @property
    def value(self) -> Any: ...
    @property
    def step(self) -> dict[str, Any]: ...
    @property
    def loc(self) -> SourceLoc: ...
    @property
    def path(self) -> Path_: ...
    @property
    def text(self) -> str: ...


class _Builder(Protocol):
    @property
    def doc(self) -> _Doc: ...
    def rfc(self, entry: Any) -> str | None: ...
    def modifier_duration(self, entry: Any, key: str, default: float | None = None) -> float | None: ...


def build_challenge_burst(b: _Builder, e: _Entry) -> ChallengeBurstStep | None:
    count, at_most, trigger = e.value, e.step.get("at_most"), e.step.get("trigger", "rst")
    quiet, rfc = b.modifier_duration(e, "quiet", 1.0), b.rfc(e)
    if isinstance(count, bool) or not isinstance(count, int) or not isinstance(at_most, int) or quiet is None:
        return None  # the schema said why, at its line
    if at_most >= count:
        b.doc.error((*e.path, "at_most"), f"at_most {at_most} must be below the burst's {count}: else no throttle shows")
        return None
    return ChallengeBurstStep(e.loc, e.text, count, at_most, "syn" if trigger == "syn" else "rst", quiet, rfc)
