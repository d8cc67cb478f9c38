"""The engine honours what a service does by itself (tcpconform/targets/service.py), and nothing more.

An echo (RFC 862) closes once the tester's FIN came and everything is echoed: its FIN may carry the
ACK a step expects, and its bytes and FIN move the target's numbers past what a case wrote for an
application that sent nothing.  A FIN the model does not allow (before the tester's, before all is
echoed) still fails; a case needing CLOSE_WAIT to last is skipped against any service.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from support.fakepeer import FakePeer, reply

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_case, load_cases
from tcpconform.cases.model import TestCase
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.links.inprocess import InProcessLink
from tcpconform.results import CaseResult
from tcpconform.targets.service import MODELS, STANDARD_PORTS, ServiceTarget, parse_service
from tcpconform.tcp.payload import TESTER_SALT, stream_bytes
from tcpconform.tcp.segment import Flags, Segment

Policy = Callable[[Segment, float], list[tuple[float, Segment]]]


def echo(close_on_fin: bool = True, close_early: bool = False, echo_data: bool = True) -> Policy:
    """A stack serving echo: each segment's bytes sent back with the ACK on them; on the tester's
    FIN, its own FIN carrying the ACK (``close_on_fin``); ``close_early``: a FIN on the handshake's
    ACK, before the tester sent one."""
    sent = {"n": 0, "fin": False, "rcv": 1}  # the tester's ISN is 0 here: its first byte is 1

    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        out: list[tuple[float, Segment]] = []
        end = seg.seq + len(seg.payload)
        if seg.payload and seg.seq < sent["rcv"]:  # an old duplicate (a keep-alive probe): ACK it, echo nothing
            seq = 101 + sent["n"] + (1 if sent["fin"] else 0)
            return [(0.001, reply(seg, seq=seq, ack=sent["rcv"]))]
        sent["rcv"] = max(sent["rcv"], end + (1 if seg.flags & Flags.FIN else 0))
        if seg.payload and echo_data:
            data = stream_bytes(seg.seq - 1, len(seg.payload), TESTER_SALT)
            out.append((0.001, reply(seg, seq=101 + sent["n"], ack=end, flags=Flags.ACK | Flags.PSH, payload=data)))
            sent["n"] += len(data)
        elif seg.payload:
            out.append((0.001, reply(seg, seq=101 + sent["n"], ack=end)))
        if seg.flags & Flags.FIN and close_on_fin and not sent["fin"]:
            sent["fin"] = True
            out.append((0.002, reply(seg, seq=101 + sent["n"], ack=end + 1, flags=Flags.ACK | Flags.FIN)))
        elif close_early and not seg.payload and not sent["fin"] and seg.flags == Flags.ACK:
            sent["fin"] = True
            out.append((0.001, reply(seg, seq=101, ack=seg.seq, flags=Flags.ACK | Flags.FIN)))
        return out

    return policy


def run(case: TestCase, policy: Policy, service: str = "echo") -> CaseResult:
    target = ServiceTarget(service, "192.0.2.2", 8000)
    return execute([case], InProcessLink(FakePeer(policy, isn=100)), target, get_profile("generic")).cases[0]


def bundled(case_id: str) -> TestCase:
    return next(c for c in load_cases([bundled_cases()]) if c.id == case_id)


@pytest.mark.parametrize("case_id", ["matrix-established-fin-ack", "matrix-syn-rcvd-fin-ack"])
def test_the_ack_of_the_testers_fin_may_ride_on_the_echos_fin(case_id: str) -> None:
    res = run(bundled(case_id), echo())
    assert res.verdict == "pass", res.reason
    assert any(s.note == "matched: the ACK rides on the service's FIN" for s in res.segments)


def test_an_echo_that_closes_before_the_testers_fin_still_fails() -> None:
    res = run(bundled("matrix-established-fin-ack"), echo(close_early=True))
    assert res.verdict == "fail"
    assert "unexpected segment: F." in res.reason or "unexpected segment: F." in str(res.steps)


def test_an_echo_that_closes_without_being_sent_a_fin_fails_the_silence_it_broke() -> None:
    res = run(bundled("matrix-established-ack"), echo(close_early=True))
    assert res.verdict == "fail"


def test_a_fin_that_does_not_acknowledge_the_testers_fin_is_not_the_services() -> None:
    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        if seg.flags & Flags.FIN:
            return [(0.001, reply(seg, seq=101, ack=seg.seq, flags=Flags.ACK | Flags.FIN))]
        return []

    assert run(bundled("matrix-established-fin-ack"), policy).verdict == "fail"


ECHOED = """
id: echoed
title: the echo's bytes and FIN move the target's numbers
requirements: [{id: r, ref: RFC 9293 3.10.7.4, level: MUST}]
no_fault: engine unit test
numbering: {tester: 0, target: 100}
steps:
  - app: listen
  - send: "S 0:0(0) win 5000 <mss 512>"
  - expect: "S. 100:100(0) ack 1"
  - send: ". 1:1(0) ack 101"
  - send: "P. 1:11(10) ack 101"
  - expect: ". 101:101(0) ack 11"
  - send: "F. 11:11(0) ack 101"
  - expect: ". 101:101(0) ack 12"
  - send: ". 12:12(0) ack 101"
  - silence: 100ms
