"""The mutations of one segment the tester sends: one field changed, each with the RFC rule that
decides what a receiver makes of the result (a :class:`~tcpconform.results.RequirementRef`, id
``survive``: the requirement a reproducer of a crash checks).

Every mutation is a pure function of the segment spec (:class:`Mutation`); one that does not apply
(a sequence number the case leaves to the engine, urgent data on a segment without data) gives
``None``; the IP length field's mutations leave the segment as it is and say how far the field
lies (:attr:`Mutation.length_delta`: the send step's ``ip: {length_delta: N}``).  The list is
fixed and ordered, so a mutant is named by its seed case, the index of the send step and the
mutation's name, and made again from those alone.  Pairs are two mutations of
different fields applied in turn (:func:`pair`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from tcpconform.cases.segspec import FieldSpec, OptionSpec, OptionsSpec, SegmentSpec, Var
from tcpconform.results import RequirementRef
from tcpconform.tcp.segment import Flags

__all__ = ["MUTATIONS", "UNCHANGED", "Mutation", "by_name", "pair"]


def _rule(ref: str, level: str, text: str, rid: str | None = None) -> RequirementRef:
    """The rule that decides a mutated field's handling, as the requirement a reproducer checks."""
    return RequirementRef(id="survive", ref=ref, level=level, rid=rid, text=text)


OPTIONS_RULE = _rule("RFC 9293 3.1", "MUST", "TCP implementations MUST be prepared to handle an illegal option "
                    "length (e.g., zero); a suggested procedure is to reset the connection and log the error cause.", "MUST-7")
URGENT_RULE = _rule("RFC 9293 3.8.5", "MUST", "A TCP implementation MUST support a sequence of urgent data of any "
                   "length; the urgent pointer may point past the segment's data.", "MUST-31")
CHECKSUM_RULE = _rule("RFC 9293 3.1", "MUST", "The receiver verifies the checksum: a segment whose checksum is "
                     "wrong is discarded, never acknowledged nor delivered.", "MUST-3")
ACCEPT_RULE = _rule("RFC 9293 3.10.7.4", "MUST", "A segment outside the receive window is not acceptable: it is "
                   "answered with an ACK (unless it carries RST) and dropped; an ACK of something not yet sent "
                   "is answered with an ACK and the segment dropped.")
FLAGS_RULE = _rule("RFC 9293 3.10.7", "MUST", "Each state processes a segment's control bits in the order 3.10.7 "
                  "gives (sequence number, RST, security, SYN, ACK, URG, text, FIN); no combination brings the "
                  "stack down.")
HEADER_RULE = _rule("RFC 9293 3.1", "MUST", "The reserved bits are ignored by a receiver; a data offset that does not "
                   "fit the segment makes it malformed, and it is discarded.")
LENGTH_RULE = _rule("RFC 9293 3.1", "MUST", "The checksum's pseudo-header carries the TCP length the IP header gives: a "
                    "datagram whose length field lies carries a segment that fails its checksum (or is shorter than its "
                    "own header), and it is discarded.", "MUST-3")
WINDOW_RULE = _rule("RFC 9293 3.8.6", "MUST", "Any window the peer offers, zero included, is taken as offered; a "
                   "zero window is probed, never a reason to drop the connection.")


@dataclass(frozen=True)
class Mutation:
    """One field change: its name (unique), the field it touches, the rule, and the change."""

    name: str
    field: str
    rule: RequirementRef
    apply: Callable[[SegmentSpec], SegmentSpec | None]
    length_delta: int = 0
    """How far the segment's IP length field is off its datagram's true length (0: true)."""


def _shift(value: FieldSpec | None, by: int) -> FieldSpec | None:
    if isinstance(value, int):
        return (value + by) & 0xFFFFFFFF
    if isinstance(value, Var):
        return Var(value.name, value.offset + by)
    return None  # left to the engine, a wildcard or a capture: no number to move


def _seq(by: int) -> Callable[[SegmentSpec], SegmentSpec | None]:
    def change(spec: SegmentSpec) -> SegmentSpec | None:
        moved = _shift(spec.seq, by)
        return None if moved is None else replace(spec, seq=moved)
    return change


def _ack(by: int) -> Callable[[SegmentSpec], SegmentSpec | None]:
    def change(spec: SegmentSpec) -> SegmentSpec | None:
        if not isinstance(spec.flags, Flags) or not spec.flags & Flags.ACK:
            return None
        moved = _shift(spec.ack, by)
        return None if moved is None else replace(spec, ack=moved)
    return change


def _toggle(flag: Flags) -> Callable[[SegmentSpec], SegmentSpec | None]:
    def change(spec: SegmentSpec) -> SegmentSpec | None:
        if not isinstance(spec.flags, Flags):
            return None
        flags = spec.flags ^ flag
        if flags & Flags.URG and spec.urgptr is None:
            return replace(spec, flags=flags, urgptr=0)
        return replace(spec, flags=flags)
    return change


