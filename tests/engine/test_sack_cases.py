"""The SACK cases in process: they pass against the reference over both families, fail under their
faults, and are skipped with the reason (never passed, never failed) by a target that implements no
SACK; SACK edges in a case are in its numbering, both ways."""

from __future__ import annotations

import pytest

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.links.inprocess import TESTER_IP, InProcessLink, VirtualClock
from tcpconform.responder import AppConfig, Responder, ResponderConfig
from tcpconform.results import CaseResult
from tcpconform.targets.reference import Reference, ReferenceTarget, open_reference

SACK = ["sack-blocks", "sack-blocks-with-timestamps", "sack-bogus-blocks", "sack-hole-retransmitted",
        "sack-permitted-only-when-offered"]


def _run(case_id: str, ref: Reference) -> CaseResult:
    cases = [c for c in load_cases([bundled_cases()]) if c.id == case_id]
    assert cases, case_id
    return execute(cases, ref.link, ref.target, get_profile("reference")).cases[0]


def _without_sack() -> Reference:
    clock = VirtualClock()
    responder = Responder(ResponderConfig(app=AppConfig(mode="agent"), sack=False))
    return Reference(InProcessLink(responder, clock, local_ip=TESTER_IP), ReferenceTarget(responder, clock))


@pytest.mark.parametrize("ipv6", [False, True])
@pytest.mark.parametrize("case_id", SACK)
def test_passes_against_the_reference(case_id: str, ipv6: bool) -> None:
    res = _run(case_id, open_reference(ipv6=ipv6))
    assert res.verdict == "pass", res.reason


@pytest.mark.parametrize(("case_id", "fault"), [
    ("sack-blocks", "sack-wrong-order"), ("sack-blocks", "sack-bad-edges"),
    ("sack-blocks-with-timestamps", "sack-wrong-order"), ("sack-blocks-with-timestamps", "sack-bad-edges"),
    ("sack-bogus-blocks", "sack-crash-on-bogus"), ("sack-permitted-only-when-offered", "sack-unpermitted"),
    ("sack-hole-retransmitted", "no-retransmit"),
])
def test_fails_under_its_fault(case_id: str, fault: str) -> None:
    assert _run(case_id, open_reference([fault])).verdict == "fail"


@pytest.mark.parametrize("case_id", [c for c in SACK if c != "sack-permitted-only-when-offered"])
def test_is_skipped_with_the_reason_by_a_target_without_sack(case_id: str) -> None:
    res = _run(case_id, _without_sack())
    assert res.verdict == "skip" and "did not negotiate SACK" in (res.reason or "")


def test_a_target_without_sack_passes_the_unoffered_case() -> None:
    assert _run("sack-permitted-only-when-offered", _without_sack()).verdict == "pass"


@pytest.mark.parametrize("case_id", ["sack-blocks", "sack-blocks-with-timestamps"])
def test_is_skipped_with_the_reason_by_a_target_that_sends_no_blocks(case_id: str) -> None:
    """SACK-permitted taken, but no SACK option where one was due (here: nothing is held, so nothing
    to report): RFC 2018 4 lets a receiver elect not to send them."""
    res = _run(case_id, open_reference(["drop-out-of-order"]))
    assert res.verdict == "skip" and "sent no SACK option" in (res.reason or "")
