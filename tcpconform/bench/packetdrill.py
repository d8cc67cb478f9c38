"""``tcpconform bench --packetdrill PATH``: the seed exchange as a whole process, tcpconform against packetdrill.

Both tools play the same exchange against the same Linux kernel TCP: tcpconform runs
``seed-full-sequence`` in lab ``--lab-name`` if it is up (kept), else in a lab made for the
benchmark (either way with its Linux agent standing, as ``lab up`` leaves it), packetdrill runs
:file:`data/seed.pkt` (the same segments, application calls and 300 ms of CLOSE-WAIT silence) in
a network namespace of its own, ``tcpc<lab>-pd``.  Each is timed as a
whole process, start to exit, ``repeat`` times, alternately (so both see the same load), and the
medians and their ratio are printed.  Never asserted: a figure, for a person to compare.

Invariants: every namespace made here carries the ``tcpc`` prefix and is removed on every exit
path, SIGINT and SIGTERM included (:func:`tcpconform.lab.guard.on_exit`); packetdrill runs only
inside it, on its own tun device, so nothing reaches a host interface.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import nullcontext
from importlib import resources
from pathlib import Path

from tcpconform.errors import UsageError

__all__ = ["SCRIPT", "packetdrill_figures"]

SCRIPT = "seed.pkt"
"""The seed exchange as a packetdrill script, in this package's ``data`` folder."""
TOLERANCE_US = 200_000
"""packetdrill's timing tolerance: wide, since the figure is the time taken, not the target's timing."""


def _timed(argv: list[str], cwd: str | None = None) -> tuple[float, int, str]:
    t = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd)
    return time.perf_counter() - t, proc.returncode, (proc.stderr or proc.stdout).strip()[-300:]


def _median(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:.1f} ms, min {min(samples) * 1000:.1f} ms"


def packetdrill_figures(packetdrill: str, repeat: int, lab_name: str | None = None) -> Iterator[str]:
    """The two whole-process figures and their ratio; a :class:`UsageError` if ``packetdrill`` is not a program."""
    from tcpconform.lab.guard import on_exit
    from tcpconform.lab.lab import find_lab, temporary_lab
    from tcpconform.lab.netns import ns_argv, ns_create, ns_remove, run_in_ns, stop_processes
    from tcpconform.lab.owner import unmark
    from tcpconform.targets.agent.standing import stand_up

    exe = Path(packetdrill)
    if not exe.is_file() or not os.access(exe, os.X_OK):
        raise UsageError(f"--packetdrill {packetdrill}: not an executable file (build google/packetdrill: "
                         "gtests/net/packetdrill, ./configure && make)")
    script = resources.files(__package__).joinpath("data", SCRIPT)
    kept = find_lab(lab_name) if lab_name is not None else None
    with (nullcontext(kept) if kept is not None else temporary_lab(lab_name)) as lab, \
            tempfile.TemporaryDirectory(prefix="tcpc-bench-") as tmp, resources.as_file(script) as script_path:
        if kept is None:
            unmark(lab)  # the runs are other processes: they may use it (it is still removed on the way out)
        yield f"lab {lab.name} {'(up already, kept)' if kept else 'made for the benchmark'}; {stand_up(lab)}"
        ns = f"{lab.target_ns.rsplit('-', 1)[0]}-pd"
        cancel = on_exit(lambda: (stop_processes(ns), ns_remove(ns)), f"namespace {ns}")
        try:
            ns_remove(ns)  # what a killed benchmark left
            ns_create(ns)
            run_in_ns(ns, ["ip", "link", "set", "lo", "up"])
            ours_argv = [sys.executable, "-m", "tcpconform.cli", "run", "--lab", "linux", "--lab-name", lab.name,
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
                    wall, code, said = _timed(argv, cwd)
                    samples.append(wall)
                    if code:
                        failed.append(f"  {who} exited {code}: {said}")
        finally:
            stop_processes(ns)
            ns_remove(ns)
            cancel()
    yield f"seed exchange against Linux, whole process, {repeat} runs each (alternating):"
    yield f"  tcpconform run --lab linux seed-full-sequence: {_median(ours)}"
    yield f"  packetdrill {SCRIPT} ({ns}):{' ' * 14}{_median(theirs)}"
    yield f"  ratio tcpconform / packetdrill (medians): {statistics.median(ours) / statistics.median(theirs):.2f}"
    yield from failed[:6]
