"""A peer that shrinks its window (RFC 9293 3.8.6, MUST-34, SHLD-15..17), a listener with connections
half open (3.9.1.1, MUST-42) and the resets around an abort (3.5.3 SHLD-2, 3.6.1 SHLD-3): without a
fault the responder does what RFC 9293 says, and each fault changes what it claims."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.responder import F, Peer, agent_config, show
from support.responder import agent_established as established

from tcpconform.responder import Responder
from tcpconform.responder.shrink import shrink_aborts, usable_window
from tcpconform.tcp.states import State


def shrunk(faults: set[str]) -> Peer:
    """1024 bytes sent (101..1125), then ACK 613 with window 200: the right edge back from 5101 to 813."""
    p = established(faults)
    p.r.app_write(p.key, b"a" * 1024, 0.0)
    assert show(p.drain()) == [". 101 1 len=512", "P. 613 1 len=512"]
    p.send(p.segment(F.ACK, ack=613, window=200), at=0.01)
    return p


def beyond_shrunk_edge(faults: set[str]) -> object:
    """What a write after the shrink sends at once, and what the retransmission timeout resends."""
    p = shrunk(faults)
    p.r.app_write(p.key, b"b" * 500, 0.02)
    at_once = show(p.drain())
    resent = show([s for _, s in p.run_timers_until(1.5)])
    return at_once, resent, p.r.state(p.key)


def shrink_then_reopen(faults: set[str]) -> object:
    """The shrink, then everything acknowledged with the window back at 5000: the new data goes out."""
    p = shrunk(faults)
    out = show(p.drain())
    if p.r.state(p.key) is State.ESTABLISHED:
        p.r.app_write(p.key, b"b" * 500, 0.02)
        p.drain()
    out += show(p.send(p.segment(F.ACK, ack=1125, window=5000), at=0.03))
    return out, p.r.state(p.key)


def rst_with_text(faults: set[str]) -> object:
    p = established(faults)
    p.send(p.segment(F.RST, payload=b"the tester aborts it"))
    return p.r.state(p.key)


def syns_while_half_open(faults: set[str]) -> object:
    """Three SYNs from three ports, none completed: how many got a SYN-ACK."""
    r = Responder(agent_config(faults=frozenset(faults)))
    r.app_listen(8000, 0.0)
    answers = []
    for port in (40001, 40002, 40003):
        p = Peer(r, port=port)
        answers += show(p.send(p.segment(F.SYN, seq=0, options=(("MSS", 512),))))
    return answers


def close_unread(faults: set[str]) -> object:
    """100 bytes received, never read; the application closes."""
    p = established(faults)
    p.data(100)
    p.run_timers_until(0.5)
    p.r.app_close(p.key, 0.6)
    return show(p.drain()), p.r.state(p.key)


def data_after_close(faults: set[str]) -> object:
    """The application closed, its FIN acknowledged (FIN_WAIT_2); then 20 bytes arrive."""
    p = established(faults)
    p.r.app_close(p.key, 0.0)
    assert show(p.drain()) == ["F. 101 1"]
    p.ack = 102
    p.send(p.segment(F.ACK))
    out = show(p.data(20, at=0.1) + [s for _, s in p.run_timers_until(1.0)])
    return out, p.r.state(p.key)


def edges_after_out_of_order(faults: set[str]) -> object:
    """Whether the duplicate ACK answering 100 bytes beyond a gap offers a right edge (ack + window) left
    of the one the SYN-ACK offered."""
    p = established(faults)
    syn_ack = p.sent[-1]
    dup_ack = p.send(p.segment(F.ACK | F.PSH, seq=101, payload=b"x" * 100), at=0.02)[0]
    return dup_ack.ack + dup_ack.window < syn_ack.ack + syn_ack.window


PEER_WINDOW_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "send-beyond-shrunk-window": (
        beyond_shrunk_edge,
        (["P. 1125 1 len=500"], ["P. 613 1 len=512"], State.ESTABLISHED),
        ([], ["P. 613 1 len=512"], State.ESTABLISHED),
    ),
    "shrink-crash": (shrink_then_reopen, (["R 1125"], State.CLOSED), (["P. 1125 1 len=500"], State.ESTABLISHED)),
    "rst-with-data-ignored": (rst_with_text, State.ESTABLISHED, State.CLOSED),
    "shrink-own-window": (edges_after_out_of_order, True, False),
    "one-syn-rcvd": (syns_while_half_open, ["S. 100 1"], ["S. 100 1"] * 3),
    "fin-despite-unread": (close_unread, (["F. 101 101"], State.FIN_WAIT_1), (["R. 101 101"], State.CLOSED)),
    "data-after-close-discarded": (
        data_after_close, ([". 102 21"], State.FIN_WAIT_2), (["R 102"], State.CLOSED),
    ),
}


@pytest.mark.parametrize("fault", sorted(PEER_WINDOW_CHECKS))
def test_fault_changes_what_it_claims(fault: str) -> None:
    check, faulty, correct = PEER_WINDOW_CHECKS[fault]
    assert check({fault}) == faulty
    assert check(set()) == correct


def test_a_window_that_grows_or_stays_never_aborts() -> None:
    assert not shrink_aborts(1000, 1000, frozenset({"shrink-crash"}))
    assert not shrink_aborts(1000, 1200, frozenset({"shrink-crash"}))
    assert shrink_aborts(1000, 999, frozenset({"shrink-crash"}))
    assert not shrink_aborts(1000, 999, frozenset())


@given(st.integers(0, 70000), st.integers(0, 70000), st.integers(0, 70000))
def test_the_usable_window_is_signed_without_the_fault(wnd: int, in_flight: int, queued: int) -> None:
    assert usable_window(wnd, in_flight, queued, frozenset()) == wnd - in_flight
    wrapped = usable_window(wnd, in_flight, queued, frozenset({"send-beyond-shrunk-window"}))
    assert wrapped == (queued if in_flight > wnd else wnd - in_flight)
