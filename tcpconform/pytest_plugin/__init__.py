"""pytest plugin: tcpconform case files collected and run as pytest items.

``pytest testcases/`` runs the cases as pytest tests, so they compose with what pytest already
offers: selection (``-k teardown``, ``-m must``, ``-m "area_seed and not should"``), ``--lf``,
``-x``, ``--junitxml``, pytest-html.  A verdict is the engine's, exactly as ``tcpconform run``
gives it; the plugin only maps it onto pytest's outcomes:

========  =====================================================================================
pass      the test passes
skip      ``pytest.skip`` with the case's reason (the target lacks a capability the case needs)
fail      the test fails; the failure shows the console's failure block (step ``file:line``, RFC
          clause and level, every mismatching field, expected and observed segments, the
          exchange), never a Python traceback
error     the test fails the same way, headed ``ERROR`` (the case or the tester could not run it)
========  =====================================================================================

**Which files are case files.**  The plugin is installed for every pytest run in the environment,
so it must not read or claim other projects' YAML.  A ``.yaml``/``.yml`` file is collected when
its first 64 KiB hold a top-level ``id:`` line *and* a top-level ``steps:`` line (both at column
0).  A file named on the command line needs only one of the two, so that a case file with a
misspelt ``id`` or ``steps`` key is reported rather than silently ignored.  A case file that fails
to load is a *collection error* listing every mistake as ``file:line:column: field: why``.

**Markers.**  Every case carries ``tcpconform``, its level (``must``, ``should``, ``may``), its area
as ``area_<name>`` and each of its tags (names reduced to letters, digits and ``_``).  They are
registered, so ``--strict-markers`` accepts them; area and tag markers are registered as the
files are collected, so ``pytest --markers`` lists only the fixed ones.

**The target** is chosen by the ``--tcpconform-*`` options, the CLI's ``run`` options under longer
names (``pytest --help``, group "tcpconform"); by default the in-process reference responder, which
needs no privileges.  It is opened once, at the first case that runs (collecting alone opens
nothing), and closed when the session ends, however it ends (Ctrl-C included).  A target that
cannot be set up stops the session with the reason and pytest's usage-error exit status (4).

**Reports.**  ``--tcpconform-report-dir DIR`` writes the same reports as ``tcpconform run``
(``results.json``, and ``junit.xml``, ``report.html`` and pcaps where the report writers are
available) for the cases this session ran.  ``--junitxml`` carries each case's level, RFC
references and failed level as properties; with pytest-html (``--html``), each case gets its
exchange as a ladder diagram.  Under pytest-xdist each worker runs its own target and the
report directory is not written (use ``--junitxml``).

Disable the plugin with ``-p no:tcpconform``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tcpconform.session import PORT_SPAN

if TYPE_CHECKING:  # the engine is imported when a case runs, not when pytest starts
    from tcpconform.cases.model import TestCase
    from tcpconform.cases.profiles import Profile
    from tcpconform.results import CaseResult, RunResult
    from tcpconform.session import Session

__all__ = ["CaseErrorExc", "CaseFailure", "CaseFile", "CaseItem"]

CASE_SUFFIXES = (".yaml", ".yml")
SNIFF_BYTES = 64 * 1024
"""How much of a YAML file is read to decide whether it is a case file."""
_ID_LINE = re.compile(rb"^id:", re.MULTILINE)
_STEPS_LINE = re.compile(rb"^steps:", re.MULTILINE)
_MATRIX_LINE = re.compile(rb"^matrix:", re.MULTILINE)


LEVEL_MARKERS = {"MUST": "must", "SHOULD": "should", "MAY": "may"}
FIXED_MARKERS = {
    "tcpconform": "a tcpconform test case, collected from a case file",
    "must": "tcpconform cases of level MUST (RFC 2119): an absolute requirement",
    "should": "tcpconform cases of level SHOULD (RFC 2119): a recommendation",
    "may": "tcpconform cases of level MAY (RFC 2119): an option",
}


# --- options ----------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tcpconform", "tcpconform: run TCP conformance case files (*.yaml)")
    group.addoption("--tcpconform-lab", choices=["linux", "reference"], default=None,
                    help="Run in the network lab against Linux's TCP or the responder on the wire (root).")
    group.addoption("--tcpconform-lab-name", default="0", metavar="NAME", help="Which lab (default: 0).")
    group.addoption("--tcpconform-target", default=None, metavar="IP", help="A device on a wire: its IPv4 address (root).")
    group.addoption("--tcpconform-port", type=int, default=None, metavar="PORT",
                    help="The target's TCP port (default 8000 for the bundled responder and the lab).")
    group.addoption("--tcpconform-iface", default=None, metavar="IF", help="Interface towards the target.")
    group.addoption("--tcpconform-source-ip", default=None, metavar="IP", help="Tester address (default: the interface's).")
    group.addoption("--tcpconform-service", default="echo", metavar="NAME",
                    help="What a --tcpconform-target's application does without an agent (default: echo).")
    group.addoption("--tcpconform-fault", action="append", default=[], metavar="NAME",
                    help="Switch on a reference-responder fault (repeatable).")
    group.addoption("--tcpconform-profile", default=None, metavar="NAME",
                    help="Target profile: reference or generic (default: fits the target).")
    group.addoption("--tcpconform-report-dir", default=None, metavar="DIR",
                    help="Write results.json (and junit.xml, report.html, pcaps) for the cases run.")


@dataclass(frozen=True)
class _Options:
    lab: str | None
    lab_name: str
    target: str | None
    port: int | None
    iface: str | None
    source_ip: str | None
    service: str
    faults: tuple[str, ...]
    profile: str | None
    report_dir: Path | None

    @classmethod
    def from_config(cls, config: pytest.Config) -> _Options:
        get = config.getoption
        report_dir = get("tcpconform_report_dir")
        return cls(get("tcpconform_lab"), get("tcpconform_lab_name"), get("tcpconform_target"),
                   get("tcpconform_port"), get("tcpconform_iface"), get("tcpconform_source_ip"),
                   get("tcpconform_service"), tuple(get("tcpconform_fault") or ()), get("tcpconform_profile"),
                   Path(report_dir) if report_dir else None)

    @property
    def customised(self) -> bool:
        """Anything but the default target: worth checking before collection, not at the first case."""
        return bool(self.lab or self.target or self.port or self.iface or self.source_ip or self.faults
                    or self.profile or self.service != "echo")

    def session_kwargs(self) -> dict[str, Any]:
        return {"lab": self.lab, "lab_name": self.lab_name, "target": self.target, "port": self.port,
                "iface": self.iface, "source_ip": self.source_ip, "service": self.service, "faults": self.faults}


_CLI_FLAG = re.compile(r"--(lab|target|port|iface|source-ip|service|fault|profile)(?![\w-])")


def _our_flags(message: str) -> str:
    """The session speaks of the CLI's ``--lab``; under pytest the user typed ``--tcpconform-lab``."""
    return _CLI_FLAG.sub(r"--tcpconform-\1", message)


