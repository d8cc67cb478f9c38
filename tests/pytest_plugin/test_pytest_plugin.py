"""The pytest plugin end to end: pytest itself (pytester, in this process) collecting and running case files.

Every inner run uses the default target, the in-process reference responder, so these tests need
no privileges and take well under a second each.  Verdicts are checked against the engine run
directly (``execute``) and against ``tcpconform run``, so the plugin can only map verdicts, never
change them.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import tcpconform.run
import tcpconform.session
from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.profiles import get_profile
from tcpconform.cli import main as cli_main
from tcpconform.engine.run import execute
from tcpconform.responder.faults import FAULTS
from tcpconform.results import CaseResult
from tcpconform.targets.reference import open_reference

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OUTCOME = {"pass": "passed", "fail": "failed", "error": "failed", "skip": "skipped"}
TRACEBACK_SIGNS = re.compile(r"Traceback|tcpconform/[\w/]+\.py|^E\s", re.MULTILINE)


@pytest.fixture
def cases(pytester: pytest.Pytester) -> Path:
    """Part of the bundled cases (seed, data, teardown: every kind of step, and quick) as ``cases/`` in
    the inner run's directory (its working directory)."""
    for area in ("seed", "data", "teardown"):
        shutil.copytree(bundled_cases().resolve() / area, pytester.path / "cases" / area)
    return Path("cases")


def direct(paths: list[Path], faults: tuple[str, ...] = ()) -> dict[str, CaseResult]:
    """The verdicts as the engine gives them, with no pytest in between."""
    ref = open_reference(faults)
    run = execute(load_cases(paths), ref.link, ref.target, get_profile("reference"))
    return {c.id: c for c in run.cases}


def outcomes(reprec: pytest.HookRecorder) -> dict[str, str]:
    """Case id -> pytest outcome of its test (the call phase, or set-up when it did not get that far)."""
    out: dict[str, str] = {}
    for rep in reprec.getreports("pytest_runtest_logreport"):
        if rep.when == "call" or (rep.when == "setup" and not rep.passed):
            out[rep.nodeid.rsplit("::", 1)[1]] = rep.outcome
    return out


# --- collection and selection --------------------------------------------------------------------


def test_one_item_per_case_all_pass_against_the_default_responder(pytester: pytest.Pytester, cases: Path) -> None:
    shutil.copytree(bundled_cases().resolve() / "matrix", pytester.path / cases / "matrix")  # a table: many items
    expected = sorted(c.id for c in load_cases([cases]))
    reprec = pytester.inline_run(str(cases))
    assert outcomes(reprec) == dict.fromkeys(expected, "passed")
    files = [r.nodeid for r in reprec.getreports("pytest_collectreport") if r.nodeid.endswith(".yaml")]
    assert len(files) == len({c.loc.file for c in load_cases([cases])})  # a matrix table is one file, many items


def test_k_selects_by_name(pytester: pytest.Pytester, cases: Path) -> None:
    reprec = pytester.inline_run(str(cases), "-k", "teardown")
    expected = {c.id for c in load_cases([cases]) if "teardown" in c.id or "/teardown/" in c.loc.file}
    assert {"seed-teardown", "teardown-active-close"} <= expected
    assert outcomes(reprec) == dict.fromkeys(expected, "passed")


@pytest.mark.parametrize("level", ["SHOULD", "MUST"])
def test_m_selects_by_level(pytester: pytest.Pytester, cases: Path, level: str) -> None:
    expected = {c.id for c in load_cases([cases]) if c.level.value == level}
    assert expected
    reprec = pytester.inline_run(str(cases), "-m", level.lower(), "--strict-markers")
    assert set(outcomes(reprec)) == expected


