"""The ``half_open`` step (RFC 9293 3.9.1.1, MUST-42) in process: against the reference responder the
bundled case passes, every SYN-ACK and every octet's ACK on its own port; a listener holding one
pending connection fails it at the second SYN; and a case file gives the step a count within bounds,
and the case runs alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_case, load_cases
from tcpconform.cases.model import HalfOpenStep, TestCase
from tcpconform.errors import UsageError
from tcpconform.results import CaseResult
from tcpconform.run import RunRequest, TargetChoice, run

CASE = "handshake-listen-while-half-open"


@pytest.fixture(scope="module")
def case() -> TestCase:
    return next(c for c in load_cases([bundled_cases()]) if c.id == CASE)


def _run(case: TestCase, faults: tuple[str, ...] = (), ipv6: bool = False) -> CaseResult:
    choice = TargetChoice(faults=faults, ipv6=ipv6)
    return run(RunRequest([case], choice, fail_on=None)).result.cases[0]


@pytest.mark.parametrize("ipv6", [False, True])
def test_the_reference_responder_answers_and_completes_all_three(case: TestCase, ipv6: bool) -> None:
    res = _run(case, ipv6=ipv6)
    assert res.verdict == "pass", res.reason
    notes = [s.note for s in res.segments if s.direction == "in"]
    assert notes.count("acknowledges the octet") == 3
    assert case.alone


def test_a_single_pending_connection_fails_it_at_the_second_syn(case: TestCase) -> None:
    res = _run(case, faults=("one-syn-rcvd",))
    assert res.verdict == "fail" and res.failed_level == "MUST"
    assert "no SYN-ACK to the SYN from port" in res.reason and "1 connection(s) on the port wait in SYN-RECEIVED" in res.reason


def test_the_count_is_bounded_in_the_case_file(tmp_path: Path) -> None:
    text = (Path(bundled_cases()) / "handshake" / "listen-while-half-open.yaml").read_text()
    path = tmp_path / "x.yaml"
    path.write_text(text.replace("half_open: 2", "half_open: 17"))
    with pytest.raises(UsageError, match="half_open"):
        load_case(path)
    path.write_text(text.replace("half_open: 2", "half_open: 5"))
    step = next(s for s in load_case(path).steps if isinstance(s, HalfOpenStep))
    assert step.count == 5 and step.within == 1.0
