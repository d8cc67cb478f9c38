"""A case's exchange as a ladder (sequence) diagram: one standalone ``<svg>`` per case.

Drawn like the seed diagram the project started from: the tester (client) on the left, the target
(server) on the right, one arrow per segment slanting down in time, the target's state changes
in boxes on its lifeline, and its application as a third lifeline on the far right.  On top of
that it shows what a debugging engineer looks for first: the first segment that broke the failing
step (red, with every differing field), a segment that was expected and never came (a dashed
arrow), tolerated segments muted with their note, and the clean-up RST marked as such.

Rows are laid out by event order, not to scale: a handshake takes microseconds and a timeout half
a second, and a scaled diagram would squash one or the other; each row keeps its timestamp in the
left margin.  Every row's height is computed from its wrapped text, so labels never overlap.

The SVG carries all its styling as attributes and needs no CSS, no script and no ids (arrowheads
are drawn as polygons, not markers), so many of them can sit in one HTML page, in the pytest-html
report, or be saved on their own.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from tcpconform.report.analysis import Analysis, case_analysis
from tcpconform.results import CaseResult, SegmentRecord, StepResult, TargetEvent

WIDTH = 1000
FONT = "DejaVu Sans Mono, Menlo, Consolas, ui-monospace, monospace"
FONT_SIZE = 12
CHAR_W = 7.3
"""Advance of one character at ``FONT_SIZE`` in a monospace font (DejaVu Sans Mono: 7.22 px)."""
LINE_H = 15
SMALL = 11

TIME_X = 82  # right edge of the time column
TESTER_X = 132
TARGET_X = 592
APP_X = 962
HEAD_H = 54
PAD = 6
SLANT = 12  # how far an arrow drops between the lifelines: time flows down
MAX_LINES = 3

INK = "#1f2328"
MUTED = "#8c959f"
LIFELINE = "#57606a"
OUT = "#0550ae"  # tester -> target
IN = "#0a6e66"  # target -> tester
APP = "#8250df"
RED = "#cf222e"
RED_BAND = "#ffebe9"
AMBER = "#9a6700"
STATE_FILL = "#fff8c5"
ANALYSIS = "#bc4c00"
"""Wireshark's analysis words under an arrow ("[retransmission]", "[dup ACK #2]")."""

_MID_CHARS = int((TARGET_X - TESTER_X - 24) / CHAR_W)  # label width between the two lifelines
_SMALL_W = CHAR_W * SMALL / FONT_SIZE
_MID_SMALL = int((TARGET_X - TESTER_X - 24) / _SMALL_W)  # the same in the small font of notes and diffs
_RIGHT_CHARS = int((APP_X - TARGET_X - 20) / _SMALL_W)  # label width between target and application


def esc(text: object) -> str:
    """Escape for SVG text and attribute values: case files are user input."""
    return escape(str(text), quote=True)


def wrap(text: str, width: int, max_lines: int = MAX_LINES) -> tuple[list[str], bool]:
    """``text`` in lines of at most ``width`` characters; the flag says it was cut (full text in a title)."""
    if len(text) <= width and "\n" not in text:
        return [text], False  # the common case, and textwrap is the costliest call on a big run
    lines = textwrap.wrap(text, width=max(8, width), break_long_words=True, break_on_hyphens=False) or [""]
    if len(lines) <= max_lines:
        return lines, False
    kept = lines[:max_lines]
    kept[-1] = kept[-1][: max(0, width - 1)].rstrip() + "…"
    return kept, True


def _text(x: float, y: float, content: str, *, fill: str = INK, anchor: str = "start", size: int = FONT_SIZE,
          weight: str = "normal", italic: bool = False) -> str:
    style = ' font-style="italic"' if italic else ""
    bold = f' font-weight="{weight}"' if weight != "normal" else ""
    fs = f' font-size="{size}"' if size != FONT_SIZE else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" fill="{fill}" text-anchor="{anchor}"{fs}{bold}{style}>'
            f"{esc(content)}</text>")