def _check_options(options: _Options) -> None:
    """Mistakes in the options are usage errors before collection, not a failure of the first case."""
    from tcpconform.cases.profiles import get_profile
    from tcpconform.responder.faults import FAULTS
    from tcpconform.session import SessionError, open_session

    for name in options.faults:
        if name not in FAULTS:
            raise pytest.UsageError(f"unknown fault {name!r} (--tcpconform-fault); the reference responder knows: "
                                    + ", ".join(FAULTS))
    if options.profile is not None:
        try:
            get_profile(options.profile)
        except KeyError as err:
            raise pytest.UsageError(f"--tcpconform-profile: {err.args[0]}") from None
    try:  # checks how the options combine; nothing is opened until the returned manager is entered
        open_session(**options.session_kwargs())
    except SessionError as err:
        raise pytest.UsageError(_our_flags(str(err))) from None


# --- the session's target -----------------------------------------------------------------------


_RUNNER = pytest.StashKey["_Runner"]()


class _Runner:
    """One per pytest session: the target (opened at the first case, closed at the end) and the results.

    Kept in the config's stash rather than in module globals, so that several sessions in one
    process (pytester, IDEs) never share a target.
    """

    def __init__(self, config: pytest.Config, options: _Options) -> None:
        self.config = config
        self.options = options
        self.markers: set[str] = set(FIXED_MARKERS)
        self.ids: dict[str, str] = {}
        """Case id -> where it is defined: ids name cases in reports, so they must be unique."""
        self.session: Session | None = None
        self.profile: Profile | None = None
        self._stack = ExitStack()
        self.results: list[CaseResult] = []
        self.metas: list[dict[str, Any]] = []
        self.wall0 = 0.0
        self.wall = 0.0
        self.notes: list[str] = []
        """Lines for the terminal summary: what was tested, where reports went, what went wrong."""

    def open(self) -> Session:
        if self.session is not None:
            return self.session
        from tcpconform.cases.profiles import get_profile
        from tcpconform.cli import _setup_errors
        from tcpconform.session import open_session

        try:
            session = self._stack.enter_context(open_session(**self.options.session_kwargs()))
            self.profile = get_profile(self.options.profile or session.profile)
        except _setup_errors() as err:
            self.close()
            pytest.exit(f"tcpconform: cannot set up the target: {_our_flags(str(err))}",
                        returncode=pytest.ExitCode.USAGE_ERROR)
        self.session = session
        self.wall0 = time.perf_counter()
        tgt = session.target
        self.notes.append(f"target: {tgt.name} at {tgt.ip}:{tgt.port}, profile {self.profile.name}, "
                          f"link {session.link.name}")
        if "rst_suppression" in session.meta:
            self.notes.append(f"kernel RSTs: {session.meta['rst_suppression']}")
        self.notes.extend(f"warning: {w}" for w in session.meta.get("warnings", []))
        return session

    def run(self, case: TestCase) -> CaseResult:
        from tcpconform.engine.run import execute

        session = self.open()
        assert self.profile is not None
        meta = dict(session.meta, faults=sorted(self.options.faults), case_paths=list(self.config.args))
        port = session.base_port + len(self.results) % PORT_SPAN
        run = execute([case], session.link, session.target, self.profile, base_port=port, meta=meta)
        self.metas.append(run.meta)
        self.results.extend(run.cases)
        return run.cases[0]

    def close(self) -> None:
        """Undo whatever the session set up (lab, agent, firewall rule); safe to call more than once."""
        if self.session is not None and not self.wall:
            self.wall = time.perf_counter() - self.wall0
        try:
            self._stack.close()
        except Exception as err:  # reported, since the session's own verdicts stand
            self.notes.append(f"error while closing the target: {err}")

    def run_result(self) -> RunResult:
        """The session's cases as one run, as ``tcpconform run`` would have recorded them."""
        from tcpconform.results import RunResult

        meta = dict(self.metas[0]) if self.metas else {}
        meta.update(duration=round(self.wall, 6), link_time=round(sum(c.duration for c in self.results), 6),
                    strays=[s for m in self.metas for s in m.get("strays", [])])
        return RunResult(meta, list(self.results))

    def write_reports(self, directory: Path) -> None:
        result = self.run_result()
        try:
            try:
                from tcpconform.report import write_reports

                written = write_reports(result, directory)
            except ImportError as err:  # the report writers are optional; results.json always works
                written = {"json": result.write_json(directory)}
                self.notes.append(f"only results.json written: the report writers are not available ({err})")
        except OSError as err:
            self.notes.append(f"cannot write reports to {directory}: {err.strerror or err}")
            return
        names = ", ".join(sorted(p.name for p in written.values()))
        self.notes.append(f"reports: {directory} ({names})")