"""


def _case(tmp_path: Path, text: str) -> TestCase:
    path = tmp_path / "case.yaml"
    path.write_text(textwrap.dedent(text))
    return load_case(path)


def test_written_numbers_count_past_what_the_echo_sent(tmp_path: Path) -> None:
    """The echo's 10 bytes and its FIN take 101..111: the case's 101 is the target's next number
    after them, its ACK 101 acknowledges them all (wire 112), and nothing else comes."""
    peer_seen: list[Segment] = []
    serve = echo()

    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        peer_seen.append(seg)
        return serve(seg, now)

    res = run(_case(tmp_path, ECHOED), policy)
    assert res.verdict == "pass", res.reason
    assert peer_seen[-1].ack == 112  # the tester's last ACK covers the echo's bytes and FIN


def test_an_echo_whose_fin_comes_before_everything_is_echoed_fails(tmp_path: Path) -> None:
    res = run(_case(tmp_path, ECHOED), echo(echo_data=False))
    assert res.verdict == "fail"


def test_discard_sends_no_data_so_data_from_it_fails(tmp_path: Path) -> None:
    assert run(_case(tmp_path, ECHOED), echo(), service="discard").verdict == "fail"
    assert run(_case(tmp_path, ECHOED), echo(echo_data=False), service="discard").verdict == "pass"


def test_close_wait_lasts_on_an_echo_only_while_it_holds_a_byte_it_cannot_send() -> None:
    """The tester keeps its window closed and sends one byte before its FIN: a conformant echo
    cannot send it back, so its FIN waits.  One that sends into the closed window fails; on
    discard, which holds nothing, the case cannot run."""
    res = run(bundled("matrix-close-wait-ack"), echo())  # this one ignores the window
    assert res.verdict == "fail", res.reason
    assert any(s.note == "for the echo to hold: CLOSE_WAIT lasts" for s in res.segments)
    assert all(s.segment.window == 0 for s in res.segments if s.direction == "out" and s.segment is not None
               and s.segment.flags & Flags.ACK and not s.segment.flags & Flags.RST)
    res = run(bundled("matrix-close-wait-ack"), echo(), service="discard")
    assert res.verdict == "skip" and "keep the connection open after the tester's FIN" in res.reason


def test_the_models_check_what_can_be_checked() -> None:
    chargen, daytime = MODELS["chargen"].check, MODELS["daytime"].check
    assert chargen is not None and daytime is not None
    assert chargen(0, b"!\"#$%&'()*+,-./0123\r\n") is None
    assert chargen(0, b"abc\x00") is not None
    assert daytime(0, b"Tuesday, December 1, 2026 08:00:00-UTC\r\n") is None
    assert daytime(0, b"one\r\ntwo\r\n") is not None
    assert {m.closes for m in MODELS.values()} == {"after-peer-fin", "first", "never"}
    assert MODELS["daytime"].closes == "first" and MODELS["echo"].writes == "echo"


def test_the_cli_offers_every_modelled_service() -> None:
    from tcpconform.cli import run as run_command

    option = next(p for p in run_command.params if p.name == "services")
    assert option.multiple
    assert all(name in (option.help or "") for name in MODELS)
    assert [parse_service(f"{name}={port}", None) for name, port in STANDARD_PORTS.items()] == list(STANDARD_PORTS.items())
    assert parse_service("echo", 7007) == ("echo", 7007) and parse_service("daytime", None) == ("daytime", 13)
    for bad, why in [("ftp=21", "unknown service"), ("echo=x", "not a port"),
                     ("echo=70000", "not in 1..65535")]:
        with pytest.raises(ValueError, match=why):
            parse_service(bad, None)


def test_a_fin_without_ack_bit_gives_a_service_no_reason_to_close() -> None:
    """A conformant stack drops a FIN without ACK; one that takes it and lets the echo close fails."""
    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        if seg.flags == Flags.FIN:
            return [(0.001, reply(seg, seq=101, ack=seg.seq + 1, flags=Flags.ACK | Flags.FIN))]
        return []

    def drops_it(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        """Drops the FIN without ACK and stays ESTABLISHED: the state probe's old octet is ACKed."""
        return [(0.001, reply(seg, seq=101, ack=1))] if seg.payload else []

    assert run(bundled("matrix-established-fin"), policy).verdict == "fail"
    assert run(bundled("matrix-established-fin"), drops_it).verdict == "pass"
    silent = run(bundled("matrix-established-fin"), lambda seg, now: [])  # drops it, and answers no probe
    assert silent.verdict == "pass"  # the silence it asserts was observed; the state was not, and says so
    assert any(s.kind == "state" and s.verdict == "skip" and "no answer" in s.message for s in silent.steps)


