"""The IP-level cases in process, over both families: they pass against the reference responder,
fail under the faults they name, and own the 4-tuples a faulty answer to a spoofed segment would
come back on (so a SYN-ACK to 127.0.0.1 or to the target itself breaks their silence)."""

from __future__ import annotations

import pytest

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.model import IpSpec
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.ipsend import spoofed_keys, with_ip
from tcpconform.engine.outcome import CaseUnobservable
from tcpconform.engine.run import execute
from tcpconform.results import CaseResult
from tcpconform.targets.reference import open_reference
from tcpconform.tcp.segment import Flags, FourTuple, Segment

CASES = {"ip-options-ignored": "ip-options-drop", "ip-martian-source-syn": "martian-syn-answered",
         "ip-land-syn": "land-wedges", "ip-syn-to-broadcast-multicast": "broadcast-syn-answered"}


def _run(case_id: str, *faults: str, ipv6: bool = False) -> CaseResult:
    cases = [c for c in load_cases([bundled_cases()]) if c.id == case_id]
    ref = open_reference(faults, ipv6=ipv6)
    return execute(cases, ref.link, ref.target, get_profile("reference")).cases[0]


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("case_id", sorted(CASES))
def test_each_case_passes_clean_and_fails_under_its_fault(case_id: str, ipv6: bool) -> None:
    clean = _run(case_id, ipv6=ipv6)
    assert clean.verdict == "pass", clean.reason
    faulty = _run(case_id, CASES[case_id], ipv6=ipv6)
    assert faulty.verdict == "fail", faulty.reason


def test_a_land_syn_answered_to_itself_is_let_pass_and_a_stack_it_wedges_fails() -> None:
    res = _run("ip-land-syn", "land-wedges")
    got = [s.segment for s in res.segments if s.direction == "in" and isinstance(s.segment, Segment)]
    assert got and got[0].flags == Flags.SYN | Flags.ACK and got[0].dst == got[0].src == "192.0.2.2"
    assert got[0].sport == got[0].dport == 8000
    assert res.verdict == "fail" and "stopped answering" in (res.reason or "")  # wedged: blamed on this case


def test_spoofed_sends_name_their_addresses_in_the_exchange() -> None:
    res = _run("ip-martian-source-syn")
    notes = [s.note for s in res.segments if s.direction == "out" and s.note]
    assert notes[:4] == [f"IP: from {a} port {res.segments[0].segment.sport}"  # type: ignore[union-attr]
                         for a in ("0.0.0.0", "127.0.0.1", "255.255.255.255", "224.0.0.1")]
    assert notes[4].startswith("IP: from 192.0.2.255 port")


def test_a_case_owns_the_tuples_its_spoofed_segments_would_be_answered_on() -> None:
    case = next(c for c in load_cases([bundled_cases()]) if c.id == "ip-land-syn")
    key = FourTuple("192.0.2.1", 40000, "192.0.2.2", 8000)
    assert spoofed_keys(case, key) == [FourTuple("192.0.2.2", 8000, "192.0.2.2", 8000)]
    case = next(c for c in load_cases([bundled_cases()]) if c.id == "ip-syn-to-broadcast-multicast")
    assert spoofed_keys(case, key) == [FourTuple("192.0.2.1", 40000, "255.255.255.255", 8000),
                                       FourTuple("192.0.2.1", 40000, "224.0.0.1", 8000),
                                       FourTuple("192.0.2.1", 40000, "192.0.2.255", 8000)]


def test_an_address_of_the_other_family_skips_the_case() -> None:
    seg = Segment("2001:db8::1", "2001:db8::2", 40000, 8000, flags=Flags.SYN)
    with pytest.raises(CaseUnobservable, match="not of the run's family"):
        with_ip(seg, IpSpec(src="127.0.0.1"), 8000)


def test_options_go_with_their_family_only() -> None:
    spec = IpSpec(ttl=7, options=b"\x01", dest_options=b"\x1e\x00")
    v4 = with_ip(Segment("192.0.2.1", "192.0.2.2", 1, 2), spec, 2)
    v6 = with_ip(Segment("2001:db8::1", "2001:db8::2", 1, 2), spec, 2)
    assert v4.ip is not None and (v4.ip.options, v4.ip.dest_options, v4.ip.ttl) == (b"\x01", None, 7)
    assert v6.ip is not None and (v6.ip.options, v6.ip.dest_options) == (b"", b"\x1e\x00")
    assert with_ip(Segment("192.0.2.1", "192.0.2.2", 1, 2), IpSpec(dest_options=b""), 2).ip is None


@pytest.mark.parametrize(("case_id", "ipv6"), [("ip-ttl-tos-set", False), ("ip-hop-limit-tclass-set", True)])
def test_the_ttl_and_tos_cases_pass_clean_and_fail_when_the_option_is_ignored(case_id: str, ipv6: bool) -> None:
    assert _run(case_id, ipv6=ipv6).verdict == "pass"
    for fault in ("ttl-ignored", "tos-ignored"):
        res = _run(case_id, fault, ipv6=ipv6)
        assert res.verdict == "fail" and res.failed_step is not None
        assert res.failed_step.requirement is not None
        assert res.failed_step.requirement.rid == ("MUST-49" if fault == "ttl-ignored" else "MUST-48")


def test_the_ip_fields_are_read_from_the_frame_and_kept_by_offload_pieces() -> None:
    from tcpconform.engine.ipsend import received_fields
    from tcpconform.links.base import Received, wire_segments
    from tcpconform.tcp.ip import IpHeader
    from tcpconform.wire import encode

    for src, dst in (("192.0.2.2", "192.0.2.1"), ("2001:db8::2", "2001:db8::1")):
        seg = Segment(src, dst, 8000, 40000, seq=1, flags=Flags.ACK | Flags.PSH, payload=bytes(3000),
                      ip=IpHeader(ttl=7, tos=0x29))
        frame = encode(seg)
        plain = seg.with_(ip=None)  # as the decoder reads a frame without options
        assert received_fields(Received(plain, 0.0, frame)) == (7, 0x29)
        assert received_fields(Received(plain, 0.0, None)) == (64, 0)
        pieces = wire_segments(Received(plain, 0.0, frame, "unverifiable"), 1000)
        assert len(pieces) == 3 and all(received_fields(p) == (7, 0x29) for p in pieces)
