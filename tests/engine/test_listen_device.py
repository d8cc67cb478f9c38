"""A device that connects out by itself (``run --listen``), in process: the reference responder as the
device, reconnecting on its own, and the listening link that hands each client case the next SYN.

The device is never driven: the client cases pass on the connections it opens, a fault of its TCP
fails the case that names it, SYNs no case waits for are never answered, a connection a case left
is refused so the next case gets a fresh one, and a device that does not connect is an error
that says so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_cases
from tcpconform.cases.profiles import PROFILES
from tcpconform.engine.run import execute
from tcpconform.links.inprocess import InProcessLink, VirtualClock
from tcpconform.links.listen import ListenLink
from tcpconform.responder import AppConfig, Responder, ResponderConfig
from tcpconform.run import RunRequest, TargetChoice, run
from tcpconform.session import Listen, SessionError, in_process_device, open_session, parse_listen
from tcpconform.targets.device import DevicePeer, DeviceTarget
from tcpconform.tcp.segment import Flags, FourTuple, Segment

CLIENT = "testcases/client"
NEEDS_AN_AGENT = {"client-handshake",  # it has the application write and read
                  # told which address to bind or connect to, which a device connecting by itself is not
                  "client-bind-second-address", "client-connect-unbound", "client-connect-multicast",
                  "client-connect-broadcast",
                  # given a source route to connect on, which a device connecting by itself cannot be
                  "client-app-source-route", "client-app-source-route-kept"}
TESTER, DEVICE, PORT = "192.0.2.1", "192.0.2.2", 9000


def _device(faults: tuple[str, ...] = (), *, first: float = 0.1, wait: float = 30.0) -> tuple[ListenLink, DeviceTarget]:
    clock = VirtualClock()
    responder = Responder(ResponderConfig(ip=DEVICE, app=AppConfig(mode="agent"), faults=frozenset(faults)))
    inner = InProcessLink(DevicePeer(responder, (TESTER, PORT), first=first), clock, local_ip=TESTER)
    link = ListenLink(inner, TESTER, PORT, DEVICE)
    return link, DeviceTarget(link, DEVICE, wait)


@pytest.mark.parametrize("ipv6", [False, True])
def test_client_cases_pass_on_the_connections_the_device_opens(ipv6: bool) -> None:
    cases = load_cases([CLIENT])
    with in_process_device((), Listen(None, PORT), ipv6=ipv6) as session:
        result = execute(cases, session.link, session.target, PROFILES["reference"], jobs=4, health=session.probes)
    verdicts = {c.id: c.verdict for c in result.cases}
    assert verdicts == {c.id: "skip" if c.id in NEEDS_AN_AGENT else "pass" for c in cases}
    ports = {c.id: c.steps[0].message for c in result.cases if c.verdict == "pass" and c.id != "client-isn-unpredictable"}
    assert all("the device connected by itself from port 49" in m for m in ports.values()), ports


def test_a_fault_of_the_devices_tcp_fails_the_case_that_names_it() -> None:
    link, target = _device(("syn-sent-rst-without-ack",))
    result = execute(load_cases([f"{CLIENT}/rst-in-syn-sent.yaml"]), link, target, PROFILES["reference"], health=False)
    assert result.cases[0].verdict == "fail"


def test_a_syn_no_case_waits_for_is_not_answered_and_the_next_case_sees_it_again() -> None:
    link, target = _device(first=0.0)
    assert link.receive(0.5) is not None  # the device's SYN, with no case armed: passed on, unrenamed
    assert link.inner.sent == 0  # type: ignore[attr-defined]
    result = execute(load_cases([f"{CLIENT}/syn-options.yaml"]), link, target, PROFILES["reference"], health=False)
    case = result.cases[0]
    assert case.verdict == "pass"
    assert "first sent" in (case.steps[0].message or "") and "retransmission" in (case.steps[0].message or "")


def test_no_syn_within_the_wait_is_an_error_saying_so() -> None:
    link, target = _device(first=1000.0, wait=5.0)
    result = execute(load_cases([f"{CLIENT}/syn-options.yaml"]), link, target, PROFILES["reference"], health=False)
    case = result.cases[0]
    assert case.verdict == "error"
    assert "no SYN from the device 192.0.2.2 to 192.0.2.1:9000 within 5 s" in (case.reason or "")


def test_the_mapping_renames_both_ways_and_a_released_connection_is_refused() -> None:
    link, target = _device(first=0.0)
    case_key = FourTuple(TESTER, 40000, DEVICE, 40000)
    target.app_connect(case_key)
    got = link.receive(1.0)
    assert got is not None and got.segment.key.reversed() == case_key
    accepted = link.accepted(case_key)
    assert accepted is not None and accepted.real.sport == PORT and accepted.real.dport >= 49152
    isn = got.segment.seq
    target.forget(case_key)  # never answered: refused, so the device connects afresh
    responder = link.inner.peer.responder  # type: ignore[attr-defined]
    assert responder.connections() == []
    again = Segment(DEVICE, TESTER, accepted.real.dport, PORT, seq=isn, flags=Flags.SYN)
    target.app_connect(case_key)
    link.inner._queue.append(got._replace(segment=again))  # type: ignore[attr-defined]  # the old SYN, late
    late = link.receive(0.0)
    assert late is not None and late.segment.dport == PORT  # not mapped: that connection is over


def test_server_cases_are_skipped_without_the_devices_port_and_run_with_it() -> None:
    cases = load_cases(["testcases/seed/01-handshake.yaml", f"{CLIENT}/syn-options.yaml"])
    alone = run(RunRequest(cases, TargetChoice(listen=str(PORT))))
    assert {c.id: c.verdict for c in alone.result.cases} == {"seed-handshake": "skip", "client-syn-options": "pass"}
    assert "with --listen alone only the client cases" in (alone.result.cases[0].reason or "")
    both = run(RunRequest(cases, TargetChoice(listen=str(PORT), port=8000)))
    assert {c.verdict for c in both.result.cases} == {"pass"}


@pytest.mark.parametrize(("text", "ip", "port"), [("9000", None, 9000), ("198.18.0.1:1883", "198.18.0.1", 1883),
                                                  ("[fd00::1]:80", "fd00::1", 80)])
def test_listen_is_parsed(text: str, ip: str | None, port: int) -> None:
    assert parse_listen(text) == Listen(ip, port)


@pytest.mark.parametrize(("text", "says"), [("x", "expected PORT"), ("0", "not in 1..65535"), ("1.2.3:80", "expected PORT")])
def test_a_bad_listen_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(SessionError, match=says):
        parse_listen(text)


def test_listen_with_an_agent_is_refused() -> None:
    with pytest.raises(SessionError, match="connects by itself"):
        open_session(target="198.18.0.2", agent="udp:10.0.0.2:4242", listen=Listen(None, PORT))


def test_client_isns_from_one_port_are_judged_on_the_clock_only() -> None:
    clock = VirtualClock()
    responder = Responder(ResponderConfig(ip=DEVICE, app=AppConfig(mode="agent")))
    peer = DevicePeer(responder, (TESTER, PORT), ports=range(50000, 50001))  # a device that binds one port
    link = ListenLink(InProcessLink(peer, clock, local_ip=TESTER), TESTER, PORT, DEVICE)
    result = execute(load_cases([f"{CLIENT}/isn-unpredictable.yaml"]), link, DeviceTarget(link, DEVICE),
                     PROFILES["reference"], health=False)
    case = result.cases[0]
    assert case.verdict == "pass"
    assert [s.verdict for s in case.steps] == ["pass", "pass", "skip"]
    assert "RFC 6528 leaves the ISNs of one 4-tuple to its clock" in (case.steps[2].message or "")


def test_an_unknown_sampling_way_is_refused_at_its_line(tmp_path: Path) -> None:
    text = Path(f"{CLIENT}/isn-unpredictable.yaml").read_text().replace("by: connect", "by: accept")
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(CaseFileError, match=r"bad.yaml:\d+:\d+: steps\[0\].by"):
        load_cases([tmp_path])