def _arrow(x1: float, y1: float, x2: float, y2: float, colour: str, *, width: float = 1.4,
           dashed: bool = False, hollow: bool = False) -> str:
    """A line with its head drawn as a polygon (no marker ids, so SVGs can share a page)."""
    dx, dy = x2 - x1, y2 - y1
    length = (dx * dx + dy * dy) ** 0.5 or 1.0
    ux, uy = dx / length, dy / length
    size = 9 + width
    bx, by = x2 - ux * size, y2 - uy * size
    px, py = -uy * size * 0.45, ux * size * 0.45
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    head_fill = "#ffffff" if hollow else colour
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{bx:.1f}" y2="{by:.1f}" stroke="{colour}" '
            f'stroke-width="{width}"{dash}/>'
            f'<polygon points="{x2:.1f},{y2:.1f} {bx + px:.1f},{by + py:.1f} {bx - px:.1f},{by - py:.1f}" '
            f'fill="{head_fill}" stroke="{colour}" stroke-width="1"/>')


@dataclass(slots=True)
class _Line:
    """One line of text under an arrow: a note, a failure, a field that differed."""

    text: str
    fill: str
    italic: bool = False
    size: int = SMALL
    bold: bool = False


@dataclass(slots=True)
class _Row:
    """One line of the diagram: its time, its height, and how to draw it at a given top."""

    at: float
    order: tuple[int, int]
    height: float
    anchor: float
    """Offset from the row's top where the event happens (the time label and the arrow's start)."""
    draw: Callable[[float], list[str]]
    band: str | None = None
    title: str = ""


@dataclass(slots=True)
class _Failure:
    """What went wrong in the case, resolved once: which segment to highlight and how."""

    step: StepResult | None = None
    offender: int | None = None
    """Index of the segment that broke the failing step (drawn red)."""
    closest: int | None = None
    """On a timeout: the last tolerated segment, the one the mismatches describe."""
    missing: bool = False
    """An expected segment never came (drawn as a dashed arrow at the step's deadline)."""


def _resolve_failure(case: CaseResult) -> _Failure:
    step = case.failed_step
    if step is None:
        return _Failure()
    out = _Failure(step)
    observed = [i for i in step.observed if 0 <= i < len(case.segments)]
    offenders = [i for i in observed
                 if not case.segments[i].note.startswith(("tolerated", "matched", "cleanup"))]
    if offenders:
        out.offender = offenders[-1]  # the step stops at the segment that broke it: the last it saw
    elif step.kind == "expect":
        out.missing = True
        tolerated = [i for i in observed if case.segments[i].note.startswith("tolerated")]
        if tolerated and step.mismatches:
            out.closest = tolerated[-1]
    return out


def _diff_lines(step: StepResult) -> list[str]:
    return [f"{m.field}: expected {m.expected}, got {m.actual}" for m in step.mismatches]


def _seg_title(case: CaseResult, seg: SegmentRecord) -> str:
    parts = [f"{'tester -> target' if seg.direction == 'out' else 'target -> tester'} at {seg.at * 1000:.3f} ms",
             seg.summary, f"wire: {seg.wire}"]
    if seg.step is not None and 0 <= seg.step < len(case.steps):
        st = case.steps[seg.step]
        parts.append(f"step {st.index} ({st.loc}): {st.text}")
    if seg.note:
        parts.append(seg.note)
    return "\n".join(parts)


def analysis_text(analysis: Analysis | None) -> str:
    """Wireshark's words for a segment as the ladder writes them: ``[retransmission] [dup ACK #2]``."""
    return " ".join(f"[{word}]" for word in analysis.words) if analysis is not None else ""