def test_a_rst_case_does_not_pass_on_silence_when_the_probe_for_closed_goes_unanswered() -> None:
    """A connection that ignored the RST meant to end it is as silent as one that took it: with the
    state probe unanswered the case is skipped, with why, never passed on the silence before it."""
    def probed(rst_taken: bool) -> Policy:
        """Answers the state probes' old octet: the first (before the tester's RST) with an ACK, the
        second with a RST if the RST was taken, else with an ACK (the peer sees no RST itself)."""
        probes = [0]

        def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
            if not seg.payload:
                return []
            probes[0] += 1
            if probes[0] > 1 and rst_taken:
                return [(0.001, reply(seg, seq=seg.ack, ack=0, flags=Flags.RST))]
            return [(0.001, reply(seg, seq=101, ack=1))]
        return policy

    assert run(bundled("matrix-established-rst"), probed(rst_taken=True)).verdict == "pass"
    assert run(bundled("matrix-established-rst"), probed(rst_taken=False)).verdict == "fail"
    silent = run(bundled("matrix-established-rst"), lambda seg, now: [])  # answers nothing: RST taken or not?
    assert silent.verdict == "skip"
    assert "the case's last check could not be observed" in silent.reason and "no answer" in silent.reason


@pytest.mark.parametrize("again_after, verdict", [(2.0, "fail"), (None, "skip")])
def test_a_fin_sent_again_after_the_rst_shows_the_connection_alive(again_after: float | None, verdict: str) -> None:
    """In LAST_ACK the target's FIN is unacknowledged: a connection that ignored the RST sends it
    again when its timer fires, which the probe for CLOSED waits for, even with no answer to itself."""
    probes = [0]

    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        if seg.flags & Flags.FIN:  # the tester's FIN: the echo takes it and closes
            return [(0.001, reply(seg, seq=101, ack=seg.seq + 1)),
                    (0.002, reply(seg, seq=101, ack=seg.seq + 1, flags=Flags.ACK | Flags.FIN))]
        probes[0] += bool(seg.payload)
        if probes[0] == 2 and seg.payload and again_after is not None:  # the probe after the RST
            return [(again_after, reply(seg, seq=101, ack=2, flags=Flags.ACK | Flags.FIN))]
        return []

    res = run(bundled("matrix-last-ack-rst"), policy)
    assert res.verdict == verdict, res.reason
    if verdict == "fail":  # later than a probe's answer is waited for: only the FIN's timer says it
        assert "answered with F. 101:101(0) ack 2 win 65535 after 2000 ms: the connection is alive" in res.reason


def test_the_echos_bytes_move_the_numbers_even_where_a_tolerance_lets_them_pass() -> None:
    """Data on the SYN, taken and echoed once the handshake completes (the silence step tolerates
    any answer); the duplicate ACK of the resent data comes from past the echoed bytes."""
    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        if seg.flags == Flags.ACK and not seg.payload:
            data = stream_bytes(0, 10, TESTER_SALT)
            return [(0.001, reply(seg, seq=101, ack=11, flags=Flags.ACK | Flags.PSH, payload=data))]
        if seg.payload:
            return [(0.001, reply(seg, seq=111, ack=11))]
        return []

    res = run(bundled("handshake-syn-with-data"), policy)
    assert res.verdict == "pass", res.reason


def test_an_old_ack_on_the_echos_data_neither_answers_a_duplicate_nor_fails_it() -> None:
    """The duplicate must be answered with an ACK (RFC 9293 3.10.7.4, first check).  The echo of the
    first copy's bytes, sent after the duplicate, carries the ACK number already sent: it may be the
    answer riding on the echo, or no answer at all, so the case is skipped with why, not judged."""
    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        if seg.payload and seg.seq == 1 and not any(s.payload for s in seen):
            seen.append(seg)
            return [(0.0, reply(seg, seq=101, ack=11)),
                     (0.002, reply(seg, seq=101, ack=11, flags=Flags.ACK | Flags.PSH,
                                   payload=stream_bytes(0, 10, TESTER_SALT)))]
        if seg.payload and seg.seq == 11:
            return [(0.0, reply(seg, seq=111, ack=21, flags=Flags.ACK | Flags.PSH,
                                payload=stream_bytes(10, 10, TESTER_SALT)))]
        return []  # no duplicate ACK for the duplicate

    seen: list[Segment] = []
    res = run(bundled("window-duplicate-segment"), policy)
    assert res.verdict == "skip", res.reason
    assert "cannot be told" in res.reason


