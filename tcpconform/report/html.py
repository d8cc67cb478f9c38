"""``report.html``: one self-contained page per run, with a ladder diagram per case.

Two readers: a CI user who wants the gate's verdict and the failing cases at a glance, and a
firmware engineer who wants, for one failing case, the step's ``file:line``, the RFC clause, every
field that differed and the exchange that led there.  So the page opens with the run's metadata,
the counts by verdict and by RFC level and a filter by verdict; then one section per case, failures
open, passes folded.

The file must open anywhere — a CI artifact, a mail attachment, a laptop with no network — so it
references nothing outside itself: inline CSS, inline SVG, a few lines of script for the filter
(everything stays readable with scripts off).  Case files are user input, so every piece of text
goes through :func:`html.escape`.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Any

from tcpconform.cases.long import duration_text
from tcpconform.gate import GateVerdict
from tcpconform.report.analysis import case_analysis
from tcpconform.report.ladder import ANALYSIS, ladder_svg
from tcpconform.report.tsg import tsg_svgs
from tcpconform.results import CaseResult, RunResult, StepResult, write_atomically

VERDICTS = ("pass", "fail", "error", "skip")
_META_ORDER = ("target", "target_address", "link", "mode", "profile", "faults", "clock", "started", "duration",
               "link_time", "jobs", "versions", "case_paths", "lab", "interface", "tester_address",
               "rst_suppression", "fail_on")
_META_SKIP = {"warnings", "strays", "lab_created_for_run"}
_SIBLINGS = (("results.json", "results.json"), ("junit.xml", "JUnit XML"), ("run.pcap", "pcap of the whole run"))

CSS = """
:root{--pass:#1a7f37;--fail:#cf222e;--error:#8250df;--skip:#9a6700;--ink:#1f2328;--muted:#57606a;--line:#d0d7de}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);
 background:#f6f8fa}
header,main{max-width:1080px;margin:0 auto;padding:12px 20px}
header{background:#fff;border-bottom:1px solid var(--line)}
h1{font-size:20px;margin:4px 0 10px}
h2{font-size:16px;margin:0}
h3{font-size:13px;margin:14px 0 6px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
code,.mono{font-family:"DejaVu Sans Mono",Menlo,Consolas,ui-monospace,monospace;font-size:12.5px}
table{border-collapse:collapse;margin:4px 0}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}
td{overflow-wrap:anywhere}
dl.meta{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:2px 12px;margin:0 0 8px}
dl.meta dt{color:var(--muted);font-weight:600}dl.meta dd{margin:0;overflow-wrap:anywhere}
dl.meta dt.full{grid-column:1}dl.meta dd.wide{grid-column:2 / span 3}
td.nw,th.nw{white-space:nowrap}
.gate{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-size:14px;vertical-align:middle}
.gate.ok{background:var(--pass)}.gate.bad{background:var(--fail)}
.counts{display:flex;gap:8px;flex-wrap:wrap;margin:10px 0}
.count{padding:4px 12px;border-radius:14px;border:1px solid var(--line);background:#fff}
.badge{display:inline-block;min-width:52px;text-align:center;padding:1px 8px;border-radius:4px;color:#fff;
 font-weight:700;font-size:12px}
.b-pass{background:var(--pass)}.b-fail{background:var(--fail)}.b-error{background:var(--error)}
.b-skip{background:var(--skip)}
.t-pass{color:var(--pass)}.t-fail{color:var(--fail)}.t-error{color:var(--error)}.t-skip{color:var(--skip)}
.t-not-run{color:#8c959f}
.filter{margin:10px 0;padding:6px 10px;border:1px solid var(--line);border-radius:6px;background:#f6f8fa}
.filter label{margin-right:14px;cursor:pointer}
.warn{color:#9a6700}
.case{background:#fff;border:1px solid var(--line);border-left:6px solid var(--line);border-radius:6px;margin:12px 0}
.case.v-pass{border-left-color:var(--pass)}.case.v-fail{border-left-color:var(--fail)}
.case.v-error{border-left-color:var(--error)}.case.v-skip{border-left-color:var(--skip)}
.case>details>summary{padding:8px 12px;cursor:pointer;list-style-position:outside}
.case .body{padding:0 14px 14px}
.title{font-weight:600}
.facts{color:var(--muted);margin:6px 0}
.facts span{margin-right:14px}
.reason{padding:6px 10px;background:#fff8f8;border-left:3px solid var(--fail);margin:8px 0}
.v-skip .reason{background:#fffbe6;border-left-color:var(--skip)}
.failure{border:1px solid #ffcecb;background:#fffafa;border-radius:6px;padding:8px 12px;margin:8px 0}
.failure .diff td:nth-child(2){color:var(--pass)}.failure .diff td:nth-child(3){color:var(--fail);font-weight:600}
.ladder{overflow-x:auto;border:1px solid var(--line);border-radius:6px;background:#fff;margin:8px 0}
.ladder svg{display:block}
.tsg{overflow-x:auto;border:1px solid var(--line);border-radius:6px;background:#fff;margin:8px 0}
.tsg svg{display:block;border-bottom:1px solid var(--line)}
tr.not-run td{color:#8c959f}
tr.s-fail td,tr.s-error td{background:#fff0ef}
.legend span{margin-right:16px;white-space:nowrap}
.sw{display:inline-block;width:22px;height:0;border-top:2px solid;vertical-align:middle;margin-right:4px}
[hidden]{display:none!important}
"""

SCRIPT = """
(function(){
  var boxes=document.querySelectorAll('.filter input[data-verdict]');
  var wanted=/^#show=([a-z,-]*)$/.exec(location.hash);
  if(wanted){
    var keep=wanted[1].split(',');
    boxes.forEach(function(b){b.checked=keep.indexOf(b.getAttribute('data-verdict'))>=0;});
  }
  function apply(){
    var show={};
    boxes.forEach(function(b){show[b.getAttribute('data-verdict')]=b.checked;});
    document.querySelectorAll('[data-case-verdict]').forEach(function(el){
      el.hidden=!show[el.getAttribute('data-case-verdict')];
    });
  }
  boxes.forEach(function(b){b.addEventListener('change',apply);});
  apply();
})();
"""
"""The verdict filter; ``report.html#show=fail,error`` opens the page with only those verdicts shown."""


def esc(value: object) -> str:
    """Escape text and attribute values: titles, steps and reasons come from user-written case files."""
    return escape(str(value), quote=True)


def _anchor(index: int, case: CaseResult) -> str:
    return f"case-{index}-" + re.sub(r"[^A-Za-z0-9_.-]", "_", case.id)[:60]


def _safe_href(path: str) -> str | None:
    """A relative link, or nothing: the report must never point at the network."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", path) or path.startswith(("//", "\\\\")):
        return None
    return esc(path.replace("\\", "/"))


def _fmt_meta(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{esc(k)} {esc(v)}" for k, v in value.items()) or "—"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(esc(v) for v in value) or "none"
    if isinstance(value, float):
        return esc(f"{value:.6g}")
    return esc(value)


def _gate(result: RunResult, gate: GateVerdict) -> tuple[bool, str]:
    """The gate's verdict as the page's headline: with ``--fail-on`` as a CI gate words it, without
    one (a pytest session) as the counts."""
    if gate.fail_on is not None:
        if gate.counted:
            return False, f"gate: FAIL ({len(gate.counted)} failure(s) counted with --fail-on {gate.fail_on})"
        if gate.errors:
            return False, f"gate: ERROR ({gate.errors} case(s) could not run)"
        if gate.failed:
            return True, f"gate: pass ({gate.failed} failure(s), none counted with --fail-on {gate.fail_on})"
        return True, f"gate: pass (--fail-on {gate.fail_on})"
    counts = result.counts()
    if gate.passed:
        return True, f"PASS: {counts['pass']} passed, {counts['skip']} skipped"
    return False, f"FAIL: {gate.failed + gate.errors} of {len(result.cases)} case(s) failed or errored"


def _header(result: RunResult, gate: GateVerdict, siblings: list[tuple[str, str]]) -> list[str]:
    meta = result.meta.to_dict()
    counts = result.counts()
    ok, gate_text = _gate(result, gate)
    out = ["<header>",
           f'<h1>tcpconform report <span class="gate {"ok" if ok else "bad"}">{esc(gate_text)}</span></h1>',
           '<dl class="meta">']
    keys = [k for k in _META_ORDER if k in meta] + [k for k in meta if k not in _META_ORDER and k not in _META_SKIP]
    for key in keys:
        value = meta[key]
        if key == "duration" and isinstance(value, int | float):
            shown = esc(f"{value:.3f} s (wall clock)")
        elif key == "link_time" and isinstance(value, int | float):
            shown = esc(f"{value:.6f} s on the link's clock")
        else:
            shown = _fmt_meta(value)
        out.append(f"<dt>{esc(key.replace('_', ' '))}</dt><dd>{shown}</dd>")
    if siblings:
        links = " · ".join(f'<a href="{esc(href)}">{esc(label)}</a>' for href, label in siblings)
        out.append(f"<dt>files</dt><dd>{links}</dd>")
    for warning in meta.get("warnings") or []:
        out.append(f'<dt class="full warn">warning</dt><dd class="wide warn">{esc(warning)}</dd>')
    strays = meta.get("strays") or []
    if strays:
        listed = " · ".join(f"<code>{esc(s)}</code>" for s in strays[:50])
        more = f" … and {len(strays) - 50} more" if len(strays) > 50 else ""
        out.append(f'<dt class="full">strays ({len(strays)})</dt><dd class="wide">{listed}{more}</dd>')
    out.append("</dl>")
    out.append('<div class="counts">' + "".join(
        f'<span class="count"><b class="t-{v}">{counts[v]}</b> {v}</span>' for v in VERDICTS)
        + f'<span class="count"><b>{len(result.cases)}</b> cases</span></div>')
    by_level = result.counts_by_level()
    if by_level:
        out.append("<table><tr><th>level</th>" + "".join(f"<th>{v}</th>" for v in VERDICTS) + "</tr>")
        for level in sorted(by_level, key=lambda lv: ({"MUST": 0, "SHOULD": 1, "MAY": 2}.get(lv, 3), lv)):
            row = by_level[level]
            out.append(f"<tr><th>{esc(level)}</th>" + "".join(
                f'<td class="{f"t-{v}" if row[v] else ""}">{row[v]}</td>' for v in VERDICTS) + "</tr>")
        out.append("</table>")
    out.append('<div class="filter" role="group" aria-label="filter by verdict"><b>Show:</b> ' + "".join(
        f'<label><input type="checkbox" data-verdict="{v}" checked> <span class="t-{v}">{v}</span> ({counts[v]})</label>'
        for v in VERDICTS) + "</div>")
    out.append(_legend())
    out.append(_index(result))
    out.append("</header>")
    return out


def _legend() -> str:
    items = [("#0550ae", "solid", "tester → target"), ("#0a6e66", "solid", "target → tester (✓ matched)"),
             ("#8c959f", "solid", "tolerated / after the last step"), ("#8c959f", "dashed", "clean-up RST"),
             ("#cf222e", "solid", "first mismatching segment"), ("#cf222e", "dashed", "expected, never came"),
             ("#8250df", "solid", "target application")]
    spans = "".join(f'<span><i class="sw" style="border-top-color:{c};border-top-style:{s}"></i>{esc(t)}</span>'
                    for c, s, t in items)
    words = f'<span style="color:{ANALYSIS};font-weight:600">[retransmission] [dup ACK #n]…</span> Wireshark\'s analysis'
    return (f'<div class="legend"><b>Ladder:</b> {spans}<span>state boxes: the target\'s TCP state</span>'
            f"<span>{words}</span></div>")


def _long_mark(case: CaseResult) -> str:
    return f' <span class="warn">long: {esc(duration_text(case.long))}</span>' if case.long is not None else ""


def _index(result: RunResult) -> str:
    rows = ['<table class="index"><tr><th>verdict</th><th>case</th><th>level</th><th>time</th><th>title / reason</th></tr>']
    for i, case in enumerate(result.cases):
        level = esc(case.level) + (f" (failed {esc(case.failed_level)})" if case.failed_level
                                   and case.failed_level != case.level else "")
        detail = esc(case.reason) if case.verdict != "pass" and case.reason else esc(case.title)
        rows.append(f'<tr data-case-verdict="{esc(case.verdict)}"><td><span class="badge b-{esc(case.verdict)}">'
                    f'{esc(case.verdict.upper())}</span></td><td class="nw"><a href="#{_anchor(i, case)}"><code>{esc(case.id)}'
                    f'</code></a>{_long_mark(case)}</td><td class="nw">{level}</td>'
                    f'<td class="nw">{case.duration * 1000:.1f} ms</td>'
                    f"<td>{detail}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _requirements(case: CaseResult) -> str:
    if not case.requirements:
        return ""
    rows = "".join(
        f"<tr><td class=\"nw\"><code>{esc(r.id)}</code></td><td class=\"nw\">{esc(r.ref)}</td>"
        f"<td class=\"nw\">{esc(r.rid or '')}</td><td class=\"nw\">{esc(r.level)}</td>"
        f"<td>{esc(r.text)}</td></tr>" for r in case.requirements)
    return ("<h3>RFC clauses</h3><table><tr><th>id</th><th>ref</th><th>rid</th><th>level</th><th>text</th></tr>"
            + rows + "</table>")


def _failure(case: CaseResult, step: StepResult) -> str:
    out = ['<div class="failure">', f"<div><b class=\"t-{esc(step.verdict)}\">{esc(step.verdict)}</b> at "
           f"<code>{esc(step.loc)}</code> &nbsp; <code>{esc(step.text)}</code></div>"]
    if step.requirement:
        out.append(f"<div>{esc(step.requirement)}</div>")
    if step.message:
        out.append(f"<div><b>{esc(step.message)}</b></div>")
    if step.mismatches:
        out.append('<table class="diff"><tr><th>field</th><th>expected</th><th>actual</th></tr>' + "".join(
            f"<tr><td><code>{esc(m.field)}</code></td><td><code>{esc(m.expected)}</code></td>"
            f"<td><code>{esc(m.actual)}</code></td></tr>" for m in step.mismatches) + "</table>")
    if step.expected:
        out.append(f"<div>expected: <code>{esc(step.expected)}</code></div>")
    for idx in step.observed[-5:]:
        if 0 <= idx < len(case.segments):
            seg = case.segments[idx]
            note = f" &nbsp;<i>{esc(seg.note)}</i>" if seg.note else ""
            out.append(f"<div>observed at {seg.at * 1000:.3f} ms: <code>{esc(seg.summary)}</code> "
                       f"<span class=\"facts\">(wire: <code>{esc(seg.wire)}</code>)</span>{note}</div>")
    if not step.observed and step.kind in ("expect", "silence"):
        out.append("<div>observed: nothing</div>")
    out.append("</div>")
    return "".join(out)


def _steps(case: CaseResult) -> str:
    rows = []
    for st in case.steps:
        rows.append(f'<tr class="s-{esc(st.verdict)}"><td class="nw">{st.index}</td>'
                    f'<td class="nw"><code>{esc(st.loc)}</code></td><td><code>{esc(st.text)}</code></td>'
                    f'<td class="nw t-{esc(st.verdict)}">{esc(st.verdict)}</td>'
                    f"<td>{esc(st.message)}</td></tr>")
    return ("<h3>Steps</h3><table><tr><th>#</th><th>loc</th><th>step</th><th>verdict</th><th>message</th></tr>"
            + "".join(rows) + "</table>")


def _case(index: int, case: CaseResult) -> str:
    verdict = esc(case.verdict)
    opened = " open" if case.verdict in ("fail", "error") else ""
    level = esc(case.level) + (f", failed at {esc(case.failed_level)}" if case.failed_level else "")
    baseline = f' <span class="warn">[baseline: {esc(case.baseline)}]</span>' if case.baseline else ""
    if case.long is not None:
        baseline += f' <span class="warn">[long: {esc(duration_text(case.long))}, runs alone]</span>'
    out = [f'<section class="case v-{verdict}" id="{_anchor(index, case)}" data-case-verdict="{verdict}">',
           f"<details{opened}><summary><span class=\"badge b-{verdict}\">{esc(case.verdict.upper())}</span> "
           f'<code>{esc(case.id)}</code> <span class="title">{esc(case.title)}</span> '
           f"<span class=\"facts\">[{level}] {case.duration * 1000:.1f} ms</span>{baseline}</summary>",
           '<div class="body"><div class="facts">',
           f"<span>defined at <code>{esc(case.file)}:{case.line}</code></span>",
           f"<span>area {esc(case.area)}</span>" if case.area else ""]
    conn = case.connection or {}
    if conn.get("tester"):
        out.append(f"<span>{esc(conn.get('tester'))} → {esc(conn.get('target', ''))}</span>")
    if case.pcap:
        href = _safe_href(case.pcap)
        out.append(f'<span><a href="{href}">pcap</a></span>' if href else f"<span>pcap {esc(case.pcap)}</span>")
    out.append("</div>")
    if case.reason:
        out.append(f'<div class="reason">{esc(case.reason)}</div>')
    out.append(_requirements(case))
    if case.figures:
        rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in case.figures.items())
        out.append(f'<h3>Figures</h3><table class="figures">{rows}</table>')
    step = case.failed_step
    if step is not None:
        out.append("<h3>Failure</h3>" + _failure(case, step))
    analyses = case_analysis(case)  # once, for the ladder's words and the graphs' marks
    if case.segments or case.target_events:
        out.append(f'<h3>Exchange</h3><div class="ladder">{ladder_svg(case, analyses)}</div>')
    graphs = tsg_svgs(case, analyses)
    if graphs:
        out.append('<h3>Time-sequence graph</h3><div class="tsg">' + "".join(graphs) + "</div>")
    if case.steps:
        out.append(_steps(case))
    out.append("</div></details></section>")
    return "".join(out)


def _matrix(result: RunResult) -> list[str]:
    """The state x event grid of the matrix cases, when the run had any: a row failing says "this state
    is mishandled", a column "this kind of segment is"."""
    from tcpconform.report.matrix_grid import matrix_summary

    lines = matrix_summary(result)
    if not lines:
        return []
    return ['<section class="matrix"><h2>State x event matrix</h2><pre>' + esc("\n".join(lines)) + "</pre></section>"]


def _labelled(result: RunResult) -> list[str]:
    """The RFC 9293 requirements the run's cases cite, each with what the run showed of it."""
    from tcpconform.report.coverage import run_requirements

    rows = run_requirements(result)
    if not rows:
        return []
    shade = {"fail": "t-fail", "pass": "t-pass"}
    cells = "".join(
        f'<tr><td class="nw">{esc(r.requirement.rid)}</td><td>{esc(r.requirement.level.value)}</td>'
        f'<td class="nw {shade.get(r.verdict, "t-skip")}">{esc(r.verdict)}</td><td>{esc(r.requirement.text)}</td>'
        f"<td>{esc(', '.join(r.failed))}</td><td>{esc(', '.join(r.passed))}</td><td>{esc(', '.join(r.other))}</td></tr>"
        for r in rows)
    failed = sum(1 for r in rows if r.verdict == "fail")
    return [f'<section class="labelled"><details><summary><h2>RFC 9293 requirements checked: {len(rows)}, '
            f'{failed} failed</h2></summary><table><tr><th>id</th><th>level</th><th>run</th><th>requirement</th>'
            f"<th>failed in</th><th>passed in</th><th>not judged in</th></tr>{cells}</table></details></section>"]


def render_html(result: RunResult, gate: GateVerdict, siblings: list[tuple[str, str]] | None = None) -> str:
    """The whole page as a string; ``siblings`` are ``(relative href, label)`` of files beside it."""
    counts = result.counts()
    title = f"tcpconform: {result.meta.target} — {counts['fail']} failed, {counts['pass']} passed"
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"]
    parts += _header(result, gate, siblings or [])
    parts.append("<main>")
    parts += _matrix(result)
    parts += _labelled(result)
    parts += [_case(i, case) for i, case in enumerate(result.cases)]
    parts.append(f"</main><script>{SCRIPT}</script></body></html>")
    return "\n".join(parts)


def write_html(result: RunResult, gate: GateVerdict, path: Path) -> Path:
    """Write ``report.html`` whole or not at all (a temporary file renamed into place); returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    siblings = [(name, label) for name, label in _SIBLINGS if (path.parent / name).exists()]
    return write_atomically(path, render_html(result, gate, siblings))