def _segment_row(case: CaseResult, index: int, fail: _Failure, analysis: Analysis | None = None) -> _Row:
    seg = case.segments[index]
    note = seg.note
    muted = note.startswith(("tolerated", "cleanup", "after the last step"))
    highlighted = index == fail.offender
    colour = RED if highlighted else MUTED if muted else (OUT if seg.direction == "out" else IN)
    label, cut = wrap(seg.summary + ("  ✓" if note == "matched" else ""), _MID_CHARS)
    subs: list[_Line] = []
    words = analysis_text(analysis)
    if words:
        subs += [_Line(line, ANALYSIS, bold=True) for line in wrap(words, _MID_SMALL, 2)[0]]
    if note and note != "matched":
        subs += [_Line(line, MUTED, italic=True) for line in wrap(note, _MID_SMALL, 2)[0]]
    if highlighted and fail.step is not None:
        st = fail.step
        where = st.loc.rsplit("/", 1)[-1]
        head = [f"✗ step {st.index} at {where}", f"expected {st.expected}"] if st.expected and st.kind == "expect" \
            else [f"✗ breaks step {st.index} at {where}", st.text]
        for text in head:
            subs += [_Line(line, RED) for line in wrap(text, _MID_SMALL, 2)[0]]
        for diff in _diff_lines(st) or [st.message]:
            subs += [_Line(line, RED, size=FONT_SIZE, bold=True) for line in wrap(diff, _MID_CHARS, 3)[0]]
    elif index == fail.closest and fail.step is not None:
        subs.append(_Line("closest to the expected segment:", AMBER, italic=True))
        for diff in _diff_lines(fail.step):
            subs += [_Line(line, AMBER) for line in wrap(diff, _MID_SMALL, 3)[0]]
    top_text = PAD + len(label) * LINE_H
    anchor = top_text + 5
    height = anchor + SLANT + len(subs) * LINE_H + PAD + (4 if subs else 0)
    out_dir = seg.direction == "out"
    x1, x2 = (TESTER_X, TARGET_X) if out_dir else (TARGET_X, TESTER_X)
    mid = (TESTER_X + TARGET_X) / 2
    weight = "bold" if highlighted else "normal"
    cleanup = note.startswith("cleanup")

    def draw(y: float) -> list[str]:
        parts = [_text(mid, y + PAD + (i + 1) * LINE_H - 4, line, fill=colour, anchor="middle", weight=weight)
                 for i, line in enumerate(label)]
        parts.append(_arrow(x1, y + anchor, x2, y + anchor + SLANT, colour,
                            width=2.6 if highlighted else 1.0 if muted else 1.4, dashed=cleanup))
        sy = y + anchor + SLANT + 4
        for i, sub in enumerate(subs):
            parts.append(_text(mid, sy + (i + 1) * LINE_H - 3, sub.text, fill=sub.fill, anchor="middle", size=sub.size,
                               italic=sub.italic, weight="bold" if sub.bold else "normal"))
        return parts

    title = _seg_title(case, seg) + ("\n" + "\n".join(_diff_lines(fail.step)) if highlighted and fail.step else "")
    if words:
        title += f"\nWireshark's analysis: {words}"
    if cut:
        title = seg.summary + "\n" + title
    return _Row(seg.at, (1, index), height, anchor, draw, RED_BAND if highlighted else None, title)


def _missing_row(step: StepResult, order: int) -> _Row:
    """The segment an ``expect`` step waited for and never got: a dashed arrow at its deadline."""
    label, _ = wrap(f"expected: {step.expected or step.text}", _MID_CHARS, 2)
    subs = wrap(f"✗ never came: {step.message}" if step.message else "✗ never came", _MID_SMALL, 3)[0]
    anchor = PAD + len(label) * LINE_H + 5
    height = anchor + SLANT + 4 + len(subs) * LINE_H + PAD + 4
    mid = (TESTER_X + TARGET_X) / 2

    def draw(y: float) -> list[str]:
        parts = [_text(mid, y + PAD + (i + 1) * LINE_H - 4, line, fill=RED, anchor="middle", weight="bold")
                 for i, line in enumerate(label)]
        parts.append(_arrow(TARGET_X, y + anchor, TESTER_X, y + anchor + SLANT, RED, width=1.6, dashed=True,
                            hollow=True))
        sy = y + anchor + SLANT + 4
        parts += [_text(mid, sy + (i + 1) * LINE_H - 3, line, fill=RED, anchor="middle", size=SMALL)
                  for i, line in enumerate(subs)]
        return parts

    at = step.ended if step.ended is not None else (step.started or 0.0)
    title = f"step {step.index} ({step.loc}): {step.text}\n{step.message}"
    return _Row(at, (2, order), height, anchor, draw, RED_BAND, title)


def _failure_row(step: StepResult, order: int) -> _Row:
    """A failing step with no segment to point at (a state, an application action, an error)."""
    lines: list[str] = []
    for text in [f"✗ step {step.index} ({step.loc.rsplit('/', 1)[-1]}) {step.verdict}: {step.text}",
                 *(_diff_lines(step) or ([step.message] if step.message else []))]:
        lines += wrap(text, _MID_CHARS, 2)[0]
    height = PAD + len(lines) * LINE_H + PAD
    mid = (TESTER_X + TARGET_X) / 2

    def draw(y: float) -> list[str]:
        return [_text(mid, y + PAD + (i + 1) * LINE_H - 4, line, fill=RED, anchor="middle",
                      weight="bold" if i == 0 else "normal") for i, line in enumerate(lines)]

    at = step.ended if step.ended is not None else (step.started or 0.0)
    return _Row(at, (2, order), height, PAD + LINE_H - 8, draw, RED_BAND, f"{step.loc}: {step.message}")


