"""Sending: segment sizes, the peer's window, retransmission with backoff, zero-window probes."""

from __future__ import annotations

import pytest
from support.responder import F, Peer, agent_config, show, to_established, to_listen

from tcpconform.responder import AppConfig, Responder, ResponderConfig
from tcpconform.tcp.states import State


def established(window: int = 5000, mss: int | None = 512, **cfg: object) -> Peer:
    r = Responder(agent_config(**cfg))
    r.app_listen(8000, 0.0)
    p = Peer(r, window=window)
    options = (("MSS", mss),) if mss else ()
    p.send(p.segment(F.SYN, seq=0, options=options))
    p.seq, p.ack = 1, 101
    p.send(p.segment(F.ACK))
    return p


def in_flight(p: Peer) -> int:
    """Bytes the responder sent beyond what the peer acknowledged."""
    top = max((s.seq + len(s.payload) for s in p.sent if s.payload), default=101)
    return top - p.ack


def test_segments_never_exceed_peer_mss() -> None:
    p = established(mss=300)
    p.r.app_write(p.key, b"a" * 1000, 0.0)
    assert [len(s.payload) for s in p.drain()] == [300, 300, 300, 100]


def test_own_mss_limits_too() -> None:
    p = established(mss=1460)
    p = established(mss=3000)
    p.r.app_write(p.key, b"a" * 2000, 0.0)
    assert [len(s.payload) for s in p.drain()] == [1460, 540]


def test_psh_only_on_the_segment_that_empties_the_queue() -> None:
    p = established()
    p.r.app_write(p.key, b"a" * 1000, 0.0)
    assert [s.flags.tcpdump() for s in p.drain()] == [".", "P."]


def test_peer_window_respected_until_acked() -> None:
    p = established(window=300)
    p.r.app_write(p.key, b"a" * 1000, 0.0)
    assert show(p.drain()) == [". 101 1 len=300"]
    assert in_flight(p) == 300
    p.ack = 251  # partial ACK of 150 bytes: 150 more may follow
    assert show(p.send(p.segment(F.ACK))) == [". 401 1 len=150"]
    assert in_flight(p) == 300
    p.ack = 551
    assert show(p.send(p.segment(F.ACK))) == [". 551 1 len=300"]
    assert in_flight(p) == 300
    p.ack = 851
    assert show(p.send(p.segment(F.ACK))) == ["P. 851 1 len=250"]


def test_window_update_from_a_newer_segment_only() -> None:
    """SND.WL1/WL2 (RFC 9293 3.10.7.4): a segment older than the last update does not set the window."""
    p = established(window=0)
    p.r.app_write(p.key, b"a" * 100, 0.0)
    assert p.drain() == []
    p.send(p.segment(F.ACK, seq=1, payload=b"b" * 10))
    p.send(p.segment(F.ACK, seq=11, payload=b"b" * 10))  # SND.WL1 is now 11
    p.send(p.segment(F.ACK, seq=5, payload=b"b" * 20, window=1000))  # older: overlapping text only
    assert all(not s.payload for s in p.sent)
    assert show(p.send(p.segment(F.ACK, seq=25, window=1000))) == ["P. 101 25 len=100"]


def test_retransmission_with_exponential_backoff() -> None:
    p = established()
    p.r.app_write(p.key, b"a" * 100, 0.0)
    first = p.drain()[0]
    fired = p.run_timers_until(20.0)
    assert [t for t, _ in fired] == pytest.approx([1.0, 3.0, 7.0, 15.0])
    assert all(s.seq == first.seq and s.payload == first.payload and s.flags == first.flags for _, s in fired)


def test_retransmit_oldest_segment_only() -> None:
    p = established()
    p.r.app_write(p.key, b"a" * 1000, 0.0)
    p.drain()
    fired = p.run_timers_until(1.0)
    assert show([s for _, s in fired]) == [". 101 1 len=512"]


def test_an_ack_of_a_retransmission_keeps_the_backoff_until_a_valid_sample() -> None:
    """RFC 6298 5.3 restarts the timer with the current (backed-off) RTO; Karn's rule takes no sample
    from a retransmitted segment, so only a later, unambiguous ACK brings the RTO back down."""
    p = established()
    p.r.app_write(p.key, b"a" * 1000, 0.0)
    p.drain()
    p.run_timers_until(3.5)  # retransmitted at 1.0 and 3.0: RTO is now 4
    p.ack = 613
    p.send(p.segment(F.ACK), at=4.0)
    assert p.r.get_timer() == pytest.approx(8.0)  # still 4 s for what is left
    assert show([s for _, s in p.run_timers_until(8.0)]) == ["P. 613 1 len=488"]
    p.ack = 1101
    p.send(p.segment(F.ACK), at=8.1)
    p.r.app_write(p.key, b"b" * 10, 8.1)
    p.drain()
    p.ack = 1111
    p.send(p.segment(F.ACK), at=8.2)  # a valid 100 ms sample: the RTO is computed again, 1 s at least
    p.r.app_write(p.key, b"c" * 10, 8.2)
    p.drain()
    assert p.r.get_timer() == pytest.approx(9.2)


