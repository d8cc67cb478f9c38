"""A failure seen after the tester itself reacted late is not the target's for sure: the case is
skipped, with how late the tester was.  Lateness before the failure counts, lateness after it not;
a tester on time keeps the failure.  Such a case runs once more, alone, from a source port of its
own, and that run's verdict is the case's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.fakepeer import FakePeer, NoControl, reply

from tcpconform.cases.load import load_case
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.cleanup import LATE_LIMIT
from tcpconform.engine.run import execute
from tcpconform.links.base import Received, Sent
from tcpconform.links.inprocess import InProcessLink
from tcpconform.results import CaseResult
from tcpconform.tcp.segment import Flags, Segment

CASE = """\
id: late
title: the target must ACK the data
requirements: [{id: ack, ref: RFC 9293 3.8.6.3, level: MUST}]
no_fault: engine unit test
numbering: {tester: 0, target: 0}
steps:
  - send: "S 0:0(0) win 5000"
  - expect: "S. 0:0(0) ack 1"
  - send: ". 1:1(0) ack 1 win 5000"
  - send: "P. 1:11(10) ack 1 win 5000"
  - expect: ". 1:1(0) ack 11"
    within: 200ms
"""


def _handshake_only(seg: Segment, now: float) -> list[tuple[float, Segment]]:
    """Answers the SYN, and nothing else: the case's last expectation fails."""
    if seg.flags == Flags.SYN:
        return [(0.001, reply(seg, seq=0, ack=seg.seq + 1, flags=Flags.SYN | Flags.ACK))]
    return []


class _StalledTester:
    """An in-process link whose tester stalls ``stall`` seconds each time it takes a segment: what
    it hands the case arrived that long before the case sees it (a busy machine)."""

    name, clock, local_ip = "stalled", "virtual", "192.0.2.1"

    def __init__(self, inner: InProcessLink, stall: float, stalls: int | None = None) -> None:
        self.inner, self.stall, self.offset, self.stalls = inner, stall, 0.0, stalls

    def now(self) -> float:
        return self.inner.now() + self.offset

    def send(self, segment: Segment) -> Sent:
        return Sent(self.inner.send(segment).at + self.offset)

    def receive(self, timeout: float) -> Received | None:
        got = self.inner.receive(timeout)
        if got is None:
            return None
        at = got.at + self.offset
        if self.stalls is None or self.stalls > 0:
            self.offset += self.stall
            self.stalls = None if self.stalls is None else self.stalls - 1
        return got._replace(at=at)

    def dropped(self) -> int | None:
        return 0

    def close(self) -> None:
        pass


def _run(tmp_path: Path, stall: float, stalls: int | None = None, peer: object = _handshake_only,
         done: list[CaseResult] | None = None) -> CaseResult:
    path = tmp_path / "late.yaml"
    path.write_text(CASE)
    link = _StalledTester(InProcessLink(FakePeer(peer, isn=0)), stall, stalls)  # type: ignore[arg-type]
    on_done = done.append if done is not None else None
    return execute([load_case(path)], link, NoControl(), get_profile("generic"), on_case_done=on_done).cases[0]


def _acks_data_the_second_time() -> Callable[[Segment, float], list[tuple[float, Segment]]]:
    """A peer that answers the SYN and acknowledges data only on the second connection it meets (a
    target that was slow once), so a second run passes where the first failed."""
    ports: set[int] = set()

    def peer(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        if seg.flags == Flags.SYN:
            return [(0.001, reply(seg, seq=0, ack=seg.seq + 1, flags=Flags.SYN | Flags.ACK))]
        if seg.payload:
            ports.add(seg.sport)
            if len(ports) >= 2:
                return [(0.001, reply(seg, seq=1, ack=seg.seq + len(seg.payload), flags=Flags.ACK))]
        return []
    return peer


@pytest.mark.parametrize("stall, verdict", [(0.0, "fail"), (LATE_LIMIT / 2, "fail"), (LATE_LIMIT * 3, "skip")])
def test_only_a_tester_later_than_the_limit_turns_a_failure_into_a_skip(tmp_path: Path, stall: float,
                                                                        verdict: str) -> None:
    res = _run(tmp_path, stall)
    assert res.verdict == verdict, res.reason
    if verdict == "skip":
        assert f"the tester reacted {LATE_LIMIT * 3 * 1000:.0f} ms late" in res.reason
        assert "late.yaml:" in res.reason and "ack 11" in res.reason  # the failure it saw is still shown
        assert res.failed_level is None
        assert res.again is not None and "ran a second time, alone" in res.again  # late both times: still a skip
    else:
        assert res.again is None


def test_a_late_failure_runs_again_alone_and_that_verdict_is_the_cases(tmp_path: Path) -> None:
    done: list[CaseResult] = []
    res = _run(tmp_path, LATE_LIMIT * 3, stalls=2, done=done)  # late in the first run only
    assert res.verdict == "fail" and res.failed_level == "MUST", res.reason
    assert res.again is not None and f"reacted {LATE_LIMIT * 3 * 1000:.0f} ms late" in res.again
    assert done == [res]  # reported once, with the second run's verdict
    assert res.connection["tester"] != f"{res.connection['tester'].rsplit(':', 1)[0]}:40000"  # the retry's own port


def test_the_second_run_is_on_a_source_port_of_its_own_and_may_pass(tmp_path: Path) -> None:
    first = _run(tmp_path, 0.0)
    res = _run(tmp_path, LATE_LIMIT * 3, stalls=2, peer=_acks_data_the_second_time())
    assert first.verdict == "fail" and first.again is None
    assert res.verdict == "pass" and res.again is not None, res.reason
    assert res.connection["tester"] != first.connection["tester"]


def _acks_data(seg: Segment, now: float) -> list[tuple[float, Segment]]:
    if seg.flags == Flags.SYN:
        return [(0.001, reply(seg, seq=0, ack=seg.seq + 1, flags=Flags.SYN | Flags.ACK))]
    if seg.payload:
        return [(0.001, reply(seg, seq=1, ack=seg.seq + len(seg.payload), flags=Flags.ACK))]
    return []


class _LateDelivery(_StalledTester):
    """A link whose host hands the tester the first ACK of data ``hold`` seconds after the wire
    carried it, stamped with when it was carried (a busy machine's softirq: the frame waits in
    the kernel, its timestamp already taken)."""

    def __init__(self, inner: InProcessLink, hold: float) -> None:
        super().__init__(inner, 0.0)
        self.hold, self.held, self.release, self.done = hold, None, 0.0, False

    def receive(self, timeout: float) -> Received | None:
        if self.held is not None and self.inner.now() >= self.release:
            out, self.held = self.held, None
            return out
        got = self.inner.receive(timeout if self.held is None else max(0.0, min(timeout, self.release - self.inner.now())))
        if got is not None and not self.done and got.segment.payload == b"" and got.segment.ack == 11:
            self.held, self.release, self.done = got, got.at + self.hold, True
            return None
        return got


def test_a_segment_handed_over_after_the_failure_but_carried_before_it_makes_the_case_run_again(tmp_path: Path) -> None:
    path = tmp_path / "late.yaml"
    path.write_text(CASE)
    link = _LateDelivery(InProcessLink(FakePeer(_acks_data, isn=0)), hold=0.26)
    res = execute([load_case(path)], link, NoControl(), get_profile("generic")).cases[0]  # type: ignore[arg-type]
    assert res.verdict == "pass", res.reason  # the second run, the ACK handed over in time
    assert res.again is not None and "260 ms late" in res.again