def test_area_and_tag_markers_are_registered(pytester: pytest.Pytester, cases: Path) -> None:
    shutil.copy(FIXTURES / "mini-handshake.yaml", pytester.path / "mini-handshake.yaml")
    reprec = pytester.inline_run(".", "--strict-markers", "-m", "area_handshake and smoke and quick_check and may")
    assert outcomes(reprec) == {"mini-handshake": "passed"}
    reprec = pytester.inline_run(".", "--strict-markers", "-m", "area_data")
    assert set(outcomes(reprec)) == {c.id for c in load_cases([cases]) if c.area == "data"}


def test_other_yaml_is_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", config="id: 3\nname: not a case\n")
    pytester.makefile(".yml", workflow="steps:\n  - run: make\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_a_case_file_named_on_the_command_line_needs_only_one_key(pytester: pytest.Pytester) -> None:
    text = (FIXTURES / "mini-handshake.yaml").read_text().replace("\nsteps:", "\nstpes:")
    pytester.makefile(".yaml", misspelt=text)
    assert pytester.runpytest().ret == pytest.ExitCode.NO_TESTS_COLLECTED  # found by walking: not a case file
    result = pytester.runpytest("misspelt.yaml")  # named: a case file with a mistake
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["misspelt.yaml:*: stpes: unknown field 'stpes'*"])


# --- failures read as the console shows them ---------------------------------------------------


def test_a_fault_fails_teardown_with_the_console_failure_block(pytester: pytest.Pytester, cases: Path) -> None:
    truth = direct([cases], ("fin-without-app",))
    step = truth["seed-teardown"].failed_step
    assert step is not None
    result = pytester.runpytest(str(cases), "--tcpconform-fault", "fin-without-app")
    failing = sum(1 for c in truth.values() if c.verdict == "fail")
    assert failing >= 2
    result.assert_outcomes(passed=len(truth) - failing, failed=failing)
    result.stdout.fnmatch_lines([
        "*_ case seed-teardown _*",
        "FAIL  seed-teardown  [[]MUST]  Teardown*",
        f"*at {step.loc}   *",
        "*RFC 9293 3.10.7.4 (MUST): *",
        "*unexpected segment: F. 101:101(0) ack 2*",
        "*field*expected*actual",
        "*flags*.*F.",
        "*expected: . 101:101(0) ack 2",
        "*observed: F. 101:101(0) ack 2*",
        "*exchange:",
    ])
    result.stdout.fnmatch_lines(["*_ case seed-full-sequence _*"])
    out = result.stdout.str()
    assert not TRACEBACK_SIGNS.search(out), out
    assert f"FAILED {cases}/seed/06-teardown.yaml::seed-teardown" in out


def test_a_malformed_case_file_is_a_collection_error(pytester: pytest.Pytester) -> None:
    shutil.copy(FIXTURES / "typo.yaml", pytester.path / "typo.yaml")
    shutil.copy(FIXTURES / "mini-handshake.yaml", pytester.path / "mini-handshake.yaml")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*ERROR collecting typo.yaml*",
        "typo.yaml:12:30: steps[[]1].send.widnow: unknown field 'widnow' (did you mean 'window'?)",
    ])
    assert not TRACEBACK_SIGNS.search(result.stdout.str())


def test_duplicate_case_ids_are_a_collection_error(pytester: pytest.Pytester) -> None:
    for name in ("a.yaml", "b.yaml"):
        shutil.copy(FIXTURES / "mini-handshake.yaml", pytester.path / name)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["b.yaml:*: id: duplicate case id 'mini-handshake': also used by a.yaml:*"])


@pytest.mark.parametrize(("verdict", "outcome", "text"), [
    ("skip", "skipped", "the target cannot play the application"),
    ("error", "failed", "ERROR  mini-handshake  [[]MAY]*"),
])
def test_skip_and_error_verdicts(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                 verdict: str, outcome: str, text: str) -> None:
    real = tcpconform.run.execute

    def forced(*args: Any, **kwargs: Any) -> Any:
        run = real(*args, **kwargs)
        run.cases[0].verdict = verdict  # type: ignore[assignment]
        run.cases[0].reason = "the target cannot play the application"
        return run

    monkeypatch.setattr(tcpconform.run, "execute", forced)
    shutil.copy(FIXTURES / "mini-handshake.yaml", pytester.path / "mini-handshake.yaml")
    result = pytester.runpytest("-rs")
    assert result.parseoutcomes()[outcome] == 1
    result.stdout.fnmatch_lines([f"*{text}*"])


