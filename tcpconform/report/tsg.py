"""A case's time-sequence graph: sequence number against time, one standalone ``<svg>`` per direction.

Drawn as tcptrace and Wireshark's "Stevens/tcptrace" graphs draw it, for the engineer who asks
"when did the target send what, and what was it allowed to send": each data segment of the
sender is a vertical bar from its first to its last sequence number (SYN and FIN count one) at the
time it was recorded; the receiver's cumulative ACK over time is a step line under the bars, and
ACK plus its advertised window a second step line above them, so a sender stuck at the window
(zero window) or resending below the ACK line (retransmission) is seen at a glance.  Wireshark's
analysis (:mod:`tcpconform.report.analysis`) picks the marks: retransmissions red, out-of-order
amber, zero window probes and keep-alives as their own markers, zero windows on the window line;
each graph carries its legend.

Sequence numbers are relative to the sender's initial sequence number (modulo 2^32, so a wrapping
connection draws as a straight one); the graph's height follows the data and the ACKs, and a window
that reaches far above them is cut at the top edge (its value in the tooltip) rather than squashing
the bars into a line.  Times are the case's own (seconds since it started), to scale.

Like the ladder, the SVG styles itself with attributes only, has no script and no ids, and is
deterministic: the same case gives the same bytes.  Every mark carries a class (``tsg-data``,
``tsg-retransmission``...) so tools and tests can find it.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from tcpconform.report.analysis import (
    KEEP_ALIVE,
    OUT_OF_ORDER,
    ZERO_WINDOW_PROBE,
    Analysis,
    case_analysis,
)
from tcpconform.results import CaseResult
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, Segment

WIDTH = 1000
HEIGHT = 330
LEFT, RIGHT, TOP, BOTTOM = 78, 24, 62, 40
FONT = "DejaVu Sans Mono, Menlo, Consolas, ui-monospace, monospace"
SMALL = 11

INK = "#1f2328"
GRID = "#eaeef2"
AXIS = "#57606a"
DATA = "#0550ae"
RETRANSMISSION = "#cf222e"
OUT_OF_ORDER_C = "#9a6700"
PROBE = "#bc4c00"
KEEPALIVE = "#8250df"
ACK_LINE = "#1a7f37"
WINDOW_LINE = "#6e7781"
ZERO = "#cf222e"
RST = "#57606a"

# Flags as plain ints: IntFlag arithmetic is slow, and a report draws every segment.
_FIN, _SYN, _RST, _ACK = int(Flags.FIN), int(Flags.SYN), int(Flags.RST), int(Flags.ACK)


def _len(seg: Segment) -> int:
    """:attr:`Segment.seg_len` (payload, SYN and FIN) without IntFlag arithmetic."""
    flags = int(seg.flags)
    return len(seg.payload) + (1 if flags & _SYN else 0) + (1 if flags & _FIN else 0)


WINDOW_HEADROOM = 0.35
"""How far above the data and the ACKs (as a share of their span) the window line may reach before it is cut."""

LEGEND = (
    ("tsg-data", DATA, "data (seq..seq+len)"),
    ("tsg-retransmission", RETRANSMISSION, "retransmission"),
    ("tsg-out-of-order", OUT_OF_ORDER_C, "out-of-order"),
    ("tsg-zero-window-probe", PROBE, "zero window probe"),
    ("tsg-keep-alive", KEEPALIVE, "keep-alive"),
    ("tsg-ack", ACK_LINE, "ACK"),
    ("tsg-window", WINDOW_LINE, "ACK + window"),
    ("tsg-zero-window", ZERO, "zero window"),
)


def esc(text: object) -> str:
    return escape(str(text), quote=True)


@dataclass(frozen=True, slots=True)
class _Point:
    """One recorded segment of the graph's connection, with what the graph needs of it."""

    at: float
    seg: Segment
    analysis: Analysis | None
    index: int


def _connection(case: CaseResult, analyses: dict[int, Analysis]) -> list[_Point]:
    """The case's segments on the connection of its first segment (both directions), in time order."""
    records = sorted((i for i, r in enumerate(case.segments) if isinstance(r.segment, Segment)),
                     key=lambda i: case.segments[i].at)
    if not records:
        return []
    first = case.segments[records[0]].segment
    assert isinstance(first, Segment)
    ends = {(first.src, first.sport), (first.dst, first.dport)}
    out = []
    for i in records:
        seg = case.segments[i].segment
        assert isinstance(seg, Segment)
        if {(seg.src, seg.sport), (seg.dst, seg.dport)} == ends:
            out.append(_Point(case.segments[i].at, seg, analyses.get(i), i))
    return out


