"""Collection and items: which files are case files, one item per case, a failure shown as the
console shows it.

A verdict is the engine's; an item only maps it onto pytest's outcomes (``fail`` raises
:class:`CaseFailure`, ``error`` raises :class:`CaseCouldNotRun`), and its failure representation is
the console's failure block, never a Python traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tcpconform.pytest_plugin.runner import runner_of

if TYPE_CHECKING:  # the engine is imported when a case runs, not when pytest starts
    from tcpconform.cases.model import TestCase
    from tcpconform.results import CaseResult

__all__ = ["CaseCouldNotRun", "CaseFailure", "CaseFailureRepr", "CaseFile", "CaseItem", "is_case_file"]

CASE_SUFFIXES = (".yaml", ".yml")
SNIFF_BYTES = 64 * 1024
"""How much of a YAML file is read to decide whether it is a case file."""
_ID_LINE = re.compile(rb"^id:", re.MULTILINE)
_STEPS_LINE = re.compile(rb"^steps:", re.MULTILINE)
_MATRIX_LINE = re.compile(rb"^matrix:", re.MULTILINE)

LEVEL_MARKERS = {"MUST": "must", "SHOULD": "should", "MAY": "may"}


def is_case_file(path: Path, named: bool) -> bool:
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
        runner = runner_of(self.config)
        for case in cases:
            other = runner.ids.setdefault(case.id, str(case.loc))
            if other != str(case.loc):
                raise self.CollectError(f"{case.loc}: id: duplicate case id {case.id!r}: also used by {other}")
            item = CaseItem.from_parent(self, name=case.id, case=case)
            for name, doc in markers_of(case).items():
                if name not in runner.markers:  # registered before use, for --strict-markers
                    runner.markers.add(name)
                    self.config.addinivalue_line("markers", f"{name}: {doc}")
                item.add_marker(name)
            yield item


def markers_of(case: TestCase) -> dict[str, str]:
    """Marker name -> its description (for registration); the fixed markers are registered already."""
    out = {"tcpconform": "", LEVEL_MARKERS[case.level.value]: ""}
    if case.long:
        out["long"] = ""
    area = _marker_name(case.area)
    if area:
        out.setdefault(f"area_{area}", f"tcpconform cases of area {case.area!r}")
    for tag in case.tags:
        if name := _marker_name(tag):
            out.setdefault(name, f"tcpconform cases tagged {tag!r}")
    return out


class CaseFailure(Exception):
    """The target did not conform (verdict ``fail``); carries the case's result for ``repr_failure``."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.reason)
        self.result = result


class CaseCouldNotRun(Exception):
    """The case or the tester could not run (verdict ``error``, not a verdict on the target); carries
    the case's result.  Not :class:`tcpconform.engine.CaseError`, which the engine raises inside a
    case: this is how the item reports that case's ``error`` verdict to pytest."""

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
        runner_of(self.config).open()  # the first case opens the target, so its set-up time is not the case's

    def runtest(self) -> None:
        result = runner_of(self.config).run(self.case)
        self.tcpconform_result = result
        self.user_properties.extend(properties_of(result))
        if result.verdict == "skip":
            pytest.skip(result.reason)
        if result.verdict == "fail":
            raise CaseFailure(result)
        if result.verdict == "error":
            raise CaseCouldNotRun(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CaseFailure | CaseCouldNotRun):
            return CaseFailureRepr(excinfo.value.result)
        return super().repr_failure(excinfo, style=style)  # a fault of the tester itself: its traceback helps

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.loc.line - 1, f"case {self.case.id}"


def properties_of(result: CaseResult) -> list[tuple[str, str]]:
    """What JUnit XML carries of a case beyond pass/fail: the verdict's level and RFC references."""
    refs = dict.fromkeys(f"{r.ref} {r.rid}" if r.rid else r.ref for r in result.requirements)
    props = [("verdict", result.verdict), ("level", result.level), ("rfc", ", ".join(refs))]
    if result.failed_level:
        props.append(("failed_level", result.failed_level))
    if result.reason:
        props.append(("reason", result.reason))
    return props


