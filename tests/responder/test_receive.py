"""Receiving: reassembly, duplicate and overlap trimming, the advertised window, delayed ACKs."""

from __future__ import annotations

import pytest
from support.responder import F, Peer, agent_config, show, to_established

from tcpconform.responder import DataReceived, Responder
from tcpconform.responder.receive import ReceiveBuffer
from tcpconform.tcp.payload import TESTER_SALT, stream_bytes
from tcpconform.tcp.states import State

DATA = stream_bytes(0, 4000, TESTER_SALT)


def chunk(start: int, end: int) -> bytes:
    """Stream bytes for sequence numbers [start, end) (data starts at sequence number 1)."""
    return DATA[start - 1 : end - 1]


def send_chunk(p: Peer, start: int, end: int, flags: F = F.ACK) -> list[str]:
    return show(p.send(p.segment(flags, seq=start, payload=chunk(start, end))))


def test_out_of_order_buffered_and_released_when_gap_fills() -> None:
    p = to_established()
    assert send_chunk(p, 201, 301) == [". 101 1"]  # beyond a gap: duplicate ACK at once
    assert send_chunk(p, 101, 201) == [". 101 1"]  # still a gap before it
    assert p.r.app_read(p.key, 1000, p.now) == b""  # nothing in order yet
    assert send_chunk(p, 1, 101) == [". 101 301"]  # fills the gap: ACK at once, all released
    assert p.r.app_read(p.key, 1000, p.now) == chunk(1, 301)
    delivered = [e.nbytes for e in p.events if isinstance(e, DataReceived)]
    assert delivered == [300]


def test_overlapping_and_duplicate_segments_are_trimmed() -> None:
    p = to_established()
    send_chunk(p, 1, 101)
    send_chunk(p, 51, 151)  # overlaps by 50
    send_chunk(p, 251, 351)  # out of order
    send_chunk(p, 201, 301)  # out of order, overlapping the held one
    assert send_chunk(p, 121, 231) == [". 101 351"]  # overlaps both sides, fills the gap
    assert p.r.app_read(p.key, 1000, p.now) == chunk(1, 351)


def test_out_of_order_fin_processed_when_reached() -> None:
    p = to_established()
    assert show(p.send(p.segment(F.ACK | F.FIN, seq=101, payload=chunk(101, 201)))) == [". 101 1"]
    assert p.r.state(p.key) is State.ESTABLISHED
    assert send_chunk(p, 1, 101) == [". 101 202"]  # data and the FIN now in order
    assert p.r.state(p.key) is State.CLOSE_WAIT
    assert p.r.app_read(p.key, 1000, p.now) == chunk(1, 201)


def test_advertised_window_is_free_buffer_space() -> None:
    p = to_established()
    send_chunk(p, 1, 513)
    send_chunk(p, 513, 1025)  # second segment: ACK now
    assert p.sent[-1].window == 65535 - 1024
    p.r.app_read(p.key, 1024, p.now)
    p.r.app_write(p.key, b"z", p.now)
    assert p.drain()[-1].window == 65535


def test_window_fills_to_zero_and_zero_window_refuses_text_but_answers() -> None:
    r = Responder(agent_config(window=1000))
    r.app_listen(8000, 0.0)
    p = Peer(r)
    p.send(p.segment(F.SYN, seq=0))
    p.ack, p.seq = 101, 1
    p.send(p.segment(F.ACK))
    assert p.sent[-1].window == 1000
    send_chunk(p, 1, 501)
    assert send_chunk(p, 501, 1001) == [". 101 1001"]
    assert p.sent[-1].window == 0
    # A zero-window probe (one byte beyond) is unacceptable: answered with an ACK, byte not taken.
    assert send_chunk(p, 1001, 1002) == [". 101 1001"]
    # Reading reopens the window: the peer is told at once (it could not send otherwise).
    assert r.app_read(p.key, 1000, p.now) == chunk(1, 1001)
    out = p.drain()
    assert show(out) == [". 101 1001"] and out[0].window == 1000


def test_window_right_edge_never_moves_back() -> None:
    """Data in the buffer lowers the window exactly as RCV.NXT advances: the right edge stays."""
    r = Responder(agent_config(window=1000))
    r.app_listen(8000, 0.0)
    p = Peer(r)
    p.send(p.segment(F.SYN, seq=0))
    p.ack, p.seq = 101, 1
    p.send(p.segment(F.ACK))
    for start in range(1, 1001, 100):
        send_chunk(p, start, start + 100)
        p.tick(p.now + 1)  # let any delayed ACK out
    edges = [s.ack + s.window for s in p.sent]
    assert len(edges) > 5 and all(edge == 1001 for edge in edges)


def test_delayed_ack_timer_via_get_timer_and_handle_timer() -> None:
    p = to_established()
    p.now = 1.0
    assert send_chunk(p, 1, 11) == []
    assert p.r.get_timer() == pytest.approx(1.2)
    p.r.handle_timer(1.1)  # too early: nothing
    assert p.drain() == []
    p.r.handle_timer(1.2)
    assert show(p.drain()) == [". 101 11"]
    assert p.r.get_timer() is None


def test_delayed_ack_two_small_segments_ack_at_once() -> None:
    """Two segments carrying data are acknowledged at once, whatever their size."""
    p = to_established()
    assert send_chunk(p, 1, 11) == []
    assert send_chunk(p, 11, 21) == [". 101 21"]


def test_delayed_ack_on_two_mss_bytes_in_one_segment() -> None:
    p = to_established()
    assert send_chunk(p, 1, 1 + 2 * 1460) == [". 101 2921"]


def test_outgoing_data_carries_the_pending_ack() -> None:
    p = to_established()
    send_chunk(p, 1, 11)
    p.r.app_write(p.key, b"hello", p.now)
    assert show(p.drain()) == ["P. 101 11 len=5"]
    assert p.r.get_timer() == pytest.approx(p.now + 1.0)  # only the retransmission timer is left


def test_data_after_close_resets_the_connection() -> None:
    """RFC 9293 3.6.1 (SHLD-3): data no application can read any more is answered with a RST."""
    p = to_established()
    p.r.app_close(p.key, p.now)
    p.drain()
    p.ack = 102
    send_chunk(p, 1, 1001)
    p.tick(p.now + 1)
    assert show(p.sent[-1:]) == ["R 102"] and p.r.state(p.key) is State.CLOSED


# ----------------------------------------------------------------------------- the buffer on its own


def test_buffer_trims_to_window_and_drops_fin_beyond_it() -> None:
    b = ReceiveBuffer(rcv_nxt=1, capacity=100)
    a = b.insert(1, b"x" * 150, fin=True, right_edge=101, keep_out_of_order=True)
    assert (a.delivered, a.fin) == (100, False)
    assert b.rcv_nxt == 101


def test_buffer_duplicate_fin_ignored() -> None:
    b = ReceiveBuffer(rcv_nxt=1, capacity=100)
    assert b.insert(1, b"ab", fin=True, right_edge=101, keep_out_of_order=True).fin
    b.consume_fin()
    a = b.insert(1, b"ab", fin=True, right_edge=b.rcv_nxt + 100, keep_out_of_order=True)
    assert not a.fin and a.duplicate and b.rcv_nxt == 4


def test_buffer_without_out_of_order_keeping() -> None:
    b = ReceiveBuffer(rcv_nxt=1, capacity=100)
    assert b.insert(11, b"later", fin=False, right_edge=101, keep_out_of_order=False).out_of_order
    assert not b.has_gap
    assert b.insert(1, b"0123456789", fin=False, right_edge=101, keep_out_of_order=False).delivered == 10
