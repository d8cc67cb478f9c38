"""What a loaded case must be, judged again from outside the loader: the fuzz campaign's check that
an accepted case file is one a run can honour.

The loader's own checks are the rules; this is the evidence.  Every segment a case sends is built
as the engine would (its ``$name`` values at their offsets, its data as zeros) and put through the
real frame encoder and decoder: a segment no frame can carry raises, and options beyond what the
data offset counts come back as data.  Durations must be finite and within a day, thresholds
finite and in range, and no text bound for junit.xml or a terminal may hold a control character.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from tcpconform.cases.model import (
    AppStep,
    FieldSpec,
    IsnCheckStep,
    OptionsSpec,
    SegmentSpec,
    SendStep,
    TestCase,
    Var,
)
from tcpconform.tcp.segment import Flags, Segment
from tcpconform.wire import encode, tcp_segment

__all__ = ["impossible"]

DAY = 86_400.0
APP_BYTES = 1 << 24
_ADDRESSES = {"ipv4": ("198.18.0.1", "198.18.0.2"), "ipv6": ("2001:db8::1", "2001:db8::2")}


def _number(value: FieldSpec | None, mask: int = 0xFFFFFFFF) -> int:
    """A sent value as the run might make it: a number as it is, ``$name+n`` as ``n``."""
    if isinstance(value, int):
        return value & mask
    return value.offset & mask if isinstance(value, Var) else 0


def _segment(spec: SegmentSpec, family: str) -> Segment:
    options: list[tuple[str, object]] = []
    if isinstance(spec.options, OptionsSpec):
        for opt in spec.options.items:
            value = opt.value
            if isinstance(value, tuple):
                options.append((opt.kind, tuple(_number(v) for v in value)))
            elif value is None or isinstance(value, bytes):
                options.append((opt.kind, value))
            else:
                options.append((opt.kind, _number(value)))
    payload = spec.payload if spec.payload is not None else bytes(_number(spec.length))
    src, dst = _ADDRESSES[family]
    return Segment(src, dst, 40000, 8000, seq=_number(spec.seq), ack=_number(spec.ack),
                   flags=spec.flags if isinstance(spec.flags, Flags) else Flags.NONE,
                   window=_number(spec.window, 0xFFFF), urgptr=_number(spec.urgptr, 0xFFFF), options=tuple(options),
                   payload=payload, reserved=spec.reserved or 0, chksum=spec.chksum, dataofs=spec.dataofs)


def _unsendable(spec: SegmentSpec, family: str) -> str | None:
    seg = _segment(spec, family)
    try:
        frame = encode(seg)
    except Exception as exc:  # the evidence: no frame carries this segment
        return f"cannot be framed ({type(exc).__name__}: {exc})"
    back = tcp_segment(frame)
    if back is None:
        return "its frame does not decode as a segment"
    if spec.dataofs is None and back[0].payload != seg.payload:  # options the offset cannot count read as data
        return "its frame decodes to other data (the data offset cannot count its options)"
    return None


def _texts(case: TestCase) -> Iterator[tuple[str, str, bool]]:
    """Every text of the case a report shows: (what, text, whether free text may break lines)."""
    yield "id", case.id, False
    yield "title", case.title, False
    yield "area", case.area, False
    yield "description", case.description, True
    yield "no_fault", case.no_fault or "", True
    for tag in case.tags:
        yield "tag", tag, False
    for req in case.requirements:
        yield "requirement", f"{req.id} {req.ref} {req.rid or ''}", False
        yield "requirement text", req.text, True
    for step in case.steps:
        yield f"step at {step.loc}", step.text, False


def _control(text: str, free: bool) -> int | None:
    for char in text:
        code = ord(char)
        if free and char in "\t\n\u2028\u2029\x85":
            continue
        if code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF, 0x2028, 0x2029):
            return code
    return None


def impossible(cases: list[TestCase]) -> str | None:
    """Why one of ``cases`` cannot be run as written, or ``None`` when every one can."""
    for case in cases:
        for what, text, free in _texts(case):
            code = _control(text, free)
            if code is not None:
                return f"{case.id}: the {what} holds U+{code:04X}"
        total = 0.0
        for step in case.steps:
            for name in ("duration", "within", "interval"):
                value = getattr(step, name, None)
                if value is not None and not (isinstance(value, float) and 0 < value <= DAY):
                    return f"{step.loc}: {name} {value!r}"
                if name != "interval" and value is not None:
                    total += value
            if isinstance(step, IsnCheckStep) and not (math.isfinite(step.min_bits) and 0 <= step.min_bits <= 32):
                return f"{step.loc}: min_bits {step.min_bits!r}"
            if isinstance(step, AppStep) and step.count is not None and not 0 < step.count <= APP_BYTES:
                return f"{step.loc}: {step.action} {step.count}"
            if isinstance(step, SendStep):
                for family in (case.family,) if case.family else ("ipv4", "ipv6"):
                    why = _unsendable(step.segment, family)
                    if why is not None:
                        return f"{step.loc}: the segment {step.text!r} {why}"
        if total > DAY:
            return f"{case.id}: its durations add up to {total:.0f} s"
    return None
