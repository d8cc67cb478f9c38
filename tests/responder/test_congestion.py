"""RTT estimation (RFC 6298, Karn) and congestion control (RFC 5681) of the reference responder, and the
faults against them: each check runs with and without its fault and returns what it observed
(:data:`CC_CHECKS`, counted by ``test_faults.test_every_fault_is_checked``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.responder import F, Peer, agent_config

from tcpconform.responder import FAULTS, Responder
from tcpconform.responder.config import MAX_RTO
from tcpconform.responder.rtt import RttEstimator


def established(faults: set[str], window: int = 5000) -> Peer:
    r = Responder(agent_config(faults=frozenset(faults)))
    r.app_listen(8000, 0.0)
    p = Peer(r, seq=0, ack=5000, window=window)
    p.send(p.segment(F.SYN, seq=0, options=(("MSS", 512),)))
    p.seq, p.ack = 1, 101
    p.send(p.segment(F.ACK))
    return p


def late_rounds(faults: set[str], rounds: int = 4, rtt: float = 1.5) -> list[list[float]]:
    """Each round: write 100 bytes, ACK them ``rtt`` later; the retransmission times of each round."""
    p = established(faults)
    out = []
    for _ in range(rounds):
        start = p.now
        p.r.app_write(p.key, b"x" * 100, start)
        p.drain()
        out.append([round(t - start, 3) for t, _ in p.run_timers_until(start + rtt)])
        p.ack += 100
        p.send(p.segment(F.ACK), start + rtt)
    return out


CC_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "no-rtt-estimate": (late_rounds, [[1.0], [1.0], [1.0], [1.0]], [[1.0], [], [], []]),
    "karn-violated": (late_rounds, [[1.0], [1.0], [1.0], [1.157]], [[1.0], [], [], []]),
}


@pytest.mark.parametrize("fault", sorted(CC_CHECKS))
def test_fault_changes_what_it_claims(fault: str) -> None:
    check, faulty, correct = CC_CHECKS[fault]
    assert check({fault}) == faulty, FAULTS[fault]
    assert check(set()) == correct


def test_with_a_200_ms_minimum_the_backed_off_rto_carries_over_and_then_adapts() -> None:
    """Linux's shape: 0.2, 0.6, 1.4 s in round one; the backed-off 1.6 s outlasts round two's 1.5 s RTT."""
    assert late_rounds({"short-rto"}) == [[0.2, 0.6, 1.4], [], [], []]


def test_the_rto_follows_rfc_6298_formulas() -> None:
    est = RttEstimator(initial=1.0, minimum=1.0, rto=1.0)
    est.sample(1.5)
    assert (est.srtt, est.rttvar, est.rto) == (1.5, 0.75, 4.5)
    est.sample(1.5)
    assert est.srtt == 1.5 and est.rttvar == pytest.approx(0.5625) and est.rto == pytest.approx(3.75)


def test_an_ack_of_a_retransmitted_segment_keeps_the_backoff() -> None:
    est = RttEstimator(initial=1.0, minimum=1.0, rto=1.0)
    est.sent(200, 0.0)
    est.retransmitted(100, 200, 1.0)
    est.backoff()
    assert not est.acked(200, 1.5) and est.rto == 2.0


@given(st.lists(st.floats(min_value=0.0, max_value=100.0), min_size=1, max_size=30))
def test_the_rto_stays_between_the_minimum_and_the_cap_and_above_srtt(samples: list[float]) -> None:
    est = RttEstimator(initial=1.0, minimum=1.0, rto=1.0)
    for r in samples:
        est.sample(r)
        assert 1.0 <= est.rto <= MAX_RTO
        assert est.srtt is not None and (est.rto >= min(est.srtt, MAX_RTO))
