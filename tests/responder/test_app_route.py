"""The reference responder's active open on an application's source route (RFC 9293 3.9.2.1,
MUST-51, MUST-52): every segment goes to the route's first hop with a fresh LSRR listing the other
hops and then the peer, a received completed route does not replace it, and the two faults that
break each rule."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tcpconform.responder import Responder, ResponderConfig
from tcpconform.tcp.ip import IpHeader
from tcpconform.tcp.segment import Flags, FourTuple, Segment
from tcpconform.tcp.srcroute import completed_route, read_route

ME, PEER = "192.0.2.2", "192.0.2.1"
KEY = FourTuple(ME, 40000, PEER, 8000)
ROUTE = (PEER, "198.51.100.9")


def _open(faults: frozenset[str] = frozenset()) -> tuple[Responder, Segment]:
    responder = Responder(ResponderConfig(ip=ME, faults=faults))
    responder.app_connect(KEY, 0.0, route=ROUTE)
    (syn,) = responder.segments_to_send()
    return responder, syn


def _route(seg: Segment) -> tuple[str, tuple[str, ...]] | None:
    got = read_route(seg.ip.options) if seg.ip is not None else None
    return None if got is None else (seg.dst, got.addresses) if got.pointer == 4 else None


def _established(responder: Responder, syn: Segment) -> Segment:
    responder.handle_segment(Segment(PEER, ME, 8000, 40000, 7, syn.seq + 1, Flags.SYN | Flags.ACK, 5000), 0.01)
    (ack,) = responder.segments_to_send()
    return ack


def test_the_syn_and_the_ack_go_to_the_first_hop_listing_the_rest_and_the_peer() -> None:
    responder, syn = _open()
    assert _route(syn) == (PEER, ("198.51.100.9", PEER))
    assert _route(_established(responder, syn)) == (PEER, ("198.51.100.9", PEER))


def test_a_received_completed_route_does_not_replace_the_applications() -> None:
    responder, syn = _open()
    ack = _established(responder, syn)
    routed = IpHeader(options=completed_route(("203.0.113.1", PEER)))
    responder.handle_segment(Segment(PEER, ME, 8000, 40000, 8, ack.seq, Flags.PSH | Flags.ACK, 5000, payload=b"x" * 10,
                                     ip=routed), 0.02)
    responder.handle_timer(1.0)  # the delayed ACK, if it waited
    got = responder.segments_to_send()
    assert got and all(_route(seg) == (PEER, ("198.51.100.9", PEER)) for seg in got)


def test_under_received_route_overrides_app_the_received_route_wins() -> None:
    responder, syn = _open(frozenset({"received-route-overrides-app"}))
    ack = _established(responder, syn)
    routed = IpHeader(options=completed_route(("203.0.113.1", PEER)))
    responder.handle_segment(Segment(PEER, ME, 8000, 40000, 8, ack.seq, Flags.PSH | Flags.ACK, 5000, payload=b"x" * 10,
                                     ip=routed), 0.02)
    responder.handle_timer(1.0)
    got = responder.segments_to_send()
    assert got and _route(got[-1]) == (PEER, ("203.0.113.1", PEER))


def test_under_app_route_ignored_the_syn_goes_straight_to_the_peer() -> None:
    _, syn = _open(frozenset({"app-route-ignored"}))
    assert syn.dst == PEER and (syn.ip is None or read_route(syn.ip.options) is None)


def test_a_connect_without_a_route_sends_none() -> None:
    responder = Responder(ResponderConfig(ip=ME))
    responder.app_connect(KEY, 0.0)
    (syn,) = responder.segments_to_send()
    assert syn.ip is None or read_route(syn.ip.options) is None


def _syn_route(faults: set[str]) -> object:
    return _route(_open(frozenset(faults))[1])


def _route_after_a_received_one(faults: set[str]) -> object:
    responder, syn = _open(frozenset(faults))
    ack = _established(responder, syn)
    routed = IpHeader(options=completed_route(("203.0.113.1", PEER)))
    responder.handle_segment(Segment(PEER, ME, 8000, 40000, 8, ack.seq, Flags.PSH | Flags.ACK, 5000, payload=b"x" * 10,
                                     ip=routed), 0.02)
    responder.handle_timer(1.0)
    return [_route(seg) for seg in responder.segments_to_send()]


APP = (PEER, ("198.51.100.9", PEER))
APP_ROUTE_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "app-route-ignored": (_syn_route, None, APP),
    "received-route-overrides-app": (_route_after_a_received_one, [(PEER, ("203.0.113.1", PEER))], [APP]),
}


@pytest.mark.parametrize("fault", sorted(APP_ROUTE_CHECKS))
def test_fault_changes_the_route_the_active_open_sends_on(fault: str) -> None:
    check, faulty, correct = APP_ROUTE_CHECKS[fault]
    assert check({fault}) == faulty
    assert check(set()) == correct