_Ack = tuple[float, int, int, _Point]
"""An ACK of the receiver's: time, ACK relative to the sender's ISN, window (scaled), the segment."""


def _is_from(point: _Point, sender: tuple[str, int]) -> bool:
    return (point.seg.src, point.seg.sport) == sender


def tsg_svgs(case: CaseResult, analyses: dict[int, Analysis] | None = None) -> list[str]:
    """The case's graphs: the target's direction when it sent sequence space (a SYN, data or a FIN; a
    lone RST draws no graph), the tester's when it sent data.  ``analyses``: the case's
    :func:`~tcpconform.report.analysis.case_analysis`, when the caller has it already."""
    points = _connection(case, case_analysis(case) if analyses is None else analyses)
    if not points:
        return []
    out = []
    tester = next(((p.seg.src, p.seg.sport) for p in points if case.segments[p.index].direction == "out"), None)
    target = next(((p.seg.src, p.seg.sport) for p in points if case.segments[p.index].direction == "in"), None)
    if target is not None and any(_is_from(p, target) and _len(p.seg) for p in points):
        out.append(direction_svg(case, points, target, "target → tester"))
    if tester is not None and any(_is_from(p, tester) and p.seg.payload for p in points):
        out.append(direction_svg(case, points, tester, "tester → target"))
    return out


@dataclass(slots=True)
class _Scale:
    t0: float
    t1: float
    y0: float
    y1: float

    def x(self, at: float) -> float:
        return LEFT + (at - self.t0) / (self.t1 - self.t0) * (WIDTH - LEFT - RIGHT)

    def y(self, rel: float) -> float:
        rel = min(max(rel, self.y0), self.y1)
        return HEIGHT - BOTTOM - (rel - self.y0) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)


def _window_shift(points: list[_Point], receiver: tuple[str, int], sender: tuple[str, int]) -> int:
    """The receiver's window scale, when both SYNs carried one (RFC 7323 2.2), else 0."""
    scales = {}
    for p in points:
        if int(p.seg.flags) & _SYN:
            scales[(p.seg.src, p.seg.sport)] = p.seg.option("WScale")
    mine, theirs = scales.get(receiver), scales.get(sender)
    return min(int(mine), 14) if mine is not None and theirs is not None else 0


def direction_svg(case: CaseResult, points: list[_Point], sender: tuple[str, int], label: str) -> str:
    """One direction's graph: ``sender``'s segments as bars, the other end's ACK and window as step lines."""
    sent = [p for p in points if _is_from(p, sender)]
    got = [p for p in points if not _is_from(p, sender)]
    syn = next((p.seg.seq for p in sent if int(p.seg.flags) & _SYN), None)
    base = syn if syn is not None else sent[0].seg.seq if sent else 0
    receiver = (got[0].seg.src, got[0].seg.sport) if got else ("", 0)
    shift = _window_shift(points, receiver, sender)
    acks: list[_Ack] = [(p.at, seqnum.diff(p.seg.ack, base), p.seg.window << (0 if int(p.seg.flags) & _SYN else shift), p)
            for p in got if int(p.seg.flags) & _ACK and not int(p.seg.flags) & _RST]  # a RST's window means nothing
    bars = [(p, seqnum.diff(p.seg.seq, base)) for p in sent]
    lows = [rel for _, rel in bars] + [a for _, a, _, _ in acks]
    highs = [rel + _len(p.seg) for p, rel in bars] + [a for _, a, _, _ in acks]
    lo, hi = (min(lows), max(highs)) if lows else (0, 1)
    windows = [a + w for _, a, w, _ in acks]
    top = max([hi, *windows])
    span = max(hi - lo, 1)
    cut = top > hi + span * WINDOW_HEADROOM
    y_hi = hi + span * WINDOW_HEADROOM if cut else max(top, hi) + span * 0.05
    times = [p.at for p in points]
    t0, t1 = min(times), max(times)
    if t1 - t0 <= 0:
        t1 = t0 + 0.001
    pad = (t1 - t0) * 0.02
    sc = _Scale(t0 - pad, t1 + pad, lo - span * 0.05, y_hi)
    body: list[str] = [_grid(sc)]
    body += _step_lines(sc, acks, t1 + pad, cut)
    body += [_bar(sc, p, rel) for p, rel in bars]
    body += _rsts(sc, sent, base)
    counts = _counts(sent, acks)
    title = f"{case.id}: time-sequence graph, {label}"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="tcpconform-tsg" data-direction="{esc(label)}" '
            f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="{FONT}" '
            f'font-size="{SMALL}" role="img" aria-label="{esc(title)}"><title>{esc(title)}</title>'
            f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>'
            + _legend(label, counts) + "".join(body) + "</svg>")


