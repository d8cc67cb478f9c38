"""The negotiation cases in process: they pass against the reference over both families, fail under
their faults, and are skipped (never passed, never failed) against a target that declines the
option, as RFC 7323 and RFC 3168 let it; the negotiation invariants judge one segment at a time."""

from __future__ import annotations

import pytest

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.model import Numbering
from tcpconform.cases.profiles import get_profile
from tcpconform.engine import connection as tester
from tcpconform.engine.negotiation import negotiation_hygiene
from tcpconform.engine.run import execute
from tcpconform.links.inprocess import TESTER_IP, InProcessLink, VirtualClock
from tcpconform.responder import AppConfig, Responder, ResponderConfig
from tcpconform.results import CaseResult
from tcpconform.targets.reference import REFERENCE_IP, Reference, ReferenceTarget, open_reference
from tcpconform.tcp.segment import Flags, FourTuple, Segment

NEGOTIATION = ["ws-peer-window-scaled", "ws-shift-15", "ts-echo-paws", "ecn-setup"]


def _run(case_id: str, ref: Reference) -> CaseResult:
    cases = [c for c in load_cases([bundled_cases()]) if c.id == case_id]
    assert cases, case_id
    return execute(cases, ref.link, ref.target, get_profile("reference")).cases[0]


def _declining() -> Reference:
    """A conformant target that implements none of the options: it answers none."""
    clock = VirtualClock()
    cfg = ResponderConfig(app=AppConfig(mode="agent"), window_scale=None, timestamps=False, ecn=False)
    responder = Responder(cfg)
    return Reference(InProcessLink(responder, clock, local_ip=TESTER_IP), ReferenceTarget(responder, clock))


@pytest.mark.parametrize("ipv6", [False, True])
@pytest.mark.parametrize("case_id", NEGOTIATION)
def test_passes_against_the_reference(case_id: str, ipv6: bool) -> None:
    res = _run(case_id, open_reference(ipv6=ipv6))
    assert res.verdict == "pass", res.reason


@pytest.mark.parametrize(("case_id", "fault"), [
    ("ws-peer-window-scaled", "ws-unscaled"), ("ts-echo-paws", "ts-echo-wrong"), ("ts-echo-paws", "ts-missing"),
    ("ts-echo-paws", "no-paws"), ("ecn-setup", "ecn-reflect"), ("options-hygiene", "ws-unoffered"),
    ("options-hygiene", "ts-unoffered"), ("options-hygiene", "ecn-unrequested"),
])
def test_fails_under_its_fault(case_id: str, fault: str) -> None:
    assert _run(case_id, open_reference([fault])).verdict == "fail"


@pytest.mark.parametrize(("case_id", "what"), [
    ("ws-peer-window-scaled", "window scaling"), ("ws-shift-15", "window scaling"), ("ts-echo-paws", "timestamps"),
])
def test_is_skipped_with_the_reason_by_a_target_that_declines(case_id: str, what: str) -> None:
    res = _run(case_id, _declining())
    assert res.verdict == "skip" and f"did not negotiate {what}" in (res.reason or "")


def test_an_ecn_setup_syn_may_be_declined() -> None:
    assert _run("ecn-setup", _declining()).verdict == "pass"


# -- the invariants, one segment at a time ------------------------------------------------------------
def _conn(**offers: object) -> tester.TesterConnection:
    conn = tester.TesterConnection(FourTuple(TESTER_IP, 40000, REFERENCE_IP, 8000), Numbering(), 0, {})
    for name, value in offers.items():
        setattr(conn, name, value)
    return conn


def _seg(flags: Flags, options: tuple = ()) -> Segment:
    return Segment(REFERENCE_IP, TESTER_IP, 8000, 40000, seq=100, ack=1, flags=flags, options=options)


ALL = frozenset({"options-offered", "syn-only-options", "ts-every-segment", "ecn-setup"})
TS = (("NOP", None), ("NOP", None), ("Timestamp", (5, 1)))


def _broken(seg: Segment, conn: tester.TesterConnection) -> list[str]:
    return [name for name, _ in negotiation_hygiene(seg, conn, ALL)]


def test_unoffered_window_scale_and_timestamps_break_options_offered() -> None:
    synack = _seg(Flags.SYN | Flags.ACK, (("WScale", 7), *TS))
    assert _broken(synack, _conn()) == ["options-offered"]
    assert _broken(synack, _conn(ws_offered=2, ts_offered=True)) == []


def test_a_target_connecting_out_offers_in_its_syn_and_again_in_a_simultaneous_open() -> None:
    syn = _seg(Flags.SYN, (("WScale", 7), *TS))
    assert _broken(syn, _conn()) == []  # its own offer, before the tester said anything
    assert _broken(syn, _conn(target_syn=syn)) == []  # sent again
    assert _broken(_seg(Flags.SYN | Flags.ACK, (("WScale", 7), *TS)), _conn(target_syn=syn)) == []  # crossing SYNs
    # the tester's SYN-ACK declined both: the target's later segments may carry neither
    assert _broken(_seg(Flags.ACK, TS), _conn(target_syn=syn)) == ["options-offered"]
    # a passive target's SYN-ACK is bound by the tester's SYN
    assert _broken(_seg(Flags.SYN | Flags.ACK, TS), _conn(target_syn=_seg(Flags.SYN | Flags.ACK, TS))) == ["options-offered"]


def test_window_scale_and_sack_permitted_only_on_syns() -> None:
    assert _broken(_seg(Flags.ACK, (("NOP", None), ("WScale", 2))), _conn(ws_offered=2)) == ["syn-only-options"]
    assert _broken(_seg(Flags.ACK, (("SAckOK", None),)), _conn(sack_offered=True)) == ["syn-only-options"]


def test_timestamps_on_every_segment_but_a_rst_once_negotiated() -> None:
    conn = _conn(ts_offered=True, target_syn=_seg(Flags.SYN | Flags.ACK, TS))
    assert _broken(_seg(Flags.ACK), conn) == ["ts-every-segment"]
    assert _broken(_seg(Flags.ACK, TS), conn) == []
    assert _broken(_seg(Flags.RST), conn) == []
    declined = _conn(ts_offered=True, target_syn=_seg(Flags.SYN | Flags.ACK))
    assert _broken(_seg(Flags.ACK), declined) == []


def test_an_ecn_setup_synack_only_to_an_ecn_setup_syn() -> None:
    synack = _seg(Flags.SYN | Flags.ACK | Flags.ECE)
    assert _broken(synack, _conn()) == ["ecn-setup"]
    assert _broken(synack, _conn(ecn_offered=True)) == []
    assert _broken(_seg(Flags.SYN | Flags.ACK | Flags.ECE | Flags.CWR), _conn()) == []  # no ECN-setup SYN-ACK


def test_the_tester_window_is_scaled_once_both_syns_carried_window_scale() -> None:
    conn = _conn(ws_offered=15, target_syn=_seg(Flags.SYN | Flags.ACK, (("WScale", 7),)))
    conn.note_sent(Segment(TESTER_IP, REFERENCE_IP, 40000, 8000, seq=1, ack=101, flags=Flags.ACK, window=2))
    assert conn.our_right_edge == 101 + (2 << 14)
