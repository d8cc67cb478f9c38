"""The catalogue against services that act by themselves: the bundled responder serving echo,
discard, chargen and daytime in this process (``tcpconform run --service NAME=PORT ...``).

It is the conformant peer every case written for a service must pass against, as a device serving
them would be: no case fails, few are skipped, and each case's faults are still caught wherever what
they break can be seen without an agent.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.model import TestCase
from tcpconform.responder.services import DAYTIME_LINE, chargen_bytes
from tcpconform.results import CaseResult, RunResult
from tcpconform.run import RunRequest, TargetChoice, run
from tcpconform.targets.base import Capability
from tcpconform.targets.service import MODELS, ServiceSet, ServiceTarget

ALL = ("echo=7", "discard=9", "chargen=19", "daytime=13")
UNSEEN_WITHOUT_AN_AGENT = {
    ("matrix-syn-rcvd-ack", "defer-accept"): "SYN_RCVD and ESTABLISHED answer a probe alike",
    ("matrix-syn-rcvd-fin-ack", "fin-without-app"): "an echo closes after the tester's FIN by itself",
    ("matrix-established-fin-ack", "fin-without-app"): "an echo closes after the tester's FIN by itself",
    ("matrix-fin-wait-1-ack", "ignore-ack-of-fin"): "FIN_WAIT_1 and FIN_WAIT_2 answer a probe alike",
    ("matrix-closing-ack", "ignore-ack-of-fin"): "CLOSING and TIME_WAIT answer a probe alike",
    ("teardown-simultaneous-close", "skip-closing"): "CLOSING and TIME_WAIT answer a probe alike",
    ("seed-teardown", "fin-without-app"): "an echo closes after the tester's FIN by itself",
    ("seed-full-sequence", "fin-without-app"): "an echo closes after the tester's FIN by itself",
    ("seed-full-sequence", "slow-ack"): "the echo's data carries the ACK at once; the fault delays only a bare one",
}
"""Faults a case catches only with an agent reporting the target's state or driving its application."""


@pytest.fixture(scope="module")
def cases() -> list[TestCase]:
    return load_cases([bundled_cases()])


def _run(cases: list[TestCase], services: tuple[str, ...], faults: tuple[str, ...] = ()) -> RunResult:
    return run(RunRequest(cases, TargetChoice(services=services, faults=faults), fail_on=None)).result


def _connects(case: CaseResult) -> bool:
    """A case whose target connects out (the client cases, the matrix's SYN_SENT row): it needs an
    agent, so against services it is skipped, never passed."""
    return case.area == "client" or (case.matrix_cell is not None and case.matrix_cell[0] == "SYN_SENT")


def test_against_the_four_services_no_case_fails_and_at_most_forty_two_skip(cases: list[TestCase]) -> None:
    """The forty-two that skip: seventeen need an agent (one to connect: a SYN's R2; two close with data
    unread, or before data comes; three fill a window nothing reads; three close first to reopen from
    TIME-WAIT; ECN in use; one closes its listener and listens again; one listens on the target's
    second address), ten set socket options or write on command (one a write held back by a
    shrunk window, two the IP TTL and TOS), four are ICMP cases (two for IPv6 only, one needing a
    write held back, one needing an agent), four (three congestion cases and the sender's SWS
    avoidance) need a write of several segments at once (and the client cases, which need one to
    connect: skipped, never passed).  Eight more: the urgent write (no echo writes urgent data), the
    four DS cases (two set IP_TOS, two are for IPv6), the two that read how the peer ended the stream
    (an application's read no service reports) and the keep-alive default's (it sets SO_KEEPALIVE)."""
    result = _run(cases, ALL)
    bad = [(c.id, c.reason) for c in result.cases if c.verdict in ("fail", "error")]
    assert bad == []
    skipped = {c.id: c.reason for c in result.cases if c.verdict == "skip" and not _connects(c)}
    assert len(skipped) <= 42, skipped
    ports = {c.connection["target"].rsplit(":", 1)[1] for c in result.cases}
    assert {"7", "9", "13"} <= ports  # chargen only where the others lack what a case needs


def test_against_echo_alone_no_case_fails(cases: list[TestCase]) -> None:
    result = _run(cases, ("echo",))
    assert [(c.id, c.reason) for c in result.cases if c.verdict in ("fail", "error")] == []
    skipped = [c for c in result.cases if c.verdict == "skip"]
    # the four urgent cases among them (an echo may take the urgent octet out of band), the eight
    # that set socket options (two the IP TTL and TOS), the two giving-up cases that set one or
    # connect out, three that fill a window nothing reads, nine that need an agent (three to reopen
    # from TIME-WAIT, ECN in use, one closes its listener, one listens on a second address) or a write
    # held back by the window, four (congestion, sender SWS) that need several segments written at
    # once, the cases for IPv6 only; the urgent write, the four DS cases, the two reading how the
    # stream ended, the keep-alive default's
    assert len([c for c in skipped if not _connects(c)]) <= 78
    assert all("close first" in c.reason or "keep the connection open" in c.reason or "no agent" in c.reason
               or "IPv6 only" in c.reason or "urgent data to an echo" in c.reason
               or "cannot be made to write" in c.reason for c in skipped), [c.reason for c in skipped]


def test_each_fault_is_still_caught_where_it_can_be_seen(cases: list[TestCase]) -> None:
    clean = _run(cases, ALL)
    ran = {c.id for c in clean.cases if c.verdict == "pass"}
    missed = []
    for case in cases:
        for fault in case.faults if case.id in ran else ():
            res = _run([case], ALL, (fault,)).cases[0]
            if res.verdict != "fail" and (case.id, fault) not in UNSEEN_WITHOUT_AN_AGENT:
                missed.append((case.id, fault, res.verdict))
    assert missed == []


def test_a_case_runs_on_the_quietest_service_that_gives_it_what_it_needs() -> None:
    targets = tuple(ServiceTarget(name, "192.0.2.2", port) for name, port in [("daytime", 13), ("echo", 7), ("discard", 9)])
    group = ServiceSet(targets)

    def lacking(needs: Capability) -> Callable[[ServiceTarget], Capability]:
        return lambda service: needs & ~service.capabilities.granted()

    assert group.fitting(lacking(Capability.NONE)).service == "discard"
    assert group.fitting(lacking(Capability.CLOSES_FIRST)).service == "daytime"
    assert group.fitting(lacking(Capability.KEEPS_OPEN)).service == "echo"  # it holds what it cannot send back
    assert group.fitting(lacking(Capability.APP)).service == "discard"  # none fits: the quietest, skipped
    assert group.port == 13 and group.ports == {7, 9, 13}
    with pytest.raises(ValueError, match="two services on one port"):
        ServiceSet((targets[0], ServiceTarget("echo", "192.0.2.2", 13)))


def test_the_responders_services_say_what_their_rfcs_say() -> None:
    first = chargen_bytes(0, 74)
    assert first[:72] == bytes(range(32, 104)) and first[72:] == b"\r\n"
    assert chargen_bytes(74, 1) == b"!"  # the next line starts one character further
    assert chargen_bytes(10, 100) == chargen_bytes(0, 110)[10:]
    check = MODELS["daytime"].check
    assert check is not None and check(0, DAYTIME_LINE) is None