# --- the same verdicts as the engine and the CLI ---------------------------------------------------


@pytest.mark.parametrize("fault", [None, *FAULTS])
def test_verdicts_equal_the_engines(pytester: pytest.Pytester, cases: Path, fault: str | None) -> None:
    faults = (fault,) if fault else ()
    truth = {cid: c.verdict for cid, c in direct([cases], faults).items()}
    reprec = pytester.inline_run(str(cases), "--tcpconform-report-dir", "out",
                                 *[a for f in faults for a in ("--tcpconform-fault", f)])
    assert outcomes(reprec) == {cid: OUTCOME[v] for cid, v in truth.items()}
    written = json.loads((pytester.path / "out" / "results.json").read_text())
    assert {c["id"]: c["verdict"] for c in written["cases"]} == truth
    assert written["run"]["faults"] == list(faults)  # (that every fault fails some case is selftest's proof)


def test_verdicts_equal_tcpconform_run(pytester: pytest.Pytester, cases: Path) -> None:
    CliRunner().invoke(cli_main, ["run", "--cases", str(cases), "--fault", "fin-without-app", "--report-dir", "cli"])
    cli = json.loads((pytester.path / "cli" / "results.json").read_text())
    pytester.inline_run(str(cases), "--tcpconform-fault", "fin-without-app", "--tcpconform-report-dir", "plugin")
    plugin = json.loads((pytester.path / "plugin" / "results.json").read_text())

    def digest(doc: dict[str, Any]) -> dict[str, Any]:
        return {c["id"]: (c["verdict"], c["failed_level"], c["reason"], [s["verdict"] for s in c["steps"]])
                for c in doc["cases"]}

    assert digest(plugin) == digest(cli)
    assert plugin["summary"] == cli["summary"]
    assert plugin["run"]["target"] == cli["run"]["target"]


# --- reports ----------------------------------------------------------------------------------------


def test_junitxml_carries_the_failure_and_the_levels(pytester: pytest.Pytester, cases: Path) -> None:
    pytester.runpytest(str(cases), "--tcpconform-fault", "fin-without-app", "--junitxml", "junit.xml")
    root = ET.parse(pytester.path / "junit.xml").getroot()
    case = next(tc for tc in root.iter("testcase") if tc.get("name") == "seed-teardown")
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith(f"{cases}/seed/06-teardown.yaml:")
    assert "RFC 9293 3.10.7.4 (MUST)" in (failure.text or "")
    assert "Traceback" not in (failure.text or "")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["verdict"] == "fail"
    assert props["level"] == "MUST"
    assert props["failed_level"] == "MUST"
    assert "RFC 9293 3.10.7.4" in (props["rfc"] or "")
    passed = next(tc for tc in root.iter("testcase") if tc.get("name") == "seed-handshake")
    assert passed.find("failure") is None


def test_report_dir_gets_the_run_reports(pytester: pytest.Pytester, cases: Path) -> None:
    result = pytester.runpytest(str(cases), "-k", "seed", "--tcpconform-report-dir", "reports")
    written = json.loads((pytester.path / "reports" / "results.json").read_text())
    assert written["schema"] == "tcpconform-results/1"
    assert [c["id"] for c in written["cases"]] == [c.id for c in load_cases([cases / "seed"])]
    assert written["summary"]["counts"]["pass"] == len(written["cases"]) > 0
    assert written["run"]["target"] == "reference responder (in-process)"
    ports = [c["connection"]["tester"].rsplit(":", 1)[1] for c in written["cases"]]
    assert len(set(ports)) == len(ports), "each case gets a fresh source port"
    result.stdout.fnmatch_lines(["*tcpconform: * case(s) run*", "target: reference responder (in-process)*",
                                 "reports: reports (*results.json*)"])


