"""The report directory of one run, kept whole: never a mix of two runs, never a verdict lost.

A run's reports are a set (``results.json``, ``junit.xml``, ``report.html``, ``run.pcap`` and
``pcap/``) whose files point at each other, so they are only useful together.  :class:`ReportSet`
keeps these invariants, whatever instant the run is killed at:

- **One run's files.**  :meth:`ReportSet.start` removes the previous run's set before this run
  writes anything, ``results.json`` first (its absence means "no report"), so no file of an
  earlier run stands beside one of this run.  Files that are not the set's (a README) are kept.
- **Every finished verdict on disk.**  Each case, as it finishes, gets its pcap and a new
  ``results.json`` (written whole, then renamed into place), whose ``run.state`` is ``running``.
  A run killed by SIGKILL leaves a valid ``results.json`` of the cases that finished.
- **A state that says how the run ended**: ``complete``, ``interrupted`` (Ctrl-C),
  ``aborted`` (with ``abort_reason``), or ``running`` (a run that was killed, or goes on still).

A directory that cannot be written stops the updates, not the run; :attr:`ReportSet.error` keeps
why, and the final write says it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from tcpconform.gate import GateVerdict
from tcpconform.report.html import write_html
from tcpconform.report.junit import write_junit
from tcpconform.report.pcap import write_case_pcap, write_run_pcap
from tcpconform.results import CaseResult, RunResult, case_json, results_text, write_atomically

__all__ = ["SET_FILES", "ReportSet"]

SET_FILES = ("results.json", "junit.xml", "report.html", "run.pcap")
"""The set's files, ``results.json`` first: the order they are removed in."""


class ReportSet:
    """One run's reports in ``directory``: :meth:`start`, :meth:`add` per finished case, then
    :meth:`finish` (or :meth:`stop`)."""

    def __init__(self, directory: Path, run: dict[str, Any], *, realtime: bool) -> None:
        self.directory = directory
        self._run = {"state": "running", "pid": os.getpid(), **run}
        self._realtime = realtime
        self._cases: list[CaseResult] = []
        self._texts: list[str] = []
        self.error: OSError | None = None
        """Why the directory could not be written, once it could not (updates stop then)."""
        self._final = False

    def start(self) -> None:
        """Remove the previous run's set and put this run's, with no case yet, in its place."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for name in SET_FILES:
            for path in (self.directory / name, self.directory / f"{name}.tmp"):
                path.unlink(missing_ok=True)
        pcaps = self.directory / "pcap"
        if pcaps.is_dir() and not pcaps.is_symlink():
            gone = self.directory / f".pcap-removed-{os.getpid()}"
            pcaps.rename(gone)  # at once, whatever it holds; then removed at leisure
            shutil.rmtree(gone, ignore_errors=True)
        else:
            pcaps.unlink(missing_ok=True)
        self._write_running()

    def add(self, case: CaseResult) -> None:
        """A finished case: its pcap, and results.json with it (``running``)."""
        if self.error is not None:
            return
        try:
            write_case_pcap(case, self.directory, self._realtime)
            self._cases.append(case)
            self._texts.append(case_json(case))
            self._write_running()
        except OSError as err:
            self.error = err

    def stop(self, why: BaseException) -> None:
        """The run ended early: results.json of what finished, ``interrupted`` (Ctrl-C) or ``aborted``
        with the error's message as ``abort_reason``.  A report set already final is left as it is."""
        if self.error is not None or self._final:
            return
        if isinstance(why, KeyboardInterrupt):
            self._run.update(state="interrupted")
        else:
            self._run.update(state="aborted", abort_reason=str(why) or type(why).__name__)
        try:
            self._write_running()
        except OSError as err:
            self.error = err

    def finish(self, result: RunResult, gate: GateVerdict) -> dict[str, Path]:
        """The whole set for ``result``; results.json last, so it is the run's once everything is.
        Returns ``{format: path}``; raises the :class:`OSError` that stopped any write."""
        if self.error is not None:
            raise self.error
        done = {id(c) for c in self._cases}
        try:
            for case in result.cases:
                if id(case) not in done:  # not run, or finished without a call to add
                    write_case_pcap(case, self.directory, self._realtime)
            written = {"pcap": write_run_pcap(result, self.directory),
                       "junit": write_junit(result, gate, self.directory / "junit.xml"),
                       "html": write_html(result, gate, self.directory / "report.html")}
        except KeyboardInterrupt as err:  # results.json still lists what finished; it says the run did not end
            self.stop(err)
            raise
        written["json"] = result.write_json(self.directory)
        self._final = True
        return {k: written[k] for k in ("pcap", "json", "junit", "html")}

    def _write_running(self) -> None:
        write_atomically(self.directory / "results.json", results_text(self._run, self._cases, self._texts))
