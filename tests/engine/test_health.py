"""Target health: a target that stops answering is noticed, named once, and not blamed case by case."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, cast

import pytest

from tcpconform.cases.load import load_case, load_cases
from tcpconform.cases.model import TestCase
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.health import DIED_AFTER, NOT_ANSWERING, SUSPECTED, TargetDown
from tcpconform.engine.run import execute
from tcpconform.report.console import summary
from tcpconform.targets.base import Target
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


class _NoRestart:
    """The reference target with no way to restart it, as a device is without ``--restart``."""

    def __init__(self, target: object) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        if name == "restart":
            raise AttributeError(name)
        return getattr(self._target, name)


def _run(cases: list[TestCase], jobs: int = 1, restart: bool = False,  # type: ignore[no-untyped-def]
         restartable: bool = True):
    ref = open_reference(["wedge-on-bad-option"])
    target = ref.target if restartable else cast(Target, _NoRestart(ref.target))
    return execute(cases, ref.link, target, get_profile("reference"), jobs=jobs,
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


@pytest.mark.parametrize("jobs", [1, 8])
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


def test_among_8_jobs_with_no_restart_no_other_case_fails(tmp_path: Path) -> None:
    """Several cases ran since the target's last answer: none is guessed; each suspect gets an
    error naming them all (the run without this told them apart by blaming the first to end in
    silence: handshake-syn-with-data, a false fail), and nothing else fails."""
    others = load_cases([CASES / "handshake", CASES / "teardown", CASES / "window"])
    result = _run([_wedging_case(tmp_path), *others], jobs=8, restartable=False)
    assert not [(c.id, c.reason) for c in result.cases if c.verdict == "fail"]
    suspects = [c for c in result.cases if c.verdict == "error"]
    assert len(suspects) > 1 and "wedge-among-others" in {c.id for c in suspects}
    head = SUSPECTED.split("{}")[0]
    for c in suspects:
        assert c.reason.startswith(head) and all(other.id in c.reason for other in suspects), c.reason
    assert result.meta.target_restarts is None


@pytest.mark.parametrize("jobs", [1, 8])
def test_a_death_among_other_cases_with_restart_runs_them_all(tmp_path: Path, jobs: int) -> None:
    """With a restart, the suspects run again alone: exactly the wedging case is blamed."""
    others = load_cases([CASES / "handshake", CASES / "teardown", CASES / "window"])
    result = _run([_wedging_case(tmp_path), *others], jobs=jobs, restart=True)
    blamed = [c for c in result.cases if c.verdict in ("fail", "error")]
    assert [(c.id, c.reason.startswith(DIED_AFTER)) for c in blamed] == [("wedge-among-others", True)]
    assert {c.verdict for c in result.cases if c.id != "wedge-among-others"} == {"pass"}
    bad = [(c.id, c.verdict, c.reason) for c in result.cases
           if c.id != "wedge-among-others" and c.verdict in ("fail", "error")]
    assert bad == []
    assert not [c for c in result.cases if c.reason.startswith(NOT_ANSWERING)]
    assert result.meta.target_restarts == (1 if jobs == 1 else 2)  # with jobs, one more to tell suspects apart


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
