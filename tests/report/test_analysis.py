"""Wireshark's analysis words, one rule at a time, on hand-made segments (pcap-level agreement with
tshark itself is in ``test_tsg.py``)."""

from __future__ import annotations

import pytest

from tcpconform.report.analysis import (
    DUP_ACK,
    FAST_RETRANSMISSION,
    KEEP_ALIVE,
    KEEP_ALIVE_ACK,
    OUT_OF_ORDER,
    RETRANSMISSION,
    SPURIOUS_RETRANSMISSION,
    WINDOW_UPDATE,
    ZERO_WINDOW,
    ZERO_WINDOW_PROBE,
    ZERO_WINDOW_PROBE_ACK,
    Analysis,
    analyse,
)
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, Segment

A = ("192.0.2.1", 40000)
B = ("192.0.2.2", 8000)


class Conn:
    """A connection written segment by segment: ``a(...)`` from A, ``b(...)`` from B, times in ms."""

    def __init__(self, isn_a: int = 1000, isn_b: int = 5000) -> None:
        self.isn_a, self.isn_b = isn_a, isn_b
        self.log: list[tuple[float, Segment]] = []

    def _add(self, frm: tuple[str, int], to: tuple[str, int], ms: float, seq: int, ack: int, flags: str,
             win: int, data: int, options: tuple[tuple[str, object], ...] = ()) -> Conn:
        self.log.append((ms / 1000, Segment(frm[0], to[0], frm[1], to[1], seqnum.add(seq, 0), seqnum.add(ack, 0),
                                           Flags.parse(flags), win, options=options, payload=b"x" * data)))
        return self

    def a(self, ms: float, seq: int, ack: int, flags: str = "A", win: int = 1000, data: int = 0) -> Conn:
        """From A; ``seq`` and ``ack`` relative to A's and B's ISNs."""
        return self._add(A, B, ms, self.isn_a + seq, self.isn_b + ack, flags, win, data)

    def b(self, ms: float, seq: int, ack: int, flags: str = "A", win: int = 1000, data: int = 0) -> Conn:
        return self._add(B, A, ms, self.isn_b + seq, self.isn_a + ack, flags, win, data)

    def handshake(self) -> Conn:
        self._add(A, B, 0, self.isn_a, 0, "S", 1000, 0)
        self._add(B, A, 10, self.isn_b, self.isn_a + 1, "SA", 1000, 0)
        return self.a(20, 1, 1)

    def words(self) -> list[tuple[str, ...]]:
        return [a.words for a in analyse(self.log)]

    def last(self) -> Analysis:
        return analyse(self.log)[-1]


def test_a_clean_exchange_has_no_words() -> None:
    conn = Conn().handshake().a(30, 1, 1, "PA", data=100).b(40, 1, 101).a(50, 101, 1, "PA", data=100).b(60, 1, 201)
    assert conn.words() == [()] * 7


def test_retransmission() -> None:
    conn = Conn().handshake().a(30, 1, 1, "PA", data=100).a(1030, 1, 1, "PA", data=100)
    assert conn.last().words == (RETRANSMISSION,) and conn.last().retransmission


def test_a_syn_and_a_fin_sent_again_are_retransmissions() -> None:
    conn = Conn()
    conn._add(A, B, 0, conn.isn_a, 0, "S", 1000, 0)
    conn._add(A, B, 1000, conn.isn_a, 0, "S", 1000, 0)
    assert conn.words()[-1] == (RETRANSMISSION,)
    conn = Conn().handshake().a(30, 1, 1, "FA").a(230, 1, 1, "FA")
    assert conn.words()[-2:] == [(), (RETRANSMISSION,)]


def test_fast_retransmission_after_two_dup_acks() -> None:
    conn = (Conn().handshake().a(30, 1, 1, "PA", data=100).a(31, 101, 1, "PA", data=100)
            .b(40, 1, 1).b(41, 1, 1).b(42, 1, 1).a(50, 1, 1, "PA", data=100))
    late = (Conn().handshake().a(30, 1, 1, "PA", data=100).a(31, 101, 1, "PA", data=100)
            .b(40, 1, 1).b(41, 1, 1).a(500, 1, 1, "PA", data=100))
    assert late.last().words == (RETRANSMISSION,)  # more than 20 ms after the last dup ACK
    # the SYN-ACK already acknowledged 1 with the same window: B's first ACK repeats it
    assert conn.words()[-4:] == [(f"{DUP_ACK} #1",), (f"{DUP_ACK} #2",), (f"{DUP_ACK} #3",), (FAST_RETRANSMISSION,)]
    assert conn.last().retransmission


def test_spurious_retransmission_of_acknowledged_data() -> None:
    conn = Conn().handshake().a(30, 1, 1, "PA", data=100).b(40, 1, 101).a(500, 1, 1, "PA", data=100)
    assert conn.last().words == (SPURIOUS_RETRANSMISSION,) and conn.last().retransmission


