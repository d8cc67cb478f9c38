"""The seed cases over a real veth link, against the reference responder on the wire."""

from __future__ import annotations

import pytest
from support.wirelab import LAB, needs_root

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.session import lab_session
from tcpconform.targets.reference import open_reference

pytestmark = needs_root


def _verdicts(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {c.id: c.verdict for c in result.cases}


def _in_process(cases, faults=()):  # type: ignore[no-untyped-def]
    ref = open_reference(faults)
    return execute(cases, ref.link, ref.target, get_profile("reference"))


@pytest.mark.parametrize("faults", [(), ("ignore-fin",), ("ack-unreceived",)])
def test_wire_verdicts_equal_in_process_verdicts(lab, faults) -> None:  # type: ignore[no-untyped-def]
    cases = [c for c in load_cases([bundled_cases()]) if c.area in ("seed", "data")]  # the seed scenario
    with lab_session("reference", lab_name=LAB, faults=faults) as session:
        assert session.link.name == "raw-socket"
        wire = execute(cases, session.link, session.target, get_profile(session.profile))
    assert _verdicts(wire) == _verdicts(_in_process(cases, faults))
    if not faults:
        assert wire.ok
        full = next(c for c in wire.cases if c.id == "seed-full-sequence")
        summaries = [s.summary for s in full.segments]
        assert "S. 100:100(0) ack 1 win 65535" in summaries  # the seed's numbers, on a real wire
        states = [e.new for e in full.target_events if e.kind == "state"]
        assert states[-3:] == ["CLOSE_WAIT", "LAST_ACK", "CLOSED"]


def test_selftest_over_the_wire_matches_in_process(lab) -> None:  # type: ignore[no-untyped-def]
    from tcpconform.selftest import run_selftest

    cases = [c for c in load_cases([bundled_cases()]) if c.id.startswith("seed-")]
    faults = ["bad-syn-ack", "ignore-window", "no-fin-on-close"]
    wire = run_selftest(cases, faults, lab_name=LAB)
    here = run_selftest(cases, faults)
    assert wire.ok, wire.problems
    assert wire.matrix == here.matrix and wire.clean == here.clean


def test_wire_pcaps_hold_the_exact_frames_with_kernel_times(lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from scapy.all import TCP, rdpcap

    from tcpconform.gate import evaluate
    from tcpconform.report import write_reports

    cases = [c for c in load_cases([bundled_cases()]) if c.id == "seed-full-sequence"]
    with lab_session("reference", lab_name=LAB) as session:
        result = execute(cases, session.link, session.target, get_profile(session.profile))
    write_reports(result, evaluate(result, None), tmp_path)
    case = result.cases[0]
    packets = rdpcap(str(tmp_path / case.pcap))
    assert [bytes(p) for p in packets] == [s.frame for s in case.segments]  # the bytes the socket saw
    assert len(packets) == len(case.segments) and all(TCP in p for p in packets)
    for pkt, seg in zip(packets, case.segments, strict=True):
        assert abs(float(pkt.time) - (case.started + seg.at)) < 1e-6  # kernel receive times, not Python's


def test_a_wrong_checksum_on_the_wire_fails_the_checksum_invariant(lab) -> None:  # type: ignore[no-untyped-def]
    """The responder on the wire sends odd-length data with a checksum that leaves the last byte out:
    the raw link reads the frame's checksum as wrong, and the case shows the one sent and the right one."""
    cases = [c for c in load_cases([bundled_cases()]) if c.id in ("header-checksum-generated", "seed-response")]
    verdicts = {}
    for faults in ((), ("odd-checksum",)):
        with lab_session("reference", lab_name=LAB, faults=faults) as session:
            verdicts[faults] = execute(cases, session.link, session.target, get_profile(session.profile))
    assert all(c.verdict == "pass" for c in verdicts[()].cases)
    broken = {c.id: c for c in verdicts[("odd-checksum",)].cases}
    assert broken["seed-response"].verdict == "pass"  # 512 and 188 bytes: even, right
    failed = broken["header-checksum-generated"]
    assert failed.verdict == "fail"
    (step,) = [s for s in failed.steps if s.verdict == "fail"]
    (mismatch,) = step.mismatches
    assert mismatch.field == "chksum (checksum)" and "the correct checksum" in mismatch.expected
    assert mismatch.actual != mismatch.expected.split()[0]