def test_give_up_after_max_retransmits() -> None:
    p = established(max_retransmits=2)
    p.r.app_write(p.key, b"a" * 10, 0.0)
    p.drain()
    fired = p.run_timers_until(100.0)
    assert len(fired) == 2
    assert p.r.state(p.key) is State.CLOSED
    assert p.states()[-1] == (State.ESTABLISHED, State.CLOSED)
    assert p.r.get_timer() is None


def test_syn_ack_retransmitted_then_dropped() -> None:
    p = to_listen()
    p.send(p.segment(F.SYN, seq=0))
    fired = p.run_timers_until(200.0)
    assert [t for t, _ in fired] == pytest.approx([1.0, 3.0, 7.0, 15.0, 31.0, 63.0])  # R2: 120 s
    assert all(show([s]) == ["S. 100 1"] for _, s in fired)
    assert p.r.state(p.key) is State.CLOSED
    assert p.r.connections() == []
    # The port still listens: a new SYN makes a new connection.
    assert show(p.send(p.segment(F.SYN, seq=0))) == ["S. 100 1"]


def test_fin_retransmitted() -> None:
    p = to_established()
    p.r.app_close(p.key, 0.0)
    assert show(p.drain()) == ["F. 101 1"]
    assert show([s for _, s in p.run_timers_until(1.0)]) == ["F. 101 1"]


def test_data_queued_before_fin_goes_first() -> None:
    p = established(window=300)
    p.r.app_write(p.key, b"a" * 500, 0.0)
    p.r.app_shutdown(p.key, 0.0)
    assert show(p.drain()) == [". 101 1 len=300"]
    assert p.r.state(p.key) is State.FIN_WAIT_1
    p.ack = 401
    assert show(p.send(p.segment(F.ACK))) == ["P. 401 1 len=200", "F. 601 1"]


def test_zero_window_probe_with_backoff() -> None:
    p = established(window=0)
    p.r.app_write(p.key, b"a" * 100, 0.0)
    assert p.drain() == []
    fired = p.run_timers_until(16.0)
    assert [t for t, _ in fired] == pytest.approx([1.0, 3.0, 7.0, 15.0])
    assert all(show([s]) == [". 100 1"] for _, s in fired)  # SND.UNA - 1: elicits an ACK
    assert p.r.state(p.key) is State.ESTABLISHED  # probing never gives up while answered
    assert show(p.send(p.segment(F.ACK, window=1000))) == ["P. 101 1 len=100"]
    assert p.r.get_timer() == pytest.approx(17.0)  # the retransmission timer, no more probes


def test_scripted_app_waits_for_the_whole_request() -> None:
    r = Responder(ResponderConfig(isn=100))
    p = Peer(r)
    p.send(p.segment(F.SYN, seq=0, options=(("MSS", 512),)))
    p.seq, p.ack = 1, 101
    p.send(p.segment(F.ACK))
    out = p.data(1000)
    assert out == []
    out = p.data(24)
    assert [len(s.payload) for s in out] == [0, 512, 188]


def test_scripted_app_eof_before_request_reads_and_closes_without_reply() -> None:
    r = Responder(ResponderConfig(isn=100))
    p = Peer(r)
    p.send(p.segment(F.SYN, seq=0))
    p.seq, p.ack = 1, 101
    p.send(p.segment(F.ACK))
    p.data(10)
    assert show(p.send(p.segment(F.FIN | F.ACK))) == [". 101 12"]
    assert show(p.tick(p.now)) == ["F. 101 12"]


def test_scripted_app_close_delay_and_after_reply() -> None:
    app = AppConfig(read_bytes=0, reply_bytes=5, close="after-reply", close_delay=0.1)
    r = Responder(ResponderConfig(isn=100, app=app))
    p = Peer(r)
    p.send(p.segment(F.SYN, seq=0))
    p.seq, p.ack = 1, 101
    assert show(p.send(p.segment(F.ACK), at=1.0)) == ["P. 101 1 len=5"]  # speaks first
    assert r.get_timer() == pytest.approx(1.1)
    assert show(p.tick(1.1)) == ["F. 106 1"]
    assert r.state(p.key) is State.FIN_WAIT_1
