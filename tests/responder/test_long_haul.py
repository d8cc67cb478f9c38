"""The responder serving for days (``tcpconform responder``): what it keeps stays bounded."""

from __future__ import annotations

from support.responder import IP, PEER_IP, F

from tcpconform.responder import Responder, ResponderConfig
from tcpconform.responder.host import DROPPED_KEPT
from tcpconform.tcp.segment import Segment


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
