"""Validated case data -> :class:`~tcpconform.cases.model.TestCase`: the checks the schema cannot make.

The schema (:mod:`tcpconform.cases.schema`) has checked the structure; :class:`CaseBuilder` checks
the meaning (segment notation, durations, requirement and fault names) and builds the model, reading
only values of the right type (the schema reported the others: again would bury the first message).

Rule: every step kind is one row of :data:`STEP_BUILDERS`, keyed by the kind's name in a case file;
nothing else here switches on step kinds.  A new kind is its model dataclass, its schema entry and
a row here (and a row in the engine's table of step runners).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tcpconform.cases.appaction import AppMistake, app_action
from tcpconform.cases.burst import build_challenge_burst
from tcpconform.cases.document import Document, Path_
from tcpconform.cases.ipspec import ip_expect, ip_spec
from tcpconform.cases.limits import case_duration, segment_problems
from tcpconform.cases.model import (
    COUNTED_STEPS,
    DEFAULT_INVARIANTS,
    ISN_MIN_BITS,
    NEGOTIABLE,
    TOLERABLE,
    AnyStep,
    AppStep,
    ExpectStep,
    FieldSpec,
    FlightStep,
    HalfOpenStep,
    IcmpStep,
    IsnCheckStep,
    IsnSampleStep,
    Level,
    NegotiatedStep,
    Numbering,
    ReconnectStep,
    ReopenStep,
    Requirement,
    SegmentSpec,
    SendStep,
    SilenceStep,
    SockOpt,
    SourceLoc,
    StateStep,
    TestCase,
    WaitStep,
)
from tcpconform.cases.notation import build_segment, parse_segment
from tcpconform.cases.requirements import labelled, rfc9293
from tcpconform.cases.values import MAX_DURATION, NotationError, did_you_mean, field_value, parse_duration, quoted
from tcpconform.responder.faults import FAULTS
from tcpconform.tcp.icmp import KINDS
from tcpconform.tcp.segment import Flags
from tcpconform.tcp.states import State

__all__ = ["STEP_BUILDERS", "STEP_KINDS", "CaseBuilder", "StepEntry"]



@dataclass(frozen=True, slots=True)
class StepEntry:
    """One step of a case file, as a step builder sees it: its kind's key, that key's value, the
    whole step mapping (for the modifiers: ``within``, ``rfc``...) and where it is."""

    index: int
    kind: str
    value: Any
    step: dict[str, Any]
    loc: SourceLoc

    @property
    def path(self) -> Path_:
        return ("steps", self.index)

    @property
    def text(self) -> str:
        return step_text(self.kind, self.value, self.step)


class CaseBuilder:
    """Turns one document's validated data into a :class:`TestCase`, recording what is wrong in it.

    :meth:`build` gives ``None`` whenever the document has a mistake (the schema's or its own).
    """

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.data: dict[str, Any] = doc.data if isinstance(doc.data, dict) else {}
        self.requirement_ids: list[str] = []
        self.tolerate: frozenset[str] = TOLERABLE

    def build(self) -> TestCase | None:
        d = self.data
        requirements = self._requirements()
        self.tolerate = self.names(("tolerate",), TOLERABLE)
        self._faults()
        built = [self._step(i, step) for i, step in enumerate(as_list(d.get("steps")))]
        steps = tuple(step for step in built if step is not None)
        if not self.doc.errors and len(steps) != len(built):  # a step the checks let through unbuilt: never drop it
            i = built.index(None)
            self.doc.error(("steps", i), "this step cannot be read (expected one step kind with a value it takes)")
        if (total := case_duration(steps)) > MAX_DURATION:
            self.doc.error(("steps",), f"the case's durations add up to {total:,.0f} s; a case takes at most "
                                       f"one day, {MAX_DURATION:.0f} s", key=True)
        level = d.get("level")
        if isinstance(level, str) and level in Level.__members__:
            case_level = Level(level)
        else:
            case_level = min((r.level for r in requirements), key=lambda lv: lv.rank, default=Level.MUST)
        tester: dict[str, Any] = d["tester"] if isinstance(d.get("tester"), dict) else {}
        route = self._route()
        if self.doc.errors:
            return None
        faults = d.get("faults") or []
        return TestCase(
            id=d["id"], title=d["title"], loc=SourceLoc(self.doc.file, self.doc.line(("id",))),
            requirements=requirements, steps=steps, description=str(d.get("description") or "").strip(),
            area=d.get("area") or Path(self.doc.file).resolve().parent.name, level=case_level,
            faults=tuple(faults), no_fault=d.get("no_fault"), numbering=self._numbering(),
            tester_window=tester.get("window", 5000), tester_mss=tester.get("mss"),
            invariants=self.names(("invariants",), DEFAULT_INVARIANTS), needs=frozenset(d.get("needs") or ()),
            tags=tuple(d.get("tags") or ()),
            closed_port=d.get("port") == "closed", alone=d.get("alone") is True or _samples(steps),
            family=d.get("family"), address=d.get("address"), peer=d.get("peer"), route=route,
            may_crash=d.get("may_crash") is True, long=d.get("long") is True,
        )

    def _route(self) -> tuple[str, ...]:
        """The case's ``route`` (the schema checked its shape): ``tester`` or IPv4 addresses."""
        hops = [hop for hop in as_list(self.data.get("route")) if isinstance(hop, str)]
        for i, hop in enumerate(hops):
            if hop != "tester" and not _is_ipv4(hop):
                self.doc.error(("route", i), f"{hop!r} is neither an IPv4 address nor tester")
        return tuple(hops)

    def _step(self, i: int, step: Any) -> AnyStep | None:
        if not isinstance(step, dict):
            return None
        kinds = [k for k in STEP_KINDS if k in step]
        if len(kinds) != 1:
            return None  # reported by the schema
        kind = kinds[0]
        entry = StepEntry(i, kind, step[kind], step, SourceLoc(self.doc.file, self.doc.line(("steps", i))))
        return STEP_BUILDERS[kind](self, entry)

    def _requirements(self) -> tuple[Requirement, ...]:
        out: list[Requirement] = []
        first_line: dict[str, int] = {}
        for i, req in enumerate(as_list(self.data.get("requirements"))):
            if not isinstance(req, dict) or not isinstance(req.get("id"), str):
                continue
            rid = req["id"]
            self.requirement_ids.append(rid)
            if rid in first_line:
                self.doc.error(("requirements", i, "id"),
                               f"duplicate requirement id {rid!r} (first at line {first_line[rid]})")
                continue
            first_line[rid] = self.doc.line(("requirements", i, "id"))
            level = req.get("level")
            self._labelled(i, req.get("rid"), level)
            if isinstance(req.get("ref"), str) and isinstance(level, str) and level in Level.__members__:
                out.append(Requirement(id=rid, ref=req["ref"], level=Level(req["level"]),
                                       text=str(req.get("text") or "").strip(), rid=req.get("rid")))
        return tuple(out)

    def _labelled(self, i: int, rid: object, level: object) -> None:
        """A ``rid`` names a requirement RFC 9293 labels, at the level it gives it: a case that checks a
        SHOULD as a MUST would fail a conformant stack."""
        if not isinstance(rid, str):
            return
        found = labelled(rid)
        if found is None:
            self.doc.error(("requirements", i, "rid"), f"RFC 9293 labels no requirement {rid!r} (it has MUST-1..69, "
                           "SHLD-1..31, MAY-1..18 and REC-1)" + did_you_mean(rid, rfc9293()))
        elif isinstance(level, str) and level in Level.__members__ and level != found.level.value:
            self.doc.error(("requirements", i, "level"), f"{rid} is a {found.level.value} in RFC 9293 "
                           f"({found.section}: {found.text}); this requirement says {level}")

    def _faults(self) -> None:
        """Every case must be able to fail (``faults``) or say why no fault can show it (``no_fault``)."""
        faults, no_fault = self.data.get("faults"), self.data.get("no_fault")
        for i, name in enumerate(as_list(faults)):
            if isinstance(name, str) and name not in FAULTS:
                hint = did_you_mean(name, FAULTS) or f" (known: {', '.join(sorted(FAULTS))})"
                self.doc.error(("faults", i), f"unknown fault {quoted(name)}{hint}")
        if faults and no_fault is not None:
            self.doc.error(("no_fault",), "give either faults or no_fault, not both", key=True)
        elif not faults and no_fault is None:
            where: Path_ = ("faults",) if "faults" in self.data else ()
            self.doc.error(where, "name the faults that must make this case fail (faults: [...]) or say "
                                  "why none applies (no_fault: ...)", key=bool(where))

    def _numbering(self) -> Numbering:
        value = self.data.get("numbering", "relative")
        if value == "absolute":
            return Numbering(absolute=True)
        if isinstance(value, dict):
            return Numbering(tester=value.get("tester", 0), target=value.get("target", 0))
        return Numbering()

    # -- what step builders use ------------------------------------------------------------------
    def names(self, path: Path_, default: frozenset[str]) -> frozenset[str]:
        """A list of names, ``none`` or ``[]`` (nothing), or ``default`` when the key is absent."""
        node: Any = self.data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return default
        return frozenset(n for n in as_list(node) if isinstance(n, str))

    def step_tolerate(self, entry: StepEntry) -> frozenset[str]:
        """The step's own ``tolerate`` when it has one, else the case's."""
        if "tolerate" not in entry.step:
            return self.tolerate
        return frozenset(n for n in as_list(entry.step.get("tolerate")) if isinstance(n, str))

    def rfc(self, entry: StepEntry) -> str | None:
        """The requirement the step names (``rfc``), which must be one of the case's."""
        name = entry.step.get("rfc")
        if isinstance(name, str) and name not in self.requirement_ids:
            known = ", ".join(dict.fromkeys(self.requirement_ids)) or "none"
            hint = did_you_mean(name, self.requirement_ids)
            self.doc.error((*entry.path, "rfc"), f"no requirement {quoted(name)} in this case{hint} "
                                                 f"(its requirements: {known})")
            return None
        return name if isinstance(name, str) else None

    def duration(self, path: Path_, value: Any) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return None  # reported by the schema
        try:
            return parse_duration(value)
        except NotationError as exc:
            self.doc.error(path, exc.message)
            return None

    def modifier_duration(self, entry: StepEntry, key: str, default: float | None = None) -> float | None:
        """The step's ``within``/``interval``, or ``default`` when it gives none."""
        return self.duration((*entry.path, key), entry.step[key]) if key in entry.step else default

    def segment(self, path: Path_, value: Any, send: bool) -> SegmentSpec | None:
        spec: SegmentSpec | None = None
        if isinstance(value, str):
            try:
                spec = parse_segment(value, send=send)
            except NotationError as exc:
                self.doc.error(path, exc.message, column=exc.column)
                return None
        elif isinstance(value, dict):
            spec, problems = build_segment(value, send=send)
            for sub, message in problems:
                self.doc.error((*path, *sub), message)
        if spec is None:
            return None
        family = self.data.get("family") if isinstance(self.data.get("family"), str) else None
        impossible = segment_problems(spec, send=send, family=family)
        for field, message in impossible:
            if isinstance(value, str):
                column = value.find("<" if field == "options" else "(") + 1 or None
                self.doc.error(path, message, column=column)
            else:
                key = "payload" if field == "length" and "len" not in value else "len" if field == "length" else field
                self.doc.error((*path, key), message)
        return None if impossible else spec

    def isn(self, entry: StepEntry, spec: SegmentSpec | None) -> FieldSpec | None:
        step, path = entry.step, entry.path
        if isinstance(step.get("isn"), bool) or not isinstance(step.get("isn"), int | str):
            return None  # absent, or a wrong type the schema reports
        try:
            isn = field_value(step["isn"], "isn")
        except NotationError as exc:
            self.doc.error((*path, "isn"), exc.message)
            return None
        if spec is not None and isinstance(spec.flags, Flags) and not spec.flags & Flags.SYN:
            self.doc.error((*path, "isn"), "isn checks the sequence number of a SYN, and this "
                                           f"expectation is not one ({spec.flags.tcpdump()})", key=True)
        return isn

    def app(self, path: Path_, value: Any) -> tuple[Any, int | SockOpt | None] | None:
        """An ``app`` step's action and argument (:func:`~tcpconform.cases.appaction.app_action`)."""
        got = app_action(value)
        if isinstance(got, AppMistake):
            if got.message:
                self.doc.error((*path, *got.key), got.message)
            return None
        return got


# --- one builder per step kind -----------------------------------------------------------------
# Each checks its step in a fixed order (the order its mistakes are listed in, within a line).


def _send(b: CaseBuilder, e: StepEntry) -> AnyStep | None:
    spec = b.segment((*e.path, e.kind), e.value, send=True)
    ip, problems = ip_spec(e.step["ip"]) if isinstance(e.step.get("ip"), dict) else (None, [])
    for sub, message in problems:
        b.doc.error((*e.path, "ip", *sub), message)
    return SendStep(e.loc, step_text(e.kind, spec.text, e.step), spec, ip) if spec and not problems else None


def _expect(b: CaseBuilder, e: StepEntry) -> AnyStep | None:
    spec = b.segment((*e.path, e.kind), e.value, send=False)
    within = b.modifier_duration(e, "within")
    isn = b.isn(e, spec)
    tolerate = b.step_tolerate(e)
    rfc = b.rfc(e)
    if spec is None:
        return None
    measure = e.step.get("measure") if isinstance(e.step.get("measure"), str) else None
    ip, problems = ip_expect(e.step["ip"]) if isinstance(e.step.get("ip"), dict) else (None, [])
    for sub, message in problems:
        b.doc.error((*e.path, "ip", *sub), message)
    return ExpectStep(e.loc, step_text(e.kind, spec.text, e.step), spec, within=within, isn=isn,
                      tolerate=tolerate, requirement=rfc, measure=measure, ip=ip)


def _silence(b: CaseBuilder, e: StepEntry) -> AnyStep | None:
    duration = b.duration((*e.path, e.kind), e.value)
    tolerate = b.step_tolerate(e)
    rfc = b.rfc(e)
    return SilenceStep(e.loc, e.text, duration, tolerate, rfc) if duration else None


def _flight(b: CaseBuilder, e: StepEntry) -> AnyStep | None:
    count = e.value
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        return None  # the schema said why, at its line
    quiet = b.modifier_duration(e, "quiet")
    within = b.modifier_duration(e, "within")
    rfc = b.rfc(e)
    return FlightStep(e.loc, e.text, count, quiet if quiet is not None else 0.5, within, rfc)


def _app(b: CaseBuilder, e: StepEntry) -> AnyStep | None:
    action = b.app((*e.path, e.kind), e.value)
    rfc = b.rfc(e)
    if not action:
        return None
    name, arg = action
    if isinstance(arg, SockOpt):
        return AppStep(e.loc, e.text, name, None, rfc, sockopt=arg)
    return AppStep(e.loc, e.text, name, arg, rfc, urgent=isinstance(e.value, str) and e.value.split()[2:] == ["urgent"])


def _state(b: CaseBuilder, e: StepEntry) -> AnyStep | None:
    rfc = b.rfc(e)
    if not isinstance(e.value, str) or e.value not in State.__members__:
        return None  # reported by the schema
    return StateStep(e.loc, e.text, State(e.value), rfc)


def _wait(b: CaseBuilder, e: StepEntry) -> AnyStep | None:
    duration = b.duration((*e.path, e.kind), e.value)
    return WaitStep(e.loc, e.text, duration) if duration else None


def _isn_sample(b: CaseBuilder, e: StepEntry) -> AnyStep | None:
    interval = b.modifier_duration(e, "interval", 0.02)
    within = b.modifier_duration(e, "within")
    rfc = b.rfc(e)
    if not isinstance(e.value, int) or isinstance(e.value, bool) or interval is None:
        return None
    return IsnSampleStep(e.loc, e.text, e.value, interval, within, rfc, e.step.get("by", "syn"))  # by: the schema's enum


def _counted(b: CaseBuilder, e: StepEntry) -> AnyStep | None:
    within, rfc = b.modifier_duration(e, "within"), b.rfc(e)  # half_open, fill_window, slow_read: a count, within, rfc
    return COUNTED_STEPS[e.kind](e.loc, e.text, e.value, within, rfc) if type(e.value) is int else None  # else the schema's


def _isn_check(b: CaseBuilder, e: StepEntry) -> AnyStep | None:
    rfc = b.rfc(e)
    if not any(isinstance(s, dict) and "isn_sample" in s for s in as_list(b.data.get("steps"))[:e.index]):
        b.doc.error((*e.path, e.kind), "isn_check judges a sample: an isn_sample step must come before it")
        return None
    bits = e.step.get("min_bits", ISN_MIN_BITS)
    if e.value not in ("clock-driven", "unpredictable") or not isinstance(bits, int | float) or not 0 <= bits <= 32:
        return None  # reported by the schema
    return IsnCheckStep(e.loc, e.text, e.value, float(bits), rfc)


def _reconnect(b: CaseBuilder, e: StepEntry) -> AnyStep | None:
    return ReconnectStep(e.loc, e.text) if e.value == "fresh-port" else None  # else: the schema's to report


def _negotiated(b: CaseBuilder, e: StepEntry) -> AnyStep | None:
    return NegotiatedStep(e.loc, e.text, e.value) if e.value in NEGOTIABLE else None  # else: the schema's to report


def _icmp(b: CaseBuilder, e: StepEntry) -> AnyStep | None:
    """An ICMP error step: its kind known, an MTU exactly where the kind takes one, a family that has it."""
    value, path = e.value, (*e.path, e.kind)
    rfc = b.rfc(e)
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        return None  # reported by the schema
    name = value["type"]
    if name not in KINDS:
        b.doc.error((*path, "type"), f"unknown ICMP error {quoted(name)}{did_you_mean(name, KINDS)} (known: {', '.join(KINDS)})")
        return None
    kind, mtu = KINDS[name], value.get("mtu")
    if kind.effect == "pmtu" and mtu is None:
        b.doc.error(path, f"{name} announces an MTU: give 'mtu: N' (68..65535) or 'mtu: minimum'", key=True)
        return None
    if kind.effect != "pmtu" and mtu is not None:
        b.doc.error((*path, "mtu"), f"only frag-needed / packet-too-big carry an MTU, not {name}")
        return None
    if kind.v6 is None and b.data.get("family") != "ipv4":
        b.doc.error((*path, "type"), f"{name} exists only in ICMPv4: the case needs 'family: ipv4'")
        return None
    quote: SegmentSpec | None = None
    if value.get("quote", "last") != "last":
        quote = b.segment((*path, "quote"), value["quote"], send=True)
        if quote is None:
            return None
    offset = value.get("seq", 0)
    return IcmpStep(e.loc, e.text, name, quote, offset if isinstance(offset, int) else 0,
                    mtu if isinstance(mtu, int | str) else None, rfc)  # type: ignore[arg-type]


StepBuilder = Callable[[CaseBuilder, StepEntry], AnyStep | None]

STEP_BUILDERS: dict[str, StepBuilder] = {
    "send": _send,
    "expect": _expect,
    "silence": _silence,
    "app": _app,
    "state": _state,
    "wait": _wait,
    "isn_sample": _isn_sample,
    "challenge_burst": build_challenge_burst,
    "isn_check": _isn_check,
    "reconnect": _reconnect,
    "negotiated": _negotiated,
    "icmp": _icmp,
    "half_open": _counted,
    "flight": _flight,
    "fill_window": _counted,
    "slow_read": _counted,
    "reopen": lambda b, e: ReopenStep(e.loc, e.text, str(e.value), b.modifier_duration(e, "within"), b.rfc(e)),
}
"""Step kind (its key in a case file) -> the function that checks and builds such a step."""

STEP_KINDS = tuple(STEP_BUILDERS)


def _samples(steps: tuple[AnyStep, ...]) -> bool:
    """A case sampling many connections runs alone: others would disturb its timing and ports."""
    return any(isinstance(step, (IsnSampleStep, HalfOpenStep)) for step in steps)


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a list, else nothing (a wrong type is the schema's to report)."""
    return value if isinstance(value, list) else []


def step_text(kind: str, value: Any, step: dict[str, Any]) -> str:
    """The step as a report shows it: ``expect S. 100:100(0) ack 1, within 500ms``."""
    if isinstance(value, dict):
        main = " ".join(f"{k} {v}" for k, v in value.items()) if kind == "app" else _flow(value)
    else:
        main = str(value)
    parts = [f"{kind} {main}"]
    parts += [f"{k} {_flow(v)}" for k, v in step.items() if k != kind]
    return ", ".join(parts)


def _flow(value: Any) -> str:
    """A value written as YAML flow style, on one line."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return str(value)


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True
