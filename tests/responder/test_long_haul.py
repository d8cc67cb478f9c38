"""The responder serving for days (``tcpconform responder``): what it keeps stays bounded."""

from __future__ import annotations

import pytest
from support.responder import IP, PEER_IP, F

from tcpconform.responder import Responder, ResponderConfig, host
from tcpconform.responder.host import DROPPED_KEPT
from tcpconform.responder.receive import ReceiveBuffer
from tcpconform.responder.timers import COMPACT_SLACK, Deadlines
from tcpconform.tcp.segment import FourTuple, Segment
from tcpconform.tcp.states import State


def test_discarded_segments_are_counted_all_and_kept_last() -> None:
    r = Responder(ResponderConfig(isn=100))
    for i in range(DROPPED_KEPT * 3):
        r.handle_segment(Segment(PEER_IP, IP, 40000, 8000, seq=i, flags=F.SYN, chksum=1), float(i))
    assert r.dropped_count == DROPPED_KEPT * 3
    assert len(r.dropped) == DROPPED_KEPT and r.dropped[-1][0].seq == DROPPED_KEPT * 3 - 1


def test_a_syn_flood_fills_the_backlog_and_no_more() -> None:
    r = Responder(ResponderConfig(isn=100, backlog=16))
    for port in range(1000, 1100):
        r.handle_segment(Segment(PEER_IP, IP, port, 8000, seq=0, flags=F.SYN, window=5000), 0.0)
    answers = [s for s in r.segments_to_send() if s.flags == F.SYN | F.ACK]
    assert len(answers) == 16 and len(r.connections()) == 16
    assert r.dropped_count == 84 and "backlog" in r.dropped[-1][1]
    # one handshake completes: a place frees up, and a new SYN is answered again
    r.handle_segment(Segment(PEER_IP, IP, 1000, 8000, seq=1, ack=101, flags=F.ACK, window=5000), 0.1)
    r.handle_segment(Segment(PEER_IP, IP, 2000, 8000, seq=0, flags=F.SYN, window=5000), 0.2)
    assert [s.dport for s in r.segments_to_send() if s.flags == F.SYN | F.ACK] == [2000]


def test_an_ack_that_advances_snd_una_carries_the_peers_latest_window() -> None:
    """An out-of-order segment set SND.WL1 past the gap; the segment filling it acknowledges the
    data sent and closes the window: nothing more may go out (it went 100 bytes into a zero window)."""
    from tcpconform.responder import AppConfig

    # without sender SWS avoidance, which would hold the 100 bytes the small window takes
    r = Responder(ResponderConfig(app=AppConfig(mode="agent"), faults=frozenset({"sws-sender"})))
    r.app_listen(8000, 0.0)

    def seg(**k: object) -> Segment:
        return Segment(PEER_IP, IP, 40000, 8000, **k)  # type: ignore[arg-type]

    r.handle_segment(seg(seq=0, flags=F.SYN, window=5000), 0.0)
    x = r.segments_to_send()[0].seq
    r.handle_segment(seg(seq=1, ack=x + 1, flags=F.ACK, window=5000), 0.01)
    r.handle_segment(seg(seq=1001, ack=x + 1, flags=F.ACK, window=100, payload=b"z" * 10), 0.02)
    r.app_write(r.connections()[0], b"d" * 300, 0.03)
    assert sum(len(s.payload) for s in r.segments_to_send()) == 100
    r.handle_segment(seg(seq=1, ack=x + 101, flags=F.ACK, window=0, payload=b"a" * 10), 0.04)
    assert [s for s in r.segments_to_send() if s.payload] == []


