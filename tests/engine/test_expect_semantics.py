"""The engine's expect semantics, each rule against a peer that does exactly the thing in question.

The seed's "cumulative ACK at 1025" must pass against a stack that ACKs 513 then 1025, and fail
against one that ACKs bytes it never got, never reaches 1025, or takes longer than 500 ms.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from support.fakepeer import FakePeer, NoControl, reply

from tcpconform.cases.load import load_case
from tcpconform.cases.model import TestCase
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.links.inprocess import InProcessLink
from tcpconform.results import CaseResult
from tcpconform.tcp.payload import TARGET_SALT, stream_bytes
from tcpconform.tcp.segment import Flags, Segment

CUMULATIVE = """
id: cumulative
title: cumulative ACK
requirements:
  - {id: ack-delay, ref: RFC 9293 3.8.6.3, rid: MUST-40, level: MUST}
no_fault: engine unit test
numbering: {tester: 0, target: 100}
tester: {window: 5000, mss: 512}
steps:
  - send: "S 0:0(0) win 5000 <mss 512>"
  - expect: "S. 100:100(0) ack 1 win $window"
    isn: $isn
  - send: ". 1:1(0) ack 101 win 5000"
  - send: "P. 1:513(512) ack 101 win 5000"
  - send: "P. 513:1025(512) ack 101 win 5000"
  - expect: ". 101:101(0) ack 1025"
    within: 500ms
    tolerate: {tolerate}
