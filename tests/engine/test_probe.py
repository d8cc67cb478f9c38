"""A ``state`` step against a target with no agent is judged from the wire by a probe, and a case
none of whose checks could be made is a skip, never a pass.

Against a fake peer: a live connection's ACK passes ``state: ESTABLISHED``, a peer that dropped the
connection (silently, or with a RST) fails it, and ``state: CLOSED`` the other way round.  Against the
reference responder with its state reporting hidden: the catalogue keeps its clean verdicts, and a
fault that leaves the wrong state is caught by the probe.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.fakepeer import FakePeer, NoControl, reply

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_case, load_cases
from tcpconform.cases.model import TestCase
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.probe import ANSWER_NOTE, PROBE_NOTE
from tcpconform.engine.run import execute
from tcpconform.links.inprocess import InProcessLink
from tcpconform.results import CaseResult, TargetEvent
from tcpconform.targets.base import Capability
from tcpconform.targets.reference import open_reference
from tcpconform.tcp.payload import TARGET_SALT, stream_bytes
from tcpconform.tcp.segment import Flags, FourTuple, Segment

CASE = """
id: probed
title: a state asserted after data
requirements: [{{id: alive, ref: RFC 9293 3.10.7.4, level: MUST}}]
no_fault: engine unit test
numbering: {{tester: 0, target: 100}}
tester: {{window: 5000, mss: 512}}
steps:
  - send: "S 0:0(0) win 5000 <mss 512>"
  - expect: "S. 100:100(0) ack 1"
  - send: ". 1:1(0) ack 101 win 5000"
  - send: "P. 1:11(10) ack 101 win 5000"
  - expect: ". 101:101(0) ack 11"
    within: 500ms
  - state: {state}
    rfc: alive
{after}"""


def make_case(tmp_path: Path, state: str, after: str = "") -> TestCase:
    path = tmp_path / "case.yaml"
    path.write_text(textwrap.dedent(CASE.format(state=state, after=after)))
    return load_case(path)


def run_one(case: TestCase, policy) -> tuple[CaseResult, FakePeer]:  # type: ignore[no-untyped-def]
    peer = FakePeer(policy)
    result = execute([case], InProcessLink(peer), NoControl(), get_profile("reference"))
    return result.cases[0], peer


def is_probe(seg: Segment) -> bool:
    return len(seg.payload) == 1 and seg.seq == 10  # one old octet: the target's RCV.NXT (11) - 1


def live(seg: Segment, now: float):  # type: ignore[no-untyped-def]
    """ACKs the data, and answers an old octet with an ACK of what it has (RFC 9293 3.10.7.4)."""
    if seg.payload:
        return [(0.001, reply(seg, seq=101, ack=11))]
    return []


def dropped_silently(seg: Segment, now: float):  # type: ignore[no-untyped-def]
    """ACKs the data, then forgets the connection without a word: nothing answers the probe."""
    return [] if is_probe(seg) else live(seg, now)


def dropped_with_rst(seg: Segment, now: float):  # type: ignore[no-untyped-def]
    """No connection any more: a RST at SEG.ACK for the probe (RFC 9293 3.10.7.1)."""
    if is_probe(seg):
        return [(0.001, reply(seg, seq=seg.ack, ack=0, flags=Flags.RST, window=0))]
    return live(seg, now)


def test_a_live_connection_passes_established_by_the_probe_and_the_probe_is_in_the_exchange(tmp_path: Path) -> None:
    res, peer = run_one(make_case(tmp_path, "ESTABLISHED"), live)
    assert res.verdict == "pass", res.reason
    state = res.steps[-1]
    assert state.verdict == "pass" and "alive" in state.message and "not observed" in state.message
    notes = [s.note for s in res.segments]
    probe, answer = notes.index(PROBE_NOTE), notes.index(ANSWER_NOTE)
    assert answer == probe + 1 and answer in state.observed
    sent = [s for s in peer.seen if is_probe(s)]
    assert len(sent) == 1
    # the probe repeats the tester's last acknowledgment and window, and moves nothing
    assert sent[0].ack == 101 and sent[0].window == 5000 and sent[0].flags == Flags.ACK


def test_a_peer_that_dropped_the_connection_fails_established(tmp_path: Path) -> None:
    res, _ = run_one(make_case(tmp_path, "ESTABLISHED"), dropped_with_rst)
    assert res.verdict == "fail" and res.failed_step is not None and res.failed_step.index == 5, res.reason
    assert "expected ESTABLISHED" in res.reason and "connection is gone" in res.reason


def test_a_probe_that_draws_no_answer_observes_nothing(tmp_path: Path) -> None:
    """Silence is no verdict: the ACK of an old octet is a "should", and a dead target is the health
    check's to find.  The state step is skipped with the reason; the case's other checks stand."""
    res, _ = run_one(make_case(tmp_path, "ESTABLISHED"), dropped_silently)
    state = res.steps[5]
    assert state.verdict == "skip" and "probe drew no answer" in state.message, state.message
    assert res.verdict != "fail", res.reason


def test_closed_passes_on_a_rst_and_fails_on_an_ack(tmp_path: Path) -> None:
    res, _ = run_one(make_case(tmp_path, "CLOSED"), dropped_with_rst)
    assert res.verdict == "pass", res.reason
    assert "no connection on this 4-tuple" in res.steps[-1].message
    res, _ = run_one(make_case(tmp_path, "CLOSED"), live)
    assert res.verdict == "fail" and "the connection is alive" in res.reason


def test_the_probe_answer_is_not_the_next_steps_and_what_else_came_is(tmp_path: Path) -> None:
    """The probe takes only its answer: data the peer sends meanwhile is left to the next step."""
    def talks(seg: Segment, now: float):  # type: ignore[no-untyped-def]
        if is_probe(seg):
            return [(0.0005, reply(seg, seq=101, ack=11, flags=Flags.ACK | Flags.PSH, payload=stream_bytes(0, 5, TARGET_SALT))),
                    (0.001, reply(seg, seq=106, ack=11))]
        return live(seg, now)

    after = '  - expect: "P. 101:106(5) ack 11"\n    within: 500ms\n    tolerate: []\n'
    case = make_case(tmp_path, "ESTABLISHED", after)
    res, _ = run_one(case, talks)
    assert res.verdict == "pass", res.reason
    assert [s.note for s in res.segments].count(ANSWER_NOTE) == 1


def test_a_case_made_only_of_skipped_checks_is_a_skip_not_a_pass(tmp_path: Path) -> None:
    path = tmp_path / "only-skipped.yaml"
    path.write_text(textwrap.dedent("""
        id: only-skipped
        title: nothing observable
        requirements: [{id: s, ref: RFC 9293 3.3.2, level: MUST}]
        no_fault: engine unit test
        numbering: {tester: 0, target: 100}
        steps:
          - send: "S 0:0(0) win 5000 <mss 512>"
          - state: SYN_SENT
            rfc: s
    """))
    res, _ = run_one(load_case(path), live)
    assert res.verdict == "skip", res.reason
    assert res.reason.startswith("nothing the case asserts could be observed: not checked")
    assert [s.verdict for s in res.steps] == ["pass", "skip"]


@dataclass
class StateHidden:
    """The reference target with its state reporting hidden: a device with no way to say its state."""

    inner: object
    capabilities: Capability = Capability.APP

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def state(self, key: FourTuple) -> str | None:
        return None

    def drain_events(self) -> list[tuple[FourTuple, TargetEvent]]:
        return []


def _reference(cases: list[TestCase], *faults: str) -> list[CaseResult]:
    ref = open_reference(faults)
    hidden = StateHidden(ref.target)
    return execute(cases, ref.link, hidden, get_profile("reference")).cases  # type: ignore[arg-type]


def test_the_reference_responder_keeps_its_verdicts_when_its_state_is_probed() -> None:
    cases = load_cases([bundled_cases()])
    results = _reference(cases)
    bad = [(r.id, r.verdict, r.reason) for r in results if r.verdict != "pass" and "only (family" not in r.reason]
    assert not bad
    probed = sum(1 for r in results for s in r.steps if s.kind == "state" and s.message.startswith("from the wire"))
    assert probed >= 100


@pytest.mark.parametrize(("case_id", "fault"), [
    ("reset-exact-sequence", "ignore-rst"),
    ("matrix-established-rst", "ignore-rst"),
    ("matrix-established-fin", "process-without-ack"),
])
def test_a_fault_leaving_the_wrong_state_is_caught_by_the_probe(case_id: str, fault: str) -> None:
    case = next(c for c in load_cases([bundled_cases()]) if c.id == case_id)
    res = _reference([case], fault)[0]
    assert res.verdict == "fail", res.reason
    step = res.failed_step
    assert step is not None
    assert step.kind == "state", res.reason


def test_a_fin_sent_again_answers_the_probe(tmp_path: Path) -> None:
    """A stack in LAST_ACK whose FIN is unacknowledged answers the probe with its FIN again (libslirp):
    that is a live connection's ACK, and it says the tester's FIN was taken."""
    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        if seg.flags & Flags.SYN:
            return [(0.001, reply(seg, seq=100, ack=1, flags=Flags.SYN | Flags.ACK))]
        if seg.flags & Flags.FIN:
            return [(0.001, reply(seg, seq=101, ack=seg.seq + 1)),
                    (0.002, reply(seg, seq=101, ack=seg.seq + 1, flags=Flags.ACK | Flags.FIN))]
        if seg.payload:  # the probe: the FIN again, with the ACK
            return [(0.001, reply(seg, seq=101, ack=2, flags=Flags.ACK | Flags.FIN))]
        return []

    path = tmp_path / "case.yaml"
    path.write_text(textwrap.dedent("""
        id: probed-fin
        title: a state asserted after the tester's FIN
        requirements: [{id: taken, ref: RFC 9293 3.10.7.4, level: MUST}]
        no_fault: engine unit test
        numbering: {tester: 0, target: 100}
        tester: {window: 5000, mss: 512}
        steps:
          - send: "S 0:0(0) win 5000 <mss 512>"
          - expect: "S. 100:100(0) ack 1"
          - send: ". 1:1(0) ack 101 win 5000"
          - send: "F. 1:1(0) ack 101 win 5000"
          - expect: ". 101:101(0) ack 2"
          - state: LAST_ACK
            rfc: taken
          - expect: "F. 101:101(0) ack 2"
        """))
    res, _ = run_one(load_case(path), policy)
    assert res.verdict == "pass", res.reason
    notes = [r.note for r in res.segments]
    assert ANSWER_NOTE in notes
