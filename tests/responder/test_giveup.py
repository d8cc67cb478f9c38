"""Giving up (RFC 9293 3.8.3, 3.8.6.1): R2 by time for data and for a SYN, TCP_USER_TIMEOUT in
their place, probing a zero window for as long as it is answered; and the faults about them.

Every check runs with and without its fault (``test_faults.py``'s completeness test counts
:data:`GIVEUP_CHECKS`).  The responder's RTO starts at 1 s and doubles up to 60 s.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.responder import F, Peer, agent_config
from test_active_open import connecting
from test_timer_faults import established

from tcpconform.responder import FAULTS, Responder
from tcpconform.responder.giveup import R2_DATA, R2_SYN
from tcpconform.tcp.states import State


def _unacked(p: Peer, until: float) -> tuple[float | None, State]:
    """Write 10 bytes the peer never acknowledges; the time of the last retransmission by ``until``, and the state."""
    p.r.app_write(p.key, b"a" * 10, p.now)
    p.drain()
    fired = p.run_timers_until(until)
    return (fired[-1][0] if fired else None), p.r.state(p.key)


def data_r2(faults: set[str]) -> object:
    return _unacked(established(faults), 100.0)[1], _unacked(established(faults), 2000.0)[1]


def syn_r2(faults: set[str]) -> object:
    states = []
    for until in (180.0, 2000.0):
        p, _ = connecting(faults)
        p.run_timers_until(until)
        states.append(p.r.state(p.key))
    return tuple(states)


def user_timeout(faults: set[str]) -> object:
    p = established(faults)
    p.r.app_setsockopt(p.key, "TCP_USER_TIMEOUT", 10000, p.now)
    return _unacked(p, 20.0)[1]


def zero_window_answered(faults: set[str]) -> object:
    """Hold the window at 0 for 5 minutes, acknowledging every probe; the RSTs sent and the state."""
    p = established(faults)
    p.send(p.segment(F.ACK, window=0))
    p.r.app_write(p.key, b"a" * 10, p.now)
    p.drain()
    rsts = 0
    while (t := p.r.get_timer()) is not None and t <= 300.0:
        p.now = t
        p.r.handle_timer(t)
        out = p.drain()
        rsts += sum(1 for s in out if s.flags & F.RST)
        if out and not rsts:
            p.send(p.segment(F.ACK, window=0))
    return rsts, p.r.state(p.key)


GIVEUP_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "gives-up-early": (data_r2, (State.CLOSED, State.CLOSED), (State.ESTABLISHED, State.CLOSED)),
    "never-gives-up": (data_r2, (State.ESTABLISHED, State.ESTABLISHED), (State.ESTABLISHED, State.CLOSED)),
    "syn-gives-up-early": (syn_r2, (State.CLOSED, State.CLOSED), (State.SYN_SENT, State.CLOSED)),
    "syn-never-gives-up": (syn_r2, (State.SYN_SENT, State.SYN_SENT), (State.SYN_SENT, State.CLOSED)),
    "user-timeout-ignored": (user_timeout, State.ESTABLISHED, State.CLOSED),
    "persist-gives-up": (zero_window_answered, (1, State.CLOSED), (0, State.ESTABLISHED)),
}
"""The faults of giving up: (check, what it observes with the fault, without)."""


@pytest.mark.parametrize("fault", sorted(GIVEUP_CHECKS))
def test_giveup_fault_changes_what_it_claims(fault: str) -> None:
    check, faulty, correct = GIVEUP_CHECKS[fault]
    assert check({fault}) == faulty, FAULTS[fault]
    assert check(set()) == correct


def test_data_is_given_up_on_exactly_at_r2_and_silently() -> None:
    p = established()
    p.r.app_write(p.key, b"a" * 10, p.now)
    p.drain()
    times = [t for t, _ in p.run_timers_until(R2_DATA - 1)]
    assert times == [1.0, 3.0, 7.0, 15.0, 31.0, 63.0]
    assert p.r.state(p.key) is State.ESTABLISHED
    assert p.run_timers_until(R2_DATA) == []  # the timer is clamped to R2; nothing is sent on giving up
    assert p.r.state(p.key) is State.CLOSED


def test_a_syn_is_given_up_on_at_its_own_r2() -> None:
    p, _ = connecting()
    times = [t for t, _ in p.run_timers_until(R2_SYN - 1)]
    assert times == [1.0, 3.0, 7.0, 15.0, 31.0, 63.0, 123.0, 183.0]
    assert p.r.state(p.key) is State.SYN_SENT
    p.run_timers_until(R2_SYN)
    assert p.r.state(p.key) is State.CLOSED


def test_the_user_timeout_clamps_the_retransmission_timer_and_zero_restores_the_default() -> None:
    p = established()
    p.r.app_setsockopt(p.key, "TCP_USER_TIMEOUT", 10000, p.now)
    p.r.app_setsockopt(p.key, "TCP_USER_TIMEOUT", 0, p.now)
    assert _unacked(p, 20.0)[1] is State.ESTABLISHED
    p = established()
    p.r.app_setsockopt(p.key, "TCP_USER_TIMEOUT", 10000, p.now)
    p.r.app_write(p.key, b"a" * 10, p.now)
    p.drain()
    assert [t for t, _ in p.run_timers_until(9.9)] == [1.0, 3.0, 7.0]
    p.run_timers_until(10.0)
    assert p.r.state(p.key) is State.CLOSED


def test_an_ack_restarts_r2() -> None:
    p = established()
    p.r.app_write(p.key, b"a" * 10, p.now)
    p.drain()
    p.run_timers_until(100.0)
    p.send(p.segment(F.ACK, ack=p.ack + 5))  # half the data: R2 counts afresh
    p.run_timers_until(200.0)
    assert p.r.state(p.key) is State.ESTABLISHED
    p.run_timers_until(100.0 + R2_DATA)
    assert p.r.state(p.key) is State.CLOSED


def test_the_responder_in_a_listener_inherits_the_user_timeout() -> None:
    r = Responder(agent_config())
    r.app_listen(8000, 0.0)
    r.app_setsockopt(8000, "TCP_USER_TIMEOUT", 5000, 0.0)
    p = Peer(r, seq=0, ack=5000)
    p.send(p.segment(F.SYN, seq=0))
    p.seq, p.ack = 1, 101
    p.send(p.segment(F.ACK))
    assert _unacked(p, 10.0)[1] is State.CLOSED
