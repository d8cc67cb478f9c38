"""The ``no-window-shrink`` invariant (RFC 9293 3.8.6, SHLD-14): the right edge of the window the target
offers never moves left, in octets once window scaling is on, a scale unit's rounding allowed; its
SYN and its RSTs are not judged, and a new SYN starts the edge anew.  The edge is followed in the
order the segments arrived (:meth:`TesterConnection.watch_edge`), whatever order steps judge them in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tcpconform.cases.model import DEFAULT_INVARIANTS, Numbering
from tcpconform.engine import connection as tester
from tcpconform.engine.matching import check_invariants
from tcpconform.tcp.segment import Flags, FourTuple, Segment

KEY = FourTuple("192.0.2.1", 40000, "192.0.2.2", 8000)
ON = frozenset({"no-window-shrink"})


def conn(shift: int | None = None) -> tester.TesterConnection:
    c = tester.TesterConnection(KEY, Numbering(), 0, {})
    syn = Segment(KEY.src, KEY.dst, KEY.sport, KEY.dport, seq=0, flags=Flags.SYN,
                  options=(("WScale", 7),) if shift is not None else ())
    c.note_offers(syn)
    c.note_sent(syn)
    options = (("WScale", shift),) if shift is not None else ()
    c.watch_edge(target(Flags.SYN | Flags.ACK, ack=1, window=65535, options=options))
    return c


def target(flags: Flags, ack: int, window: int, options: tuple[tuple[str, object], ...] = ()) -> Segment:
    return Segment(KEY.dst, KEY.src, KEY.dport, KEY.sport, seq=101, ack=ack, flags=flags, window=window, options=options)


def broken(c: tester.TesterConnection, seg: Segment) -> list[str]:
    c.watch_edge(seg)
    return [name for name, _ in check_invariants(seg, c, ON)]


def test_it_is_a_default_invariant() -> None:
    assert "no-window-shrink" in DEFAULT_INVARIANTS


def test_an_edge_that_moves_left_breaks_it_and_one_that_stays_does_not() -> None:
    c = conn()
    assert broken(c, target(Flags.ACK, ack=1, window=5000)) == []
    assert broken(c, target(Flags.ACK, ack=101, window=4900)) == []  # the edge stays at 5001
    assert broken(c, target(Flags.ACK, ack=101, window=4899)) == ["no-window-shrink"]


def test_the_syn_and_a_rst_are_not_judged_and_a_new_syn_starts_anew() -> None:
    c = conn()
    assert broken(c, target(Flags.ACK, ack=1, window=5000)) == []
    assert broken(c, target(Flags.RST | Flags.ACK, ack=1, window=0)) == []
    assert broken(c, target(Flags.SYN | Flags.ACK, ack=1, window=100)) == []
    assert broken(c, target(Flags.ACK, ack=1, window=100)) == []


def test_a_scaled_window_is_compared_in_octets_with_a_unit_of_rounding() -> None:
    c = conn(shift=7)
    assert broken(c, target(Flags.ACK, ack=1, window=502)) == []          # 64256 octets: edge 64257
    assert broken(c, target(Flags.ACK, ack=101, window=501)) == []        # edge 64229: 28 back, under 128
    assert broken(c, target(Flags.ACK, ack=1, window=501)) == ["no-window-shrink"]  # 128 back


@given(st.integers(0, 14), st.integers(1, 2000), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_it_breaks_exactly_when_the_edge_moves_back_a_unit_or_more(shift: int, ack: int, first: int, second: int) -> None:
    c = conn(shift=shift)
    assert broken(c, target(Flags.ACK, ack=1, window=first)) == []
    back = (1 + (first << shift)) - (ack + (second << shift))
    assert (broken(c, target(Flags.ACK, ack=ack, window=second)) == ["no-window-shrink"]) == (back >= 1 << shift)


def test_the_order_segments_are_judged_in_does_not_matter() -> None:
    """A burst: an ACK keeping the edge came before one moving it right; the later one is judged first."""
    c = conn()
    first, second = target(Flags.ACK, ack=101, window=4900), target(Flags.ACK, ack=101, window=5100)
    c.watch_edge(target(Flags.ACK, ack=1, window=5000))
    c.watch_edge(first)
    c.watch_edge(second)
    assert check_invariants(second, c, ON) == [] and check_invariants(first, c, ON) == []
