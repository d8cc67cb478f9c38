"""The composition root: a :class:`RunRequest` in, a :class:`RunOutcome` out.

Everything a run is made of is put together here and nowhere else: the cases selected, the
session (target and link) opened with its profile, the cases executed, the baseline and the gate
applied once, the reports written.  The command line, the pytest plugin and the selftest only say
what they want and render what comes back.  Whatever cannot be done is a
:class:`~tcpconform.errors.UsageError` (the request) or a :class:`~tcpconform.errors.SetupError`
(the environment), with the message the user is shown.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tcpconform.cases.model import TestCase
from tcpconform.cases.profiles import Profile, get_profile
from tcpconform.engine.health import RESTART_WAIT, command_restart
from tcpconform.engine.run import MAX_CASES, execute
from tcpconform.errors import UsageError
from tcpconform.gate import GateVerdict, evaluate, load_baseline
from tcpconform.report import ReportSet
from tcpconform.report.console import checksum_warning
from tcpconform.responder.faults import FAULTS
from tcpconform.results import CaseResult, RunResult
from tcpconform.session import Session, open_session, parse_listen
from tcpconform.targets.device import LISTEN_WAIT

__all__ = ["DEFAULT_JOBS", "DEVICE_JOBS", "Opened", "RunOutcome", "RunRequest", "TargetChoice", "check_faults",
           "check_report_dir", "open_target", "run", "start_reports"]

DEFAULT_JOBS = 16
"""Enough connections at once to overlap the catalogue's long protocol waits (retransmission
backoff, silences) with everything else, and few enough to stay far below any stack's limits."""
DEVICE_JOBS = 4
"""Against a device on a wire: small stacks have few connection slots (lwIP's default is 5), and a
case failing for want of one would be a false verdict."""


def check_faults(faults: Sequence[str]) -> None:
    """Every name in ``faults`` is a fault the reference responder knows."""
    for name in faults:
        if name not in FAULTS:
            known = "\n  ".join(f"{k}: {v}" for k, v in FAULTS.items())
            raise UsageError(f"unknown fault {name!r}; the reference responder knows:\n  {known}")


@dataclass(frozen=True)
class TargetChoice:
    """What a run talks to, as the user chose it (see :func:`tcpconform.session.open_session`)."""

    faults: tuple[str, ...] = ()
    lab: str | None = None
    lab_name: str = "0"
    target: str | None = None
    port: int | None = None
    iface: str | None = None
    source_ip: str | None = None
    services: tuple[str, ...] = ()
    """``--service`` as given: ``NAME`` or ``NAME=PORT`` each (none: echo on ``port``)."""
    ipv6: bool = False
    profile: str | None = None
    """Target profile by name; None: the one that fits the target."""
    agent: str | None = None
    """``--agent``: how to reach the ``target``'s agent (``cmd:``, ``udp:``, ``serial:``); None: no agent."""
    listen: str | None = None
    """``--listen [IP:]PORT``: wait there for the SYNs of a device that connects by itself; None: not."""
    listen_wait: float = LISTEN_WAIT
    """``--listen-wait``: seconds a client case waits for the device's SYN."""
    target_alt: str | None = None
    """``--target-alt``: the ``target``'s second address on the same link; None: none known."""


@dataclass(frozen=True)
class Opened:
    """A session open for a run, with the profile its cases are judged by."""

    session: Session
    profile: Profile
    faults: tuple[str, ...]

    @property
    def where(self) -> str:
        """The target's address and port, an IPv6 address in brackets."""
        tgt = self.session.target
        return f"[{tgt.ip}]:{tgt.port}" if ":" in tgt.ip else f"{tgt.ip}:{tgt.port}"

    @property
    def rst_suppression(self) -> str | None:
        """How the kernel's RSTs are kept off the tester's connections, when the session says."""
        return self.session.meta.rst_suppression

    @property
    def warnings(self) -> tuple[str, ...]:
        """What may falsify the run's verdicts (offloads on the user's interface...)."""
        return self.session.meta.warnings or ()

    def execute(self, cases: Sequence[TestCase], *, case_paths: Sequence[str], jobs: int = 1,
                base_port: int | None = None, on_case_done: Callable[[CaseResult], None] | None = None,
                health: bool = True, restart: str | None = None, restart_wait: float = RESTART_WAIT,
                keep_interrupted: bool = False) -> RunResult:
        """Run ``cases`` on this session; ``base_port`` defaults to the session's first source port.

        ``health`` checks the target answers before the first case and after any that may have
        killed it; ``restart`` (a shell command, may be empty) is run when it stops answering, and
        the target itself restarted where it can, and the run goes on once it answers again.
        """
        target = self.session.target
        result = execute(cases, self.session.link, target, self.profile, jobs=jobs,
                         on_case_done=on_case_done, session=self.session.meta,
                         base_port=self.session.base_port if base_port is None else base_port,
                         health=health and self.session.probes, restart_wait=restart_wait,
                         restart=command_restart(restart, target) if restart is not None else None,
                         keep_interrupted=keep_interrupted)
        result.meta.faults = sorted(self.faults)
        result.meta.case_paths = list(case_paths)
        return result


