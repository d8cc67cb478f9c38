"""Several test connections over one link: demultiplexing by 4-tuple, and verdicts as in a serial run."""

from __future__ import annotations

from support.fakepeer import FakePeer, NoControl, reply

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.links.inprocess import InProcessLink
from tcpconform.results import RunResult
from tcpconform.targets.reference import open_reference
from tcpconform.tcp.segment import Flags, Segment


def _run(jobs: int, faults: tuple[str, ...] = ()) -> RunResult:
    cases = [c for c in load_cases([bundled_cases()]) if not c.alone]  # ISN statistics: tests/engine/test_isn.py
    ref = open_reference(faults, isn=100)  # RFC 6528 ISNs follow the clock: pinned, exchanges compare
    return execute(cases, ref.link, ref.target, get_profile("reference"), jobs=jobs)


def _exchange(result: RunResult) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    return {c.id: (c.verdict, [(s.direction, s.summary) for s in c.segments]) for c in result.cases}


def test_parallel_run_gives_the_serial_verdicts_and_exchanges() -> None:
    serial = _run(jobs=1)
    parallel = _run(jobs=8)
    assert serial.ok
    assert _exchange(parallel) == _exchange(serial)
    # The parallel run overlaps the protocol's waiting: its clock spans less than the sum of the cases.
    assert parallel.cases and max(c.duration for c in parallel.cases) <= sum(c.duration for c in serial.cases)


def test_parallel_run_under_a_fault_fails_the_same_cases() -> None:
    for fault in ("ignore-fin", "slow-ack", "ignore-window"):
        serial = {c.id: c.verdict for c in _run(1, (fault,)).cases}
        parallel = {c.id: c.verdict for c in _run(4, (fault,)).cases}
        assert serial == parallel, fault
        assert "fail" in serial.values()


def test_each_case_sees_only_its_own_connection() -> None:
    result = _run(jobs=8)
    ports = [c.connection["tester"] for c in result.cases]
    assert len(set(ports)) == len(ports)


def test_segments_of_no_running_case_are_kept_as_strays(tmp_path) -> None:  # type: ignore[no-untyped-def]
    case_file = tmp_path / "c.yaml"
    case_file.write_text(
        "id: c\ntitle: t\nrequirements: [{id: r, ref: RFC 9293 3.5, level: MUST}]\nno_fault: unit test\n"
        "steps:\n  - send: \"S 0:0(0) win 5000\"\n  - expect: \"S. 0:0(0) ack 1\"\n"
    )
    cases = load_cases([case_file])

    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        return []

    peer = FakePeer(policy, isn=0)
    orig = peer.handle_segment

    def handle(seg: Segment, now: float) -> None:
        if seg.flags == Flags.SYN:  # also answer a connection nobody runs
            peer._out.append(reply(seg, dport=1, flags=Flags.RST | Flags.ACK))
        orig(seg, now)

    peer.handle_segment = handle  # type: ignore[method-assign]
    # no liveness probe: its SYN would be answered by a stray too
    result = execute(cases, InProcessLink(peer), NoControl(), get_profile("generic"), health=False)
    assert result.cases[0].verdict == "pass", result.cases[0].reason
    assert len(result.meta.strays) == 1
