"""A liveness re-check after a reset speaks from a fresh source port (``reconnect: fresh-port``).

On the same 4-tuple a stack that ignored the reset answers the re-check's SYN with an ACK (its
connection is still ESTABLISHED), and the case would fail for what it did with the RST, not for
what it asserts; from a fresh port the re-check judges only that the target answers at all.
"""

from __future__ import annotations

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import BASE_PORT, execute
from tcpconform.results import CaseResult
from tcpconform.targets.reference import open_reference
from tcpconform.tcp.segment import Flags


def _run(case_id: str, *faults: str) -> CaseResult:
    cases = [c for c in load_cases([bundled_cases()]) if c.id == case_id]
    ref = open_reference(faults)
    return execute(cases, ref.link, ref.target, get_profile("reference")).cases[0]


def test_the_re_check_after_the_resets_comes_from_a_port_no_other_connection_used() -> None:
    """The fresh port is the first after the run's cases (one here), below the spares and the probes."""
    res = _run("options-illegal-length")
    assert res.verdict == "pass", res.reason
    syns = [s for s in res.segments if s.direction == "out" and s.segment is not None and s.segment.flags == Flags.SYN]
    assert [s.segment.sport for s in syns if s.segment is not None] == [BASE_PORT, BASE_PORT + 1]
    assert res.connection["tester_fresh"].endswith(f":{BASE_PORT + 1}")


def test_a_stack_that_ignores_rsts_is_not_failed_by_the_survival_check() -> None:
    assert _run("options-illegal-length", "ignore-rst").verdict == "pass"


def test_the_survival_check_still_catches_a_wedged_target() -> None:
    res = _run("options-illegal-length", "wedge-on-bad-option")
    assert res.verdict == "fail" and res.failed_step is not None
    assert res.failed_step.requirement is not None and res.failed_step.requirement.rid == "MUST-7"
