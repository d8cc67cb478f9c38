"""What ``tcpconform learn`` writes besides its DOT files: ``report.html`` (both machines drawn, the
differences marked on them, each with its case file) and ``junit.xml`` (one test for the machine and
one a difference, so a CI job shows each).

The drawings are Graphviz's (``dot -Tsvg``), the field's layout engine for state machines; the
letters between the same two states share one edge, one line a letter, so a 15-state machine of
seven letters stays readable.  Where ``dot`` is not installed the page carries the DOT text instead
and says so: a report is never lost for want of a drawing.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tcpconform.learn.machine import Learned, Machine

__all__ = ["Difference", "LearnReport", "drawing", "last_transition", "write_junit", "write_report"]

MARK = "#c0392b"
"""The colour of a transition a difference ends on."""


@dataclass(frozen=True)
class Difference:
    """A shortest input sequence on which the machines answer differently, and the case written from it."""

    letters: tuple[str, ...]
    reference: str
    target: str
    case_file: Path


@dataclass(frozen=True)
class LearnReport:
    """One ``learn`` run: the target's machine and name, the reference's (None: not compared), the differences."""

    target_name: str
    target: Learned
    reference: Learned | None
    differences: tuple[Difference, ...]


def last_transition(machine: Machine, letters: Sequence[str]) -> tuple[str, str]:
    """The state the last of ``letters`` is read in, and that letter: the transition a difference ends on."""
    state = "s0"
    for letter in letters[:-1]:
        state = machine.delta[state][letter][0]
    return state, letters[-1]


def drawing(machine: Machine, marked: set[tuple[str, str]], name: str) -> str:
    """``machine`` as an SVG element (``dot``), the transitions in ``marked`` in :data:`MARK`; without
    ``dot``, its DOT text in a ``<pre>`` with a note."""
    text = _grouped_dot(machine, marked, name)
    dot = shutil.which("dot")
    if dot is not None:
        try:
            proc = subprocess.run([dot, "-Tsvg"], input=text, capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired):
            proc = None
        if proc is not None and proc.returncode == 0 and "<svg" in proc.stdout:
            return proc.stdout[proc.stdout.index("<svg"):]
    return ('<p class="note">Graphviz\'s <code>dot</code> is not installed (Debian: <code>apt-get install '
            f'graphviz</code>), so the machine is shown as DOT:</p><pre>{html.escape(text)}</pre>')


def _grouped_dot(machine: Machine, marked: set[tuple[str, str]], name: str) -> str:
    """DOT with one edge per pair of states (and per marking), its letters one a line."""
    edges: dict[tuple[str, str, bool], list[str]] = {}
    for state, row in machine.delta.items():
        for letter in machine.inputs:
            nxt, output = row[letter]
            edges.setdefault((state, nxt, (state, letter) in marked), []).append(f"{letter} / {output}")
    lines = [f'digraph "{name}" {{', "  rankdir=LR;", '  node [shape=circle, fontname="sans-serif", fontsize=11];',
             '  edge [fontname="monospace", fontsize=9];', '  __start [shape=none, label=""];', "  __start -> s0;"]
    lines += [f'  {state} [label="{state}"];' for state in machine.delta]
    for (state, nxt, mark), labels in edges.items():
        style = f', color="{MARK}", fontcolor="{MARK}", penwidth=2' if mark else ""
        label = "\\l".join(label.replace('"', '\\"') for label in labels) + "\\l"
        lines.append(f'  {state} -> {nxt} [label="{label}"{style}];')
    return "\n".join([*lines, "}"]) + "\n"


def write_report(report: LearnReport, path: Path) -> Path:
    """``report.html``: figures, the differences, and both machines drawn."""
    target = report.target.machine
    marked_target = {last_transition(target, d.letters) for d in report.differences}
    rows = "".join(
        f"<tr><td>{n}</td><td><code>{html.escape(' '.join(d.letters))}</code></td><td>{html.escape(d.reference)}</td>"
        f'<td class="fail">{html.escape(d.target)}</td><td><a href="{html.escape(d.case_file.name)}">'
        f"{html.escape(d.case_file.name)}</a></td></tr>" for n, d in enumerate(report.differences, 1))
    parts = [f"<h1>tcpconform learn: {html.escape(report.target_name)}</h1>",
             f"<p>{_figures('target', report.target)}"]
    if report.reference is not None:
        parts[-1] += f"<br>{_figures('reference responder (clean, in-process)', report.reference)}"
        if report.differences:
            parts.append(f'<h2 class="fail">{len(report.differences)} difference(s) from the reference responder</h2>'
                         "<p>Each is a shortest input sequence on which the two machines answer differently; its "
                         "last transition is marked on both drawings. A difference is a lead, not a verdict: its "
                         "case file replays it, and passes on the reference.</p>"
                         "<table><tr><th>#</th><th>inputs</th><th>reference</th><th>target</th><th>case</th></tr>"
                         f"{rows}</table>")
        else:
            parts.append('<h2 class="pass">The same machine as the reference responder\'s</h2>')
    parts.append(f'<h2>The target\'s machine</h2><figure id="target">{drawing(target, marked_target, "target")}</figure>')
    if report.reference is not None:
        reference = report.reference.machine
        marked = {last_transition(reference, d.letters) for d in report.differences}
        parts.append("<h2>The reference responder's machine</h2>"
                     f'<figure id="reference">{drawing(reference, marked, "reference")}</figure>')
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tcpconform learn</title><style>"
            "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
            "padding:.2em .5em;text-align:left}.fail{color:#c0392b}.pass{color:#1e8449}figure{margin:0;overflow:auto}"
            f"pre{{background:#f6f6f6;padding:.5em}}</style></head><body>{''.join(parts)}</body></html>\n")
    path.write_text(page)
    return path


def _figures(what: str, learned: Learned) -> str:
    return (f"{html.escape(what)}: {len(learned.machine.delta)} states, {learned.queries} queries, "
            f"{learned.steps} steps, {learned.seconds:.1f} s")


def write_junit(path: Path, target_name: str, learned: Learned | None, differences: Sequence[Difference],
                compared: bool, error: str | None = None) -> Path:
    """``junit.xml``: one test for the target's machine (an error where it could not be learnt), and
    one failing test a difference, naming its inputs, both answers and its case file."""
    suite = ET.Element("testsuite", name="tcpconform learn", time=f"{learned.seconds:.3f}" if learned else "0")
    machine = ET.SubElement(suite, "testcase", classname="learn", name=f"the machine of {target_name}")
    if error is not None:
        ET.SubElement(machine, "error", message="no machine learnt").text = error
    elif compared and differences:
        ET.SubElement(machine, "failure", message=f"{len(differences)} difference(s) from the reference responder")
    elif learned is not None:
        ET.SubElement(machine, "system-out").text = _figures("target", learned)
    for n, diff in enumerate(differences, 1):
        case = ET.SubElement(suite, "testcase", classname="learn.difference", name=f"difference {n}: {' '.join(diff.letters)}")
        ET.SubElement(case, "failure", message=f"reference {diff.reference}, target {diff.target}").text = (
            f"case file: {diff.case_file}")
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    path.write_text(ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")
    return path
