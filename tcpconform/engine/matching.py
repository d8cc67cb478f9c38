"""Matching a received segment against an expectation, and the rules every segment must obey.

Matching never stops at the first difference: :func:`match` returns every mismatching field, so a
report shows at once that a SYN-ACK had both the wrong ack and the wrong window.  Captures are
returned, not stored, and only committed by the caller once the whole segment matched.

The expect semantics (documented in the README) are decided here, in :func:`tolerated`: while an
expect or silence step waits, a stack may send segments a conformant TCP is entitled to send —
intermediate cumulative ACKs, window updates, retransmissions — and the step lets them pass if
the case tolerates them.  Anything else that does not match is a failure of the step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcpconform.cases.model import (
    ANY,
    Capture,
    FieldSpec,
    Level,
    OptionSpec,
    OptionsSpec,
    Range,
    Requirement,
    SegmentSpec,
    Var,
)
from tcpconform.engine.connection import TesterConnection, describe_spec
from tcpconform.engine.negotiation import negotiation_hygiene
from tcpconform.links.base import Checksum
from tcpconform.results import Mismatch
from tcpconform.tcp import seqnum
from tcpconform.tcp.options import BY_NAME
from tcpconform.tcp.segment import Flags, Segment, render_options
from tcpconform.wire.tcp import malformed_at

INVARIANT_REQUIREMENTS: dict[str, Requirement] = {
    "ack-not-beyond-sent": Requirement(
        "ack-not-beyond-sent", "RFC 9293 3.4", Level.MUST,
        "An acknowledgment number is the next sequence number its sender expects to receive: "
        "a TCP acknowledges only bytes it has received.",
    ),
    "within-window": Requirement(
        "within-window", "RFC 9293 3.8.6", Level.MUST,
        "A sender keeps its data within the receive window the peer advertised "
        "(a one-byte zero-window probe excepted).",
    ),
    "no-window-shrink": Requirement(
        "no-window-shrink", "RFC 9293 3.8.6", Level.SHOULD,
        "A TCP receiver SHOULD NOT shrink the window, i.e., move the right window edge to the left (SHLD-14).",
        rid="SHLD-14",
    ),
    "checksum": Requirement(
        "checksum", "RFC 9293 3.1", Level.MUST,
        "The checksum covers the pseudo-header, the TCP header and the data (an odd last byte padded "
        "with a zero); the sender MUST generate it.",
        rid="MUST-2",
    ),
    "mss": Requirement(
        "mss", "RFC 9293 3.7.1", Level.MUST,
        "The effective send MSS MUST be the smaller of the send MSS (the MSS the peer offered, "
        "536 without the option) and what the IP layer permits.",
        rid="MUST-16",
    ),
    "push": Requirement(
        "push", "RFC 9293 3.9.1", Level.MUST,
        "A TCP that does not implement PUSH on SEND calls MUST set the PSH bit in the last buffered "
        "segment (when no more queued data is to be sent).",
        rid="MUST-61",
    ),
    "options-parse": Requirement(
        "options-parse", "RFC 9293 3.1", Level.MUST,
        "Every option but EOL and NOP carries a length that counts its kind and length octets and "
        "ends inside the header: a list that does not parse is no TCP header.",
    ),
    "mss-only-on-syn": Requirement(
        "mss-only-on-syn", "RFC 9293 3.2", Level.MUST,
        "The MSS option may be sent in segments with the SYN bit set and MUST NOT be sent in other segments.",
        rid="MUST-65",
    ),
    "sack-permitted": Requirement(
        "sack-permitted", "RFC 2018 4", Level.MUST,
        "If the data receiver has not received a SACK-Permitted option for a given connection, it MUST "
        "NOT send SACK options on that connection.",
    ),
    "eol-padding": Requirement(
        "eol-padding", "RFC 9293 3.1", Level.MUST,
        "The TCP header padding after an End of Option List option is composed of zeros (\"The padding is "
        "composed of zeros\", MUST-69).", rid="MUST-69",
    ),
    "options-offered": Requirement(
        "options-offered", "RFC 7323 2.2, 3.2", Level.MUST,
        "A Window Scale option may be sent in a <SYN,ACK> segment only if one was received in the initial "
        "<SYN> segment; a TCP MAY send a TSopt in <SYN,ACK> only if it received a TSopt in the initial <SYN> "
        "segment for the connection.",
    ),
    "syn-only-options": Requirement(
        "syn-only-options", "RFC 7323 2.2, RFC 2018 2", Level.MUST,
        "The Window Scale option is sent only in a <SYN> segment; the SACK-permitted option MUST NOT be sent "
        "on non-SYN segments.",
    ),
    "ts-every-segment": Requirement(
        "ts-every-segment", "RFC 7323 3.2", Level.MUST,
        "Once TSopt has been successfully negotiated, that is both <SYN> and <SYN,ACK> contain TSopt, the "
        "TSopt MUST be sent in every non-<RST> segment for the duration of the connection.",
    ),
    "ecn-setup": Requirement(
        "ecn-setup", "RFC 3168 6.1.1", Level.MUST,
        "If a host has received an ECN-setup SYN packet, then it MAY send an ECN-setup SYN-ACK packet. "
        "Otherwise, it MUST NOT send an ECN-setup SYN-ACK packet (ECE set, CWR clear).",
    ),
}
"""The requirements of the invariants, and of what a failure is blamed on when a segment differs
only in a bit a requirement of its own governs (``push``)."""


@dataclass(slots=True)
class MatchResult:
    mismatches: list[Mismatch] = field(default_factory=list)
    captures: dict[str, int] = field(default_factory=dict)
    anchor_isn: int | None = None
    """The target ISN this match establishes (the first SYN from the target)."""

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _check(
    spec: FieldSpec | None, actual: int, conn: TesterConnection, name: str, out: MatchResult,
    *, modular: bool = False, shown: str | None = None,
) -> None:
    """Compare one field; ``modular`` for sequence space, where equality is modulo 2^32."""
    if spec is None or spec is ANY:
        return
    shown_actual = shown if shown is not None else str(actual)
    if isinstance(spec, Capture):
        out.captures[spec.name] = actual
        return
    if isinstance(spec, Range):
        ok = seqnum.between(spec.lo, actual, spec.hi) if modular else spec.lo <= actual <= spec.hi
        if not ok:
            out.mismatches.append(Mismatch(name, describe_spec(spec, conn), shown_actual))
        return
    if isinstance(spec, Var):
        if spec.name in out.captures:  # captured earlier in this same segment
            expected: int | None = out.captures[spec.name] + spec.offset
        else:
            expected = conn.resolve(spec)
        if expected is None:  # the profile leaves it open: capture what the stack chose
            out.captures[spec.name] = (actual - spec.offset) & seqnum.MASK if modular else actual - spec.offset
            return
    else:
        assert isinstance(spec, int)  # ANY, captures, ranges and names were handled above
        expected = spec
    equal = ((actual - expected) & seqnum.MASK) == 0 if modular else actual == expected
    if not equal:
        out.mismatches.append(Mismatch(name, describe_spec(spec, conn), shown_actual))


def match(spec: SegmentSpec, seg: Segment, conn: TesterConnection, isn: FieldSpec | None = None) -> MatchResult:
    """Every difference between ``seg`` and ``spec``; seq/ack compared in the case's numbering."""
    out = MatchResult()
    if isinstance(spec.flags, Flags):
        # PSH is advisory (RFC 9293 3.9.1): required where a case writes it, ignored where it does not.
        actual = seg.flags if spec.flags & Flags.PSH else seg.flags & ~Flags.PSH
        if conn.ecn_offered and not spec.flags & Flags.ECE and seg.flags & Flags.SYN:
            actual &= ~Flags.ECE  # the ECN-setup SYN-ACK is the target's choice (RFC 3168 6.1.1: MAY)
        if actual != spec.flags:
            out.mismatches.append(Mismatch("flags", spec.flags.tcpdump(), seg.flags.tcpdump()))

    # The target's first SYN anchors its numbering: its seq *is* the written ISN by definition.
    target_isn = conn.target_isn
    if target_isn is None and seg.flags & Flags.SYN and not conn.numbering.absolute:
        written = conn.resolve(spec.seq) if spec.seq is not None else None
        offset = (written - conn.numbering.target) if written is not None else 0
        target_isn = (seg.seq - offset) & seqnum.MASK
        out.anchor_isn = target_isn
    if target_isn is None or conn.numbering.absolute:
        seq_written = seg.seq
    else:
        seq_written = (seg.seq - target_isn - conn.service_sent + conn.numbering.target) & seqnum.MASK
    _check(spec.seq, seq_written, conn, "seq", out, modular=True)
    if isn is not None:
        _check(isn, seg.seq, conn, "isn", out, modular=True)
    if spec.ack is not None:
        shown = str(conn.tester_written(seg.ack)) if seg.flags & Flags.ACK else f"{conn.tester_written(seg.ack)} (no ACK flag)"
        _check(spec.ack, conn.tester_written(seg.ack), conn, "ack", out, modular=True, shown=shown)
    _check(spec.window, seg.window, conn, "window", out)
    _check(spec.length, len(seg.payload), conn, "len", out)
    _check(spec.urgptr, seg.urgptr, conn, "urgptr", out)
    if spec.payload is not None and seg.payload != spec.payload:
        out.mismatches.append(Mismatch("payload", _preview(spec.payload), _preview(seg.payload)))
    if isinstance(spec.options, OptionsSpec):
        _match_options(spec.options, seg, conn, out)
    return out


