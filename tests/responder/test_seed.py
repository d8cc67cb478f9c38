"""The seed exchange (SCENARIO.md), segment by segment, in scripted and in agent mode."""

from __future__ import annotations

import pytest
from support.responder import IP, PEER_IP, PEER_PORT, PORT, F, Peer, agent_config, show

from tcpconform.responder import AppAction, DataReceived, Responder, ResponderConfig, StateChanged
from tcpconform.responder.events import listen_key
from tcpconform.tcp.payload import TARGET_SALT, TESTER_SALT, stream_bytes
from tcpconform.tcp.segment import FourTuple
from tcpconform.tcp.states import State

KEY = FourTuple(IP, PORT, PEER_IP, PEER_PORT)
CLIENT_DATA = stream_bytes(0, 1024, TESTER_SALT)


def handshake(p: Peer) -> None:
    """Steps 1-3."""
    out = p.send(p.segment(F.SYN, seq=0, window=5000, options=(("MSS", 512),)), at=0.0)
    assert show(out) == ["S. 100 1"]  # 2
    syn_ack = out[0]
    assert syn_ack.window == 65535 and syn_ack.options == ()
    assert syn_ack.key == KEY
    assert p.r.state(KEY) is State.SYN_RCVD
    assert p.send(p.segment(F.ACK, seq=1, ack=101), at=0.010) == []  # 3
    assert p.r.state(KEY) is State.ESTABLISHED


def client_data(p: Peer) -> list:
    """Steps 4-6: two 512-byte segments, one ACK for both, sent on the second."""
    assert p.send(p.segment(F.ACK, seq=1, ack=101, payload=CLIENT_DATA[:512]), at=0.020) == []  # 4
    timer = p.r.get_timer()
    assert timer is not None and timer - 0.020 < 0.5  # a delayed ACK is pending, within 500 ms
    return p.send(p.segment(F.ACK | F.PSH, seq=513, ack=101, payload=CLIENT_DATA[512:]), at=0.030)  # 5


def check_reply(segs: list) -> None:
    """Steps 7-8: 700 bytes as 512 + 188, the target stream."""
    assert show(segs) == [". 101 1025 len=512", "P. 613 1025 len=188"]
    assert segs[0].payload + segs[1].payload == stream_bytes(0, 700, TARGET_SALT)


def closing(p: Peer) -> None:
    """Steps 9-11."""
    assert p.send(p.segment(F.ACK, seq=1025, ack=801), at=0.040) == []  # 9
    assert show(p.send(p.segment(F.FIN | F.ACK, seq=1025, ack=801), at=0.050)) == [". 801 1026"]  # 10-11
    assert p.r.state(KEY) is State.CLOSE_WAIT


def last_ack(p: Peer) -> None:
    """Step 14."""
    assert p.send(p.segment(F.ACK, seq=1026, ack=802), at=0.070) == []
    assert p.r.state(KEY) is State.CLOSED
    assert p.r.connections() == []
    assert p.r.get_timer() is None


SEED_STATES = [
    (State.CLOSED, State.LISTEN),
    (State.LISTEN, State.SYN_RCVD),
    (State.SYN_RCVD, State.ESTABLISHED),
    (State.ESTABLISHED, State.CLOSE_WAIT),
    (State.CLOSE_WAIT, State.LAST_ACK),
    (State.LAST_ACK, State.CLOSED),
]


def state_path(p: Peer) -> list[tuple[State, State]]:
    return [(e.old, e.new) for e in p.events if isinstance(e, StateChanged)]


def test_seed_scripted() -> None:
    r = Responder(ResponderConfig(isn=100))
    p = Peer(r)
    p.drain()  # step 0: the scripted application listens from construction
    assert r.state(KEY) is State.LISTEN
    handshake(p)
    out = client_data(p)
    assert show(out[:1]) == [". 101 1025"]  # 6: exactly one ACK, for both segments
    check_reply(out[1:])  # 7-8: the application answered at once
    closing(p)
    # 12-13: the application closes on the timer (close_delay 0): CLOSE_WAIT was observable first.
    assert p.r.get_timer() == pytest.approx(0.050)
    assert show(p.tick(0.050)) == ["F. 801 1026"]
    assert r.state(KEY) is State.LAST_ACK
    last_ack(p)
    assert state_path(p) == SEED_STATES
    reads = [e for e in p.events if isinstance(e, AppAction)]
    assert [(a.action, a.nbytes) for a in reads] == [("read", 1024), ("write", 700), ("close", 0)]
    assert sum(e.nbytes for e in p.events if isinstance(e, DataReceived)) == 1024


def test_seed_agent() -> None:
    r = Responder(agent_config())
    p = Peer(r)
    assert r.state(KEY) is State.CLOSED  # nothing listens until the application says so
    r.app_listen(PORT, 0.0)
    p.drain()
    assert r.state(KEY) is State.LISTEN
    handshake(p)
    out = client_data(p)
    assert show(out) == [". 101 1025"]  # 6
    assert r.app_read(KEY, 4096, 0.031) == CLIENT_DATA  # reassembled in order
    assert p.drain() == []  # reading frees a window that was never small: no window update
    r.app_write(KEY, stream_bytes(0, 700, TARGET_SALT), 0.032)
    check_reply(p.drain())  # 7-8
    closing(p)
    assert r.get_timer() is None  # nothing happens until the application closes
    r.app_close(KEY, 0.060)  # 12
    assert show(p.drain()) == ["F. 801 1026"]  # 13
    assert r.state(KEY) is State.LAST_ACK
    last_ack(p)
    assert state_path(p) == SEED_STATES
    listened = StateChanged(listen_key(IP, PORT), State.CLOSED, State.LISTEN, 0.0, "application listens")
    assert listened in p.events[:2]


def test_seed_delayed_ack_alone_fires_after_200ms() -> None:
    """One segment on its own is acknowledged by the delayed-ACK timer, not before."""
    p = Peer(Responder(agent_config()))
    p.r.app_listen(PORT, 0.0)
    handshake(p)
    assert p.send(p.segment(F.ACK, seq=1, ack=101, payload=CLIENT_DATA[:512]), at=0.020) == []
    assert p.r.get_timer() == pytest.approx(0.220)
    assert p.tick(0.219) == []
    assert show(p.tick(0.220)) == [". 101 513"]
    assert p.r.get_timer() is None


def test_seed_without_mss_option_uses_536() -> None:
    """SCENARIO.md note: without the option a stack may assume 536 and send 536 + 164."""
    r = Responder(ResponderConfig(isn=100))
    p = Peer(r)
    p.send(p.segment(F.SYN, seq=0), at=0.0)
    p.send(p.segment(F.ACK, seq=1, ack=101))
    p.send(p.segment(F.ACK, seq=1, ack=101, payload=CLIENT_DATA[:512]))
    out = p.send(p.segment(F.ACK, seq=513, ack=101, payload=CLIENT_DATA[512:]))
    assert [len(s.payload) for s in out] == [0, 536, 164]


def test_mss_option_configured_is_sent() -> None:
    p = Peer(Responder(ResponderConfig(isn=100, mss_option=1460)))
    out = p.send(p.segment(F.SYN, seq=0, options=(("MSS", 512),)))
    assert out[0].options == (("MSS", 1460),)
