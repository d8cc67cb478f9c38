"""The fault ``client-isn-counter``: each active open's ISN is the previous one's + 64000, while the
SYN-ACKs' ISNs stay RFC 6528's; without it, active opens from different ports get unrelated ISNs."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from tcpconform.responder import AppConfig, Responder, ResponderConfig
from tcpconform.responder.clientisn import CLIENT_ISN_STEP
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, FourTuple, Segment


def _responder(faults: set[str]) -> Responder:
    return Responder(ResponderConfig(app=AppConfig(mode="agent"), faults=frozenset(faults)))


def client_isn_steps(faults: set[str]) -> bool:
    """Whether three active opens' ISNs step by exactly 64000."""
    r = _responder(faults)
    isns = []
    for i in range(3):
        r.app_connect(FourTuple(r.config.ip, 41000 + i, "192.0.2.1", 9000), 0.01 * i)
        isns.extend(s.seq for s in r.segments_to_send() if s.flags & Flags.SYN)
    return all(seqnum.add(a, CLIENT_ISN_STEP) == b for a, b in itertools.pairwise(isns))


CLIENT_ISN_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "client-isn-counter": (client_isn_steps, True, False),
}


@pytest.mark.parametrize("fault", sorted(CLIENT_ISN_CHECKS))
def test_client_isn_fault_changes_what_it_claims(fault: str) -> None:
    check, faulty, correct = CLIENT_ISN_CHECKS[fault]
    assert check({fault}) == faulty
    assert check(set()) == correct


def test_the_passive_sides_isns_stay_keyed_under_the_fault() -> None:
    isns = []
    for faults in (set(), {"client-isn-counter"}):
        r = _responder(faults)
        r.app_listen(8000, 0.0)
        r.handle_segment(Segment("192.0.2.1", r.config.ip, 40000, 8000, seq=7, flags=Flags.SYN, window=5000), 0.5)
        isns.append([s.seq for s in r.segments_to_send() if s.flags & Flags.SYN])
    assert isns[0] == isns[1]
