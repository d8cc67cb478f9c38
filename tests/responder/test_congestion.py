"""RTT estimation (RFC 6298, Karn) and congestion control (RFC 5681) of the reference responder, and the
faults against them: each check runs with and without its fault and returns what it observed
(:data:`CC_CHECKS`, counted by ``test_faults.test_every_fault_is_checked``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.responder import F, Peer, agent_config
from support.responder import agent_established as established

from tcpconform.responder import FAULTS, Responder
from tcpconform.responder.config import MAX_RTO
from tcpconform.responder.congestion import Congestion
from tcpconform.responder.rtt import RttEstimator


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


def first_flight(faults: set[str]) -> object:
    """20 KB written into a 65535-byte window: how many segments go out before any ACK."""
    p = established(faults, window=65535)
    p.r.app_write(p.key, b"x" * 20000, p.now)
    return len(p.drain())


def four_outstanding(faults: set[str]) -> Peer:
    """After a warm-up (three segments ACKed), four 512-byte segments outstanding at 1637..3685."""
    p = established(faults, window=65535)
    for size in (512, 1024):
        p.r.app_write(p.key, b"w" * size, p.now)
        for seg in p.drain():
            p.ack = seg.seq + len(seg.payload)
            p.send(p.segment(F.ACK))
    p.r.app_write(p.key, b"x" * 2048, p.now)
    assert [s.seq for s in p.drain()] == [1637, 2149, 2661, 3173]
    return p


def after_timeout(faults: set[str]) -> object:
    """What the retransmission timeout sends, then what the ACK of its first segment brings."""
    p = four_outstanding(faults)
    fired = [s.seq for _, s in p.run_timers_until(p.now + 1.0)]
    p.ack = 2149
    return fired, [s.seq for s in p.send(p.segment(F.ACK), p.now + 0.1)]


def three_dupacks(faults: set[str]) -> object:
    p = four_outstanding(faults)
    p.ack = 1637
    return [[s.seq for s in p.send(p.segment(F.ACK))] for _ in range(3)]


def silly_window(faults: set[str]) -> object:
    """A 5000-byte window closed after the first flight, then reopened by 20 bytes with kilobytes queued:
    what goes out at once, and by the override timeout."""
    p = established(faults)
    p.r.app_write(p.key, b"x" * 10000, p.now)
    p.ack = 101 + sum(len(s.payload) for s in p.drain())
    p.send(p.segment(F.ACK, window=0))
    at_once = [len(s.payload) for s in p.send(p.segment(F.ACK, window=20))]
    start = p.now
    return at_once, [(round(t - start, 3), len(s.payload)) for t, s in p.run_timers_until(start + 0.5)]


CC_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "no-rtt-estimate": (late_rounds, [[1.0], [1.0], [1.0], [1.0]], [[1.0], [], [], []]),
    "no-slow-start": (first_flight, 40, 4),
    "rto-resends-window": (after_timeout, ([1637, 2149, 2661, 3173], []), ([1637], [2149, 2661])),
    "no-fast-retransmit": (three_dupacks, [[], [], []], [[], [], [1637]]),
    "sws-sender": (silly_window, ([20], []), ([], [(0.2, 20)])),
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


def test_ten_segments_is_the_initial_window_when_configured() -> None:
    r = Responder(agent_config(initial_window=10))
    r.app_listen(8000, 0.0)
    p = Peer(r, seq=0, ack=5000, window=65535)
    p.send(p.segment(F.SYN, seq=0, options=(("MSS", 512),)))
    p.seq, p.ack = 1, 101
    p.send(p.segment(F.ACK))
    r.app_write(p.key, b"x" * 20000, p.now)
    assert len(p.drain()) == 10


def test_a_partial_ack_in_fast_recovery_resends_the_next_hole_and_a_full_one_ends_it() -> None:
    p = four_outstanding(set())
    p.ack = 1637
    for _ in range(3):
        p.send(p.segment(F.ACK))
    p.ack = 2149
    assert [s.seq for s in p.send(p.segment(F.ACK))][:1] == [2149]
    p.ack = 3685
    assert p.send(p.segment(F.ACK)) == []  # all acknowledged: nothing left to resend


EVENTS = st.lists(st.one_of(
    st.tuples(st.just("ack"), st.integers(1, 4000)),
    st.tuples(st.just("dup"), st.just(0)),
    st.tuples(st.just("timeout"), st.integers(0, 20000)),
), max_size=40)


@given(EVENTS, st.sampled_from([536, 1220, 1460]))
def test_cwnd_never_falls_below_one_segment_nor_ssthresh_below_two(events: list[tuple[str, int]], smss: int) -> None:
    """Whatever the ACKs, duplicates and timeouts: cwnd >= 1 SMSS, and ssthresh >= 2 SMSS once a loss set it."""
    cc = Congestion()
    snd_una = snd_nxt = 1000
    for kind, n in events:
        if kind == "ack":
            snd_nxt += n
            cc.acked(n, snd_nxt, smss)
            snd_una = snd_nxt
        elif kind == "dup":
            cc.duplicate(snd_nxt - snd_una, snd_nxt, smss)
        else:
            snd_nxt += n
            cc.timeout(True, snd_nxt - snd_una, snd_una + min(n, smss), snd_nxt, smss)
        assert cc.cwnd >= smss
        assert cc.ssthresh >= 2 * smss
    assert cc.allowance(0, smss) is not None
