"""A target with two addresses, and active opens to group addresses (RFC 9293 3.9.1.1): which
4-tuples a case speaks on and owns, when it is skipped, what the tester's wire side admits and
where its frames go, and how a run is told the second address."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cases import BASE, errors, replace

from tcpconform.cases.load import load_cases
from tcpconform.cases.profiles import PROFILES
from tcpconform.engine.addressing import case_key, extra_keys, followed, source_mismatches
from tcpconform.engine.run import execute
from tcpconform.lab.spec import lab_spec
from tcpconform.links.inprocess import InProcessLink, VirtualClock
from tcpconform.links.neighbours import group_mac
from tcpconform.links.rawsock import RawEndpoint
from tcpconform.responder import AppConfig, Responder, ResponderConfig
from tcpconform.session import SessionError, open_session
from tcpconform.targets.reference import REFERENCE_ALT_IP, REFERENCE_IP, ReferenceTarget, open_reference
from tcpconform.tcp.segment import Flags, FourTuple, Segment

CASES = ["testcases/address", "testcases/client"]
MULTIHOMED = ("address-second-server", "client-bind-second-address", "client-connect-unbound")
GROUPS = ("client-connect-multicast", "client-connect-broadcast")


def _cases(*ids: str):  # type: ignore[no-untyped-def]
    return [c for c in load_cases(CASES) if c.id in ids]


@pytest.mark.parametrize("ipv6", [False, True])
def test_the_cases_pass_clean_and_fail_under_their_faults(ipv6: bool) -> None:
    cases = _cases(*MULTIHOMED, *GROUPS)
    clean = execute(cases, (ref := open_reference(ipv6=ipv6)).link, ref.target, PROFILES["reference"])
    assert {c.id: c.verdict for c in clean.cases} == {
        c.id: "skip" if ipv6 and c.family == "ipv4" else "pass" for c in cases}
    for case in cases:
        for fault in case.faults:
            ref = open_reference([fault], ipv6=ipv6)
            (got,) = execute([case], ref.link, ref.target, PROFILES["reference"]).cases
            assert got.verdict == ("skip" if ipv6 and case.family == "ipv4" else "fail"), (case.id, fault, got.reason)


def test_a_wrong_source_fails_on_the_ip_source_and_names_both_addresses() -> None:
    ref = open_reference(["reply-from-primary"])
    (got,) = execute(_cases("address-second-server"), ref.link, ref.target, PROFILES["reference"]).cases
    step = next(s for s in got.steps if s.verdict == "fail")
    assert [(m.field, m.actual) for m in step.mismatches] == [("IP source", REFERENCE_IP)]
    assert REFERENCE_ALT_IP in step.mismatches[0].expected


def test_without_a_second_address_the_multihomed_cases_are_skipped_with_the_reason() -> None:
    clock = VirtualClock()
    responder = Responder(ResponderConfig(app=AppConfig(mode="agent")))  # one address only
    target = ReferenceTarget(responder, clock)
    link = InProcessLink(responder, clock)
    result = execute(_cases(*MULTIHOMED), link, target, PROFILES["reference"], health=False)
    assert {c.verdict for c in result.cases} == {"skip"}
    assert all("no second one known (give it with --target-alt" in c.reason for c in result.cases)


def test_a_group_peer_refused_at_once_passes_its_connect_step_with_the_refusal() -> None:
    ref = open_reference()
    (got,) = execute(_cases("client-connect-multicast"), ref.link, ref.target, PROFILES["reference"]).cases
    assert got.verdict == "pass" and got.connection["tester"].startswith("224.0.0.1:")
    assert got.steps[0].message.startswith("refused: ") and "broadcast or multicast" in got.steps[0].message
    assert got.segments == []


def test_keys_for_each_address_choice() -> None:
    ref = open_reference()
    by_id = {c.id: c for c in _cases("address-second-server", "client-connect-unbound", "client-connect-broadcast")}
    second, unbound, group = by_id["address-second-server"], by_id["client-connect-unbound"], by_id["client-connect-broadcast"]
    key = case_key(second, "192.0.2.1", 40000, ref.target, 8000)
    assert key == FourTuple("192.0.2.1", 40000, REFERENCE_ALT_IP, 8000)
    assert extra_keys(second, key, ref.target) == [FourTuple("192.0.2.1", 40000, REFERENCE_IP, 8000)]
    key = case_key(unbound, "192.0.2.1", 40001, ref.target, 40001)
    assert key.dst == REFERENCE_IP
    assert [k.dst for k in extra_keys(unbound, key, ref.target)] == [REFERENCE_ALT_IP, "0.0.0.0"]
    assert case_key(group, "192.0.2.1", 40002, ref.target, 40002).src == "192.0.2.255"


def test_an_unbound_open_follows_its_first_syn_to_the_second_address_only() -> None:
    ref = open_reference()
    (unbound,) = _cases("client-connect-unbound")
    key = FourTuple("192.0.2.1", 40001, REFERENCE_IP, 40001)
    syn = Segment(REFERENCE_ALT_IP, "192.0.2.1", 40001, 40001, seq=1, flags=Flags.SYN)
    assert followed(unbound, key, syn, ref.target, synced=False) == FourTuple("192.0.2.1", 40001, REFERENCE_ALT_IP, 40001)
    assert followed(unbound, key, syn, ref.target, synced=True) is None  # only the first SYN moves it
    assert followed(unbound, key, syn.with_(src=REFERENCE_IP), ref.target, synced=False) is None
    assert followed(unbound, key, syn.with_(flags=Flags.ACK), ref.target, synced=False) is None
    assert source_mismatches(syn, key)[0].actual == REFERENCE_ALT_IP
    assert source_mismatches(syn.with_(src=REFERENCE_IP), key) == []


def test_the_lab_gives_each_target_a_second_address() -> None:
    lab = lab_spec(45)
    assert lab.linux_addresses() == ("198.18.45.2", "198.18.45.4")
    assert lab.linux_addresses(ipv6=True) == ("fd00:7c:45::2", "fd00:7c:45::4")
    assert (lab.reference_alt_ip, lab.reference_alt_ip6) == ("198.18.45.5", "fd00:7c:45::5")
    assert len({lab.tester_ip, lab.linux_ip, lab.reference_ip, lab.linux_alt_ip, lab.reference_alt_ip}) == 5


def test_the_wire_filter_admits_both_addresses_of_the_peer_and_of_the_endpoint() -> None:
    both = RawEndpoint.filter_expression("198.18.45.1", "198.18.45.2", peer_alt="198.18.45.4")
    assert "(src host 198.18.45.2 or src host 198.18.45.4 or src host 0.0.0.0)" in both
    own = RawEndpoint.filter_expression("198.18.45.3", also="198.18.45.5", icmp=True)
    assert "(dst host 198.18.45.3 or dst host 198.18.45.5)" in own
    v6 = RawEndpoint.filter_expression("fd00:7c:45::1", "fd00:7c:45::2", peer_alt="fd00:7c:45::4")
    assert "(src host fd00:7c:45::2 or src host fd00:7c:45::4 or src host ::)" in v6
    assert RawEndpoint.filter_expression("198.18.45.1", "198.18.45.2") == \
        "arp or (tcp and src host 198.18.45.2)"  # one address: that address alone


@pytest.mark.parametrize(("address", "mac"), [
    ("224.0.0.1", "01:00:5e:00:00:01"), ("239.129.2.3", "01:00:5e:01:02:03"), ("ff02::1", "33:33:00:00:00:01"),
    ("ff02::1:ff00:5", "33:33:ff:00:00:05"), ("255.255.255.255", "ff:ff:ff:ff:ff:ff"),
    ("198.18.45.255", "ff:ff:ff:ff:ff:ff"), ("198.18.45.4", None), ("fd00:7c:45::4", None),
])
def test_a_group_address_is_mapped_to_its_mac_not_resolved(address: str, mac: str | None) -> None:
    assert group_mac(address, "198.18.45.2") == mac


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"target_alt": "192.0.2.9"}, "--target-alt goes with --target"),
    ({"target": "192.0.2.2", "port": 7, "target_alt": "2001:db8::3"}, "are not of one address family"),
    ({"target": "192.0.2.2", "port": 7, "target_alt": "192.0.2.2"}, "is the --target itself"),
    ({"target": "192.0.2.2", "port": 7, "target_alt": "nonsense"}, "'nonsense' is not an IPv4 or IPv6 address"),
])
def test_a_bad_target_alt_is_refused_with_the_reason(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SessionError, match=message):
        open_session(**kwargs)


@pytest.mark.parametrize(("line", "field", "known"), [
    ("address: third", "address", "second"), ("peer: anycast", "peer", "multicast"),
])
def test_a_bad_address_or_peer_is_reported_at_its_line(tmp_path: Path, line: str, field: str, known: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(replace(BASE, "tester: {window: 5000, mss: 512}\n", f"tester: {{window: 5000, mss: 512}}\n{line}\n"))
    (message,) = errors(str(path))
    assert "x.yaml:13:" in message and f"{field}:" in message and known in message, message


def test_a_second_listen_refused_skips_the_listen_again_case_never_fails_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 9293 3.9.1.1: a passive OPEN either creates a record in LISTEN or returns an error."""
    from tcpconform.targets.base import AppFailed

    ref = open_reference()
    calls: list[FourTuple] = []
    listen = ref.target.app_listen

    def once(key: FourTuple) -> None:
        calls.append(key)
        if len(calls) > 1:
            raise AppFailed("listen on 192.0.2.2:8000 failed: Address already in use")
        listen(key)

    monkeypatch.setattr(ref.target, "app_listen", once)
    (got,) = execute([c for c in load_cases(["testcases/handshake"]) if c.id == "handshake-listen-again"],
                     ref.link, ref.target, PROFILES["reference"], health=False).cases
    assert got.verdict == "skip" and "lets a passive OPEN return an error" in got.reason, got.reason