@contextmanager
def open_target(choice: TargetChoice) -> Iterator[Opened]:
    """The session ``choice`` names, open for the ``with`` block, and its profile."""
    check_faults(choice.faults)
    with open_session(lab=choice.lab, lab_name=choice.lab_name, target=choice.target, port=choice.port,
                      iface=choice.iface, source_ip=choice.source_ip, services=choice.services,
                      faults=choice.faults, ipv6=choice.ipv6, agent=choice.agent,
                      listen=parse_listen(choice.listen, choice.listen_wait) if choice.listen else None,
                      target_alt=choice.target_alt) as session:
        try:
            profile = get_profile(choice.profile or session.profile)
        except KeyError as err:
            raise UsageError(str(err.args[0])) from None
        yield Opened(session, profile, choice.faults)


@dataclass(frozen=True)
class RunRequest:
    cases: Sequence[TestCase]
    """The cases to run, selected already."""
    choice: TargetChoice = field(default_factory=TargetChoice)
    case_paths: Sequence[str] = ()
    """The case files or folders as the user named them (none: the bundled cases)."""
    jobs: int | None = None
    """Connections at once; None: :data:`DEFAULT_JOBS`, or :data:`DEVICE_JOBS` against a device."""
    fail_on: str | None = "must"
    baseline: Path | None = None
    report_dir: Path | None = None
    on_open: Callable[[Opened], None] | None = None
    """Called once the session is open, before the first case."""
    on_case_done: Callable[[CaseResult], None] | None = None
    warn: Callable[[str], None] | None = None
    """Told what may have falsified the run (frames the tester's socket dropped)."""
    restart: str | None = None
    """A shell command that brings the target back when it stops answering (None: the run ends then)."""
    restart_wait: float = RESTART_WAIT
    """Seconds to wait, after ``restart``, for the target to answer again."""


@dataclass(frozen=True)
class RunOutcome:
    result: RunResult
    gate: GateVerdict
    written: dict[str, Path]
    """Report format -> the file written (empty without a report directory)."""


def run(request: RunRequest) -> RunOutcome:
    """Run the request's cases against its target, judge them once, write the reports."""
    jobs = request.jobs or (DEVICE_JOBS if request.choice.target else DEFAULT_JOBS)
    deviations = load_baseline(request.baseline) if request.baseline is not None else []
    if request.report_dir is not None:
        check_report_dir(request.report_dir)
    reports: ReportSet | None = None
    try:
        with open_target(request.choice) as opened:
            if request.on_open is not None:
                request.on_open(opened)
            if len(request.cases) > MAX_CASES:
                raise UsageError(f"at most {MAX_CASES} cases in one run (one source port each)")
            reports = start_reports(request.report_dir, opened)
            on_case_done = request.on_case_done if reports is None else _and_then(reports.add, request.on_case_done)
            result = opened.execute(request.cases, case_paths=[str(p) for p in request.case_paths] or ["(bundled)"],
                                    jobs=jobs, on_case_done=on_case_done, restart=request.restart,
                                    restart_wait=request.restart_wait, keep_interrupted=True)
        gate = evaluate(result, request.fail_on, deviations)
        result.meta.fail_on = request.fail_on
        _warn(result, request.warn)
        written = _write(result, gate, reports) if reports is not None else {}
    except BaseException as err:  # what finished stays written, and says why the run stopped
        if reports is not None:
            reports.stop(err)
        raise
    if result.meta.interrupted:  # what finished is written; the interrupt goes on to its exit code
        raise KeyboardInterrupt
    return RunOutcome(result, gate, written)


def _warn(result: RunResult, warn: Callable[[str], None] | None) -> None:
    """Say what may have falsified the run's verdicts."""
    if warn is None:
        return
    dropped = result.meta.frames_dropped
    if dropped:
        warn(f"the tester's socket dropped {dropped} frame(s) it could not read in time: a case that "
             "missed a segment may have failed for it (try fewer --jobs)")
    unverified = checksum_warning(result)
    if unverified is not None:
        warn(unverified)


def check_report_dir(report_dir: Path) -> None:
    """The report directory can be written, before the run spends its time: made if missing, and a
    file created and removed in it.  A :class:`UsageError` says why not."""
    probe = report_dir / f".tcpconform-write-check-{os.getpid()}"
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UsageError(f"cannot write results to {report_dir}: {err.strerror or err}") from None


def start_reports(report_dir: Path | None, opened: Opened) -> ReportSet | None:
    """The run's report set in ``report_dir`` (None: none), the previous run's removed: from here on
    every finished verdict is on disk (:class:`~tcpconform.report.ReportSet`).  A :class:`UsageError`
    if the directory cannot be written."""
    if report_dir is None:
        return None
    session = opened.session
    reports = ReportSet(report_dir, {
        "target": session.target.name, "target_address": opened.where, "link": session.link.name,
        "profile": opened.profile.name, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        realtime=session.link.clock != "virtual")
    try:
        reports.start()
    except OSError as err:
        raise UsageError(f"cannot write results to {report_dir}: {err.strerror or err}") from None
    return reports


def _and_then(first: Callable[[CaseResult], None],
              then: Callable[[CaseResult], None] | None) -> Callable[[CaseResult], None]:
    def both(case: CaseResult) -> None:
        first(case)
        if then is not None:
            then(case)
    return both


def _write(result: RunResult, gate: GateVerdict, reports: ReportSet) -> dict[str, Path]:
    try:
        return reports.finish(result, gate)
    except OSError as err:
        raise UsageError(f"cannot write results to {reports.directory}: {err.strerror or err}") from None