def test_an_ack_that_overtook_the_echo_it_follows_still_answers() -> None:
    """The echo's 10 bytes are sent first but arrive after the ACK of the overlapping segment, whose
    seq is already past them: the ACK answers the step; a seq further than the echo could have
    gone still fails."""
    for past, verdict in ((10, "pass"), (30, "fail")):
        def policy(seg: Segment, now: float, past: int = past) -> list[tuple[float, Segment]]:
            if seg.payload and len(seg.payload) == 10:
                return [(0.0, reply(seg, seq=101, ack=11))]
            if seg.payload:
                echo = stream_bytes(0, 10, TESTER_SALT)
                return [(0.0, reply(seg, seq=101 + past, ack=21)),
                        (0.001, reply(seg, seq=101, ack=11, flags=Flags.ACK | Flags.PSH, payload=echo))]
            return []

        res = run(bundled("window-overlapping-segment"), policy)
        assert res.verdict == verdict, res.reason


def test_the_ack_of_1025_that_overtook_the_echo_of_the_first_segment_answers() -> None:
    """seed-cumulative-ack as pasta answers it: the ACK of 513, then the ACK of 1025 from past the
    512 echoed bytes (seq 613) arriving before them, then the echo: the ACK answers the step."""
    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        if seg.payload and seg.seq == 1:
            return [(0.0, reply(seg, seq=101, ack=513))]
        if seg.payload and seg.seq == 513:
            return [(0.0, reply(seg, seq=613, ack=1025)),
                    (0.001, reply(seg, seq=101, ack=513, payload=stream_bytes(0, 512, TESTER_SALT))),
                    (0.001, reply(seg, seq=613, ack=1025, payload=stream_bytes(512, 512, TESTER_SALT)))]
        return []

    res = run(bundled("seed-cumulative-ack"), policy)
    assert res.verdict == "pass", res.reason


def test_an_echo_holding_its_byte_closes_when_the_window_opens_and_the_numbers_hold() -> None:
    """seed-teardown on an echo: the tester's window stays closed, one byte goes before its FIN, and
    the echo holds it (CLOSE_WAIT lasts) until the case's app close opens the window; then its byte
    and FIN come in one segment.  The FIN is the step's, so the case's ACK of 102 acknowledges exactly
    the byte and the FIN (wire 103), and the connection is gone after it."""
    state = {"fin": False, "closed": False, "gone": False}

    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        end = seg.seq + len(seg.payload) + (1 if seg.flags & Flags.FIN else 0)
        if state["gone"]:  # CLOSED: a keep-alive draws a RST
            return [(0.001, reply(seg, seq=seg.ack, flags=Flags.RST))]
        if state["closed"]:  # LAST_ACK: a keep-alive is answered; the ACK of the FIN ends it
            state["gone"] = not seg.payload and seg.ack == 103
            return [(0.001, reply(seg, seq=103, ack=3))] if seg.payload else []
        if seg.flags & Flags.FIN:
            state["fin"] = True
            return [(0.001, reply(seg, seq=101, ack=end))]
        if seg.payload and seg.seq < 2 and not state["fin"]:  # the held byte, or a keep-alive of the handshake
            return [(0.001, reply(seg, seq=101, ack=2 if seg.seq == 1 else 1))]
        if seg.payload:  # a keep-alive in CLOSE_WAIT
            return [(0.001, reply(seg, seq=101, ack=3))]
        if state["fin"] and seg.window > 0:  # the window opened: the held byte and the FIN together
            state["closed"] = True
            return [(0.001, reply(seg, seq=101, ack=3, flags=Flags.ACK | Flags.PSH | Flags.FIN,
                                  payload=stream_bytes(0, 1, TESTER_SALT)))]
        return []

    res = run(bundled("seed-teardown"), policy)
    last_ack = [s.segment for s in res.segments if s.direction == "out" and s.segment is not None
                and s.segment.flags == Flags.ACK and s.segment.window == 5000 and not s.segment.payload][-1]
    assert last_ack.ack == 103, res.reason  # past the byte (101) and the FIN (102), on the wire (target ISN 100)
    assert res.verdict == "pass", res.reason
    assert any(s.note == "matched: the FIN after the service's data" for s in res.segments)
