"""RFC 5961 7: the responder throttles its challenge ACKs per connection (10 in any 5 s); the fault
``no-challenge-ack-throttle`` answers every trigger."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tcpconform.responder import AppConfig, Responder, ResponderConfig
from tcpconform.responder.throttle import CHALLENGE_LIMIT, CHALLENGE_WINDOW, ChallengeThrottle
from tcpconform.tcp.segment import Flags, FourTuple, Segment

TESTER = "192.0.2.1"


def _established(faults: set[str]) -> tuple[Responder, FourTuple]:
    r = Responder(ResponderConfig(app=AppConfig(mode="agent"), faults=frozenset(faults), isn=100))
    r.app_listen(8000, 0.0)
    r.handle_segment(Segment(TESTER, r.config.ip, 40000, 8000, seq=0, flags=Flags.SYN, window=5000), 0.1)
    r.segments_to_send()
    r.handle_segment(Segment(TESTER, r.config.ip, 40000, 8000, seq=1, ack=101, flags=Flags.ACK, window=5000), 0.2)
    return r, FourTuple(r.config.ip, 8000, TESTER, 40000)


def challenge_acks(faults: set[str], trigger: Flags = Flags.RST) -> int:
    """Challenge ACKs to 30 in-window RSTs (or SYNs) within a millisecond."""
    r, _ = _established(faults)
    for i in range(30):
        r.handle_segment(Segment(TESTER, r.config.ip, 40000, 8000, seq=2 + i, flags=trigger, window=5000), 0.3 + i * 1e-5)
    return sum(1 for s in r.segments_to_send() if s.flags == Flags.ACK)


CHALLENGE_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "no-challenge-ack-throttle": (challenge_acks, 30, CHALLENGE_LIMIT),
}


@pytest.mark.parametrize("fault", sorted(CHALLENGE_CHECKS))
def test_challenge_fault_changes_what_it_claims(fault: str) -> None:
    check, faulty, correct = CHALLENGE_CHECKS[fault]
    assert check({fault}) == faulty
    assert check(set()) == correct


def test_syns_share_the_throttle_and_the_connection_survives() -> None:
    assert challenge_acks(set(), Flags.SYN) == CHALLENGE_LIMIT
    r, key = _established(set())
    assert str(r.state(key)) == "ESTABLISHED"


def test_the_window_slides() -> None:
    throttle = ChallengeThrottle()
    assert all(throttle.allows(0.1 * i, frozenset()) for i in range(CHALLENGE_LIMIT))
    assert not throttle.allows(1.0, frozenset())
    assert throttle.allows(CHALLENGE_WINDOW + 0.01, frozenset())  # the first has left the window
