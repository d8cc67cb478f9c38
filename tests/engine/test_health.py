"""Target health: a target that stops answering is noticed, named once, and not blamed case by case."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tcpconform.cases.load import load_case, load_cases
from tcpconform.cases.model import TestCase
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.health import DIED_AFTER, NOT_ANSWERING, TargetDown
from tcpconform.engine.run import execute
from tcpconform.report.console import summary
from tcpconform.targets.reference import open_reference

CASES = Path(__file__).resolve().parents[2] / "testcases"
WEDGE = CASES / "options" / "illegal-length.yaml"
HEADER = sorted((CASES / "header").glob("*.yaml"))


def _wedging_case(tmp_path: Path) -> TestCase:
    """The illegal-length exchange without ``may_crash``: it runs among the others, and its silence
    is what makes the run check the target."""
    text = WEDGE.read_text().replace("may_crash: true\n", "").replace("id: options-illegal-length",
                                                                        "id: wedge-among-others")
    path = tmp_path / "w.yaml"
    path.write_text(text)
    return load_case(path)


def _run(cases: list[TestCase], jobs: int = 1, restart: bool = False):  # type: ignore[no-untyped-def]
    ref = open_reference(["wedge-on-bad-option"])
    return execute(cases, ref.link, ref.target, get_profile("reference"), jobs=jobs,
                   restart=ref.target.restart if restart else None)


def test_may_crash_cases_run_last_and_a_wedge_is_named_once() -> None:
    wedge = load_case(WEDGE)
    assert wedge.may_crash
    cases = [wedge, *load_cases(HEADER)]
    result = _run(cases)
    by_id = {c.id: c for c in result.cases}
    died = by_id["options-illegal-length"]
    assert died.verdict == "fail" and died.reason.startswith(DIED_AFTER)
    rest = [c for c in result.cases if c is not died]
    crashing = [c for c in rest if c.verdict == "skip"]
    assert crashing and all(c.reason.startswith(NOT_ANSWERING) for c in crashing)
    assert not [c for c in rest if c.verdict in ("fail", "error")]
    assert f"not run: {NOT_ANSWERING}" in summary(result)


def test_with_restart_the_rest_runs_and_passes() -> None:
    cases = [load_case(WEDGE), *load_cases(HEADER)]
    result = _run(cases, restart=True)
    verdicts = {c.id: c.verdict for c in result.cases}
    assert verdicts.pop("options-illegal-length") == "fail"
    assert set(verdicts.values()) == {"pass"}, verdicts
    assert result.meta.target_restarts == 1


@pytest.mark.parametrize("jobs", [1])  # under --jobs the first case to end in silence takes the blame
def test_a_death_among_other_cases_blames_none_of_them(tmp_path: Path, jobs: int) -> None:
    others = load_cases([CASES / "handshake", CASES / "teardown", CASES / "window"])
    cases = [_wedging_case(tmp_path), *others]
    result = _run(cases, jobs=jobs)
    failed = [c for c in result.cases if c.verdict in ("fail", "error")]
    assert [c.id for c in failed] == ["wedge-among-others"], [(c.id, c.reason) for c in failed]
    assert failed[0].reason.startswith(DIED_AFTER)
    not_run = [c for c in result.cases if c.verdict == "skip" and c.reason.startswith(NOT_ANSWERING)]
    assert not_run  # the run stopped: it did not time out case after case
    assert result.meta.link_time < 60


def test_a_death_among_other_cases_with_restart_runs_them_all(tmp_path: Path) -> None:
    others = load_cases([CASES / "handshake", CASES / "teardown", CASES / "window"])
    result = _run([_wedging_case(tmp_path), *others], jobs=1, restart=True)
    bad = [(c.id, c.verdict, c.reason) for c in result.cases
           if c.id != "wedge-among-others" and c.verdict in ("fail", "error")]
    assert bad == []
    assert not [c for c in result.cases if c.reason.startswith(NOT_ANSWERING)]
    assert result.meta.target_restarts == 1


def test_a_target_that_answers_nothing_stops_the_run_before_the_first_case(tmp_path: Path) -> None:
    ref = open_reference(["wedge-on-bad-option"])
    ref.target.responder._wedged = True  # the state a wedged stack starts a run in
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent("""\
        id: c
        title: t
        requirements: [{id: r, ref: RFC 9293 3.5, level: MUST}]
        no_fault: unit test
        steps:
          - send: "S 0:0(0) win 5000"
          - expect: "S. 0:0(0) ack 1"
        """))
    with pytest.raises(TargetDown, match="does not answer"):
        execute([load_case(path)], ref.link, ref.target, get_profile("reference"))


def test_a_healthy_run_is_unchanged() -> None:
    result = execute(load_cases([CASES]), (ref := open_reference()).link, ref.target, get_profile("reference"), jobs=16)
    assert not [c for c in result.cases if c.verdict in ("fail", "error")]
    assert not [c for c in result.cases if c.reason.startswith(NOT_ANSWERING)]