"""


def make_case(tmp_path: Path, text: str, name: str = "case.yaml") -> TestCase:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return load_case(path)


def run_one(case: TestCase, policy, profile: str = "reference", isn: int = 100) -> CaseResult:  # type: ignore[no-untyped-def]
    peer = FakePeer(policy, isn=isn)
    link = InProcessLink(peer)
    result = execute([case], link, NoControl(), get_profile(profile))
    return result.cases[0]


def acks(*plan: tuple[float, int, int]):  # type: ignore[no-untyped-def]
    """A policy: after the segment ending at ``after`` arrives, ACK ``ack`` with a delay."""

    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        end = seg.seq + len(seg.payload)
        return [(delay, reply(seg, seq=101, ack=ack)) for after, delay, ack in plan if seg.payload and end == after]

    return policy


@pytest.fixture
def cumulative(tmp_path: Path) -> TestCase:
    return make_case(tmp_path, CUMULATIVE.replace("{tolerate}", "[ack, window-update, retransmission]"))


def test_one_cumulative_ack_passes(cumulative: TestCase) -> None:
    res = run_one(cumulative, acks((1025, 0.2, 1025)))
    assert res.verdict == "pass", res.reason


def test_ack_513_then_1025_passes_with_the_intermediate_ack_tolerated(cumulative: TestCase) -> None:
    res = run_one(cumulative, acks((513, 0.0, 513), (1025, 0.001, 1025)))
    assert res.verdict == "pass", res.reason
    notes = [s.note for s in res.segments if s.direction == "in"]
    assert "tolerated: ack" in notes


def test_never_reaching_1025_fails_and_names_the_last_ack_seen(cumulative: TestCase) -> None:
    res = run_one(cumulative, acks((513, 0.0, 513)))
    assert res.verdict == "fail"
    step = res.failed_step
    assert step is not None and "within 500 ms" in step.message and "ack 513" in step.message
    assert any(m.field == "ack" and m.expected == "1025" and m.actual == "513" for m in step.mismatches)


def test_ack_later_than_the_bound_fails(cumulative: TestCase) -> None:
    res = run_one(cumulative, acks((1025, 0.6, 1025)))
    assert res.verdict == "fail"
    assert res.failed_step is not None and "it came after 600 ms" in res.failed_step.message
    assert res.failed_level == "MUST"
    res = run_one(cumulative, acks((1025, 0.7, 1025)))
    assert res.failed_step is not None and "nothing arrived" in res.failed_step.message


def test_ack_just_inside_the_bound_passes(cumulative: TestCase) -> None:
    assert run_one(cumulative, acks((1025, 0.499, 1025))).verdict == "pass"


def test_acknowledging_bytes_never_sent_fails_on_the_invariant(cumulative: TestCase) -> None:
    res = run_one(cumulative, acks((1025, 0.0, 1125)))
    assert res.verdict == "fail"
    step = res.failed_step
    assert step is not None and step.requirement is not None
    assert step.requirement.id == "ack-not-beyond-sent"
    assert any("never sent" in m.actual for m in step.mismatches)


def test_strict_step_refuses_the_intermediate_ack(tmp_path: Path) -> None:
    case = make_case(tmp_path, CUMULATIVE.replace("{tolerate}", "[]"))
    res = run_one(case, acks((513, 0.0, 513), (1025, 0.001, 1025)))
    assert res.verdict == "fail"
    assert res.failed_step is not None and "unexpected segment" in res.failed_step.message


def test_window_update_is_tolerated(cumulative: TestCase) -> None:
    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        if seg.payload and seg.seq + 512 == 513:
            return [(0.0, reply(seg, seq=101, ack=513, window=20000)), (0.01, reply(seg, seq=101, ack=513, window=30000))]
        if seg.payload:
            return [(0.05, reply(seg, seq=101, ack=1025))]
        return []

    res = run_one(cumulative, policy)
    assert res.verdict == "pass", res.reason
    assert "tolerated: window-update" in [s.note for s in res.segments]


def test_every_mismatching_field_is_reported(tmp_path: Path) -> None:
    case = make_case(tmp_path, CUMULATIVE.replace("{tolerate}", "[]"))

    def bad_synack(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        return []

    peer = FakePeer(bad_synack, isn=100)
    orig = peer.handle_segment

    def handle(seg: Segment, now: float) -> None:
        if seg.flags == Flags.SYN:  # ack off by one and a window of 1000
            peer._out.append(reply(seg, seq=100, ack=seg.seq + 2, window=1000, flags=Flags.SYN | Flags.ACK))
            return
        orig(seg, now)

    peer.handle_segment = handle  # type: ignore[method-assign]
    res = execute([case], InProcessLink(peer), NoControl(), get_profile("reference")).cases[0]
    assert res.verdict == "fail"
    fields = {m.field: (m.expected, m.actual) for m in res.failed_step.mismatches}  # type: ignore[union-attr]
    assert fields["ack"] == ("1", "2")
    assert fields["window"] == ("65535 ($window)", "1000")


def test_generic_profile_captures_isn_and_window_and_numbers_relative(cumulative: TestCase) -> None:
    isn = 0xFFFFFF00  # the target's numbers wrap past 2^32 during the case
    res = run_one(cumulative, lambda seg, now: [(0.1, reply(seg, seq=isn + 1, ack=1025))] if seg.seq == 513 else [],
                  profile="generic", isn=isn)
    assert res.verdict == "pass", res.reason
    assert res.connection["target_isn"] == isn
    # relative summaries read like the seed diagram whatever the real ISN
    assert res.segments[1].summary.startswith("S. 100:100(0) ack 1")


def test_a_profile_that_pins_the_isn_asserts_it(cumulative: TestCase) -> None:
    from tcpconform.cases.profiles import Profile

    pinned = Profile("pinned", "a stack known to start at 100", {"isn": 100, "window": 65535})
    peer = FakePeer(acks((1025, 0.1, 1025)), isn=5000)
    res = execute([cumulative], InProcessLink(peer), NoControl(), pinned).cases[0]
    assert res.verdict == "fail"
    assert any(m.field == "isn" and m.actual == "5000" for m in res.failed_step.mismatches)  # type: ignore[union-attr]


def test_data_bytes_are_checked_against_what_the_application_wrote(tmp_path: Path) -> None:
    case = make_case(tmp_path, """
        id: data
        title: data from the target
        requirements: [{id: r, ref: RFC 9293 3.8, level: MUST}]
        no_fault: engine unit test
        numbering: {tester: 0, target: 100}
        steps:
          - send: "S 0:0(0) win 5000 <mss 512>"
          - expect: "S. 100:100(0) ack 1"
          - send: ". 1:1(0) ack 101 win 5000"
          - expect: "P. 101:111(10) ack 1"
    """)

    def sender(good: bool):  # type: ignore[no-untyped-def]
        data = stream_bytes(0, 10, TARGET_SALT) if good else stream_bytes(1, 10, TARGET_SALT)

        def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
            if seg.flags == Flags.ACK and not seg.payload:
                return [(0.01, reply(seg, seq=101, ack=1, flags=Flags.ACK | Flags.PSH, payload=data))]
            return []

        return policy

    assert run_one(case, sender(True)).verdict == "pass"
    bad = run_one(case, sender(False))
    assert bad.verdict == "fail" and bad.failed_step.mismatches[0].field == "payload"  # type: ignore[union-attr]


def test_silence_broken_by_a_fin_fails(tmp_path: Path) -> None:
    case = make_case(tmp_path, """
        id: quiet
        title: silence
        requirements: [{id: r, ref: RFC 9293 3.6, level: MUST}]
        no_fault: engine unit test
        numbering: {tester: 0, target: 100}
        steps:
          - send: "S 0:0(0) win 5000"
          - expect: "S. 100:100(0) ack 1"
          - send: ". 1:1(0) ack 101 win 5000"
          - silence: 300ms
    """)

    def fin_later(delay: float):  # type: ignore[no-untyped-def]
        def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
            return [(delay, reply(seg, seq=101, ack=1, flags=Flags.FIN | Flags.ACK))]

        return policy

    assert run_one(case, fin_later(0.4)).verdict == "pass"  # after the silence: not this step's business
    res = run_one(case, fin_later(0.1))
    assert res.verdict == "fail" and "expected silence" in res.failed_step.message  # type: ignore[union-attr]


def test_psh_is_ignored_unless_the_case_writes_it(tmp_path: Path) -> None:
    text = """
        id: psh
        title: psh
        requirements: [{id: r, ref: RFC 9293 3.9.1, level: MUST}]
        no_fault: engine unit test
        numbering: {tester: 0, target: 100}
        steps:
          - send: "S 0:0(0) win 5000"
          - expect: "S. 100:100(0) ack 1"
          - send: ". 1:1(0) ack 101 win 5000"
          - expect: "FLAGS 101:111(10) ack 1"
    """

    def data(flags: Flags):  # type: ignore[no-untyped-def]
        def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
            return [(0.0, reply(seg, seq=101, ack=1, flags=flags, payload=stream_bytes(0, 10, TARGET_SALT)))]

        return policy

    no_psh_written = make_case(tmp_path, text.replace("FLAGS", "."), "a.yaml")
    psh_written = make_case(tmp_path, text.replace("FLAGS", "P."), "b.yaml")
    assert run_one(no_psh_written, data(Flags.ACK | Flags.PSH)).verdict == "pass"
    assert run_one(no_psh_written, data(Flags.ACK)).verdict == "pass"
    assert run_one(psh_written, data(Flags.ACK | Flags.PSH)).verdict == "pass"
    assert run_one(psh_written, data(Flags.ACK)).verdict == "fail"


def _echo(delay: float, corrupt: bool = False):  # type: ignore[no-untyped-def]
    """A stack with an echo application: it sends each segment's bytes back, ACK riding on them."""
    from tcpconform.tcp.payload import TESTER_SALT

    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        if not seg.payload:
            return []
        data = stream_bytes(seg.seq - 1, len(seg.payload), TESTER_SALT)
        if corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        return [(delay, reply(seg, seq=101 + seg.seq - 1, ack=seg.seq + len(seg.payload),
                              flags=Flags.ACK | Flags.PSH, payload=data))]

    return policy