def _grid(sc: _Scale) -> str:
    """Axes with ticks: time (ms, or s past 10 s) along the bottom, relative sequence numbers up the left."""
    parts = []
    for i in range(6):
        at = sc.t0 + (sc.t1 - sc.t0) * i / 5
        x = sc.x(at)
        text = f"{at:.2f} s" if sc.t1 >= 10 else f"{at * 1000:.1f} ms"
        anchor = "end" if i == 5 else "middle"
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" stroke="{GRID}"/>'
                     f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" fill="{AXIS}" text-anchor="{anchor}">{esc(text)}</text>')
    for i in range(5):
        rel = sc.y0 + (sc.y1 - sc.y0) * i / 4
        y = sc.y(rel)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{GRID}"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" fill="{AXIS}" text-anchor="end">{rel:.0f}</text>')
    parts.append(f'<path d="M{LEFT},{TOP} V{HEIGHT - BOTTOM} H{WIDTH - RIGHT}" fill="none" stroke="{AXIS}"/>')
    parts.append(f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT - 6}" fill="{AXIS}" text-anchor="middle">time since the case began'
                 f"</text><text x=\"12\" y=\"{(TOP + HEIGHT - BOTTOM) / 2:.0f}\" fill=\"{AXIS}\" text-anchor=\"middle\" "
                 f'transform="rotate(-90 12 {(TOP + HEIGHT - BOTTOM) / 2:.0f})">relative sequence number</text>')
    return "".join(parts)


def _step_lines(sc: _Scale, acks: list[_Ack], end: float, cut: bool) -> list[str]:
    """The ACK and ACK + window lines, each a step: a value holds until the next segment changes it."""
    if not acks:
        return []
    out = []
    for cls, colour, values, dash in (("tsg-ack", ACK_LINE, [(t, a) for t, a, _, _ in acks], ""),
                                      ("tsg-window", WINDOW_LINE, [(t, a + w) for t, a, w, _ in acks],
                                       ' stroke-dasharray="5 3"')):
        d = f"M{sc.x(values[0][0]):.1f},{sc.y(values[0][1]):.1f}"
        for t, v in values[1:]:
            d += f" H{sc.x(t):.1f} V{sc.y(v):.1f}"
        d += f" H{sc.x(end):.1f}"
        title = "the receiver's cumulative ACK" if cls == "tsg-ack" else "ACK + the receiver's window" + (
            f" (cut at the top; highest {max(v for _, v in values)})" if cut else "")
        out.append(f'<g class="{cls}"><title>{esc(title)}</title><path d="{d}" fill="none" stroke="{colour}" '
                   f'stroke-width="1.6"{dash}/></g>')
    for t, a, w, _ in acks:
        if w == 0:
            x, y = sc.x(t), sc.y(a)
            out.append(f'<g class="tsg-zero-window"><title>{esc(f"zero window at {t * 1000:.3f} ms, ACK {a}")}</title>'
                       f'<path d="M{x - 4:.1f},{y - 4:.1f} L{x + 4:.1f},{y + 4:.1f} M{x - 4:.1f},{y + 4:.1f} '
                       f'L{x + 4:.1f},{y - 4:.1f}" stroke="{ZERO}" stroke-width="2"/></g>')
    return out


