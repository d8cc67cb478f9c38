"""Reopening from TIME-WAIT (RFC 9293 3.6.1 MAY-2, SHLD-4; RFC 6191): which SYN reopens, the new ISN,
and the faults that get it wrong.  As in ``test_faults``: every check runs with and without its fault
and returns what it observed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.responder import F, Peer, agent_config, show

from tcpconform.responder import Responder
from tcpconform.responder.timewait import ISN_STEP
from tcpconform.tcp.seqnum import MASK
from tcpconform.tcp.states import State

PORT = 8000


def _ts(val: int) -> tuple:
    return (("NOP", None), ("NOP", None), ("Timestamp", (val & MASK, 0)))


def time_wait(faults: set[str] | frozenset[str] = frozenset(), ts: bool = False) -> Peer:
    """A connection the responder closed first, in TIME-WAIT; with timestamps (last TSval 1003) if ``ts``."""
    r = Responder(agent_config(faults=frozenset(faults)))
    r.app_listen(PORT, 0.0)
    p = Peer(r, seq=0, ack=5000)
    opts = _ts(1000) if ts else ()
    p.send(p.segment(F.SYN, seq=0, options=(("MSS", 512), *opts)))
    p.seq, p.ack = 1, 101
    p.send(p.segment(F.ACK, options=_ts(1001) if ts else ()))
    r.app_close(p.key, p.now)
    p.drain()
    p.ack = 102
    p.send(p.segment(F.ACK, options=_ts(1002) if ts else ()))
    assert show(p.send(p.segment(F.FIN | F.ACK, options=_ts(1003) if ts else ()))) == [". 102 2"]
    assert r.state(p.key) is State.TIME_WAIT
    return p


def _answer(p: Peer, seq: int, tsval: int | None) -> tuple[list[str], State | None]:
    out = p.send(p.segment(F.SYN, seq=seq, options=(("MSS", 512), *(_ts(tsval) if tsval is not None else ()))))
    return show(out), p.r.state(p.key)


def newer_ts_below(faults: set[str]) -> object:
    """RFC 6191: a newer TSval reopens even below RCV.NXT."""
    return _answer(time_wait(faults, ts=True), -100_000, 2003)[1]


def older_ts_above(faults: set[str]) -> object:
    """RFC 6191: an older TSval is an old duplicate even beyond RCV.NXT."""
    return _answer(time_wait(faults, ts=True), 100_002, 3)[1]


def new_isn(faults: set[str]) -> object:
    """No timestamps, a SYN beyond RCV.NXT: reopened, the new ISN beyond the old SND.NXT (102)."""
    p = time_wait(faults)
    out = p.send(p.segment(F.SYN, seq=100_002, options=(("MSS", 512),)))
    return [s.seq for s in out if s.flags & F.SYN]


TIMEWAIT_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "time-wait-no-reopen": (newer_ts_below, State.TIME_WAIT, State.SYN_RCVD),
    "time-wait-seq-only": (older_ts_above, State.SYN_RCVD, State.TIME_WAIT),
    "time-wait-reopen-same-isn": (new_isn, [100], [(102 + ISN_STEP) & MASK]),
}
"""fault -> (check, observed with the fault, observed without it)."""


@pytest.mark.parametrize("fault", sorted(TIMEWAIT_CHECKS))
def test_timewait_fault_changes_what_it_claims(fault: str) -> None:
    check, faulty, correct = TIMEWAIT_CHECKS[fault]
    assert check({fault}) == faulty
    assert check(set()) == correct


def test_a_reopening_syn_gets_a_syn_ack_and_an_old_duplicate_an_ack() -> None:
    out, state = _answer(time_wait(ts=True), 100_002, 2003)
    assert state is State.SYN_RCVD and out == [f"S. {102 + ISN_STEP} 100003"]
    out, state = _answer(time_wait(ts=True), 100_002, 3)
    assert state is State.TIME_WAIT and out == [". 102 2"]
    out, state = _answer(time_wait(), 2, None)  # at RCV.NXT: not beyond it, a challenge ACK
    assert state is State.TIME_WAIT and out == [". 102 2"]


def test_a_syn_with_timestamps_reopens_a_connection_that_had_none() -> None:
    assert _answer(time_wait(), 1, 5)[1] is State.SYN_RCVD  # RFC 6191 2: the old incarnation used none


@given(st.integers(0, MASK), st.integers(0, MASK), st.booleans())
def test_reopening_follows_rfc_6191(seq: int, tsval: int, ts: bool) -> None:
    """With timestamps on the old connection (TS.Recent 1003) the TSval alone decides; without them the
    sequence number does (beyond RCV.NXT, 2)."""
    p = time_wait(ts=ts)
    _, state = _answer(p, seq, tsval if ts else None)
    d = lambda a, b: (a - b) & MASK  # noqa: E731
    wanted = 0 < d(tsval, 1003) < 2**31 if ts else 0 < d(seq, 2) < 2**31
    assert (state is State.SYN_RCVD) is wanted
