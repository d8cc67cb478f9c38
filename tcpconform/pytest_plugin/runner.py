"""The session's target and results: one :class:`Runner` per pytest session.

The target is opened at the first case that runs (collecting alone opens nothing) through the
same :func:`tcpconform.run.open_target` as ``tcpconform run``, and closed when the session ends,
however it ends.  Each case runs on its own source port of the session's block.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tcpconform.engine.health import RESTART_WAIT
from tcpconform.engine.run import PORT_SPAN
from tcpconform.errors import SetupError, UsageError
from tcpconform.pytest_plugin.options import PluginOptions, our_flags

if TYPE_CHECKING:  # the engine is imported when a case runs, not when pytest starts
    from tcpconform.cases.model import TestCase
    from tcpconform.report import ReportSet
    from tcpconform.results import CaseResult, RunMeta, RunResult
    from tcpconform.run import Opened

__all__ = ["FIXED_MARKERS", "Runner", "find_runner", "install", "runner_of"]

FIXED_MARKERS = {
    "tcpconform": "a tcpconform test case, collected from a case file",
    "must": "tcpconform cases of level MUST (RFC 2119): an absolute requirement",
    "should": "tcpconform cases of level SHOULD (RFC 2119): a recommendation",
    "may": "tcpconform cases of level MAY (RFC 2119): an option",
    "long": "tcpconform cases whose mandated waiting is minutes (-m 'not long' leaves them out, as --quick does)",
}

_RUNNER = pytest.StashKey["Runner"]()


class Runner:
    """The target (opened at the first case, closed at the end) and the session's results.

    Kept in the config's stash rather than in module globals, so that several sessions in one
    process (pytester, IDEs) never share a target.
    """

    def __init__(self, config: pytest.Config, options: PluginOptions) -> None:
        self.config = config
        self.options = options
        self.markers: set[str] = set(FIXED_MARKERS)
        self.ids: dict[str, str] = {}
        """Case id -> where it is defined: ids name cases in reports, so they must be unique."""
        self.opened: Opened | None = None
        self._stack = ExitStack()
        self.results: list[CaseResult] = []
        self.metas: list[RunMeta] = []
        self.wall0 = 0.0
        self.wall = 0.0
        self.notes: list[str] = []
        """Lines for the terminal summary: what was tested, where reports went, what went wrong."""
        self.reports: ReportSet | None = None
        """The session's reports, each case written as it finishes (not on an xdist worker: the
        controller has every case)."""

    def open(self) -> Opened:
        if self.opened is not None:
            return self.opened
        from tcpconform.run import TargetChoice, open_target  # the engine, at the first case only

        o = self.options
        choice = TargetChoice(o.faults, o.lab, o.lab_name, o.target, o.port, o.iface, o.source_ip, o.services,
                              profile=o.profile)
        try:
            opened = self._stack.enter_context(open_target(choice))
        except (SetupError, UsageError, PermissionError) as err:  # PermissionError: the kernel refusing a socket
            self.close()
            pytest.exit(f"tcpconform: cannot set up the target: {our_flags(str(err))}",
                        returncode=pytest.ExitCode.USAGE_ERROR)
        self.opened = opened
        self.wall0 = time.perf_counter()
        tgt = opened.session.target
        self.notes.append(f"target: {tgt.name} at {tgt.ip}:{tgt.port}, profile {opened.profile.name}, "
                          f"link {opened.session.link.name}")
        if opened.rst_suppression is not None:
            self.notes.append(f"kernel RSTs: {opened.rst_suppression}")
        self.notes.extend(f"warning: {w}" for w in opened.warnings)
        self._start_reports(opened)
        return opened

    def _start_reports(self, opened: Opened) -> None:
        from tcpconform.run import start_reports

        directory = self.options.report_dir
        if directory is None or hasattr(self.config, "workerinput"):
            return
        try:
            self.reports = start_reports(directory, opened)
        except UsageError as err:
            self.notes.append(str(err))

    def _record(self, result: CaseResult) -> CaseResult:
        self.results.append(result)
        if self.reports is not None:
            self.reports.add(result)
        return result

    def run(self, case: TestCase) -> CaseResult:
        """Run ``case`` on its own source port.  A target that stopped answering after an earlier
        item (each item is a run of its own, so the death shows only at this one's start) is
        brought back with ``--tcpconform-restart`` and the case run; without it the case is not run
        (a skip, as ``tcpconform run`` says of the cases after a death).  The earlier item that
        killed it failed on its own."""
        from tcpconform.engine.health import NOT_ANSWERING, TargetDown, command_restart

        opened = self.open()
        o = self.options
        wait = o.restart_wait if o.restart_wait is not None else RESTART_WAIT
        deadline = None
        while True:
            port = opened.session.base_port + len(self.results) % PORT_SPAN
            try:
                run = opened.execute([case], case_paths=list(self.config.args), base_port=port, restart=o.restart,
                                     restart_wait=wait)
                break
            except TargetDown as err:
                if not self.results:  # it never answered: a set-up error, as for tcpconform run
                    self.close()
                    pytest.exit(f"tcpconform: {err}", returncode=pytest.ExitCode.USAGE_ERROR)
                if o.restart is None or (deadline is not None and time.monotonic() >= deadline):
                    return self._not_run(case, f"{NOT_ANSWERING} since an earlier case: {err}")
                if deadline is None:
                    deadline = time.monotonic() + wait
                    command_restart(o.restart, opened.session.target)()
        self.metas.append(run.meta)
        return self._record(run.cases[0])

    def _not_run(self, case: TestCase, why: str) -> CaseResult:
        from tcpconform.results import CaseResult

        result = CaseResult(case.id, case.title, case.loc.file, case.loc.line, case.area, case.level.value, [],
                            verdict="skip", reason=why)
        return self._record(result)

    def close(self) -> None:
        """Undo whatever the session set up (lab, agent, firewall rule); safe to call more than once."""
        if self.opened is not None and not self.wall:
            self.wall = time.perf_counter() - self.wall0
        try:
            self._stack.close()
        except Exception as err:  # reported, since the session's own verdicts stand
            self.notes.append(f"error while closing the target: {err}")

    def run_result(self) -> RunResult:
        """The session's cases (one at least) as one run, as ``tcpconform run`` would have recorded them."""
        from tcpconform.results import RunResult

        meta = replace(self.metas[0], duration=round(self.wall, 6),
                       link_time=round(sum(c.duration for c in self.results), 6),
                       strays=[s for m in self.metas for s in m.strays],
                       unverified_checksums=sum(m.unverified_checksums for m in self.metas))
        return RunResult(meta, list(self.results))

    def write_reports(self, directory: Path) -> None:
        """Every report ``tcpconform run`` writes, judged without a ``--fail-on`` (every failure counts)."""
        from tcpconform.gate import evaluate
        from tcpconform.report import write_reports

        result = self.run_result()
        try:
            gate = evaluate(result, None)
            written = self.reports.finish(result, gate) if self.reports is not None else \
                write_reports(result, gate, directory)
        except OSError as err:
            self.notes.append(f"cannot write reports to {directory}: {err.strerror or err}")
            return
        names = ", ".join(sorted(p.name for p in written.values()))
        self.notes.append(f"reports: {directory} ({names})")


def install(config: pytest.Config, options: PluginOptions) -> Runner:
    """The session's runner, closed however the session ends (also when it dies before sessionfinish)."""
    runner = Runner(config, options)
    config.stash[_RUNNER] = runner
    config.add_cleanup(runner.close)
    return runner


def runner_of(config: pytest.Config) -> Runner:
    return config.stash[_RUNNER]


def find_runner(config: pytest.Config) -> Runner | None:
    """The session's runner, if :func:`install` ran (not when pytest stopped before configuring)."""
    return config.stash.get(_RUNNER, None)
