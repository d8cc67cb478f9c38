"""The source route cases in process (RFC 9293 MUST-53, SHLD-24): they pass against the reference
responder, fail under the faults they name, skip over IPv6 and against a target that drops
source-routed datagrams (never pass on its silence), and the send and expect steps build and judge
the routes as RFC 1122 3.3.5 has them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.model import IpExpect, IpSpec
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.ipsend import ip_mismatches, with_ip
from tcpconform.engine.outcome import CaseUnobservable
from tcpconform.engine.run import execute
from tcpconform.links.base import Received
from tcpconform.results import CaseResult
from tcpconform.targets.reference import open_reference
from tcpconform.tcp.ip import IpHeader
from tcpconform.tcp.segment import Flags, FourTuple, Segment
from tcpconform.tcp.srcroute import LSRR, SSRR, completed_route, read_route, route_option

CASES = {"ip-source-route-reversed": ("source-route-ignored", "source-route-echoed"),
         "ip-source-route-replaced": ("source-route-ignored", "source-route-echoed", "source-route-first-kept")}
KEY = FourTuple("192.0.2.1", 40000, "192.0.2.2", 8000)


def _run(case_id: str, *faults: str, ipv6: bool = False) -> CaseResult:
    cases = [c for c in load_cases([bundled_cases()]) if c.id == case_id]
    ref = open_reference(faults, ipv6=ipv6)
    return execute(cases, ref.link, ref.target, get_profile("reference")).cases[0]


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_each_case_passes_clean_and_fails_under_each_fault(case_id: str) -> None:
    clean = _run(case_id)
    assert clean.verdict == "pass", clean.reason
    for fault in CASES[case_id]:
        faulty = _run(case_id, fault)
        assert faulty.verdict == "fail", (fault, faulty.reason)


def test_the_replacement_fault_fails_at_should_level_and_passes_the_must() -> None:
    res = _run("ip-source-route-replaced", "source-route-first-kept")
    assert res.verdict == "fail" and res.failed_level == "SHOULD"
    assert _run("ip-source-route-reversed", "source-route-first-kept").verdict == "pass"


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_a_target_dropping_source_routed_datagrams_skips_with_the_reason(case_id: str) -> None:
    res = _run(case_id, "ip-options-drop")
    assert res.verdict == "skip" and "drops source-routed datagrams" in (res.reason or "")


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_over_ipv6_the_cases_are_skipped(case_id: str) -> None:
    assert _run(case_id, ipv6=True).verdict == "skip"


def test_silence_after_the_target_took_the_route_is_still_a_failure(tmp_path: Path) -> None:
    text = (bundled_cases() / "ip" / "source-route-reversed.yaml").read_text()
    assert text.endswith("    rfc: return-route\n")
    path = tmp_path / "late.yaml"
    path.write_text(text + "    within: 300ms\n")  # the ACK of data, which fault slow-ack holds 600 ms
    ref = open_reference(("slow-ack",))
    res = execute(load_cases([path]), ref.link, ref.target, get_profile("reference")).cases[0]
    assert res.verdict == "fail", res.reason


def test_a_send_carries_a_completed_route_over_the_named_hops() -> None:
    seg = with_ip(Segment(KEY.src, KEY.dst, KEY.sport, KEY.dport, flags=Flags.SYN),
                  IpSpec(options=b"\x01", source_route=("198.51.100.1", "tester")), KEY.dport)
    assert seg.ip is not None and seg.ip.options == b"\x01" + completed_route(("198.51.100.1", KEY.src))
    route = read_route(seg.ip.options)
    assert route is not None and route.completed and seg.dst == KEY.dst
    with pytest.raises(CaseUnobservable, match="RFC 5095"):
        with_ip(Segment("2001:db8::1", "2001:db8::2", 1, 2), IpSpec(source_route=("tester",)), 2)


def _judged(options: bytes | None, hops: tuple[str, ...]) -> list[str]:
    seg = Segment(KEY.dst, KEY.src, KEY.dport, KEY.sport, flags=Flags.SYN | Flags.ACK,
                  ip=None if options is None else IpHeader(options=options))
    return [m.actual for m in ip_mismatches(IpExpect(source_route=hops), Received(seg, 0.0), KEY)]


def test_an_expect_judges_the_return_route_and_takes_either_kind() -> None:
    hops = ("198.51.100.2", "tester")
    want = ("198.51.100.2", KEY.src)
    assert _judged(route_option(LSRR, 4, want), hops) == []
    assert _judged(route_option(SSRR, 4, want), hops) == []
    assert _judged(None, hops) == ["none"]
    assert _judged(route_option(LSRR, 12, want), hops) == [f"LSRR [198.51.100.2, {KEY.src}] pointer 12"]
    assert _judged(route_option(LSRR, 4, want[::-1]), hops) == [f"LSRR [{KEY.src}, 198.51.100.2] pointer 4"]

