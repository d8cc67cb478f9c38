"""The engine's seams: one row per step kind, typed waits, verdicts by blame, and a step that does
not pass recorded as its blame says."""

from __future__ import annotations

import ast
import re
import textwrap
import typing
from pathlib import Path

import pytest
from support.fakepeer import FakePeer, NoControl

from tcpconform.cases.load import load_case
from tcpconform.cases.model import AnyStep, TestCase
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.outcome import CaseError, StepFailed, StepSkipped, judge
from tcpconform.engine.run import execute
from tcpconform.engine.scheduler import declared_wait
from tcpconform.engine.steps import STEPS
from tcpconform.engine.waits import Recv, Sleep
from tcpconform.errors import SetupError
from tcpconform.links.inprocess import InProcessLink
from tcpconform.links.packet_socket import LinkSetupError
from tcpconform.targets.base import AppFailed, Capability, TargetError
from tcpconform.targets.reference import open_reference

ENGINE = Path(__file__).resolve().parents[2] / "tcpconform" / "engine"


def _case(tmp_path: Path, steps: str, head: str = "") -> TestCase:
    path = tmp_path / "c.yaml"
    path.write_text("id: c\ntitle: t\nrequirements: [{id: r, ref: RFC 9293 3.5, level: MUST}]\nno_fault: unit test\n"
                    + head + "steps:\n" + textwrap.indent(textwrap.dedent(steps), "  "))
    return load_case(path)


def test_every_step_type_of_the_model_is_one_row() -> None:
    assert set(STEPS) == set(typing.get_args(AnyStep))
    assert len({kind.name for kind in STEPS.values()}) == len(STEPS)


def test_nothing_else_in_the_engine_switches_on_step_types() -> None:
    step_types = {t.__name__ for t in typing.get_args(AnyStep)}
    for path in ENGINE.glob("*.py"):
        if path.name == "steps.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance":
                named = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                assert not named & step_types, f"{path.name}:{node.lineno} switches on a step type"


def test_callers_use_only_what_the_link_and_target_protocols_declare() -> None:
    package = ENGINE.parent
    pattern = re.compile(r"getattr\((self\.|session\.|run\.|env\.)?(link|target)\b")
    found = [f"{path.relative_to(package)}:{n}" for path in package.rglob("*.py")
             for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert found == []


def test_declared_wait_sums_what_the_rows_declare(tmp_path: Path) -> None:
    case = _case(tmp_path, """\
        - send: "S 0:0(0) win 5000"
        - expect: "S. 0:0(0) ack 1"
          within: 2s
        - silence: 300ms
        - wait: 1s
        - expect: ". 1:1(0) ack 1"
    """)
    assert declared_wait(case) == pytest.approx(3.3)


def test_waits_are_values_the_scheduler_matches_on() -> None:
    assert Recv(1.5) == Recv(1.5) and Recv(1.5) != Sleep(1.5)
    with pytest.raises(AttributeError):
        Recv(1.0).deadline = 2.0  # type: ignore[misc]
    match Sleep(2.0):
        case Recv(deadline) | Sleep(deadline):
            assert deadline == 2.0


@pytest.mark.parametrize("err, verdict", [
    (StepFailed("x"), "fail"),
    (AppFailed("the application's read failed: reset"), "fail"),
    (StepSkipped("no agent"), "skip"),
    (CaseError("no ack to send"), "error"),
    (TargetError("the agent died"), "error"),
    (LinkSetupError("192.0.2.9 does not answer ARP"), "error"),
    (ValueError("a bug"), "internal"),
])
def test_blame_decides_the_verdict(err: Exception, verdict: str) -> None:
    assert judge(err) == verdict


def test_the_target_s_refusal_is_not_a_control_failure() -> None:
    assert not issubclass(AppFailed, TargetError) and not issubclass(TargetError, AppFailed)
    assert issubclass(TargetError, SetupError)


def test_an_application_refusal_fails_the_step(tmp_path: Path) -> None:
    case = _case(tmp_path, """\
        - app: listen
        - app: read 1
    """)
    ref = open_reference()
    res = execute([case], ref.link, ref.target, get_profile("reference")).cases[0]
    assert res.verdict == "fail" and "the application's read failed" in res.reason
    assert [s.verdict for s in res.steps] == ["pass", "fail"]


def test_a_control_failure_errors_the_case_with_its_words(tmp_path: Path) -> None:
    case = _case(tmp_path, "- app: listen\n- state: LISTEN\n")
    ref = open_reference()

    def dead(key: object) -> str:
        raise TargetError("the agent (pid 7) was killed by signal 9")

    ref.target.state = dead  # type: ignore[method-assign, assignment]
    res = execute([case], ref.link, ref.target, get_profile("reference")).cases[0]
    assert res.verdict == "error" and res.reason.endswith(": the agent (pid 7) was killed by signal 9")
    assert "internal error" not in res.reason


def test_a_bug_of_ours_errors_one_case_and_says_so(tmp_path: Path) -> None:
    case = _case(tmp_path, "- app: listen\n")
    ref = open_reference()

    def broken(key: object) -> None:
        raise ZeroDivisionError("oops")

    ref.target.app_listen = broken  # type: ignore[method-assign]
    res = execute([case], ref.link, ref.target, get_profile("reference")).cases[0]
    assert res.verdict == "error" and "internal error: ZeroDivisionError: oops (please report it)" in res.reason


def test_a_state_step_without_an_agent_is_skipped_and_the_case_goes_on(tmp_path: Path) -> None:
    case = _case(tmp_path, """\
        - send: "S 0:0(0) win 5000"
        - state: SYN_RCVD
        - expect: "S. 0:0(0) ack 1"
    """)
    res = execute([case], InProcessLink(FakePeer(lambda seg, now: [], isn=0)), NoControl(),
                  get_profile("generic")).cases[0]
    assert res.verdict == "pass", res.reason
    assert [s.verdict for s in res.steps] == ["pass", "skip", "pass"]


def test_a_case_needing_the_application_is_skipped_by_a_target_without_one(tmp_path: Path) -> None:
    case = _case(tmp_path, "- app: listen\n", head="needs: [state]\n")
    res = execute([case], InProcessLink(FakePeer(lambda seg, now: [])), NoControl(), get_profile("generic")).cases[0]
    assert res.verdict == "skip"
    assert res.reason == "the target cannot play its application (no agent) or report its TCP state (no agent)"


def test_capabilities_are_named_once() -> None:
    assert Capability.named(["app", "state"]) == Capability.APP | Capability.STATE
    assert Capability.named([]) == Capability.NONE
    with pytest.raises(ValueError, match="unknown capability 'fly'"):
        Capability.named(["fly"])