def _bar(sc: _Scale, p: _Point, rel: int) -> str:
    """One segment of the sender: a bar with end ticks (tcptrace's "I"), or a marker for an empty one."""
    flags = p.analysis.flags if p.analysis is not None else frozenset()
    x = sc.x(p.at)
    words = " ".join(f"[{w}]" for w in p.analysis.words) if p.analysis is not None else ""
    title = esc(f"{p.at * 1000:.3f} ms: seq {rel}..{rel + _len(p.seg)} ({p.seg.flags.tcpdump()}) {words}".rstrip())
    if KEEP_ALIVE in flags and not p.seg.payload:
        y = sc.y(rel)
        return (f'<g class="tsg-keep-alive"><title>{title}</title><path d="M{x:.1f},{y - 5:.1f} L{x + 5:.1f},{y:.1f} '
                f'L{x:.1f},{y + 5:.1f} L{x - 5:.1f},{y:.1f} Z" fill="{KEEPALIVE}"/></g>')
    if _len(p.seg) == 0:
        return ""  # a bare ACK of the sender's: its ACK belongs to the other direction's graph
    if p.analysis is not None and p.analysis.retransmission:
        cls, colour = "tsg-retransmission", RETRANSMISSION
    elif OUT_OF_ORDER in flags:
        cls, colour = "tsg-out-of-order", OUT_OF_ORDER_C
    elif ZERO_WINDOW_PROBE in flags:
        cls, colour = "tsg-zero-window-probe", PROBE
    elif KEEP_ALIVE in flags:
        cls, colour = "tsg-keep-alive", KEEPALIVE
    else:
        cls, colour = "tsg-data", DATA
    y1, y2 = sc.y(rel), sc.y(rel + _len(p.seg))
    if y1 - y2 < 3:  # keep a one-byte segment visible
        y1, y2 = (y1 + y2) / 2 + 1.5, (y1 + y2) / 2 - 1.5
    mark = ""
    if int(p.seg.flags) & (_SYN | _FIN):
        letter = "S" if int(p.seg.flags) & _SYN else "F"
        mark = f'<text x="{x + 5:.1f}" y="{y2 + 4:.1f}" fill="{colour}">{letter}</text>'
    return (f'<g class="{cls}"><title>{title}</title><line x1="{x:.1f}" y1="{y1:.1f}" x2="{x:.1f}" y2="{y2:.1f}" '
            f'stroke="{colour}" stroke-width="2"/><path d="M{x - 3:.1f},{y1:.1f} H{x + 3:.1f} M{x - 3:.1f},{y2:.1f} '
            f'H{x + 3:.1f}" stroke="{colour}" stroke-width="1.4"/>{mark}</g>')


def _rsts(sc: _Scale, sent: list[_Point], base: int) -> list[str]:
    out = []
    for p in sent:
        if int(p.seg.flags) & _RST:
            x, y = sc.x(p.at), sc.y(seqnum.diff(p.seg.seq, base))
            out.append(f'<g class="tsg-rst"><title>{esc(f"RST at {p.at * 1000:.3f} ms")}</title>'
                       f'<text x="{x:.1f}" y="{y - 4:.1f}" fill="{RST}" text-anchor="middle">R</text></g>')
    return out


def _counts(sent: list[_Point], acks: list[_Ack]) -> dict[str, int]:
    """How many of each mark the graph holds, for its legend."""
    out = {cls: 0 for cls, _, _ in LEGEND}
    for p in sent:
        flags = p.analysis.flags if p.analysis is not None else frozenset()
        if p.analysis is not None and p.analysis.retransmission:
            out["tsg-retransmission"] += 1
        elif OUT_OF_ORDER in flags:
            out["tsg-out-of-order"] += 1
        elif ZERO_WINDOW_PROBE in flags:
            out["tsg-zero-window-probe"] += 1
        elif KEEP_ALIVE in flags:
            out["tsg-keep-alive"] += 1
        elif _len(p.seg):
            out["tsg-data"] += 1
    out["tsg-ack"] = out["tsg-window"] = len(acks)
    out["tsg-zero-window"] = sum(1 for _, _, w, _ in acks if w == 0)
    return out


def _legend(label: str, counts: dict[str, int]) -> str:
    parts = [f'<text x="{LEFT}" y="16" fill="{INK}" font-weight="bold">{esc(label)}</text>']
    x, y = float(LEFT), 34
    for i, (cls, colour, text) in enumerate(LEGEND):
        if i == 4:
            x, y = float(LEFT), 50
        shown = f"{text} ({counts.get(cls, 0)})"
        parts.append(f'<g class="tsg-legend"><rect x="{x:.1f}" y="{y - 8}" width="12" height="8" fill="{colour}"/>'
                     f'<text x="{x + 16:.1f}" y="{y}" fill="{INK}">{esc(shown)}</text></g>')
        x += 16 + len(shown) * 6.7 + 14
    return "".join(parts)