def _match_options(spec: OptionsSpec, seg: Segment, conn: TesterConnection, out: MatchResult) -> None:
    present = [(kind, _written_edges(value, conn)) if kind == "SAck" else (kind, value) for kind, value in seg.options]
    observed = render_options(tuple(present)) or "none"
    expected = render_spec_options(spec, conn)
    if spec.open_ended:
        for item in spec.items:
            found = next((v for k, v in present if k == item.kind), _MISSING)
            if found is _MISSING or not _option_value_ok(item, found, conn, out):
                out.mismatches.append(Mismatch("options", expected, observed))
                return
        return
    if len(present) != len(spec.items):
        out.mismatches.append(Mismatch("options", expected, observed))
        return
    for item, (kind, value) in zip(spec.items, present, strict=True):
        if kind != item.kind or not _option_value_ok(item, value, conn, out):
            out.mismatches.append(Mismatch("options", expected, observed))
            return


_MISSING = object()


def _written_edges(value: object, conn: TesterConnection) -> object:
    """A SACK option's edges (the tester's sequence numbers) in the case's numbering, as cases write them."""
    if not isinstance(value, tuple):
        return value
    return tuple(conn.tester_written(edge) if isinstance(edge, int) else edge for edge in value)


def _option_value_ok(item: OptionSpec, value: object, conn: TesterConnection, out: MatchResult) -> bool:
    if item.value is None:
        return True
    if isinstance(item.value, bytes):
        return value == item.value
    specs = item.value if isinstance(item.value, tuple) else (item.value,)
    values = value if isinstance(value, tuple) else (value,)
    if len(specs) != len(values):
        return False
    probe = MatchResult(captures=dict(out.captures))
    for spec, actual in zip(specs, values, strict=True):
        if not isinstance(actual, int):
            return False
        _check(spec, actual, conn, item.kind, probe)
    if probe.mismatches:
        return False
    out.captures.update(probe.captures)
    return True


