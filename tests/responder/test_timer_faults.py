"""The responder's socket options, Nagle's algorithm and keep-alive, and the faults about them.

Every check runs with and without its fault (as in ``test_faults.py``, whose completeness test
counts :data:`TIMER_CHECKS`).  Numbers follow the seed: the responder's ISN is 100, the peer's 0.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.responder import F, Peer, agent_config, show

from tcpconform.responder import FAULTS, Responder, ResponderError, UnsupportedOption
from tcpconform.tcp.states import State


def established(faults: set[str] = frozenset(), listener: tuple[tuple[str, int], ...] = ()) -> Peer:  # type: ignore[assignment]
    r = Responder(agent_config(faults=frozenset(faults)))
    r.app_listen(8000, 0.0)
    for name, value in listener:
        r.app_setsockopt(8000, name, value, 0.0)
    p = Peer(r, seq=0, ack=5000)
    p.send(p.segment(F.SYN, seq=0, options=(("MSS", 512),)))
    p.seq, p.ack = 1, 101
    p.send(p.segment(F.ACK))
    return p


def keepalive_on(p: Peer, idle: int = 2, interval: int = 1, count: int = 3) -> None:
    for name, value in (("TCP_KEEPIDLE", idle), ("TCP_KEEPINTVL", interval), ("TCP_KEEPCNT", count)):
        p.r.app_setsockopt(p.key, name, value, p.now)
    p.r.app_setsockopt(p.key, "SO_KEEPALIVE", 1, p.now)


def timed(p: Peer, until: float) -> list[tuple[float, str]]:
    return [(round(t, 3), show([s])[0]) for t, s in p.run_timers_until(until)]


# -- Nagle ---------------------------------------------------------------------------------------
def three_writes(p: Peer) -> list[list[str]]:
    """Three 10-byte writes with the first unacknowledged, then the ACK of the first."""
    out = []
    for _ in range(3):
        p.r.app_write(p.key, b"x" * 10, p.now)
        out.append(show(p.drain()))
    p.ack = 111
    out.append(show(p.send(p.segment(F.ACK))))
    return out


def no_nagle(faults: set[str]) -> object:
    return three_writes(established(faults))


def nodelay_ignored(faults: set[str]) -> object:
    p = established(faults)
    p.r.app_setsockopt(p.key, "TCP_NODELAY", 1, 0.0)
    return three_writes(p)


# -- keep-alive ----------------------------------------------------------------------------------
def keepalive_default_on(faults: set[str]) -> object:
    p = established(faults)
    p.r.app_setsockopt(p.key, "TCP_KEEPIDLE", 1, 0.0)
    return timed(p, 3.0)


def keepalive_one_probe_kills(faults: set[str]) -> object:
    p = established(faults)
    keepalive_on(p)
    return timed(p, 6.0), p.r.state(p.key)


def keepalive_ignores_traffic(faults: set[str]) -> object:
    p = established(faults)
    keepalive_on(p)
    p.now = 1.0
    p.data(10, at=1.0)
    return timed(p, 3.5)


TIMER_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "no-nagle": (no_nagle, [["P. 101 1 len=10"], ["P. 111 1 len=10"], ["P. 121 1 len=10"], []],
                 [["P. 101 1 len=10"], [], [], ["P. 111 1 len=20"]]),
    "nodelay-ignored": (nodelay_ignored, [["P. 101 1 len=10"], [], [], ["P. 111 1 len=20"]],
                        [["P. 101 1 len=10"], ["P. 111 1 len=10"], ["P. 121 1 len=10"], []]),
    "keepalive-default-on": (keepalive_default_on, [(1.0, ". 100 1")], []),
    "keepalive-one-probe-kills": (
        keepalive_one_probe_kills, ([(2.0, ". 100 1"), (3.0, "R 101")], State.CLOSED),
        ([(2.0, ". 100 1"), (3.0, ". 100 1"), (4.0, ". 100 1"), (5.0, "R 101")], State.CLOSED),
    ),
    "keepalive-ignores-traffic": (keepalive_ignores_traffic, [(1.2, ". 101 11"), (2.0, ". 100 11"), (3.0, ". 100 11")],
                                  [(1.2, ". 101 11"), (3.0, ". 100 11")]),
}


@pytest.mark.parametrize("fault", sorted(TIMER_CHECKS))
def test_fault_changes_what_it_claims(fault: str) -> None:
    check, faulty, correct = TIMER_CHECKS[fault]
    assert check({fault}) == faulty, FAULTS[fault]
    assert check(set()) == correct


def test_the_last_part_of_a_large_write_is_not_held_behind_full_segments() -> None:
    """Minshall's variant: only an unacknowledged *small* segment holds the next small one."""
    p = established()
    p.r.app_write(p.key, b"x" * 1000, 0.0)
    assert show(p.drain()) == [". 101 1 len=512", "P. 613 1 len=488"]


