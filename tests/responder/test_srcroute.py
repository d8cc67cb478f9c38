"""The responder's source-routed connections (RFC 9293 3.9.2.1 MUST-53, SHLD-24; RFC 1122 3.3.5):
the return route each connection keeps and sends on, and the faults that get it wrong."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.responder import IP as TARGET
from support.responder import PEER_IP, PORT, F, Peer, agent_config

from tcpconform.responder import Responder
from tcpconform.tcp.ip import IpHeader
from tcpconform.tcp.segment import Segment
from tcpconform.tcp.srcroute import LSRR, SSRR, completed_route, read_route, return_route, route_option

HOPS = ("198.51.100.1", "198.51.100.2", PEER_IP)


def _routed(seg: Segment, hops: tuple[str, ...] = HOPS, kind: int = LSRR) -> Segment:
    return seg.with_(ip=IpHeader(options=completed_route(hops, kind)))


def _route_of(seg: Segment) -> tuple[str, int, tuple[str, ...]] | None:
    route = read_route(seg.ip.options) if seg.ip is not None else None
    return None if route is None else (seg.dst, route.pointer, route.addresses)


def _open(faults: set[str], hops: tuple[str, ...] | None = HOPS) -> tuple[Peer, list[Segment]]:
    r = Responder(agent_config(faults=frozenset(faults)))
    r.app_listen(PORT, 0.0)
    p = Peer(r, seq=0, ack=101)
    syn = p.segment(F.SYN, seq=0)
    return p, p.send(_routed(syn, hops) if hops else syn)


def _data(p: Peer, hops: tuple[str, ...] | None, seq: int) -> list[Segment]:
    p.seq = seq
    seg = p.segment(F.PSH | F.ACK, payload=bytes(10))
    got = p.send(_routed(seg, hops) if hops else seg, at=p.now + 1.0)
    return got + p.tick(p.now + 1.0)


RETURN = (PEER_IP, 4, ("198.51.100.2", "198.51.100.1", PEER_IP))


def test_the_return_route_is_the_recorded_one_reversed_ending_at_the_sender() -> None:
    route = read_route(completed_route(HOPS))
    assert route is not None and route.completed and route.addresses == HOPS
    assert return_route(route, "192.0.2.9") == (PEER_IP, route_option(LSRR, 4, ("198.51.100.2", "198.51.100.1", "192.0.2.9")))
    one = read_route(completed_route((PEER_IP,), SSRR))
    assert one is not None and return_route(one, PEER_IP) == (PEER_IP, route_option(SSRR, 4, (PEER_IP,)))
    assert read_route(bytes([LSRR, 6, 4, 1, 2, 3])) is None  # not whole addresses: malformed
    assert read_route(bytes([1, 7, 3, 0])) is None


def test_a_syn_with_a_completed_route_opens_a_connection_that_sends_on_its_return_route() -> None:
    p, answers = _open(set())
    assert [_route_of(s) for s in answers] == [RETURN]
    p.seq = 1
    p.send(_routed(p.segment(F.ACK)))
    assert [_route_of(s) for s in _data(p, HOPS, 1)] == [RETURN]
    assert [_route_of(s) for s in _data(p, None, 11)] == [RETURN]  # kept when a later segment has none


def test_an_unfinished_route_or_none_opens_a_connection_without_one() -> None:
    _, answers = _open(set(), None)
    assert [_route_of(s) for s in answers] == [None]
    r = Responder(agent_config())
    r.app_listen(PORT, 0.0)
    p = Peer(r, seq=0, ack=101)
    unfinished = p.segment(F.SYN, seq=0).with_(ip=IpHeader(options=route_option(LSRR, 4, (TARGET,))))
    assert [_route_of(s) for s in p.send(unfinished)] == [None]


def test_a_later_route_replaces_the_first_unless_the_first_is_kept() -> None:
    later = ("203.0.113.1", PEER_IP)
    for faults, want in ((set(), ("203.0.113.1", PEER_IP)), ({"source-route-first-kept"}, RETURN[2])):
        p, _ = _open(faults)
        p.seq = 1
        p.send(_routed(p.segment(F.ACK)))
        got = [_route_of(s) for s in _data(p, later, 1)]
        assert [g[2] if g else None for g in got] == [want], faults


def test_faults_answer_without_the_route_or_echo_it_unreversed() -> None:
    _, ignored = _open({"source-route-ignored"})
    assert [_route_of(s) for s in ignored] == [None]
    _, echoed = _open({"source-route-echoed"})
    assert [_route_of(s) for s in echoed] == [(PEER_IP, 16, HOPS)]


def test_a_new_connection_on_the_same_ports_does_not_inherit_the_old_route() -> None:
    p, _ = _open(set())
    p.seq = 1
    p.send(p.segment(F.RST))
    p.seq = 5000
    answers = p.send(p.segment(F.SYN, seq=5000))
    assert answers and [_route_of(s) for s in answers] == [None]


def syn_ack_route(faults: set[str]) -> object:
    """The route the SYN-ACK to a SYN with a completed route carries."""
    return [_route_of(s) for s in _open(faults)[1]]


def later_route(faults: set[str]) -> object:
    """The route the ACK of data carrying a different completed route goes back on."""
    p, _ = _open(faults)
    p.seq = 1
    p.send(_routed(p.segment(F.ACK)))
    return [_route_of(s) for s in _data(p, ("203.0.113.1", PEER_IP), 1)]


SRCROUTE_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "source-route-ignored": (syn_ack_route, [None], [RETURN]),
    "source-route-echoed": (syn_ack_route, [(PEER_IP, 16, HOPS)], [RETURN]),
    "source-route-first-kept": (later_route, [RETURN], [(PEER_IP, 4, ("203.0.113.1", PEER_IP))]),
}


@pytest.mark.parametrize("fault", sorted(SRCROUTE_CHECKS))
def test_fault_changes_the_route_the_responder_sends_on(fault: str) -> None:
    check, faulty, correct = SRCROUTE_CHECKS[fault]
    assert check({fault}) == faulty
    assert check(set()) == correct