def render_spec_options(spec: OptionsSpec, conn: TesterConnection) -> str:
    parts = []
    for item in spec.items:
        if item.value is None:  # the one-byte kinds by their notation word, the others by name
            known = BY_NAME.get(item.kind)
            parts.append(known.word if known is not None and known.word and not known.has_length else item.kind)
        elif isinstance(item.value, tuple):
            parts.append(f"{item.kind} " + " ".join(describe_spec(v, conn) for v in item.value))
        elif isinstance(item.value, bytes):
            parts.append(f"{item.kind} {item.value.hex()}")
        else:
            parts.append(f"{item.kind.lower()} {describe_spec(item.value, conn)}")
    if spec.open_ended:
        parts.append("...")
    return "<" + ",".join(parts) + ">"


def _preview(data: bytes, n: int = 16) -> str:
    head = data[:n].hex(" ")
    return f"{len(data)} bytes: {head}{' ...' if len(data) > n else ''}"


def is_pure_ack(seg: Segment) -> bool:
    return seg.flags == Flags.ACK and not seg.payload


def tolerated(seg: Segment, tolerate: frozenset[str], spec: SegmentSpec | None, conn: TesterConnection) -> str | None:
    """Why a non-matching segment may pass while a step waits, or ``None`` if it may not."""
    if "any" in tolerate:
        return "any answer: the target's choice here, judged by the steps after"
    if not tolerate or seg.flags & Flags.RST:
        return None
    if (
        "retransmission" in tolerate
        and seg.seg_len
        and not seg.flags & Flags.RST
        and conn.target_high is not None
        and seqnum.le(seqnum.add(seg.seq, seg.seg_len), conn.target_high)
    ):
        return "retransmission"
    if not is_pure_ack(seg):
        return None
    if (
        "window-update" in tolerate
        and conn.last_ack is not None
        and seg.ack == conn.last_ack
        and seg.window != conn.last_window
    ):
        return "window-update"
    if "ack" in tolerate and seqnum.le(seg.ack, conn.snd_nxt):
        expects_pure_ack = spec is not None and spec.flags == Flags.ACK and spec.length in (None, 0)
        if not expects_pure_ack:
            return "ack"
        expected = conn.resolve(spec.ack) if spec is not None and spec.ack is not None else None
        if expected is not None and seqnum.lt(seg.ack, conn.tester_wire(expected)):
            return "ack"  # an intermediate cumulative ACK on the way to the one expected
        if expected is None and seg.ack == conn.last_ack:
            return "ack"
    return None