def test_a_fin_is_not_held_by_nagle() -> None:
    p = established()
    p.r.app_write(p.key, b"x" * 10, 0.0)
    p.r.app_write(p.key, b"x" * 10, 0.0)
    assert show(p.drain()) == ["P. 101 1 len=10"]
    p.r.app_shutdown(p.key, 0.0)
    assert show(p.drain()) == ["P. 111 1 len=10", "F. 121 1"]


def test_nodelay_sends_what_nagle_held() -> None:
    p = established()
    p.r.app_write(p.key, b"x" * 10, 0.0)
    p.r.app_write(p.key, b"x" * 10, 0.0)
    p.drain()
    p.r.app_setsockopt(p.key, "TCP_NODELAY", 1, 0.0)
    assert show(p.drain()) == ["P. 111 1 len=10"]


def test_a_connection_inherits_its_listeners_options() -> None:
    p = established(listener=(("TCP_NODELAY", 1), ("TCP_KEEPIDLE", 2), ("SO_KEEPALIVE", 1)))
    p.r.app_write(p.key, b"x" * 10, 0.0)
    p.r.app_write(p.key, b"x" * 10, 0.0)
    assert len(p.drain()) == 2
    p.ack = 121
    p.send(p.segment(F.ACK), at=0.5)
    assert timed(p, 2.6) == [(2.5, ". 120 1")]


def test_keepalive_probes_go_only_when_nothing_is_outstanding() -> None:
    """MUST-26: with data in flight the retransmission timer, not a probe, finds out."""
    p = established()
    keepalive_on(p, idle=1, interval=1)
    p.r.app_write(p.key, b"x" * 10, 0.0)
    p.drain()
    assert all(s.payload for _, s in p.run_timers_until(1.5))  # the retransmission at 1 s, no probe
    p.ack = 111
    p.send(p.segment(F.ACK), at=1.5)
    assert timed(p, 2.6) == [(2.5, ". 110 1")]


def test_an_answered_probe_restarts_the_idle_time() -> None:
    p = established()
    keepalive_on(p)
    assert timed(p, 2.5) == [(2.0, ". 100 1")]
    p.send(p.segment(F.ACK), at=2.5)
    assert timed(p, 5.0) == [(4.5, ". 100 1")]


def test_switching_keepalive_off_stops_the_probes() -> None:
    p = established()
    keepalive_on(p)
    p.r.app_setsockopt(p.key, "SO_KEEPALIVE", 0, 0.5)
    assert timed(p, 10.0) == []


def test_keepalive_defaults_to_two_hours() -> None:
    """MUST-28: on, with the default idle time, the first probe comes at 7200 s."""
    p = established()
    p.r.app_setsockopt(p.key, "SO_KEEPALIVE", 1, 0.0)
    assert timed(p, 7199.0) == []
    assert timed(p, 7201.0) == [(7200.0, ". 100 1")]


def test_options_the_responder_lacks_are_refused() -> None:
    p = established()
    with pytest.raises(UnsupportedOption, match="no socket option SO_SNDBUF"):
        p.r.app_setsockopt(p.key, "SO_SNDBUF", 8192, 0.0)
    with pytest.raises(UnsupportedOption, match=r"TCP_KEEPIDLE takes 1\.\.32767, not 0"):
        p.r.app_setsockopt(p.key, "TCP_KEEPIDLE", 0, 0.0)
    with pytest.raises(ResponderError, match="no listening socket on port 9"):
        p.r.app_setsockopt(9, "TCP_NODELAY", 1, 0.0)