def _runner(config: pytest.Config) -> _Runner:
    return config.stash[_RUNNER]


def pytest_configure(config: pytest.Config) -> None:
    for name, doc in FIXED_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    options = _Options.from_config(config)
    if options.customised:
        _check_options(options)
    runner = _Runner(config, options)
    config.stash[_RUNNER] = runner
    config.add_cleanup(runner.close)  # also runs when the session dies before sessionfinish


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    runner = session.config.stash.get(_RUNNER, None)
    if runner is None:
        return
    runner.close()
    directory = runner.options.report_dir
    if directory is not None and runner.results and not hasattr(session.config, "workerinput"):
        runner.write_reports(directory)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    runner = config.stash.get(_RUNNER, None)
    if runner is None or not runner.notes:
        return
    terminalreporter.write_sep("-", f"tcpconform: {len(runner.results)} case(s) run")
    for line in runner.notes:
        terminalreporter.write_line(line)


# --- collection ----------------------------------------------------------------------------------


def _is_case_file(path: Path, named: bool) -> bool:
    """The cheap test of the module docstring: look for top-level ``id:`` and ``steps:`` lines."""
    try:
        with path.open("rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError:
        return False
    if _MATRIX_LINE.search(head):  # a state x event table: one item per cell
        return True
    has_id, has_steps = bool(_ID_LINE.search(head)), bool(_STEPS_LINE.search(head))
    return (has_id or has_steps) if named else (has_id and has_steps)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> CaseFile | None:
    if file_path.suffix not in CASE_SUFFIXES:
        return None
    if not _is_case_file(file_path, parent.session.isinitpath(file_path)):
        return None
    return CaseFile.from_parent(parent, path=file_path)


def _shown(path: Path) -> str:
    """Paths in verdicts are relative to where pytest runs, as ``tcpconform run`` shows them."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _marker_name(text: str) -> str:
    """A name ``-m`` accepts: letters, digits and ``_``; never a leading ``_`` (pytest refuses those)."""
    return re.sub(r"\W+", "_", text.strip()).strip("_").lower()


class CaseFile(pytest.File):
    """One case file: loaded with the project's loader, so its mistakes read as ``tcpconform`` reports them."""

    def collect(self) -> Iterator[CaseItem]:
        from tcpconform.cases.document import CaseFileError
        from tcpconform.cases.load import load_file

        try:
            cases = load_file(_shown(self.path))
        except CaseFileError as err:  # CollectError: pytest shows the message alone, no traceback
            raise self.CollectError(str(err)) from None
        runner = _runner(self.config)
        for case in cases:
            other = runner.ids.setdefault(case.id, str(case.loc))
            if other != str(case.loc):
                raise self.CollectError(f"{case.loc}: id: duplicate case id {case.id!r}: also used by {other}")
            item = CaseItem.from_parent(self, name=case.id, case=case)
            for name, doc in _markers(case).items():
                if name not in runner.markers:  # registered before use, for --strict-markers
                    runner.markers.add(name)
                    self.config.addinivalue_line("markers", f"{name}: {doc}")
                item.add_marker(name)
            yield item


def _markers(case: TestCase) -> dict[str, str]:
    """Marker name -> its description (for registration); the fixed markers are registered already."""
    out = {"tcpconform": "", LEVEL_MARKERS[case.level.value]: ""}
    area = _marker_name(case.area)
    if area:
        out.setdefault(f"area_{area}", f"tcpconform cases of area {case.area!r}")
    for tag in case.tags:
        if name := _marker_name(tag):
            out.setdefault(name, f"tcpconform cases tagged {tag!r}")
    return out


# --- running ---------------------------------------------------------------------------------------


class CaseFailure(Exception):
    """The target did not conform (verdict ``fail``); carries the case's result for ``repr_failure``."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.reason)
        self.result = result


class CaseErrorExc(Exception):
    """The case or the tester could not run (verdict ``error``); carries the case's result."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.reason)
        self.result = result


@dataclass(frozen=True)
class _Crash:
    """What pytest's one-line summaries (``-ra``, ``--tb=line``, JUnit's message) show of a failure."""

    path: str
    lineno: int
    message: str

    def __str__(self) -> str:
        return self.message


class CaseFailureRepr:
    """A failed case as pytest prints it: the console's failure block in place of a traceback."""

    def __init__(self, result: CaseResult) -> None:
        from tcpconform.report.console import failure_detail

        level = result.failed_level or result.level
        head = f"{result.verdict.upper()}  {result.id}  [{level}]  {result.title}"
        if result.verdict == "error":
            head += "\n      (the case could not run: this is not a verdict on the target)"
        self.lines = [head, *failure_detail(result)]
        step = result.failed_step
        path, _, line = (step.loc if step else f"{result.file}:{result.line}").rpartition(":")
        self.reprcrash = _Crash(path, int(line) if line.isdigit() else result.line, result.reason or head)

    def toterminal(self, tw: Any) -> None:
        for line in self.lines:
            tw.line(line)

    def __str__(self) -> str:
        return "\n".join(self.lines)


class CaseItem(pytest.Item):
    """One test case; the test is its verdict against the session's target."""

    def __init__(self, *, case: TestCase, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.tcpconform_result: CaseResult | None = None

    def setup(self) -> None:
        _runner(self.config).open()  # the first case opens the target, so its set-up time is not the case's

    def runtest(self) -> None:
        result = _runner(self.config).run(self.case)
        self.tcpconform_result = result
        self.user_properties.extend(_properties(result))
        if result.verdict == "skip":
            pytest.skip(result.reason)
        if result.verdict == "fail":
            raise CaseFailure(result)
        if result.verdict == "error":
            raise CaseErrorExc(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CaseFailure | CaseErrorExc):
            return CaseFailureRepr(excinfo.value.result)
        return super().repr_failure(excinfo, style=style)  # a fault of the tester itself: its traceback helps

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.loc.line - 1, f"case {self.case.id}"


def _properties(result: CaseResult) -> list[tuple[str, str]]:
    """What JUnit XML carries of a case beyond pass/fail: the verdict's level and RFC references."""
    refs = dict.fromkeys(f"{r['ref']} {r['rid']}" if r.get("rid") else r["ref"] for r in result.requirements)
    props = [("verdict", result.verdict), ("level", result.level), ("rfc", ", ".join(refs))]
    if result.failed_level:
        props.append(("failed_level", result.failed_level))
    if result.reason:
        props.append(("reason", result.reason))
    return props


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """With pytest-html writing a report, each case's exchange goes into it as a ladder diagram."""
    outcome = yield
    if call.when != "call" or not isinstance(item, CaseItem) or item.tcpconform_result is None:
        return
    html = item.config.pluginmanager.getplugin("html")
    if html is None or not item.config.getoption("htmlpath", None):
        return
    try:
        from tcpconform.report.ladder import ladder_svg
    except ImportError:  # the diagram writer is optional; the HTML report stands without it
        return
    report = outcome.get_result()
    try:
        svg = ladder_svg(item.tcpconform_result)
    except Exception as err:  # a diagram that cannot be drawn must not turn into a failed test
        item.warn(pytest.PytestWarning(f"tcpconform: no ladder diagram for {item.case.id}: {err}"))
        return
    extras = getattr(report, "extras", [])
    extras.append(html.extras.html(svg))
    report.extras = extras
