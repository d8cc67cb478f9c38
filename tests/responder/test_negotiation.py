"""The reference responder's option negotiation (window scaling, timestamps and PAWS, ECN setup):
each answered only when offered, each rule as RFC 7323 and RFC 3168 state it, each fault changing
what it claims."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.responder import F, Peer, agent_config, show

from tcpconform.responder import Responder
from tcpconform.responder.negotiate import TS_ORIGIN
from tcpconform.tcp.segment import Segment

WS2 = (("MSS", 512), ("NOP", None), ("WScale", 2))


def ts(val: int, ecr: int = 0) -> tuple[tuple[str, object], ...]:
    return (("NOP", None), ("NOP", None), ("Timestamp", (val, ecr)))


def opened(faults: set[str] = frozenset(), syn_options: tuple = (("MSS", 512),), syn_flags: F = F.SYN,
           **cfg: object) -> tuple[Peer, Segment]:
    """A connection the peer opened with ``syn_options``; the responder's SYN-ACK with it."""
    r = Responder(agent_config(faults=frozenset(faults), **cfg))
    r.app_listen(8000, 0.0)
    p = Peer(r, seq=0, ack=101)
    synack = p.send(p.segment(syn_flags, seq=0, options=syn_options))[0]
    p.seq = 1
    return p, synack


def kinds(seg: Segment) -> list[str]:
    return [kind for kind, _ in seg.options]


# -- window scaling --------------------------------------------------------------------------------
def test_no_option_is_answered_unasked_and_the_seed_synack_is_unchanged() -> None:
    p, synack = opened()
    assert synack.options == () and synack.window == 65535 and synack.flags == F.SYN | F.ACK
    p.send(p.segment(F.ACK, options=()))
    p.send(p.segment(F.ACK | F.PSH, payload=b"x" * 10))
    assert all(s.options == () and s.window <= 65535 for s in p.tick(1.0))


def test_window_scale_is_answered_and_the_syn_window_never_scaled() -> None:
    _, synack = opened(syn_options=WS2, window_scale=3, window=200_000)
    assert ("WScale", 3) in synack.options
    assert synack.window == 65535  # RFC 7323 2.2: a SYN's window is never scaled


def test_own_window_is_scaled_from_the_first_non_syn_segment() -> None:
    p, _ = opened(syn_options=WS2, window_scale=3, window=200_000)
    p.send(p.segment(F.ACK))
    ack = p.send(p.segment(F.ACK | F.PSH, payload=b"x" * 100))
    p.tick(1.0)
    segs = [s for s in p.sent if not s.flags & F.SYN]
    assert segs and all(s.window == (200_000 - 100) >> 3 for s in segs), (ack, segs)


def test_peer_window_is_scaled_by_its_shift() -> None:
    p, _ = opened(syn_options=WS2)
    p.window = 250  # 1000 octets
    p.send(p.segment(F.ACK))
    p.r.app_write(p.key, b"a" * 900, 0.0)
    assert [len(s.payload) for s in p.drain()] == [512, 388]


def test_ws_unscaled_takes_the_field_as_octets() -> None:
    p, _ = opened({"ws-unscaled", "sws-sender"}, syn_options=WS2)  # no SWS avoidance: the window's edge shows
    p.window = 250
    p.send(p.segment(F.ACK))
    p.r.app_write(p.key, b"a" * 900, 0.0)
    assert [len(s.payload) for s in p.drain()] == [250]


@given(st.integers(15, 255))
def test_a_shift_above_14_is_taken_as_14_and_logged(shift: int) -> None:
    p, _ = opened(syn_options=(("WScale", shift),))
    conn = next(iter(p.r._conns.values()))  # the log is the connection's
    assert conn.neg.snd_shift == 14 and "taken as 14" in conn.neg.log[0]


def test_ws_unoffered_sends_a_window_scale_option_to_a_plain_syn() -> None:
    assert "WScale" in kinds(opened({"ws-unoffered"})[1])
    assert "WScale" not in kinds(opened()[1])


def test_window_scale_off_sends_none() -> None:
    assert "WScale" not in kinds(opened(syn_options=WS2, window_scale=None)[1])


# -- timestamps --------------------------------------------------------------------------------------
def test_timestamps_echo_the_syn_and_ride_on_every_segment() -> None:
    p, synack = opened(syn_options=ts(1000))
    assert synack.option("Timestamp") == (TS_ORIGIN, 1000)
    p.send(p.segment(F.ACK, options=ts(1001)), at=0.5)
    assert p.send(p.segment(F.ACK | F.PSH, payload=b"x" * 100, options=ts(1002)), at=0.6) == []
    out = [s for _, s in p.run_timers_until(1.0)]
    assert [s.option("Timestamp") for s in out] == [(TS_ORIGIN + 800, 1002)]  # the delayed ACK, 200 ms on


def test_data_segments_leave_room_for_the_timestamps() -> None:
    p, _ = opened(syn_options=(("MSS", 512), *ts(1)))
    p.send(p.segment(F.ACK, options=ts(2)))
    p.r.app_write(p.key, b"a" * 600, 0.0)
    assert [len(s.payload) for s in p.drain()] == [500, 100]