def test_html_report_gets_the_ladder_when_available(pytester: pytest.Pytester, cases: Path) -> None:
    result = pytester.runpytest(str(cases), "-k", "seed-teardown", "--tcpconform-fault", "fin-without-app",
                                "--html", "report.html")
    result.assert_outcomes(failed=1)
    page = html.unescape((pytester.path / "report.html").read_text())
    assert "seed-teardown" in page
    try:
        import tcpconform.report.ladder  # noqa: F401
    except ImportError:
        pytest.skip("the ladder diagram writer is not available in this tree")
    assert "<svg" in page


# --- the target: opened once, lazily, always closed --------------------------------------------


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every open and close of a session target, in order."""
    events: list[str] = []
    real = tcpconform.session.open_session

    @contextmanager
    def tracked(**kwargs: Any) -> Iterator[Any]:
        events.append("open")
        try:
            with real(**kwargs) as session:
                yield session
        finally:
            events.append("close")

    monkeypatch.setattr(tcpconform.run, "open_session", tracked)
    return events


def test_target_opened_once_and_closed(pytester: pytest.Pytester, cases: Path, sessions: list[str]) -> None:
    pytester.inline_run(str(cases), "--collect-only")
    assert sessions == [], "collecting opens nothing"
    pytester.inline_run(str(cases))
    assert sessions == ["open", "close"]


def test_target_closed_on_keyboard_interrupt(pytester: pytest.Pytester, cases: Path, sessions: list[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    real = tcpconform.run.execute
    calls = [0]

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tcpconform.run, "execute", interrupted)
    reprec = pytester.inline_run(str(cases), no_reraise_ctrlc=True)
    assert reprec.ret == pytest.ExitCode.INTERRUPTED
    assert sessions == ["open", "close"]


# --- usage errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--tcpconform-fault", "no-such-fault"], "ERROR: unknown fault 'no-such-fault' (--tcpconform-fault)*"),
    (["--tcpconform-lab", "linux", "--tcpconform-target", "198.18.0.2"],
     "ERROR: --tcpconform-lab and --tcpconform-target exclude each other"),
    (["--tcpconform-target", "198.18.0.2"], "ERROR: --tcpconform-target needs --tcpconform-port*"),
    (["--tcpconform-profile", "fancy"], "ERROR: --tcpconform-profile: unknown profile 'fancy'*"),
])
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_a_target_that_cannot_be_set_up_stops_the_session(pytester: pytest.Pytester, cases: Path) -> None:
    result = pytester.runpytest(str(cases), "--tcpconform-target", "not-an-ip", "--tcpconform-port", "7")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*tcpconform: cannot set up the target: --tcpconform-target 'not-an-ip' is not*"])
    assert "Traceback" not in result.stdout.str()


def test_restart_brings_a_wedged_target_back_for_the_items_after(pytester: pytest.Pytester) -> None:
    """The case with an illegal option length wedges a responder with ``wedge-on-bad-option``: it
    fails, named; without ``--tcpconform-restart`` the items after it are not run, with it they pass."""
    shutil.copytree(bundled_cases().resolve() / "options", pytester.path / "cases" / "options")
    shutil.copytree(bundled_cases().resolve() / "seed", pytester.path / "cases" / "seed")
    args = ["cases", "--tcpconform-fault", "wedge-on-bad-option", "-p", "no:randomly"]
    stuck = outcomes(pytester.inline_run(*args))
    assert stuck["options-illegal-length"] == "failed"
    after = {cid: out for cid, out in stuck.items() if cid.startswith("seed-")}
    back = outcomes(pytester.inline_run(*args, "--tcpconform-restart", ""))
    assert back["options-illegal-length"] == "failed"
    assert {cid: back[cid] for cid in after} == dict.fromkeys(after, "passed")
    assert set(after.values()) != {"passed"}, after  # without the restart they could not pass
