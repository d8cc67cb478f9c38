"""The reference responder's active open (RFC 9293 3.10.7.3): SYN_SENT, its checks in order, and
the faults of :mod:`tcpconform.responder.active`, each run with and without it.

Numbers as in the seed: the responder's ISN is 100, the peer's (the tester's, here the server) 0.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.responder import PEER_IP, PEER_PORT, PORT, F, Peer, agent_config, show

from tcpconform.responder import FAULTS, Responder, ResponderError
from tcpconform.responder.active import ACTIVE_FAULTS, SynSent, syn_sent
from tcpconform.tcp.segment import FourTuple, Segment
from tcpconform.tcp.states import State

KEY = FourTuple("192.0.2.2", PORT, PEER_IP, PEER_PORT)


def connecting(faults: set[str] | frozenset[str] = frozenset()) -> tuple[Peer, list[str]]:
    """A responder whose application connected to the peer; the SYN it sent."""
    r = Responder(agent_config(faults=frozenset(faults)))
    p = Peer(r, seq=0, ack=101)
    r.app_connect(KEY, 0.0)
    return p, show(p.drain())


def test_connect_sends_a_syn_with_an_mss_and_enters_syn_sent() -> None:
    p, out = connecting()
    assert out == ["S 100"]
    assert p.sent[0].option("MSS") == 1460
    assert p.r.state(KEY) is State.SYN_SENT
    assert p.states() == [(State.CLOSED, State.SYN_SENT)]


def test_a_synack_acknowledging_the_syn_establishes_with_an_ack() -> None:
    p, _ = connecting()
    assert show(p.send(p.segment(F.SYN | F.ACK, seq=0, ack=101, options=(("MSS", 512),)))) == [". 101 1"]
    assert p.r.state(KEY) is State.ESTABLISHED
    p.seq = 1
    p.r.app_write(KEY, b"x" * 600, 0.1)
    assert show(p.drain()) == [". 101 1 len=512", "P. 613 1 len=88"]  # the peer's MSS holds


@pytest.mark.parametrize("ack", [100, 102, 5000, 99])
def test_a_synack_with_an_unacceptable_ack_is_answered_with_a_rst_at_its_ack(ack: int) -> None:
    p, _ = connecting()
    assert show(p.send(p.segment(F.SYN | F.ACK, seq=0, ack=ack))) == [f"R {ack}"]
    assert p.r.state(KEY) is State.SYN_SENT


def test_a_rst_counts_only_with_an_acceptable_ack() -> None:
    p, _ = connecting()
    assert p.send(p.segment(F.RST, seq=0)) == []
    assert p.send(p.segment(F.RST | F.ACK, seq=0, ack=5000)) == []
    assert p.r.state(KEY) is State.SYN_SENT
    assert p.send(p.segment(F.RST | F.ACK, seq=0, ack=101)) == []
    assert p.r.state(KEY) is State.CLOSED
    assert p.r.connections() == []


def test_crossing_syns_lead_to_syn_rcvd_then_established() -> None:
    p, _ = connecting()
    assert show(p.send(p.segment(F.SYN, seq=0))) == ["S. 100 1"]
    assert p.r.state(KEY) is State.SYN_RCVD
    p.seq = 1
    assert [(t, s) for t, s in ((t, show([s])[0]) for t, s in p.run_timers_until(1.5))] == [(1.0, "S. 100 1")]
    assert p.send(p.segment(F.ACK)) == []
    assert p.r.state(KEY) is State.ESTABLISHED


def test_neither_syn_nor_rst_is_dropped() -> None:
    p, _ = connecting()
    assert p.send(p.segment(F.FIN | F.ACK, seq=0, ack=101)) == []
    assert p.send(p.segment(F.ACK | F.PSH, seq=0, ack=101, payload=b"abc")) == []
    assert p.r.state(KEY) is State.SYN_SENT


def test_the_syn_is_retransmitted_with_backoff_then_given_up() -> None:
    p, _ = connecting()
    times = [t for t, _ in p.run_timers_until(300.0)]
    assert times[:5] == [1.0, 3.0, 7.0, 15.0, 31.0]
    assert p.r.state(KEY) is State.CLOSED  # R2 for a SYN: 200 s (MUST-23: at least 3 minutes)


def test_close_in_syn_sent_deletes_the_tcb() -> None:
    p, _ = connecting()
    p.r.app_close(KEY, 0.1)
    assert p.r.state(KEY) is State.CLOSED and p.drain() == []


def test_connect_twice_on_one_tuple_or_from_another_address_is_refused() -> None:
    p, _ = connecting()
    with pytest.raises(ResponderError, match="exists"):
        p.r.app_connect(KEY, 0.1)
    with pytest.raises(ResponderError, match="not an address"):
        p.r.app_connect(FourTuple("192.0.2.9", 1, PEER_IP, 2), 0.1)


def test_over_ipv6_the_syn_offers_the_ipv6_mss() -> None:
    r = Responder(agent_config(ip="2001:db8::2"))
    r.app_connect(FourTuple("2001:db8::2", PORT, "2001:db8::1", PEER_PORT), 0.0)
    assert [s.option("MSS") for s in r.segments_to_send()] == [1440]


FLAGS = st.sampled_from([F.SYN, F.SYN | F.ACK, F.RST, F.RST | F.ACK, F.ACK, F.FIN | F.ACK, F.SYN | F.RST, F(0)])


@given(flags=FLAGS, ack=st.integers(0, 0xFFFFFFFF))
def test_a_rst_is_never_answered_and_only_an_acceptable_ack_moves_on(flags: F, ack: int) -> None:
    seg = Segment(PEER_IP, "192.0.2.2", PEER_PORT, PORT, seq=0, ack=ack if flags & F.ACK else 0, flags=flags)
    action = syn_sent(seg, 100, 101, frozenset())
    acceptable = bool(flags & F.ACK) and ack == 101
    if flags & F.RST:
        assert action in (SynSent.DROP, SynSent.REFUSED)
        assert (action is SynSent.REFUSED) == acceptable
    elif flags & F.ACK and not acceptable:
        assert action is SynSent.RESET_ACK
    elif action in (SynSent.ESTABLISH, SynSent.SIMULTANEOUS):
        assert flags & F.SYN and (action is SynSent.SIMULTANEOUS) == (not flags & F.ACK)
    else:
        assert action is SynSent.DROP and not flags & F.SYN


# -- the faults ----------------------------------------------------------------------------------
def _rst_without_ack(faults: set[str]) -> object:
    p, _ = connecting(faults)
    p.send(p.segment(F.RST, seq=0))
    return p.r.state(KEY)


def _bad_ack(faults: set[str]) -> object:
    p, _ = connecting(faults)
    return show(p.send(p.segment(F.SYN | F.ACK, seq=0, ack=1101))), p.r.state(KEY)


def _crossing(faults: set[str]) -> object:
    p, _ = connecting(faults)
    return show(p.send(p.segment(F.SYN, seq=0))), p.r.state(KEY)


def _syn_times(faults: set[str]) -> object:
    p, _ = connecting(faults)
    return [t for t, _ in p.run_timers_until(10.0)]


def _syn_mss(faults: set[str]) -> object:
    p, _ = connecting(faults)
    return p.sent[0].options


def _ignore_rst(faults: set[str]) -> object:
    p, _ = connecting(faults)
    p.send(p.segment(F.RST | F.ACK, seq=0, ack=101))
    return p.r.state(KEY)


ACTIVE_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "syn-sent-rst-without-ack": (_rst_without_ack, State.CLOSED, State.SYN_SENT),
    "synack-bad-ack-accepted": (_bad_ack, ([". 101 1"], State.ESTABLISHED), (["R 1101"], State.SYN_SENT)),
    "no-simultaneous-open": (_crossing, ([], State.SYN_SENT), (["S. 100 1"], State.SYN_RCVD)),
    "syn-no-backoff": (_syn_times, [float(t) for t in range(1, 11)], [1.0, 3.0, 7.0]),
    "syn-no-retransmit": (_syn_times, [], [1.0, 3.0, 7.0]),
    "syn-no-mss": (_syn_mss, (), (("MSS", 1460),)),
}
"""The faults of the active open: (check, what it observes with the fault, without)."""


def test_the_active_faults_are_the_ones_checked_here() -> None:
    assert set(ACTIVE_CHECKS) == ACTIVE_FAULTS <= set(FAULTS)


@pytest.mark.parametrize("fault", sorted(ACTIVE_CHECKS))
def test_active_fault_changes_what_it_claims(fault: str) -> None:
    check, faulty, correct = ACTIVE_CHECKS[fault]
    assert check({fault}) == faulty, FAULTS[fault]
    assert check(set()) == correct


def test_ignore_rst_also_ignores_the_refusing_rst_of_syn_sent() -> None:
    assert _ignore_rst({"ignore-rst"}) is State.SYN_SENT
    assert _ignore_rst(set()) is State.CLOSED
