"""The one tolerance rule, at the edge of each kind of bound, and segments judged by their arrival time.

Each bound a case states is judged with ``max(4 ms, 12.5 %)`` of its interval: an expect's
``within`` (upper), a silence's length (lower), a measured timeout such as the minimum RTO, the ISN
sample's answer bound.  Just inside the tolerance passes, just outside fails.  A segment that came
before the tester's send is never the answer to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fakepeer import FakePeer, NoControl, reply
from test_expect_semantics import make_case, run_one

from tcpconform.cases.load import load_case
from tcpconform.cases.model import TestCase
from tcpconform.cases.profiles import get_profile
from tcpconform.engine import timing
from tcpconform.engine.run import execute
from tcpconform.links.inprocess import InProcessLink
from tcpconform.targets.base import Capability
from tcpconform.tcp.payload import TARGET_SALT, stream_bytes
from tcpconform.tcp.segment import Flags, FourTuple, Segment

ROOT = Path(__file__).resolve().parents[2]

HEAD = """
id: timing
title: timing
requirements: [{id: r, ref: RFC 9293 3.8.6.3, level: MUST}]
no_fault: engine unit test
numbering: {tester: 0, target: 100}
tester: {window: 5000, mss: 512}
steps:
  - send: "S 0:0(0) win 5000 <mss 512>"
  - expect: "S. 100:100(0) ack 1"
  - send: ". 1:1(0) ack 101 win 5000"
"""


def test_the_rule_is_max_of_4_ms_and_an_eighth() -> None:
    assert timing.tolerance(0.010) == pytest.approx(0.004)
    assert timing.tolerance(0.032) == pytest.approx(0.004)
    assert timing.tolerance(0.5) == pytest.approx(0.0625)
    assert timing.tolerance(3.0) == pytest.approx(0.375)
    assert timing.latest(10.0, 1.0) == pytest.approx(11.125)
    assert timing.earliest(10.0, 1.0) == pytest.approx(10.875)
    assert timing.explain_until(10.0, 1.0) == pytest.approx(11.25)


def _after_data(delay: float, **fields: object):  # type: ignore[no-untyped-def]
    """A peer that answers the tester's data, ``delay`` after it, with ``fields``."""

    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        if not seg.payload:
            return []
        return [(delay, reply(seg, **{"seq": 101, "ack": seg.seq + len(seg.payload), **fields}))]

    return policy


@pytest.fixture
def within(tmp_path: Path) -> TestCase:
    return make_case(tmp_path, HEAD + """
  - send: "P. 1:11(10) ack 101 win 5000"
  - expect: ". 101:101(0) ack 11"
    within: 500ms
""")


@pytest.mark.parametrize("delay", [0.499, 0.560])  # the bound, and 500 ms + 62.5 ms less a little
def test_within_passes_up_to_the_tolerance(within: TestCase, delay: float) -> None:
    res = run_one(within, _after_data(delay))
    assert res.verdict == "pass", res.reason


def test_within_fails_just_beyond_the_tolerance_and_says_when_it_came(within: TestCase) -> None:
    res = run_one(within, _after_data(0.565))
    assert res.verdict == "fail"
    message = res.failed_step.message  # type: ignore[union-attr]
    assert "within 500 ms (with the tolerance, 562 ms); it came after 565 ms" in message, message
    assert "nothing arrived" not in message


def test_within_says_nothing_arrived_only_when_nothing_did(within: TestCase) -> None:
    res = run_one(within, _after_data(0.7))  # beyond the bound and the explaining grace
    assert res.verdict == "fail" and "nothing arrived" in res.failed_step.message  # type: ignore[union-attr]


@pytest.fixture
def silence(tmp_path: Path) -> TestCase:
    return make_case(tmp_path, HEAD + """
  - send: "P. 1:11(10) ack 101 win 5000"
  - expect: ". 101:101(0) ack 11"
  - silence: 300ms
    tolerate: []
""")