def ooo_echoes(faults: set[str]) -> list[int]:
    """TSecr of: the ACK of in-order data, the duplicate ACK of out-of-order data, the ACK of the gap."""
    p, _ = opened(faults, syn_options=ts(1000))
    p.send(p.segment(F.ACK, options=ts(1001)))
    out = p.send(p.segment(F.ACK, seq=1, payload=b"a" * 100, options=ts(1002)))
    out += p.tick(1.0)
    out += p.send(p.segment(F.ACK, seq=201, payload=b"c" * 100, options=ts(1004)))
    out += p.send(p.segment(F.ACK, seq=101, payload=b"b" * 100, options=ts(1003)))
    return [s.option("Timestamp")[1] for s in out]


def paws(faults: set[str]) -> tuple[list[str], int]:
    p, _ = opened(faults, syn_options=ts(1000))
    p.send(p.segment(F.ACK, options=ts(1001)))
    p.send(p.segment(F.ACK, seq=1, payload=b"a" * 100, options=ts(1002)))
    p.tick(1.0)
    out = p.send(p.segment(F.ACK, seq=101, payload=b"b" * 100, options=ts(900)), at=1.1)
    out += p.tick(2.0)
    return show(out), len(p.r.app_read(p.key, 1000, 2.0))


def pure_acks_without_ts(faults: set[str]) -> int:
    p, _ = opened(faults, syn_options=ts(1000))
    p.send(p.segment(F.ACK, options=ts(1001)))
    out = p.send(p.segment(F.ACK, seq=1, payload=b"a" * 100, options=ts(1002))) + p.tick(1.0)
    return sum(1 for s in out if s.option("Timestamp") is None)


def ts_unoffered(faults: set[str]) -> bool:
    return "Timestamp" in kinds(opened(faults)[1])


def ecn(faults: set[str], flags: F) -> F:
    return opened(faults, syn_flags=flags)[1].flags


def ecn_reflect(faults: set[str]) -> F:
    return ecn(faults, F.SYN | F.ECE | F.CWR)


def ecn_unrequested(faults: set[str]) -> F:
    return ecn(faults, F.SYN)


NEGOTIATION_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "ts-echo-wrong": (ooo_echoes, [1002, 1004, 1003], [1002, 1002, 1003]),
    "no-paws": (paws, ([". 101 201"], 200), ([". 101 101"], 100)),
    "ts-missing": (pure_acks_without_ts, 1, 0),
    "ts-unoffered": (ts_unoffered, True, False),
    "ecn-reflect": (ecn_reflect, F.SYN | F.ACK | F.ECE | F.CWR, F.SYN | F.ACK | F.ECE),
    "ecn-unrequested": (ecn_unrequested, F.SYN | F.ACK | F.ECE, F.SYN | F.ACK),
    "ws-unscaled": (lambda faults: _first_burst(faults), [250], [512, 388]),
    "ws-big-shift-as-zero": (lambda faults: _first_burst(faults, shift=15), [250], [512, 388]),
    "ws-unoffered": (lambda faults: "WScale" in kinds(opened(faults)[1]), True, False),
}
"""Each negotiation fault: the check, what it observes with the fault, and without."""


def _first_burst(faults: set[str], shift: int = 2) -> list[int]:
    options = (("MSS", 512), ("NOP", None), ("WScale", shift))
    p, _ = opened(faults | {"sws-sender"}, syn_options=options)  # no SWS avoidance: the window's edge shows
    p.window = 250
    p.send(p.segment(F.ACK))
    p.r.app_write(p.key, b"a" * 900, 0.0)
    return [len(s.payload) for s in p.drain()]


@pytest.mark.parametrize("fault", sorted(NEGOTIATION_CHECKS))
def test_negotiation_fault_changes_what_it_claims(fault: str) -> None:
    check, faulty, correct = NEGOTIATION_CHECKS[fault]
    assert check({fault}) == faulty
    assert check(set()) == correct


def test_a_rst_is_not_subject_to_paws_and_carries_no_timestamps() -> None:
    p, _ = opened(syn_options=ts(1000))
    p.send(p.segment(F.ACK, options=ts(1001)))
    assert p.send(p.segment(F.RST, options=ts(5))) == []
    assert p.r.connections() == []


def test_the_fuzz_invariants_scale_the_peer_window_once_both_syns_carried_window_scale() -> None:
    from tcpconform.responder.invariants import Invariants

    p, _ = opened(syn_options=WS2)
    inv = Invariants()
    syn = p.sent[0]
    inv.peer_sent(p.segment(F.SYN, seq=0, options=WS2))
    assert inv.responder_sent(syn) == []
    p.window = 250
    ack = p.segment(F.ACK)
    p.send(ack)
    inv.peer_sent(ack)
    p.r.app_write(p.key, b"a" * 900, 0.0)
    assert [b for s in p.drain() for b in inv.responder_sent(s)] == []  # 900 octets inside 250 << 2