def _set(**values: object) -> Callable[[SegmentSpec], SegmentSpec | None]:
    def change(spec: SegmentSpec) -> SegmentSpec | None:
        return replace(spec, **values)  # type: ignore[arg-type]
    return change


def _option(raw: bytes) -> Callable[[SegmentSpec], SegmentSpec | None]:
    """Append a raw option (kind, length and value as given) to the segment's list."""
    def change(spec: SegmentSpec) -> SegmentSpec | None:
        items = spec.options.items if isinstance(spec.options, OptionsSpec) else ()
        if spec.options is not None and not isinstance(spec.options, OptionsSpec):
            return None
        return replace(spec, options=OptionsSpec((*items, OptionSpec("raw", raw))))
    return change


def _length(spec: SegmentSpec) -> int | None:
    if isinstance(spec.length, int):
        return spec.length
    return len(spec.payload) if spec.payload is not None else None


def _urgent(pointer: Callable[[int], int]) -> Callable[[SegmentSpec], SegmentSpec | None]:
    def change(spec: SegmentSpec) -> SegmentSpec | None:
        size = _length(spec)
        if not isinstance(spec.flags, Flags) or not size:
            return None
        return replace(spec, flags=spec.flags | Flags.URG, urgptr=pointer(size))
    return change


def _mutations() -> tuple[Mutation, ...]:
    out = [Mutation(f"flag-{name}", "flags", FLAGS_RULE, _toggle(flag)) for name, flag in (
        ("fin", Flags.FIN), ("syn", Flags.SYN), ("rst", Flags.RST), ("psh", Flags.PSH), ("ack", Flags.ACK),
        ("urg", Flags.URG), ("ece", Flags.ECE), ("cwr", Flags.CWR))]
    out += [Mutation(f"seq{name}", "seq", ACCEPT_RULE, _seq(by)) for name, by in (
        ("+1", 1), ("-1", -1), ("+64k", 65536), ("+2g", 1 << 31))]
    out += [Mutation(f"ack{name}", "ack", ACCEPT_RULE, _ack(by)) for name, by in (
        ("+1", 1), ("-1", -1), ("+64k", 65536), ("+2g", 1 << 31))]
    out += [Mutation(f"win-{value}", "window", WINDOW_RULE, _set(window=value)) for value in (0, 1, 65535)]
    out += [Mutation(f"dataofs-{value}", "dataofs", HEADER_RULE, _set(dataofs=value)) for value in (0, 4, 15)]
    out += [Mutation("reserved-7", "reserved", HEADER_RULE, _set(reserved=7)),
            Mutation("chksum-bad", "chksum", CHECKSUM_RULE, _set(chksum="bad"))]
    out += [Mutation(f"opt-{name}", "options", OPTIONS_RULE, _option(bytes.fromhex(raw))) for name, raw in (
        ("len0", "fd00"), ("len1", "fd01"), ("past-header", "fd28"), ("mss-len3", "0203ff"),
        ("mss-len2", "0202"), ("wscale-len2", "0302"), ("wscale-15", "03030f"), ("ts-len6", "080600000000"),
        ("sackok-len3", "040300"), ("sack-len6", "050600000000"), ("unknown-kind", "fe040000"))]
    out += [Mutation("urg-past-data", "urgptr", URGENT_RULE, _urgent(lambda size: size + 100)),
            Mutation("urg-zero", "urgptr", URGENT_RULE, _urgent(lambda size: 0)),
            Mutation("urg-ffff", "urgptr", URGENT_RULE, _urgent(lambda size: 0xFFFF))]
    # the IP length field short of the segment, past the frame's end, and 0 (shorter than the IP header)
    out += [Mutation(f"iplen-{name}", "iplen", LENGTH_RULE, lambda spec: spec, delta) for name, delta in (
        ("short", -4), ("long", 20), ("zero", -0xFFFF))]
    return tuple(out)


MUTATIONS: tuple[Mutation, ...] = _mutations()
"""Every single-field mutation, in the order a campaign tries them."""
_BY_NAME = {m.name: m for m in MUTATIONS}
UNCHANGED = Mutation("unchanged", "none", FLAGS_RULE, lambda spec: spec)
"""The send as the case wrote it: what a crash is told apart from (a seed whose own segment crashes
the target is the catalogue's finding, not a mutant's)."""


def by_name(name: str) -> Mutation:
    """The mutation ``name`` names (a :class:`KeyError` for another)."""
    return _BY_NAME[name]


def pair(first: Mutation, second: Mutation) -> Mutation | None:
    """``first`` then ``second`` on the same segment, or None for two changes of one field."""
    if first.field == second.field:
        return None

    def both(spec: SegmentSpec) -> SegmentSpec | None:
        once = first.apply(spec)
        return None if once is None else second.apply(once)
    return Mutation(f"{first.name}+{second.name}", f"{first.field}+{second.field}", first.rule, both,
                    first.length_delta or second.length_delta)
