"""The reference responder's SACK (RFC 2018): SACK-permitted answered only when offered, SACK blocks
whose edges are exactly the held data's, the newest first, as many as fit; received blocks of any
kind survived; each SACK fault changing what it claims."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.responder import F, Peer, agent_config

from tcpconform.responder import Responder
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Segment

SACK_OK = (("MSS", 512), ("NOP", None), ("NOP", None), ("SAckOK", None))


def ts(val: int, ecr: int = 0) -> tuple[tuple[str, object], ...]:
    return (("NOP", None), ("NOP", None), ("Timestamp", (val, ecr)))


def opened(faults: frozenset[str] = frozenset(), syn_options: tuple = SACK_OK, **cfg: object) -> tuple[Peer, Segment]:
    """An established connection whose SYN carried ``syn_options``; the responder's SYN-ACK."""
    r = Responder(agent_config(faults=faults, **cfg))
    r.app_listen(8000, 0.0)
    p = Peer(r, seq=0, ack=101)
    synack = p.send(p.segment(F.SYN, seq=0, options=syn_options))[0]
    p.seq = 1
    p.send(p.segment(F.ACK, options=syn_options[4:] if len(syn_options) > 4 else ()))
    return p, synack


def data_at(p: Peer, offset: int, n: int = 100, options: tuple = ()) -> list[Segment]:
    """Send ``n`` bytes at ``offset`` past the tester's ISN + 1 (0 is the next expected byte)."""
    return p.send(p.segment(F.ACK | F.PSH, seq=1 + offset, payload=b"x" * n, options=options))