def check_invariants(seg: Segment, conn: TesterConnection, enabled: frozenset[str], checksum: Checksum = "ok",
                     ) -> list[tuple[str, Mismatch]]:
    """Rules any segment from a conformant target obeys, whatever the step expects; ``checksum``
    is what the link could tell of its checksum: only a checksum verified ``wrong`` breaks the
    ``checksum`` invariant, and an ``unverifiable`` one (never computed, the kernel says) neither
    breaks nor keeps it (the case counts it: :meth:`~tcpconform.engine.case.CaseRun.arrived`)."""
    out: list[tuple[str, Mismatch]] = []
    if "ack-not-beyond-sent" in enabled and seg.flags & Flags.ACK and seqnum.gt(seg.ack, conn.snd_nxt):
        out.append((
            "ack-not-beyond-sent",
            Mismatch("ack", f"<= {conn.tester_written(conn.snd_nxt)} (all the tester has sent)",
                     f"{conn.tester_written(seg.ack)} ({seqnum.diff(seg.ack, conn.snd_nxt)} bytes never sent)"),
        ))
    data_len = len(seg.payload) + (1 if seg.flags & Flags.FIN else 0)
    if "within-window" in enabled and data_len and conn.our_right_edge is not None:
        end = seqnum.add(seg.seq, data_len)
        probe = data_len == 1 and seg.seq == conn.our_right_edge  # zero-window probe
        if seqnum.gt(end, conn.our_right_edge) and not probe:
            edge = conn.target_written(conn.our_right_edge)
            out.append((
                "within-window",
                Mismatch("seq", f"data ending <= {edge} (tester's window edge)",
                         f"data ends at {conn.target_written(end)} ({seqnum.diff(end, conn.our_right_edge)} bytes beyond)"),
            ))
    out.extend(_window_shrink(seg, conn, enabled))
    if "checksum" in enabled and checksum == "wrong":
        out.append(("checksum", Mismatch("chksum", _correct_checksum(seg), _checksum_text(seg.chksum))))
    if "mss" in enabled and len(seg.payload) > conn.mss_offered:
        out.append(("mss", Mismatch("len", f"<= {conn.mss_offered} (MSS offered)", str(len(seg.payload)))))
    out.extend(_option_hygiene(seg, conn, enabled))
    return out


