"""Habits of real stacks the engine must judge right: a FIN sent again with the ACK a step expects
(BSD's output), and a segment that differs only in a missing PSH bit (blamed on MUST-61, not on
what the step checks)."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

from support.fakepeer import FakePeer, NoControl, reply

from tcpconform.cases.load import load_case
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.links.inprocess import InProcessLink
from tcpconform.results import CaseResult
from tcpconform.tcp.payload import TARGET_SALT, stream_bytes
from tcpconform.tcp.segment import Flags, Segment

CLOSING = """
id: closing
title: crossing FINs
requirements: [{id: r, ref: RFC 9293 3.10.7.4, level: MUST}]
no_fault: engine unit test
numbering: {tester: 0, target: 100}
steps:
  - send: "S 0:0(0) win 5000"
  - expect: "S. 100:100(0) ack 1"
  - send: ". 1:1(0) ack 101"
  - expect: "F. 101:101(0) ack 1"
  - send: "F. 1:1(0) ack 101"
  - expect: ". 102:102(0) ack 2"
"""

PUSHED = """
id: pushed
title: the last segment of a write carries PSH
requirements: [{id: r, ref: RFC 9293 3.8.1, level: MUST}]
no_fault: engine unit test
numbering: {tester: 0, target: 100}
steps:
  - send: "S 0:0(0) win 5000"
  - expect: "S. 100:100(0) ack 1"
  - send: ". 1:1(0) ack 101"
  - expect: "P. 101:111(10) ack 1"
"""


def _run(tmp_path: Path, text: str, policy) -> CaseResult:  # type: ignore[no-untyped-def]
    path = tmp_path / "case.yaml"
    path.write_text(textwrap.dedent(text))
    case = load_case(path)
    return execute([case], InProcessLink(FakePeer(policy, isn=100)), NoControl(), get_profile("generic")).cases[0]


def _closer(ack_of_fin: int):  # type: ignore[no-untyped-def]
    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        if seg.flags == Flags.ACK and not seg.payload:
            return [(0.001, reply(seg, seq=101, ack=1, flags=Flags.ACK | Flags.FIN))]
        if seg.flags & Flags.FIN:  # BSD: the unacknowledged FIN again, with the ACK
            return [(0.001, reply(seg, seq=101, ack=ack_of_fin, flags=Flags.ACK | Flags.FIN))]
        return []
    return policy


def test_the_ack_may_ride_on_the_targets_fin_sent_again(tmp_path: Path) -> None:
    res = _run(tmp_path, CLOSING, _closer(2))
    assert res.verdict == "pass", res.reason
    assert any(s.note == "matched: the ACK rides on the target's FIN, sent again" for s in res.segments)


def test_a_fin_sent_again_without_the_ack_is_no_answer(tmp_path: Path) -> None:
    assert _run(tmp_path, CLOSING, _closer(1)).verdict == "fail"


def _writer(flags: Flags):  # type: ignore[no-untyped-def]
    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        if seg.flags == Flags.ACK and not seg.payload:
            return [(0.001, reply(seg, seq=101, ack=1, flags=flags, payload=stream_bytes(0, 10, TARGET_SALT)))]
        return []
    return policy


def test_a_missing_psh_alone_is_blamed_on_must_61(tmp_path: Path) -> None:
    res = _run(tmp_path, PUSHED, _writer(Flags.ACK))
    assert res.verdict == "fail"
    assert "lacking the PSH bit" in res.reason
    failed = next(s for s in res.steps if s.verdict == "fail")
    assert failed.requirement is not None and failed.requirement.rid == "MUST-61"
    assert _run(tmp_path, PUSHED, _writer(Flags.ACK | Flags.PSH)).verdict == "pass"


def test_a_listen_that_fails_is_an_error_not_the_targets_fail(tmp_path: Path) -> None:
    """Another run's agent holding the port made 117 false MUST failures: a failed listen is the
    environment's, so the case errors, with why."""
    from tcpconform.targets.base import AppFailed, Capability

    class Busy(NoControl):
        capabilities = Capability.APP | Capability.READS

        def app_listen(self, key):  # type: ignore[no-untyped-def]
            raise AppFailed("listen on 192.0.2.2:8000 failed: Address already in use")

    path = tmp_path / "case.yaml"
    path.write_text(textwrap.dedent(CLOSING).replace("steps:\n", "steps:\n  - app: listen\n"))
    res = execute([load_case(path)], InProcessLink(FakePeer(_closer(2), isn=100)), Busy(), get_profile("generic")).cases[0]
    assert res.verdict == "error", res.reason
    assert "could not listen" in res.reason and "Address already in use" in res.reason


def test_a_control_that_dies_loses_no_verdict_and_blames_no_failure_on_the_tcp(tmp_path: Path) -> None:
    """The agent dies mid-run: the run still returns every case; a failure after it is an error."""
    from tcpconform.targets.base import TargetError

    class Dying(NoControl):
        calls = 0

        def drain_events(self):  # type: ignore[no-untyped-def]
            Dying.calls += 1
            if Dying.calls > 3:
                raise TargetError("the agent (pid 1) was killed by signal 9")
            return []

    path = tmp_path / "case.yaml"
    path.write_text(textwrap.dedent(CLOSING))
    case = load_case(path)
    result = execute([case], InProcessLink(FakePeer(_closer(1), isn=100)), Dying(), get_profile("generic"))
    res = result.cases[0]
    assert res.verdict == "error" and "the target's control failed" in res.reason  # _closer(1) would fail it
    assert result.meta.target_control_error == "the agent (pid 1) was killed by signal 9"


def test_ctrl_c_keeps_what_finished_and_marks_the_rest_not_run(tmp_path: Path) -> None:
    import pytest

    path = tmp_path / "case.yaml"
    path.write_text(textwrap.dedent(CLOSING))
    first = load_case(path)
    second = dataclasses.replace(first, id="second")

    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        if seg.sport == 40001 and seg.flags & Flags.FIN:
            raise KeyboardInterrupt  # Ctrl-C while the second case runs
        return _closer(2)(seg, now)

    def run(keep: bool) -> object:
        return execute([first, second], InProcessLink(FakePeer(policy, isn=100)), NoControl(), get_profile("generic"),
                       keep_interrupted=keep)

    result = run(True)
    assert result.meta.interrupted is True  # type: ignore[attr-defined]
    verdicts = {c.id: (c.verdict, c.reason) for c in result.cases}  # type: ignore[attr-defined]
    assert verdicts["closing"] == ("pass", "")
    assert verdicts["second"] == ("skip", "not run (the run was interrupted)")
    with pytest.raises(KeyboardInterrupt):
        run(False)
