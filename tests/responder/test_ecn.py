"""ECN in use on the reference responder (RFC 3168 6.1.2-6.1.5): ECT on new data only, ECE from a CE
mark until CWR, CWR on the new data after an ECE, and the faults that get it wrong.  As in
``test_faults``: every check runs with and without its fault and returns what it observed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.responder import F, Peer, agent_config, show

from tcpconform.responder import Responder
from tcpconform.tcp.ip import IpHeader
from tcpconform.tcp.segment import Segment
from tcpconform.tcp.states import State

PORT = 8000


def _ecn(seg: Segment) -> int:
    return seg.ip.tos & 3 if seg.ip is not None and seg.ip.tos is not None else 0


def ecn_connection(faults: set[str] | frozenset[str] = frozenset(), setup: bool = True) -> Peer:
    r = Responder(agent_config(faults=frozenset(faults)))
    r.app_listen(PORT, 0.0)
    p = Peer(r, seq=0, ack=5000)
    p.window = 8000
    synack = p.send(p.segment(F.SYN | (F.ECE | F.CWR if setup else F.NONE), seq=0, options=(("MSS", 512),)))
    assert bool(synack[0].flags & F.ECE) is setup and not synack[0].flags & F.CWR and _ecn(synack[0]) == 0
    p.seq, p.ack = 1, 101
    p.send(p.segment(F.ACK))
    assert r.state(p.key) is State.ESTABLISHED
    return p


def _data(p: Peer, n: int = 100, flags: F = F.ACK | F.PSH, tos: int | None = None) -> list[Segment]:
    seg = p.segment(flags, payload=bytes(n))
    if tos is not None:
        seg = seg.with_(ip=IpHeader(tos=tos))
    p.seq += n
    return p.send(seg) + [s for _, s in p.run_timers_until(p.now + 1.0)]


def _write(p: Peer, n: int = 100) -> list[Segment]:
    p.r.app_write(p.key, bytes(n), p.now)
    return p.drain()


def no_ect(faults: set[str]) -> object:
    p = ecn_connection(faults)
    data = _write(p)
    acks = _data(p)
    return [_ecn(s) for s in data], sorted({_ecn(s) for s in acks})


def no_echo(faults: set[str]) -> object:
    p = ecn_connection(faults)
    return show(_data(p, tos=3))


def sticky(faults: set[str]) -> object:
    p = ecn_connection(faults)
    _data(p, tos=3)
    return show(_data(p, flags=F.ACK | F.PSH | F.CWR))


ECN_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "ecn-no-ect": (no_ect, ([0], [0]), ([2], [0])),
    "ecn-no-echo": (no_echo, [". 101 101"], ["E. 101 101"]),
    "ecn-echo-sticky": (sticky, ["E. 101 201"], [". 101 201"]),
}
"""fault -> (check, observed with the fault, observed without it)."""


@pytest.mark.parametrize("fault", sorted(ECN_CHECKS))
def test_ecn_fault_changes_what_it_claims(fault: str) -> None:
    check, faulty, correct = ECN_CHECKS[fault]
    assert check({fault}) == faulty
    assert check(set()) == correct


def test_ece_lasts_until_cwr_and_a_ce_cwr_segment_keeps_it() -> None:
    p = ecn_connection()
    assert show(_data(p, tos=3)) == ["E. 101 101"]
    assert show(_data(p)) == ["E. 101 201"]
    assert show(_data(p, flags=F.ACK | F.PSH | F.CWR, tos=3)) == ["E. 101 301"]
    assert show(_data(p, flags=F.ACK | F.PSH | F.CWR)) == [". 101 401"]


def test_an_ece_brings_cwr_on_the_next_new_data_only() -> None:
    p = ecn_connection()
    first = _write(p)
    p.ack = 201
    p.send(p.segment(F.ACK | F.ECE))
    second = _write(p)
    p.ack = 301
    p.send(p.segment(F.ACK))
    third = _write(p)
    assert [s.flags & F.CWR for s in first + second + third] == [F.NONE, F.CWR, F.NONE]
    assert [_ecn(s) for s in second + third] == [2, 2]


def test_without_ecn_set_up_nothing_is_marked_or_echoed() -> None:
    p = ecn_connection(setup=False)
    assert [_ecn(s) for s in _write(p)] == [0]
    assert {s.flags & F.ECE for s in _data(p, tos=3)} == {F.NONE}
