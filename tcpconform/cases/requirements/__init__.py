"""RFC 9293's labelled requirements, and which cases check each: the catalogue's coverage.

``rfc9293.yaml`` lists every labelled requirement (MUST-1..69, SHLD-1..31, MAY-1..18, REC-1) with
its level, section, a paraphrase, how it can be observed on the wire, and what no case checks yet.
Cases say themselves which requirements they check (``requirements[].rid``); :func:`coverage`
puts the two together.  Invariants, kept by the loader and by the tests: a case cites only ids
listed here, and every requirement no case cites says what is missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal, cast

import yaml

from tcpconform.cases.model import Level, TestCase

__all__ = ["OBSERVABLE", "CoverageRow", "LabelledRequirement", "coverage", "labelled", "rfc9293"]

Observable = Literal["server", "agent", "client", "no"]
OBSERVABLE: dict[Observable, str] = {
    "server": "on the wire, the target listening",
    "agent": "on the wire, with the target's application acting (an agent)",
    "client": "on the wire, the target connecting out",
    "no": "not on the wire",
}
"""How a requirement can be observed, as :attr:`LabelledRequirement.observable` names it."""


@dataclass(frozen=True, slots=True)
class LabelledRequirement:
    """One labelled requirement of RFC 9293 (``MUST-40``: "an ACK is delayed less than 0.5 s")."""

    rid: str
    level: Level
    section: str
    text: str
    observable: Observable
    missing: str | None = None
    """What no case checks yet, and how a case would (``observable: no``: why nothing shows it)."""
    note: str | None = None


@cache
def rfc9293() -> dict[str, LabelledRequirement]:
    """Every labelled requirement of RFC 9293, by id, in the RFC's order (MUST, SHLD, MAY, REC)."""
    text = resources.files(__package__).joinpath("rfc9293.yaml").read_text(encoding="utf-8")
    # libyaml's loader where it is built in: a tenth of the time, and the report of every run reads this.
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["requirements"]
    return {rid: LabelledRequirement(rid, Level(e["level"]), str(e["section"]), e["text"],
                                     cast(Observable, e["observable"]), e.get("missing"), e.get("note"))
            for rid, e in data.items()}


def labelled(rid: str) -> LabelledRequirement | None:
    """The requirement ``rid`` names, or None for an id RFC 9293 does not label."""
    return rfc9293().get(rid)


@dataclass(frozen=True, slots=True)
class CoverageRow:
    requirement: LabelledRequirement
    cases: tuple[str, ...]
    """The ids of the cases that cite it, in catalogue order."""

    @property
    def status(self) -> Literal["checked", "partly", "missing", "unobservable"]:
        """``checked``: cases cite it and nothing is said to be missing; ``partly``: cases cite it but
        part of it is not checked; ``missing``: no case, though it can be observed; ``unobservable``."""
        req = self.requirement
        if self.cases:
            return "partly" if req.missing else "checked"
        return "unobservable" if req.observable == "no" else "missing"


def coverage(cases: Iterable[TestCase]) -> list[CoverageRow]:
    """One row per labelled requirement, with the cases that cite it."""
    citing: dict[str, list[str]] = {}
    for case in cases:
        for req in case.requirements:
            if req.rid is not None and case.id not in citing.setdefault(req.rid, []):
                citing[req.rid].append(case.id)
    return [CoverageRow(req, tuple(citing.get(rid, ()))) for rid, req in rfc9293().items()]