def _ack_then_fin(delay: float):  # type: ignore[no-untyped-def]
    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        if not seg.payload:
            return []
        ack = seg.seq + len(seg.payload)
        return [(0.0, reply(seg, seq=101, ack=ack)), (delay, reply(seg, seq=101, ack=ack, flags=Flags.FIN | Flags.ACK))]

    return policy


def test_silence_is_not_broken_within_the_tolerance_of_its_end(silence: TestCase) -> None:
    res = run_one(silence, _ack_then_fin(0.265))  # 300 ms - 37.5 ms = 262.5 ms is the edge
    assert res.verdict == "pass", res.reason


def test_silence_is_broken_just_before_the_tolerance(silence: TestCase) -> None:
    res = run_one(silence, _ack_then_fin(0.260))
    assert res.verdict == "fail" and "expected silence for 300 ms" in res.failed_step.message  # type: ignore[union-attr]


def _retransmits_after(rto: float):  # type: ignore[no-untyped-def]
    """A target whose application writes 100 bytes when the handshake completes, retransmitted once after ``rto``."""

    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        if seg.ack == 101 and not seg.payload and seg.flags == Flags.ACK:
            data = reply(seg, seq=101, ack=1, flags=Flags.PSH | Flags.ACK, payload=stream_bytes(0, 100, TARGET_SALT))
            return [(0.0, data), (rto, data)]
        return []

    return policy


def _min_rto() -> TestCase:
    return load_case(ROOT / "testcases" / "retransmission" / "min-rto.yaml")


@pytest.mark.parametrize(("rto", "verdict"), [(0.880, "pass"), (0.870, "fail")])  # 1 s - 125 ms = 875 ms
def test_min_rto_measured_against_its_lower_bound(rto: float, verdict: str) -> None:
    peer = FakePeer(_retransmits_after(rto))
    link = InProcessLink(peer)
    res = execute([_min_rto()], link, _Writer(), get_profile("generic")).cases[0]
    assert res.verdict == verdict, res.reason
    if verdict == "fail":
        assert res.failed_step is not None and res.failed_step.requirement is not None
        assert res.failed_step.requirement.id == "min-rto"


class _Writer(NoControl):
    """A target whose application listens and writes as asked: the fake peer does both by itself."""

    capabilities = Capability.APP

    def app_listen(self, key: FourTuple) -> None:
        return None

    def app_write(self, key: FourTuple, data: bytes) -> None:
        return None


def test_a_segment_that_came_before_the_probe_is_not_its_answer(tmp_path: Path) -> None:
    """The false pass "after -50 ms": an ACK the peer sent on its own during a wait, before the
    tester's probe, must not be taken as the probe's answer; the peer never answers the probe."""
    case = make_case(tmp_path, HEAD + """
  - wait: 100ms
  - send: ". 1:1(0) ack 101 win 5000"
  - expect: ". 101:101(0) ack 1"
    within: 500ms
""")
    answered: list[Segment] = []

    def early(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        if answered:
            return []  # silent to the probe
        answered.append(seg)
        return [(0.05, reply(seg, seq=101, ack=1))]  # 50 ms after the handshake's ACK, during the wait

    res = run_one(case, early)
    assert res.verdict == "fail", "a segment from before the probe was taken as its answer"
    message = res.failed_step.message  # type: ignore[union-attr]
    assert "arrived before the tester's send" in message and "50 ms before" in message, message


def test_an_answer_after_the_probe_still_passes(tmp_path: Path) -> None:
    case = make_case(tmp_path, HEAD + """
  - wait: 100ms
  - send: ". 1:1(0) ack 101 win 5000"
  - expect: ". 101:101(0) ack 1"
    within: 500ms
""")
    sent: list[Segment] = []

    def answers(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        sent.append(seg)
        return [(0.05, reply(seg, seq=101, ack=1))] if len(sent) == 2 else []

    res = run_one(case, answers)
    assert res.verdict == "pass", res.reason