def _state_row(ev: TargetEvent, order: int) -> _Row:
    """A state change, as in the seed diagram: a box with the new state on the target's lifeline."""
    name = ev.new or ev.detail
    box_w = len(name) * CHAR_W + 14
    text_x = TARGET_X + box_w / 2 + 8
    lines, _ = wrap(ev.detail, int((APP_X - 6 - text_x) / _SMALL_W), 2)
    height = max(26.0, len(lines) * LINE_H + 8) + 4
    anchor = height / 2

    def draw(y: float) -> list[str]:
        cy = y + anchor
        parts = [f'<rect x="{TARGET_X - box_w / 2:.1f}" y="{cy - 10:.1f}" width="{box_w:.1f}" height="20" rx="4" '
                 f'fill="{STATE_FILL}" stroke="{AMBER}" stroke-width="1"/>',
                 _text(TARGET_X, cy + 4, name, fill=INK, anchor="middle", weight="bold")]
        first = cy + 4 - (len(lines) - 1) * LINE_H / 2
        parts += [_text(text_x, first + i * LINE_H, line, fill=AMBER, size=SMALL) for i, line in enumerate(lines)]
        return parts

    return _Row(ev.at, (0, order), height, anchor, draw, None, f"target state at {ev.at * 1000:.3f} ms: {ev.detail}")


def _app_row(ev: TargetEvent, order: int) -> _Row:
    """The target's application: actions as arrows from its lifeline, data delivered to it, resets."""
    to_app = ev.kind == "data"
    colour = APP if ev.kind in ("app", "data") else AMBER
    lines, _ = wrap(ev.detail, _RIGHT_CHARS, 2)
    anchor = PAD + len(lines) * LINE_H + 3
    height = anchor + PAD + 2
    mid = (TARGET_X + APP_X) / 2

    def draw(y: float) -> list[str]:
        parts = [_text(mid, y + PAD + (i + 1) * LINE_H - 4, line, fill=colour, anchor="middle", size=SMALL,
                       italic=True) for i, line in enumerate(lines)]
        if ev.kind in ("app", "data"):
            x1, x2 = (TARGET_X, APP_X) if to_app else (APP_X, TARGET_X)
            parts.append(_arrow(x1, y + anchor, x2, y + anchor, colour, width=1.1, dashed=to_app))
        else:
            parts.append(f'<circle cx="{TARGET_X}" cy="{y + anchor:.1f}" r="4" fill="{colour}"/>')
        return parts

    return _Row(ev.at, (0, order), height, anchor, draw, None, f"target {ev.kind} at {ev.at * 1000:.3f} ms: {ev.detail}")


def _time_label(at: float) -> str:
    return f"{at:.3f} s" if at >= 10 else f"{at * 1000:.3f} ms"


def _rows(case: CaseResult, fail: _Failure, analyses: dict[int, Analysis]) -> list[_Row]:
    rows = [_segment_row(case, i, fail, analyses.get(i)) for i in range(len(case.segments))]
    for j, ev in enumerate(case.target_events):
        rows.append(_state_row(ev, j) if ev.kind == "state" else _app_row(ev, j))
    if fail.step is not None and fail.missing:
        rows.append(_missing_row(fail.step, 0))
    elif fail.step is not None and fail.offender is None:
        rows.append(_failure_row(fail.step, 0))
    rows.sort(key=lambda r: (r.at, r.order))  # at one instant the target's own events come first
    return rows


def _header(case: CaseResult, has_app: bool) -> list[str]:
    conn = case.connection or {}
    heads = [(TESTER_X, "tester (client)", str(conn.get("tester", "")), OUT),
             (TARGET_X, "target (server)", str(conn.get("target", "")), IN)]
    if has_app:
        heads.append((APP_X - 36, "target application", "", APP))
    parts = [_text(4, HEAD_H + 2, "time", fill=MUTED, size=SMALL)]
    for x, name, addr, colour in heads:
        w = max(len(name), len(addr)) * CHAR_W + 16
        left = min(x - w / 2, WIDTH - 2 - w)
        parts.append(f'<rect x="{left:.1f}" y="4" width="{w:.1f}" height="{40 if addr else 24}" rx="5" '
                     f'fill="#f6f8fa" stroke="{colour}" stroke-width="1.2"/>')
        parts.append(_text(left + w / 2, 20, name, fill=colour, anchor="middle", weight="bold"))
        if addr:
            parts.append(_text(left + w / 2, 36, addr, fill=LIFELINE, anchor="middle", size=SMALL))
    return parts


