"""``tcpconform bench --packetdrill PATH``: the seed exchange as a whole process, tcpconform against packetdrill.

Both tools play the same exchange against the same Linux kernel TCP: tcpconform runs
``seed-full-sequence`` in lab ``--lab-name`` if it is up (kept), else in a lab made for the
benchmark (either way with its Linux agent and resident tester serving, as ``lab up`` leaves
them; the run is the installed ``tcpconform`` command, handed to the resident tester), packetdrill runs
:file:`data/seed.pkt` (the same segments, application calls and 300 ms of CLOSE-WAIT silence) in
a network namespace of its own, ``tcpc<lab>-pd``.  Each is timed as a
whole process, start to exit, ``repeat`` times, alternately (so both see the same load), and the
medians and their ratio are printed.  Never asserted: a figure, for a person to compare.  With
``--cases``, the verdicts instead: each packetdrill script given, judged by both tools (:func:`packetdrill_verdicts`).

Invariants: every namespace made here carries the ``tcpc`` prefix and is removed on every exit
path, SIGINT and SIGTERM included (:func:`tcpconform.lab.guard.on_exit`); packetdrill runs only
inside it, on its own tun device, so nothing reaches a host interface.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from tcpconform.errors import UsageError

if TYPE_CHECKING:
    from tcpconform.cases.model import TestCase
    from tcpconform.lab.spec import Lab

__all__ = ["SCRIPT", "packetdrill_figures", "packetdrill_verdicts"]

SCRIPT = "seed.pkt"
"""The seed exchange as a packetdrill script, in this package's ``data`` folder."""
RESIDENT_WAIT = 30.0
"""Seconds the benchmark waits for the lab's resident tester to serve (its imports, on a loaded machine)."""
TOLERANCE_US = 200_000
"""packetdrill's timing tolerance: wide, since the figure is the time taken, not the target's timing."""


def _timed(argv: list[str], cwd: str | None = None) -> tuple[float, int, str]:
    t = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd)
    return time.perf_counter() - t, proc.returncode, (proc.stderr or proc.stdout).strip()


def _median(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:.1f} ms, min {min(samples) * 1000:.1f} ms"


def _program(packetdrill: str) -> Path:
    exe = Path(packetdrill)
    if not exe.is_file() or not os.access(exe, os.X_OK):
        raise UsageError(f"--packetdrill {packetdrill}: not an executable file (build google/packetdrill: "
                         "gtests/net/packetdrill, ./configure && make)")
    return exe


@contextmanager
def _arena(lab_name: str | None) -> Iterator[tuple[Lab, str, str, str]]:
    """The lab (kept if up, else made and removed), packetdrill's namespace ``tcpc<lab>-pd`` (made
    and removed on every exit path) and a scratch folder: ``(lab, namespace, folder, what was done)``."""
    from tcpconform.lab.guard import on_exit
    from tcpconform.lab.lab import find_lab, temporary_lab
    from tcpconform.lab.netns import ns_create, ns_remove, run_in_ns, stop_processes
    from tcpconform.lab.owner import unmark
    from tcpconform.targets.agent.client import agent_env
    from tcpconform.targets.agent.standing import stand_up

    kept = find_lab(lab_name) if lab_name is not None else None
    with (nullcontext(kept) if kept is not None else temporary_lab(lab_name)) as lab, \
            tempfile.TemporaryDirectory(prefix="tcpc-bench-") as tmp:
        if kept is None:
            unmark(lab)  # the runs are other processes: they may use it (it is still removed on the way out)
        said = (f"lab {lab.name} {'(up already, kept)' if kept else 'made for the benchmark'}; {stand_up(lab)}; "
                f"{_resident_up(lab, agent_env())}")
        ns = f"{lab.target_ns.rsplit('-', 1)[0]}-pd"
        cancel = on_exit(lambda: (stop_processes(ns), ns_remove(ns)), f"namespace {ns}")
        try:
            ns_remove(ns)  # what a killed benchmark left
            ns_create(ns)
            run_in_ns(ns, ["ip", "link", "set", "lo", "up"])
            yield lab, ns, tmp, said
        finally:
            stop_processes(ns)
            ns_remove(ns)
            cancel()


def _resident_up(lab: Lab, env: dict[str, str]) -> str:
    """The lab's resident tester started as ``lab up`` starts it, and waited for: the figure is a
    user's run on a lab that is up, not one that started a second ago."""
    from tcpconform.lab import resident

    said = resident.start(lab, env)
    deadline = time.monotonic() + RESIDENT_WAIT
    while time.monotonic() < deadline:
        probe = resident.connect(lab.name)
        if probe is not None:
            probe.close()
            return said
        time.sleep(0.05)
    return f"{said}, but it did not answer within {RESIDENT_WAIT:.0f} s (each run starts on its own)"


