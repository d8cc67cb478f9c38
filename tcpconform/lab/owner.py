"""Which process a lab was made for, so a lab a killed run left behind is noticed, never adopted.

A lab made for one run (:func:`tcpconform.lab.lab.temporary_lab`) is removed when the run ends,
however it ends, except by SIGKILL.  The lab records its maker on the tester's veth end, in the
link's alias (``ip link ... alias``), where it lives and dies with the lab and needs no file: the
maker's pid and its start time (``/proc/PID/stat``), so a pid the kernel has given to another
process since does not pass for the maker.  A lab with no record is one a user brought up
(``tcpconform lab up``) and is kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from dataclasses import dataclass

from tcpconform.lab.spec import Lab

MARK = "tcpconform: made for the run of pid"
"""How the alias starts; the pid and start time follow."""


@dataclass(frozen=True)
class Maker:
    """The process a lab was made for."""

    pid: int
    started: int
    """Clock ticks after boot (``/proc/PID/stat`` field 22): with the pid, one process ever."""

    @property
    def alive(self) -> bool:
        return _started(self.pid) == self.started


def _started(pid: int) -> int | None:
    """When process ``pid`` started, or None if there is no such process alive."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command's name, which may hold spaces
    if fields[0] in ("Z", "X"):  # dead, not yet reaped by its parent
        return None
    return int(fields[19])


def mark_made_for_this_process(lab: Lab) -> None:
    """Record on ``lab`` that this process made it for itself (and will remove it)."""
    started = _started(os.getpid())
    subprocess.run(["ip", "-n", lab.tester_ns, "link", "set", "dev", lab.tester_if, "alias",
                    f"{MARK} {os.getpid()} started {started}"], capture_output=True, check=False)


def unmark(lab: Lab) -> None:
    """``lab`` is a user's from now on: kept when runs end."""
    subprocess.run(["ip", "-n", lab.tester_ns, "link", "set", "dev", lab.tester_if, "alias", ""],
                   capture_output=True, check=False)


def made_for(lab: Lab) -> Maker | None:
    """The process ``lab`` was made for, or None: a user's lab (or one that cannot be read)."""
    try:
        out = subprocess.run(["ip", "-j", "-n", lab.tester_ns, "link", "show", "dev", lab.tester_if],
                             capture_output=True, text=True, check=False).stdout
        alias = str(json.loads(out)[0].get("ifalias", "")) if out.strip() else ""
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    if not alias.startswith(MARK):
        return None
    with contextlib.suppress(ValueError, IndexError):
        words = alias[len(MARK):].split()
        return Maker(int(words[0]), int(words[2]))
    return None
