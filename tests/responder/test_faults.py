"""Each fault changes what it claims to change, and with it switched off the responder behaves.

Every check runs twice, with and without its fault, and returns what it observed; the test asserts the
faulty and the correct observation.  A fault without a check here fails ``test_every_fault_is_checked``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.responder import F, Peer, show

from tcpconform.responder import FAULTS, AppConfig, Responder, ResponderConfig
from tcpconform.tcp.payload import TESTER_SALT, stream_bytes
from tcpconform.tcp.segment import FourTuple
from tcpconform.tcp.states import State


def connect(faults: set[str], window: int = 5000, scripted: bool = False) -> Peer:
    app = AppConfig(mode="scripted" if scripted else "agent")
    r = Responder(ResponderConfig(isn=100, app=app, faults=frozenset(faults)))
    if not scripted:
        r.app_listen(8000, 0.0)
    p = Peer(r, window=window)
    p.send(p.segment(F.SYN, seq=0, options=(("MSS", 512),)))
    p.seq, p.ack = 1, 101
    p.send(p.segment(F.ACK))
    return p


def bad_syn_ack(faults: set[str]) -> object:
    r = Responder(ResponderConfig(isn=100, faults=frozenset(faults)))
    return show(Peer(r).send(Peer(r).segment(F.SYN, seq=0)))


def fixed_isn(faults: set[str]) -> object:
    r = Responder(ResponderConfig(isn=100, faults=frozenset(faults)))
    return Peer(r).send(Peer(r).segment(F.SYN, seq=0))[0].seq


def ack_every_segment(faults: set[str]) -> object:
    p = connect(faults)
    return show(p.data(10))


def slow_ack(faults: set[str]) -> object:
    p = connect(faults)
    first = show(p.data(512, at=1.0))
    second = show(p.data(512, at=1.01))
    timer = p.r.get_timer()
    return first, second, None if timer is None else round(timer - 1.0, 3)


def ack_unreceived(faults: set[str]) -> object:
    p = connect(faults)
    p.data(10)
    delayed = [s.ack for s in p.tick(1.0)]
    return delayed, show(p.send(p.segment(F.FIN | F.ACK)))


def ignore_window(faults: set[str]) -> object:
    p = connect(faults, window=300)
    p.r.app_write(p.key, b"a" * 1000, 0.0)
    return sum(len(s.payload) for s in p.drain())


def ignore_mss(faults: set[str]) -> object:
    p = connect(faults)
    p.r.app_write(p.key, b"a" * 2000, 0.0)
    return [len(s.payload) for s in p.drain()]


def ipv6_mss_from_link(faults: set[str]) -> object:
    """Over IPv6 a SYN without MSS means 1220; over IPv4 the fault changes nothing (536 either way)."""
    from tcpconform.tcp.segment import Segment

    sizes = []
    for mine, peer in (("2001:db8::2", "2001:db8::1"), ("192.0.2.2", "192.0.2.1")):
        r = Responder(ResponderConfig(isn=100, ip=mine, app=AppConfig(mode="agent"), faults=frozenset(faults)))
        r.app_listen(8000, 0.0)
        syn = Segment(peer, mine, 40000, 8000, seq=0, flags=F.SYN, window=5000)
        r.handle_segment(syn, 0.0)
        r.handle_segment(syn.with_(seq=1, ack=101, flags=F.ACK), 0.0)
        r.segments_to_send()
        key = FourTuple(mine, 8000, peer, 40000)
        r.app_write(key, b"a" * 2000, 0.0)
        sizes.append([len(s.payload) for s in r.segments_to_send()])
    return sizes


def fin_without_app(faults: set[str]) -> object:
    p = connect(faults)
    out = show(p.send(p.segment(F.FIN | F.ACK)))
    return out, p.r.state(p.key), State.CLOSE_WAIT in {new for _, new in p.states()}


def no_fin_on_close(faults: set[str]) -> object:
    p = connect(faults, scripted=True)
    p.data(1024)
    p.send(p.segment(F.FIN | F.ACK))
    p.run_timers_until(0.5)
    return [s.flags.tcpdump() for s in p.sent if s.flags & F.FIN], p.r.state(p.key)


def ignore_fin(faults: set[str]) -> object:
    p = connect(faults)
    return show(p.send(p.segment(F.FIN | F.ACK))), p.r.state(p.key)


def drop_out_of_order(faults: set[str]) -> object:
    p = connect(faults)
    data = stream_bytes(0, 200, TESTER_SALT)
    beyond = show(p.send(p.segment(F.ACK, seq=101, payload=data[100:])))
    filled = p.send(p.segment(F.ACK, seq=1, payload=data[:100]))
    filled += p.tick(1.0)  # without the held segment nothing says a gap was filled: a delayed ACK
    return beyond, show(filled)


def no_retransmit(faults: set[str]) -> object:
    r = Responder(ResponderConfig(isn=100, app=AppConfig(mode="agent"), faults=frozenset(faults)))
    r.app_listen(8000, 0.0)
    p = Peer(r)
    p.send(p.segment(F.SYN, seq=0))
    syn_ack_again = show([s for _, s in p.run_timers_until(1.0)])  # SYN-ACKs are still retransmitted
    p.seq, p.ack = 1, 101
    p.send(p.segment(F.ACK), at=1.5)
    r.app_write(p.key, b"a" * 10, 1.5)
    r.app_close(p.key, 1.5)
    p.drain()
    return syn_ack_again, show([s for _, s in p.run_timers_until(10.0)])


def linear_isn(faults: set[str]) -> object:
    """Two SYNs one second apart from two ports: with the fault the ISNs differ by exactly the clock."""
    r = Responder(ResponderConfig(faults=frozenset(faults)))  # the default ISN: RFC 6528's
    isns = []
    for port, at in ((40000, 1.0), (40001, 2.0)):
        p = Peer(r, port=port)
        isns.append(p.send(p.segment(F.SYN, seq=0), at=at)[0].seq)
    return (isns[1] - isns[0]) & 0xFFFFFFFF == 250_000


# fault -> (check, observed with the fault, observed without it)
CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "bad-syn-ack": (bad_syn_ack, ["S. 100 2"], ["S. 100 1"]),
    "fixed-isn": (fixed_isn, 0, 100),
    "linear-isn": (linear_isn, True, False),
    "ack-every-segment": (ack_every_segment, [". 101 11"], []),
    "slow-ack": (slow_ack, ([], [], 0.6), ([], [". 101 1025"], None)),
    "ack-unreceived": (ack_unreceived, ([111], [". 101 112"]), ([11], [". 101 12"])),
    "ignore-window": (ignore_window, 1000, 300),
    "ignore-mss": (ignore_mss, [1460, 540], [512, 512, 512, 464]),
    "ipv6-mss-from-link": (ipv6_mss_from_link, [[1440, 560], [536] * 3 + [392]], [[1220, 780], [536] * 3 + [392]]),
    "fin-without-app": (
        fin_without_app, (["F. 101 2"], State.LAST_ACK, False), ([". 101 2"], State.CLOSE_WAIT, True),
    ),
    "no-fin-on-close": (no_fin_on_close, ([], State.CLOSE_WAIT), (["F."], State.LAST_ACK)),
    "ignore-fin": (ignore_fin, ([], State.ESTABLISHED), ([". 101 2"], State.CLOSE_WAIT)),
    "drop-out-of-order": (
        drop_out_of_order, ([". 101 1"], [". 101 101"]), ([". 101 1"], [". 101 201"]),
    ),
    "no-retransmit": (
        no_retransmit,
        (["S. 100 1"], []),
        # the SYN-ACK was resent, so its ACK is no RTT sample (Karn): the backed-off 2 s RTO carries over
        (["S. 100 1"], ["P. 101 1 len=10", "P. 101 1 len=10"]),
    ),
}


def test_every_fault_is_checked() -> None:
    from test_active_open import ACTIVE_CHECKS
    from test_addresses import MULTIHOME_CHECKS
    from test_app_route import APP_ROUTE_CHECKS
    from test_challenge_throttle import CHALLENGE_CHECKS
    from test_client_isn import CLIENT_ISN_CHECKS
    from test_congestion import CC_CHECKS
    from test_ecn import ECN_CHECKS
    from test_faults_catalogue import CATALOGUE_CHECKS
    from test_giveup import GIVEUP_CHECKS
    from test_icmp import ICMP_CHECKS
    from test_iplayer import IP_CHECKS
    from test_negotiation import NEGOTIATION_CHECKS
    from test_peer_window_and_aborts import PEER_WINDOW_CHECKS
    from test_peerclose import PEERCLOSE_CHECKS
    from test_robustness import ROBUSTNESS_CHECKS
    from test_sack import SACK_CHECKS
    from test_sendmarks import SENDMARK_CHECKS
    from test_srcroute import SRCROUTE_CHECKS
    from test_timer_faults import TIMER_CHECKS
    from test_timewait import TIMEWAIT_CHECKS
    from test_zero_window import ZERO_WINDOW_CHECKS

    groups = [set(CHECKS), set(CATALOGUE_CHECKS), set(ACTIVE_CHECKS), set(ROBUSTNESS_CHECKS), set(TIMER_CHECKS),
              set(NEGOTIATION_CHECKS), set(ICMP_CHECKS), set(SACK_CHECKS), set(GIVEUP_CHECKS),
              set(PEER_WINDOW_CHECKS), set(CC_CHECKS), set(IP_CHECKS), set(CLIENT_ISN_CHECKS),
              set(CHALLENGE_CHECKS), set(SENDMARK_CHECKS), set(PEERCLOSE_CHECKS), set(ZERO_WINDOW_CHECKS),
              set(TIMEWAIT_CHECKS), set(ECN_CHECKS), set(MULTIHOME_CHECKS), set(SRCROUTE_CHECKS),
              set(APP_ROUTE_CHECKS)]
    assert set().union(*groups) == set(FAULTS)
    assert sum(len(g) for g in groups) == len(FAULTS)  # no fault checked twice


@pytest.mark.parametrize("fault", sorted(CHECKS))
def test_fault_changes_what_it_claims(fault: str) -> None:
    check, faulty, correct = CHECKS[fault]
    assert check({fault}) == faulty, FAULTS[fault]
    assert check(set()) == correct


def test_unknown_fault_is_a_value_error_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown fault\(s\) 'no-such-fault' \(known: accept-ack-of-unsent, "):
        ResponderConfig(isn=100, faults=frozenset({"no-such-fault"}))


def seed_trace(faults: frozenset[str]) -> list[str]:
    r = Responder(ResponderConfig(isn=100, faults=faults))
    p = Peer(r)
    p.send(p.segment(F.SYN, seq=0, options=(("MSS", 512),)), at=0.0)
    p.seq, p.ack = 1, 101
    p.send(p.segment(F.ACK), at=0.01)
    p.data(512, at=0.02)
    p.data(512, at=0.03)
    p.ack = 801
    p.send(p.segment(F.ACK), at=0.04)
    p.send(p.segment(F.FIN | F.ACK), at=0.05)
    p.run_timers_until(0.06)
    p.seq, p.ack = 1026, 802
    p.send(p.segment(F.ACK), at=0.07)
    return show(p.sent) + [f"{old}>{new}" for old, new in p.states()]


@pytest.mark.parametrize("fault", ["ignore-window", "drop-out-of-order", "no-retransmit"])
def test_faults_that_the_seed_does_not_exercise_leave_it_alone(fault: str) -> None:
    """"Nothing else": a fault whose trigger the seed never meets must not change the seed exchange."""
    assert seed_trace(frozenset({fault})) == seed_trace(frozenset())
