"""packetdrill scripts (``.pkt``) as cases: :func:`load_script` reads one into a
:class:`~tcpconform.cases.model.TestCase` that runs, is reported and gated as a YAML case is.

A script asserts one thing: the exchange happens as scripted (each outbound packet as written, in
its time, and nothing else; each system call with its result).  So its case has one requirement,
``script``, at level MUST unless a leading comment line says ``level: SHOULD`` (or ``MAY``); a
``ref: ...`` comment line names the clause it checks (else ``packetdrill script``).  A
``tolerate: ack, window-update, retransmission`` comment line lets those segments pass where none is
scripted (the YAML cases' ``tolerate``, :data:`~tcpconform.cases.model.TOLERABLE`): for a script
meant for stacks that differ only there (an ACK of the first segment a quick-ACK mode sends).  Its id is
``pkt-<file stem>``, its title the first comment line.  Mistakes and refused constructs are
:class:`~tcpconform.cases.document.LoadError` with the file, line, column and construct.
"""

from __future__ import annotations

import re
from pathlib import Path

from tcpconform.cases.document import Loaded, LoadError
from tcpconform.cases.model import DEFAULT_INVARIANTS, TOLERABLE, AppStep, Level, Numbering, Requirement, SourceLoc, TestCase
from tcpconform.cases.packetdrill.mapping import DEFAULT_TOLERANCE, map_events
from tcpconform.cases.packetdrill.script import PktError, Script, read_script

__all__ = ["DEFAULT_TOLERANCE", "SUFFIX", "load_script"]

SUFFIX = ".pkt"
"""The file ending that makes a file a packetdrill script, in a folder of cases as given alone."""
OPTIONS = {"tolerance_usecs": "the tolerance on scripted times, in microseconds"}
"""The option lines taken; packetdrill's others (addresses, devices, MTU) are its harness's own."""
_ID = re.compile(r"[^a-z0-9-]+")
_META = re.compile(r"(level|ref|tolerate):\s*(.+)")


def load_script(file: str, text: str, tolerance: float | None = None) -> Loaded:
    """The case of one script, or its mistake (scripts stop at the first: what follows a refused line
    would be read out of its context).  ``tolerance``: the loader's least tolerance, in seconds."""
    try:
        script = read_script(text)
        least = DEFAULT_TOLERANCE if tolerance is None else tolerance
        own = _script_tolerance(script)
        return [_case(file, script, max(least, own), own)], []
    except PktError as exc:
        return [], [LoadError(file, exc.line, exc.column, exc.construct, exc.message)]


def _script_tolerance(script: Script) -> float:
    value = 0.004
    for option in script.options:
        if option.name not in OPTIONS:
            raise PktError(option.line, f"--{option.name}", f"option not taken (taken: {', '.join('--' + o for o in OPTIONS)})")
        if not option.value.isdigit() or int(option.value) > 60_000_000:
            raise PktError(option.line, f"--{option.name}", "expected microseconds, an integer up to 60000000")
        value = int(option.value) / 1e6
    return value


def _case(file: str, script: Script, tolerance: float, early: float) -> TestCase:
    """The case of ``script``. A script that neither listens nor connects runs against a closed port (one
    next to the target's, where nothing of the run listens): in packetdrill no socket means none there."""
    if not script.events:
        raise PktError(1, "script", "no packets and no system calls: nothing to check")
    meta = {m[1]: m[2].strip() for _, text in script.comments if (m := _META.fullmatch(text))}
    mapped = map_events(file, script.events, tolerance, _tolerate(script, meta.get("tolerate")), early)
    first = next((text for _, text in script.comments if text), "")
    level_text = meta.get("level", "MUST").upper()
    if level_text not in Level.__members__:
        line = next(n for n, text in script.comments if _META.fullmatch(text) and text.startswith("level"))
        raise PktError(line, "level", f"expected MUST, SHOULD or MAY (got {meta['level']!r})")
    level = Level(level_text)
    stem = Path(file).stem
    requirement = Requirement(
        id="script", ref=meta.get("ref", "packetdrill script"), level=level,
        text=("The exchange happens as the script writes it: every outbound packet as written, within "
              f"its time (tolerance {tolerance * 1000:.0f} ms) and no other, every system call with its result."))
    return TestCase(
        id="pkt-" + (_ID.sub("-", stem.lower()).strip("-") or "script"),
        title=first if first and not _META.fullmatch(first) else f"packetdrill script {Path(file).name}",
        loc=SourceLoc(file, script.events[0].line), requirements=(requirement,), steps=tuple(mapped.steps),
        description=f"The packetdrill script {Path(file).name}, run step by step.",
        area=Path(file).resolve().parent.name, level=level,
        no_fault="a packetdrill script names no reference-responder fault: what it checks is the exchange as scripted",
        numbering=Numbering(tester=0, target=0), tester_window=mapped.tester_window or 5000,
        tester_mss=mapped.tester_mss, invariants=DEFAULT_INVARIANTS, family=mapped.family, tags=("packetdrill",),
        closed_port=not any(isinstance(step, AppStep) and step.action in ("listen", "connect") for step in mapped.steps))



def _tolerate(script: Script, text: str | None) -> frozenset[str]:
    """The names of a ``tolerate:`` comment line (none without one: packetdrill's strictness)."""
    if text is None:
        return frozenset()
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    for name in sorted(names - TOLERABLE - {"any"}):
        line = next(n for n, t in script.comments if t.startswith("tolerate"))
        raise PktError(line, "tolerate", f"unknown name {name!r} (known: {', '.join(sorted(TOLERABLE))}, any)")
    return names