def blocks(seg: Segment) -> list[tuple[int, int]]:
    """The SACK blocks of ``seg`` as offsets past the tester's ISN + 1."""
    edges = seg.option("SAck") or ()
    return [(a - 1, b - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def test_sack_permitted_is_answered_only_when_offered() -> None:
    assert ("SAckOK", None) in opened()[1].options
    assert "SAckOK" not in [k for k, _ in opened(syn_options=(("MSS", 512),))[1].options]
    assert "SAckOK" not in [k for k, _ in opened(sack=False)[1].options]


def test_the_seed_exchange_is_unchanged_without_the_offer() -> None:
    p, synack = opened(syn_options=(("MSS", 512),))
    assert synack.options == ()
    assert all(s.options == () for s in data_at(p, 100))


def test_blocks_are_the_held_runs_newest_first_and_go_when_a_hole_fills() -> None:
    p, _ = opened()
    assert [blocks(s) for s in data_at(p, 100)] == [[(100, 200)]]
    assert [blocks(s) for s in data_at(p, 300)] == [[(300, 400), (100, 200)]]
    assert [blocks(s) for s in data_at(p, 200)] == [[(100, 400)]]  # contiguous: one run, one block
    out = data_at(p, 0)
    assert [s.ack for s in out] == [401] and out[0].option("SAck") is None  # nothing held: no SACK


def test_the_first_block_is_the_triggering_segments_even_when_older_runs_are_higher() -> None:
    p, _ = opened()
    data_at(p, 500)
    data_at(p, 300)
    assert blocks(data_at(p, 100)[0]) == [(100, 200), (300, 400), (500, 600)]
    assert blocks(data_at(p, 500)[0]) == [(500, 600), (100, 200), (300, 400)]  # a duplicate triggers too


def test_as_many_blocks_as_fit_four_alone_three_beside_timestamps() -> None:
    p, _ = opened()
    for off in (100, 300, 500, 700):
        out = data_at(p, off)
    assert blocks(data_at(p, 900)[0]) == [(900, 1000), (700, 800), (500, 600), (300, 400)]
    assert len(out[0].options) == 3
    syn = (*SACK_OK, *ts(1000))
    p, synack = opened(syn_options=syn)
    assert "Timestamp" in [k for k, _ in synack.options]
    for i, off in enumerate((100, 300, 500, 700)):
        out = data_at(p, off, options=ts(1001 + i, 0))
    assert blocks(out[0]) == [(700, 800), (500, 600), (300, 400)]


def _written(p: Peer, n: int = 100) -> Segment:
    p.r.app_write(p.key, b"y" * n, p.now)
    out = p.tick(p.now)
    assert [len(s.payload) for s in out] == [n]
    return out[0]


def test_bogus_blocks_change_nothing_and_data_still_flows() -> None:
    p, _ = opened()
    for edges in [(5000, 6000), (50, 101), (400, 300), (100, 300, 150, 250), (7, 3_000_000_000, 4_000_000_000, 9, 1, 2, 3, 4)]:
        seg = _written(p)
        end = seqnum.add(seg.seq, len(seg.payload))
        out = p.send(p.segment(F.ACK, ack=end, options=(("NOP", None), ("NOP", None), ("SAck", edges))))
        assert not any(s.flags & F.RST for s in out)
    assert _written(p).seq == 601


def two_out_of_order(faults: set[str]) -> list[tuple[int, int]]:
    p, _ = opened(frozenset(faults))
    data_at(p, 100)
    return blocks(data_at(p, 300)[0])


def test_sack_permitted_answers_only_an_offer() -> None:
    assert ("SAckOK", None) not in opened(frozenset(), syn_options=(("MSS", 512),))[1].options


def after_a_block_beyond_snd_nxt(faults: set[str]) -> tuple[int, int]:
    """What answers an ACK whose block lies beyond SND.NXT, and what a later write and data draw."""
    p, _ = opened(frozenset(faults))
    seg = _written(p)
    end = seqnum.add(seg.seq, len(seg.payload))
    answered = len(p.send(p.segment(F.ACK, ack=end, options=(("NOP", None), ("NOP", None), ("SAck", (end, end + 100))))))
    p.r.app_write(p.key, b"z" * 10, p.now)
    return answered, len(p.tick(p.now + 5.0)) + len(data_at(p, 0))


SACK_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "sack-wrong-order": (two_out_of_order, [(100, 200), (300, 400)], [(300, 400), (100, 200)]),
    "sack-bad-edges": (two_out_of_order, [(300, 399), (100, 199)], [(300, 400), (100, 200)]),
    "sack-crash-on-bogus": (after_a_block_beyond_snd_nxt, (0, 0), (0, 2)),
}
"""Each SACK fault: the check, what it observes with the fault, and without."""


@pytest.mark.parametrize("fault", sorted(SACK_CHECKS))
def test_sack_fault_changes_what_it_claims(fault: str) -> None:
    check, faulty, correct = SACK_CHECKS[fault]
    assert check({fault}) == faulty
    assert check(set()) == correct


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(1, 3)), min_size=1, max_size=12), st.booleans())
def test_blocks_are_exact_disjoint_newest_first_and_fit(pieces: list[tuple[int, int]], timestamps: bool) -> None:
    """Whatever arrives, in any order: every block is a maximal run of held octets (none below the
    ACK, none of octets not received), distinct and disjoint, the first holding the latest segment
    when it lies beyond the ACK, and at most 4 (3 beside timestamps)."""
    syn = (*SACK_OK, *ts(1000)) if timestamps else SACK_OK
    p, _ = opened(syn_options=syn)
    got: set[int] = set()
    for i, (start, length) in enumerate(pieces):
        off, n = 50 * start + 50, 50 * length
        out = data_at(p, off, n, options=ts(1001 + i) if timestamps else ())
        got |= set(range(off, off + n))
        ack = out[-1].ack - 1
        held = sorted(o for o in got if o >= ack)
        runs: list[tuple[int, int]] = []
        for o in held:
            if runs and runs[-1][1] == o:
                runs[-1] = (runs[-1][0], o + 1)
            else:
                runs.append((o, o + 1))
        bl = blocks(out[-1])
        assert len(bl) == min(len(runs), 3 if timestamps else 4)
        assert len(set(bl)) == len(bl) and all(b in runs for b in bl)
        if off >= ack:  # held beyond the ACK: it triggered the first block
            assert bl and bl[0][0] <= off < bl[0][1]


@given(st.lists(st.lists(st.integers(0, 2**32 - 1), min_size=2, max_size=8).filter(lambda e: len(e) % 2 == 0),
                min_size=1, max_size=6))
def test_any_blocks_received_leave_the_data_flowing(rounds: list[list[int]]) -> None:
    """Whatever SACK blocks the peer sends with its ACKs (any edges, up to four blocks), the responder
    sends no RST and every write still goes out, in sequence."""
    p, _ = opened()
    for edges in rounds:
        seg = _written(p)
        end = seqnum.add(seg.seq, len(seg.payload))
        out = p.send(p.segment(F.ACK, ack=end, options=(("NOP", None), ("NOP", None), ("SAck", tuple(edges)))))
        assert not any(s.flags & F.RST for s in out)
    assert _written(p).seq == 101 + 100 * len(rounds)