def _window_shrink(seg: Segment, conn: TesterConnection, enabled: frozenset[str]) -> list[tuple[str, Mismatch]]:
    """``no-window-shrink``: when it arrived, the segment did not move the right edge of the target's
    window left of the highest one it offered since its SYN by a whole unit of its window scale or
    more (a scaled window is rounded; :meth:`TesterConnection.watch_edge`)."""
    before, edge = conn.window_shrinks.get(seg), conn.target_edge(seg)
    if "no-window-shrink" not in enabled or before is None or edge is None:
        return []
    back, shift = seqnum.diff(before, edge), conn.edge_shift
    if back < 1 << shift:
        return []
    scaled = f" (window {seg.window} << {shift})" if shift else ""
    return [("no-window-shrink", Mismatch(
        "window", f"a right edge >= {conn.tester_written(before)} (ack + window offered before)",
        f"ack {conn.tester_written(seg.ack)} + {seg.window << shift}{scaled} = "
        f"{conn.tester_written(edge)} ({back} octets back)"))]


def _option_hygiene(seg: Segment, conn: TesterConnection, enabled: frozenset[str]) -> list[tuple[str, Mismatch]]:
    """The invariants of a segment's options: a list that parses, MSS on SYNs only, SACK only where permitted."""
    out: list[tuple[str, Mismatch]] = []
    kinds = [kind for kind, _ in seg.options]
    if "options-parse" in enabled and "raw" in kinds:
        raw = next(value for kind, value in seg.options if kind == "raw")
        at = malformed_at(raw) if isinstance(raw, bytes) else None
        where = f"at option byte {at}" if at is not None else "somewhere"
        out.append(("options-parse", Mismatch("options", "a list that parses (every length >= 2, inside the header)",
                                              f"{raw.hex() if isinstance(raw, bytes) else raw} (illegal length {where})")))
    if "mss-only-on-syn" in enabled and not seg.flags & Flags.SYN and "MSS" in kinds:
        out.append(("mss-only-on-syn", Mismatch("options", "no MSS (not a SYN)", render_options(seg.options))))
    if "sack-permitted" in enabled and not conn.sack_offered and "SAck" in kinds:
        out.append(("sack-permitted", Mismatch("options", "no SACK (the tester did not permit it)",
                                               render_options(seg.options))))
    if "eol-padding" in enabled and seg.eol_tail:
        out.append(("eol-padding", Mismatch("options", "zeros after the EOL", f"bytes {seg.eol_tail.hex()} after the EOL")))
    return out + negotiation_hygiene(seg, conn, enabled)


def _checksum_text(value: int | str | None) -> str:
    return f"{value:#06x}" if isinstance(value, int) else "a wrong one"


def _correct_checksum(seg: Segment) -> str:
    """The checksum the segment should carry; only asked for a segment whose checksum the link saw wrong."""
    from tcpconform.wire.tcp import tcp_checksum

    try:
        return f"{tcp_checksum(seg):#06x} (the correct checksum)"
    except ValueError:  # options that cannot be serialised again: say what is known
        return "the correct checksum"


def only_push_missing(spec: SegmentSpec, seg: Segment, result: MatchResult) -> bool:
    """``seg`` differs from ``spec`` only in lacking the PSH bit the spec writes: a failure of
    MUST-61 (``push``), not of whatever the step checks."""
    return (isinstance(spec.flags, Flags) and bool(spec.flags & Flags.PSH) and not seg.flags & Flags.PSH
            and [m.field for m in result.mismatches] == ["flags"] and seg.flags | Flags.PSH == spec.flags)


def ack_on_fin_again(spec: SegmentSpec, seg: Segment, conn: TesterConnection, isn: FieldSpec | None) -> bool:
    """A pure ACK is expected, and the target sent its FIN again, still unacknowledged, carrying
    exactly that acknowledgment: BSD's output resends an unacknowledged FIN with every ACK it sends
    (RFC 9293 3.10.7.4: "send an acknowledgment", which any segment carries).  Taken only where the
    ACK acknowledges something new."""
    if spec.flags != Flags.ACK or spec.length not in (None, 0) or seg.payload or seg.flags != Flags.ACK | Flags.FIN:
        return False
    if conn.target_high is None or seqnum.add(seg.seq, 1) != conn.target_high:
        return False  # not the FIN already seen
    if conn.last_ack is not None and not seqnum.gt(seg.ack, conn.last_ack):
        return False
    return match(spec, seg.with_(seq=conn.target_high, flags=Flags.ACK), conn, isn).ok
