"""The responder's robust readings (urgent pointer, window, option alignment, RFC 5961's SYN and old
ACK) and the faults that copy real stacks' mistakes: each fault changes what it claims, and without
it the responder does what RFC 9293 says."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.responder import F, Peer, agent_config, show
from support.responder import agent_established as established

from tcpconform.responder import Responder
from tcpconform.responder.robustness import lcg_next, mss_misaligned, peer_window
from tcpconform.tcp.payload import TESTER_SALT, stream_bytes
from tcpconform.tcp.segment import Segment
from tcpconform.tcp.states import State


def urgent(p: Peer, n: int, pointer: int) -> Segment:
    payload = stream_bytes(p.seq - 1, n, TESTER_SALT)
    return p.segment(F.ACK | F.PSH | F.URG, payload=payload).with_(urgptr=pointer)


def acks_of(segs: list[Segment]) -> list[int]:
    return [s.ack for s in segs if s.flags & F.ACK]


def urgent_beyond_end(faults: set[str]) -> object:
    """Urgent data over three segments (MUST-31): each ACKed in order, the connection alive."""
    p = established(faults)
    acks = []
    for left in (300, 200, 100):
        p.send(urgent(p, 100, left))
        p.seq += 100
        acks += acks_of([s for _, s in p.run_timers_until(p.now + 0.3)])
    return acks, p.r.state(p.key)


def urgent_zero(faults: set[str]) -> object:
    p = established(faults)
    p.send(urgent(p, 10, 0))
    return acks_of([s for _, s in p.run_timers_until(0.5)])


def urgent_inside(faults: set[str]) -> object:
    """Pointer 5 of 10 bytes: all 10 acknowledged and delivered in line, then 10 more in order."""
    p = established(faults)
    p.send(urgent(p, 10, 5))
    first = acks_of([s for _, s in p.run_timers_until(0.5)])
    p.seq = 11
    second = acks_of(p.data(10, at=0.6) + [s for _, s in p.run_timers_until(1.0)])
    return first, second, p.r.app_read(p.key, 100, 1.0) == stream_bytes(0, 20, TESTER_SALT)


def window_top_bit(faults: set[str]) -> object:
    p = established(faults, window=40000)
    p.r.app_write(p.key, b"a" * 500, 0.0)
    return [len(s.payload) for s in p.drain()]


def misaligned_mss(faults: set[str]) -> object:
    p = established(faults, options=(("NOP", None), ("MSS", 300), ("EOL", None)))
    p.r.app_write(p.key, b"a" * 700, 0.0)
    return [len(s.payload) for s in p.drain()]


def syn_outside_window(faults: set[str]) -> object:
    p = established(faults)
    return show(p.send(p.segment(F.SYN, seq=1_000_000))), p.r.state(p.key)


def old_ack(faults: set[str]) -> object:
    p = established(faults)
    payload = stream_bytes(0, 10, TESTER_SALT)
    out = show(p.send(p.segment(F.ACK | F.PSH, ack=101 - 100_000, payload=payload)))
    return out, p.r.app_read(p.key, 100, 0.0)


def consecutive_isns(faults: set[str]) -> object:
    """Two connections' ISNs: under the fault the second is the generator's step from the first."""
    r = Responder(agent_config(faults=frozenset(faults), isn=None))
    r.app_listen(8000, 0.0)
    isns = [Peer(r, port=port).send(Peer(r, port=port).segment(F.SYN, seq=0), at=0.001 * port)[0].seq
            for port in (40001, 40002)]
    return isns[1] == lcg_next(isns[0])


def malformed_mss(faults: set[str]) -> object:
    """Data whose option list holds an MSS option 3 bytes long, then more data: both acknowledged."""
    p = established(faults)
    first = show(p.send(p.segment(F.ACK | F.PSH, payload=b"a" * 10, options=(("MSS", b"\xff"),))))
    p.seq += 10
    return first, show(p.send(p.segment(F.ACK | F.PSH, payload=b"b" * 10)))


def syn_fin_to_listener(faults: set[str]) -> object:
    """A SYN+FIN to the listening port from one peer, then a plain SYN from another: the second's answer."""
    r = Responder(agent_config(faults=frozenset(faults)))
    r.app_listen(8000, 0.0)
    first = Peer(r, port=40001)
    first.send(first.segment(F.SYN | F.FIN, seq=0))
    second = Peer(r, port=40002)
    return [s.split()[0] for s in show(second.send(second.segment(F.SYN, seq=0), at=0.01))]


ROBUSTNESS_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "urgent-pointer-crash": (urgent_beyond_end, ([], State.ESTABLISHED), ([101, 201, 301], State.ESTABLISHED)),
    "urgent-zero-crash": (urgent_zero, [], [11]),
    "urgent-byte-dropped": (urgent_inside, ([10], [10], False), ([11], [21], True)),
    "signed-window": (window_top_bit, [], [500]),
    "aligned-options-only": (misaligned_mss, [536, 164], [300, 300, 100]),
    "syn-any-seq-resets": (syn_outside_window, (["R 101"], State.CLOSED), ([". 101 1"], State.ESTABLISHED)),
    "lcg-isn": (consecutive_isns, True, False),
    "old-ack-accepted": (old_ack, ([], stream_bytes(0, 10, TESTER_SALT)), ([". 101 1"], b"")),
    "crash-on-malformed-option": (malformed_mss, ([], []), ([], [". 101 21"])),  # the first ACK is delayed
    "slip-listen-on-syn-fin": (syn_fin_to_listener, ["R."], ["S."]),
}


@pytest.mark.parametrize("fault", sorted(ROBUSTNESS_CHECKS))
def test_robustness_fault_changes_what_it_claims(fault: str) -> None:
    check, faulty, correct = ROBUSTNESS_CHECKS[fault]
    assert check({fault}) == faulty
    assert check(set()) == correct


def test_a_wedging_urgent_pointer_is_recorded_as_the_reason() -> None:
    p = established({"urgent-pointer-crash"})
    p.send(urgent(p, 10, 11))
    assert "urgent pointer beyond" in p.r.dropped[-1][1]
    assert show(p.send(p.segment(F.ACK))) == []  # wedged: nothing answers any more


@given(st.integers(0, 0xFFFF))
def test_the_window_is_unsigned_and_the_fault_reads_it_as_int16(window: int) -> None:
    assert peer_window(agent_config(), window) == window
    signed = peer_window(agent_config(faults=frozenset({"signed-window"})), window)
    assert signed == (window if window < 0x8000 else window - 0x10000)


@given(st.lists(st.sampled_from([("NOP", None), ("EOL", None), ("SAckOK", None), ("WScale", 7)]), max_size=6))
def test_the_alignment_fault_misses_mss_exactly_off_a_word_boundary(before: list[tuple[str, object]]) -> None:
    lengths = {"NOP": 1, "EOL": 1, "SAckOK": 2, "WScale": 3}
    offset = sum(lengths[kind] for kind, _ in before)
    syn = Segment("192.0.2.1", "192.0.2.2", 40000, 8000, flags=F.SYN, options=(*before, ("MSS", 300)))
    faulty = agent_config(faults=frozenset({"aligned-options-only"}))
    assert mss_misaligned(faulty, syn) == (offset % 4 != 0)
    assert not mss_misaligned(agent_config(), syn)