def _wait_bracket(step: StepResult, top: float, end: float) -> str:
    """How long the failing ``expect`` waited: a bracket beside the tester's lifeline, up to the deadline."""
    x = TESTER_X - 10
    waited = ((step.ended or 0.0) - (step.started or 0.0)) * 1000
    title = f"step {step.index} waited {waited:.3f} ms for the expected segment"
    label = ""
    if end - top > 60:
        cy = (top + end) / 2
        label = (f'<text x="{x - 5}" y="{cy:.1f}" fill="{RED}" font-size="{SMALL}" text-anchor="middle" '
                 f'transform="rotate(-90 {x - 5} {cy:.1f})">{esc(f"waits {waited:.0f} ms")}</text>')
    return (f"<g><title>{esc(title)}</title>"
            f'<path d="M{x + 5},{top:.1f} H{x} V{end:.1f} H{x + 5}" fill="none" stroke="{RED}" stroke-width="1.5"/>'
            f"{label}</g>")


def ladder_svg(case: CaseResult, analyses: dict[int, Analysis] | None = None) -> str:
    """The case's exchange as a standalone ``<svg>`` element (inline attributes, no CSS, no script);
    ``analyses``: the case's :func:`~tcpconform.report.analysis.case_analysis`, when the caller has it."""
    fail = _resolve_failure(case)
    rows = _rows(case, fail, case_analysis(case) if analyses is None else analyses)
    has_app = any(ev.kind != "state" for ev in case.target_events)
    bands: list[str] = []
    body: list[str] = []
    y = float(HEAD_H + 6)
    wait_span: list[float] = []
    step = fail.step
    for row in rows:
        if row.band:
            bands.append(f'<rect x="0" y="{y:.1f}" width="{WIDTH}" height="{row.height:.1f}" fill="{row.band}"/>')
        body.append(f"<g><title>{esc(row.title)}</title>")
        body.append(_text(TIME_X, y + row.anchor + 4, _time_label(row.at), fill=LIFELINE, anchor="end", size=SMALL))
        body.extend(row.draw(y))
        body.append("</g>")
        if fail.missing and step is not None and step.started is not None and row.at <= (step.ended or row.at):
            # from the last event before the wait began down to the deadline
            if row.at <= step.started or not wait_span:
                wait_span[:] = [y + row.anchor]
            else:
                wait_span.append(y + row.anchor)
        y += row.height
    if not rows:
        body.append(_text(WIDTH / 2, y + 20, "no segments and no target events recorded", fill=MUTED,
                          anchor="middle", italic=True))
        y += 36
    bottom = y + 10
    lines = [f'<line x1="{TESTER_X}" y1="44" x2="{TESTER_X}" y2="{bottom:.1f}" '
             f'stroke="{LIFELINE}" stroke-width="1.5"/>',
             f'<line x1="{TARGET_X}" y1="44" x2="{TARGET_X}" y2="{bottom:.1f}" stroke="{LIFELINE}" stroke-width="1.5"/>']
    if has_app:
        lines.append(f'<line x1="{APP_X}" y1="28" x2="{APP_X}" y2="{bottom:.1f}" stroke="{APP}" '
                     f'stroke-width="1" stroke-dasharray="3 3"/>')
    if len(wait_span) >= 2 and step is not None:
        lines.append(_wait_bracket(step, wait_span[0], wait_span[-1]))
    height = bottom + 6
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="tcpconform-ladder" width="{WIDTH}" '
            f'height="{height:.0f}" viewBox="0 0 {WIDTH} {height:.0f}" font-family="{FONT}" '
            f'font-size="{FONT_SIZE}" role="img" aria-label="{esc(f"ladder diagram of {case.id}")}">'
            f"<title>{esc(f'{case.id}: {case.title}')}</title>"
            f'<rect x="0" y="0" width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>'
            + "".join(bands) + "".join(lines) + "".join(_header(case, has_app)) + "".join(body) + "</svg>")