def _command() -> list[str]:
    """The installed ``tcpconform`` command beside this Python, else the same entry by ``-m``."""
    beside = Path(sys.executable).with_name("tcpconform")
    return [str(beside)] if beside.is_file() and os.access(beside, os.X_OK) else [sys.executable, "-m", "tcpconform.launch"]


def packetdrill_figures(packetdrill: str, repeat: int, lab_name: str | None = None) -> Iterator[str]:
    """The two whole-process figures and their ratio; a :class:`UsageError` if ``packetdrill`` is not a program."""
    from tcpconform.lab.netns import ns_argv

    exe = _program(packetdrill)
    script = resources.files(__package__).joinpath("data", SCRIPT)
    with _arena(lab_name) as (lab, ns, tmp, said), resources.as_file(script) as script_path:
        yield said
        ours_argv = [*_command(), "run", "--lab", "linux", "--lab-name", lab.name,
                     "seed-full-sequence", "-q", "--report-dir", tmp]
        theirs_argv = ns_argv(ns, [str(exe.resolve()), f"--tolerance_usecs={TOLERANCE_US}", str(script_path)])
        _timed(ours_argv)  # once untimed each: the case cache and the page cache, as a user's second run
        _timed(theirs_argv, tmp)
        ours: list[float] = []
        theirs: list[float] = []
        failed: list[str] = []
        for _ in range(repeat):
            for argv, cwd, samples, who in ((ours_argv, None, ours, "tcpconform"),
                                            (theirs_argv, tmp, theirs, "packetdrill")):
                wall, code, out = _timed(argv, cwd)
                samples.append(wall)
                if code:
                    failed.append(f"  {who} exited {code}: {out[-300:]}")
    yield f"seed exchange against Linux, whole process, {repeat} runs each (alternating):"
    yield f"  tcpconform run --lab linux seed-full-sequence: {_median(ours)}"
    yield f"  packetdrill {SCRIPT} ({ns}):{' ' * 14}{_median(theirs)}"
    yield f"  ratio tcpconform / packetdrill (medians): {statistics.median(ours) / statistics.median(theirs):.2f}"
    yield from failed[:6]


def packetdrill_verdicts(packetdrill: str, cases: Sequence[TestCase], lab_name: str | None = None) -> Iterator[str]:
    """Each packetdrill script among ``cases``, judged by packetdrill (its exit status, in its own
    namespace, on the lab's kernel) and by ``tcpconform run --lab linux`` (one run of them all): a table,
    the first line of packetdrill's complaint where it failed one, and how many verdicts agree.  A
    skip (a script this cannot observe) never counts as agreeing."""
    from tcpconform.lab.netns import ns_argv

    exe = _program(packetdrill)
    scripts = {c.id: Path(c.loc.file) for c in cases if c.loc.file.endswith(".pkt")}
    if not scripts:
        raise UsageError("--packetdrill with --cases: give packetdrill scripts (*.pkt) to compare verdicts on")
    with _arena(lab_name) as (lab, ns, tmp, said):
        yield said
        report = Path(tmp) / "ours"
        _timed([sys.executable, "-m", "tcpconform.cli", "run", "--lab", "linux", "--lab-name", lab.name, "-q",
                "--report-dir", str(report), *(f"--cases={p}" for p in sorted(set(scripts.values())))])
        ours = {c["id"]: c["verdict"] for c in json.loads((report / "results.json").read_text())["cases"]}
        theirs: dict[str, tuple[str, str]] = {}
        for cid, path in scripts.items():
            _, code, out = _timed(ns_argv(ns, [str(exe.resolve()), str(path.resolve())]), tmp)
            first = out.splitlines()[0].replace(f"{path.resolve().parent}/", "") if code and out else ""
            theirs[cid] = ("pass" if code == 0 else "fail", first[:120])
    yield f"{len(scripts)} packetdrill script(s) against Linux, packetdrill ({ns}) and tcpconform (lab {lab.name}):"
    width = max(len(c) for c in scripts)
    for cid in sorted(scripts):
        verdict, why = theirs[cid]
        mine = ours.get(cid, "missing")
        yield f"  {'  ' if mine == verdict else '!='} {cid:<{width}}  packetdrill {verdict:<4}  tcpconform {mine:<5}  {why}"
    agree = sum(1 for cid in scripts if ours.get(cid) == theirs[cid][0])
    yield f"  verdicts agree on {agree} of {len(scripts)} script(s)"