def test_ended_connections_are_remembered_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """The latest ENDED_KEPT ended 4-tuples read CLOSED; an older one reads as its port (LISTEN),
    and a segment for it is answered as for any connection that is gone."""
    monkeypatch.setattr(host, "ENDED_KEPT", 5)
    r = Responder(ResponderConfig(isn=100))
    keys = []
    for port in range(1000, 1008):
        r.handle_segment(Segment(PEER_IP, IP, port, 8000, seq=0, flags=F.SYN, window=5000), 0.0)
        r.handle_segment(Segment(PEER_IP, IP, port, 8000, seq=1, ack=101, flags=F.ACK, window=5000), 0.0)
        r.handle_segment(Segment(PEER_IP, IP, port, 8000, seq=1, flags=F.RST), 0.1)
        keys.append(FourTuple(IP, 8000, PEER_IP, port))
    assert [r.state(k) for k in keys] == [State.LISTEN] * 3 + [State.CLOSED] * 5
    r.segments_to_send()
    r.handle_segment(Segment(PEER_IP, IP, 1000, 8000, seq=1, ack=101, flags=F.ACK, window=5000), 0.2)
    assert [(s.flags, s.seq) for s in r.segments_to_send()] == [(F.RST, 101)]


def test_connections_in_any_state_are_bounded() -> None:
    """ESTABLISHED connections whose peer went silent never end by themselves (RFC 9293 has no
    keepalive): max_connections bounds them; a SYN beyond is dropped until one ends."""
    r = Responder(ResponderConfig(isn=100, max_connections=3))
    for port in (1000, 1001, 1002, 1003):
        r.handle_segment(Segment(PEER_IP, IP, port, 8000, seq=0, flags=F.SYN, window=5000), 0.0)
        r.handle_segment(Segment(PEER_IP, IP, port, 8000, seq=1, ack=101, flags=F.ACK, window=5000), 0.0)
    assert len(r.connections()) == 3 and "max_connections" in r.dropped[-1][1]
    r.handle_segment(Segment(PEER_IP, IP, 1000, 8000, seq=1, flags=F.RST), 0.1)
    r.segments_to_send()
    r.handle_segment(Segment(PEER_IP, IP, 1003, 8000, seq=0, flags=F.SYN, window=5000), 0.2)
    assert [s.flags for s in r.segments_to_send()] == [F.SYN | F.ACK]


def test_a_segment_sent_again_and_again_out_of_order_is_held_once() -> None:
    buf = ReceiveBuffer(1, 65535)
    for _ in range(1000):
        buf.insert(101, b"b" * 100, False, 65536, keep_out_of_order=True)
        buf.insert(151, b"c" * 100, False, 65536, keep_out_of_order=True)  # overlaps the first by 50
    assert buf.held == 150
    assert buf.insert(1, b"a" * 100, False, 65536, keep_out_of_order=True).delivered == 250
    assert buf.read(1000) == b"a" * 100 + b"b" * 100 + b"c" * 50 and buf.held == 0


def test_the_timer_heap_stays_bounded_when_nobody_asks() -> None:
    deadlines: Deadlines[int] = Deadlines()
    for i in range(10_000):
        deadlines.set(i % 3, float(i))
    assert len(deadlines) == 3 and deadlines.entries <= 2 * 3 + COMPACT_SLACK
    assert deadlines.earliest() == 9997.0 and deadlines.pop_due(9998.0) == [1, 2]
    deadlines.set(0, None)
    assert deadlines.earliest() is None and deadlines.pop_due(1e9) == []


def test_timers_of_a_syn_flood_are_run_without_a_scan() -> None:
    """50 half-open connections, one SYN-ACK retransmission each at 1.0 + i ms: each due
    retransmission runs once, oldest connection first, and get_timer names the next one."""
    r = Responder(ResponderConfig(isn=100, backlog=100))
    for i in range(50):
        r.handle_segment(Segment(PEER_IP, IP, 2000 + i, 8000, seq=0, flags=F.SYN, window=5000), i / 1000)
    r.segments_to_send()
    assert r.get_timer() == 1.0
    r.handle_timer(1.0105)
    assert [s.dport for s in r.segments_to_send()] == list(range(2000, 2011))
    assert r.get_timer() == 1.011