def test_an_echo_service_may_answer_data_and_carry_the_ack_on_it(cumulative: TestCase) -> None:
    from tcpconform.targets.service import ServiceTarget

    for corrupt, verdict in ((False, "pass"), (True, "fail")):
        peer = FakePeer(_echo(0.01, corrupt), isn=100)
        res = execute([cumulative], InProcessLink(peer), ServiceTarget("echo", "192.0.2.2", 8000),
                      get_profile("reference")).cases[0]
        assert res.verdict == verdict, res.reason
    notes = [s.note for s in res.segments]
    assert "tolerated: data the service sent by itself" not in notes  # the corrupt echo was not let pass


def test_sends_at_the_isn_and_data_before_it(tmp_path: Path) -> None:
    case = make_case(tmp_path, """
        id: early
        title: segments at the ISN
        requirements: [{id: r, ref: RFC 9293 3.5, level: MUST}]
        no_fault: engine unit test
        steps:
          - send: "S 0:0(0) win 5000"
          - expect: "S. 0:0(0) ack 1"
          - send: "R 0:0(0)"
          - send: ". 0:10(10) ack 1"
    """)
    res = run_one(case, lambda seg, now: [], isn=0)
    assert res.verdict == "error"  # the case is wrong, not the target, and no traceback
    assert "before the tester's first byte" in res.reason and res.steps[2].verdict == "pass"
