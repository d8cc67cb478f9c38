"""The target's answer to the tester's cleanup RST is recorded in the exchange, and a RST answering
it fails the case (RFC 9293 3.10.7: a RST is never answered with a RST).

What comes later than the window, or is not a RST, is not judged; a case's own failure stands.
"""

from __future__ import annotations

import heapq
from pathlib import Path

import pytest
from support.fakepeer import FakePeer, NoControl, reply

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_case, load_cases
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.cleanup import CLEANUP_WINDOW, CLEANUP_WITH_ACK
from tcpconform.engine.run import execute
from tcpconform.links.inprocess import InProcessLink
from tcpconform.results import CaseResult
from tcpconform.targets.reference import open_reference
from tcpconform.tcp.segment import Flags, Segment

HANDSHAKE = """\
id: hs
title: handshake
requirements: [{id: syn-ack, ref: RFC 9293 3.5, level: MUST}]
no_fault: engine unit test
numbering: {tester: 0, target: 100}
steps:
  - send: "S 0:0(0) win 5000 <mss 512>"
  - expect: "S. 100:100(0) ack 1"
  - send: ". 1:1(0) ack 101 win 5000"
"""


def _reference(case_id: str, *faults: str) -> CaseResult:
    case = next(c for c in load_cases([bundled_cases()]) if c.id == case_id)
    ref = open_reference(faults)
    return execute([case], ref.link, ref.target, get_profile("reference")).cases[0]


def test_a_rst_answering_the_cleanup_rst_fails_the_case_at_the_rfc_level_with_the_clause() -> None:
    res = _reference("seed-handshake", "rst-answers-rst")
    assert res.verdict == "fail" and res.failed_level == "MUST"
    assert res.failed_step is None  # every step passed: the failure is the answer, after them
    assert "answered the tester's cleanup RST with R. 101:101(0) ack 1" in res.reason
    assert "RFC 9293 3.10.7 (MUST)" in res.reason and "never answered with a RST" in res.reason
    assert "rst-never-answered" in [r.id for r in res.requirements]
    notes = [(s.direction, s.note) for s in res.segments]
    cleanup = notes.index(("out", "cleanup: reset the connection so no state leaks"))
    assert notes[cleanup + 1] == ("in", "a RST answering the cleanup RST")


def test_the_clean_responder_does_not_trip_it() -> None:
    res = _reference("seed-handshake")
    assert res.verdict == "pass", res.reason
    assert any(s.note.startswith("cleanup") for s in res.segments)  # a cleanup RST was sent, and not answered
    assert not any("cleanup RST" in s.note for s in res.segments)


class _AnswersRst(FakePeer):
    """Completes the handshake; answers a RST with a RST ``delay`` seconds later (or an ACK)."""

    def __init__(self, delay: float, flags: Flags = Flags.RST) -> None:
        super().__init__(lambda seg, now: [])
        self.delay, self.flags = delay, flags

    def handle_segment(self, seg: Segment, now: float) -> None:
        if seg.flags & Flags.RST:
            heapq.heappush(self._heap, (now + self.delay, next(self._n), reply(seg, seq=101, ack=1, flags=self.flags)))
            return
        super().handle_segment(seg, now)


def _fake(tmp_path: Path, peer: FakePeer, text: str = HANDSHAKE) -> CaseResult:
    path = tmp_path / "hs.yaml"
    path.write_text(text)
    return execute([load_case(path)], InProcessLink(peer), NoControl(), get_profile("reference")).cases[0]


@pytest.mark.parametrize("delay, flags, verdict", [
    (0.001, Flags.RST | Flags.ACK, "fail"),
    (CLEANUP_WINDOW / 2, Flags.RST | Flags.ACK, "fail"),
    (0.001, Flags.RST, "pass"),  # the form of an answer to the case's last segment, sent just before: not judged
    (CLEANUP_WINDOW * 2, Flags.RST | Flags.ACK, "pass"),  # after the window: not the answer's to judge
    (0.001, Flags.ACK, "pass"),               # an ACK (a challenge ACK, say) is recorded, not judged
])
def test_only_a_rst_within_the_window_is_judged(tmp_path: Path, delay: float, flags: Flags, verdict: str) -> None:
    res = _fake(tmp_path, _AnswersRst(delay, flags))
    assert res.verdict == verdict, res.reason
    recorded = [s for s in res.segments if "cleanup RST" in s.note]
    assert len(recorded) == (0 if delay > CLEANUP_WINDOW else 1)


def test_a_case_that_failed_keeps_its_own_reason_and_still_shows_the_answer(tmp_path: Path) -> None:
    res = _fake(tmp_path, _AnswersRst(0.001), HANDSHAKE + '  - expect: ". 101:101(0) ack 1"\n    within: 100ms\n')
    assert res.verdict == "fail" and res.failed_step is not None
    assert "cleanup RST" not in res.reason
    assert [s.note for s in res.segments][-2:] == ["a RST answering the cleanup RST", CLEANUP_WITH_ACK]


def test_the_cleanup_ends_with_a_rst_ack_at_the_targets_snd_nxt_for_stacks_that_take_only_that() -> None:
    res = _reference("seed-handshake")
    out = [s for s in res.segments if s.direction == "out" and s.note.startswith("cleanup")]
    assert [s.note for s in out] == ["cleanup: reset the connection so no state leaks", CLEANUP_WITH_ACK]
    assert out[0].summary.startswith("R 1:1(0)") and out[1].summary.startswith("R. 1:1(0) ack 101")