def test_out_of_order_within_the_first_rtt() -> None:
    conn = (Conn().handshake().a(100, 1, 1, "PA", data=100).a(101, 201, 1, "PA", data=100)
            .a(102, 101, 1, "PA", data=100))
    assert conn.last().words == (OUT_OF_ORDER,) and not conn.last().retransmission
    later = (Conn().handshake().a(100, 1, 1, "PA", data=100).a(101, 201, 1, "PA", data=100)
             .a(300, 101, 1, "PA", data=100))
    assert later.last().words == (RETRANSMISSION,)  # past the first RTT (20 ms): a retransmission


def test_dup_acks_are_numbered_and_the_count_restarts() -> None:
    conn = Conn().handshake().a(30, 1, 1, "PA", data=100).b(40, 1, 1).b(41, 1, 1).b(42, 1, 1).b(43, 1, 101).b(44, 1, 101)
    assert conn.words()[-5:] == [(f"{DUP_ACK} #1",), (f"{DUP_ACK} #2",), (f"{DUP_ACK} #3",), (), (f"{DUP_ACK} #1",)]
    assert analyse(conn.log)[-1].dup_ack == 1


def test_window_update() -> None:
    conn = Conn().handshake().b(30, 1, 1, win=1000).b(40, 1, 1, win=3000)
    assert conn.words()[-1] == (WINDOW_UPDATE,)
    moved = Conn().handshake().a(30, 1, 1, "PA", data=10).b(40, 1, 11, win=3000)
    assert moved.words()[-1] == ()  # a new ACK with a new window is no window update


def test_zero_window() -> None:
    conn = Conn().handshake().b(30, 1, 1, win=0).b(40, 1, 1, "R", win=0)
    assert conn.words()[-2:] == [(ZERO_WINDOW,), ()]  # never on a RST, SYN or FIN


def test_zero_window_probe_and_its_ack() -> None:
    conn = Conn().handshake().b(30, 1, 1, win=0).a(230, 1, 1, "PA", data=1).b(231, 1, 1, win=0)
    assert conn.words()[-2:] == [(ZERO_WINDOW_PROBE,), (ZERO_WINDOW_PROBE_ACK, ZERO_WINDOW)]
    conn.b(300, 1, 1, win=1000).a(301, 1, 1, "PA", data=100)
    assert conn.words()[-2:] == [(WINDOW_UPDATE,), ()]  # the probe's byte sent again with the rest: no retransmission


def test_keep_alive_and_its_ack() -> None:
    conn = Conn().handshake().a(30, 1, 1, "PA", data=10).b(40, 1, 11).a(7200, 10, 1).b(7201, 1, 11)
    assert conn.words()[-2:] == [(KEEP_ALIVE,), (KEEP_ALIVE_ACK,)]
    one_byte = Conn().handshake().a(30, 1, 1, "PA", data=10).b(40, 1, 11).a(7200, 10, 1, "A", data=1)
    assert one_byte.words()[-1] == (KEEP_ALIVE,)  # a keep-alive with its one garbage byte is no retransmission


def test_an_ack_at_snd_una_minus_one_behind_a_zero_window_is_a_keep_alive() -> None:
    """What Linux and the reference responder send as a window probe: Wireshark calls it a keep-alive."""
    conn = Conn().handshake().b(30, 1, 1, win=0).a(1030, 0, 1)
    assert conn.words()[-1] == (KEEP_ALIVE,)


@pytest.mark.parametrize("isn", [0xFFFFFFFF - 50, 0xFFFFFFFF, 0])
def test_sequence_numbers_compare_modulo_2_32(isn: int) -> None:
    conn = (Conn(isn_a=isn, isn_b=0xFFFFFFF0).handshake().a(30, 1, 1, "PA", data=100).b(40, 1, 101)
            .a(50, 101, 1, "PA", data=100).b(60, 1, 201).a(1060, 101, 1, "PA", data=100))
    assert conn.words()[3:-1] == [()] * 4  # nothing odd across the wrap
    assert conn.last().words == (SPURIOUS_RETRANSMISSION,)
    conn.a(1070, 201, 1, "PA", data=100).a(2070, 201, 1, "PA", data=100)
    assert conn.last().words == (RETRANSMISSION,)


def test_directions_and_connections_are_analysed_apart() -> None:
    one = Conn().handshake().a(30, 1, 1, "PA", data=100)
    other = Conn()
    other.log = [(t, s.with_(sport=40001)) if s.sport == 40000 else (t, s.with_(dport=40001))
                 for t, s in Conn().handshake().a(30, 1, 1, "PA", data=100).log]
    mixed = [x for pair in zip(one.log, other.log, strict=True) for x in pair]
    assert [a.words for a in analyse(mixed)] == [()] * 8


def test_a_syn_with_a_new_isn_starts_a_new_connection_on_the_same_ports() -> None:
    conn = Conn().handshake().a(30, 1, 1, "PA", data=100)
    conn._add(A, B, 5000, 77, 0, "S", 1000, 0)
    assert conn.words()[-1] == ()
