"""The public API: configuration, state(), connections(), reset(), application calls, events."""

from __future__ import annotations

import pytest
from support.responder import (
    IP,
    PEER_IP,
    PORT,
    F,
    Peer,
    agent_config,
    show,
    to_established,
    to_last_ack,
    to_syn_rcvd,
    to_time_wait,
)

from tcpconform.responder import (
    FAULTS,
    AppAction,
    AppConfig,
    Responder,
    ResponderConfig,
    ResponderError,
    StateChanged,
    listen_key,
)
from tcpconform.tcp.segment import FourTuple
from tcpconform.tcp.states import State


def test_defaults_are_the_seeds() -> None:
    cfg = ResponderConfig(isn=100)
    addr = (cfg.ip, cfg.port, cfg.isn, cfg.window, cfg.mss, cfg.mss_option)
    assert addr == ("192.0.2.2", 8000, 100, 65535, 1460, None)
    assert (cfg.delayed_ack, cfg.rto, cfg.faults) == (0.2, 1.0, frozenset())
    app = cfg.app
    assert (app.mode, app.read_bytes, app.reply_bytes, app.close, app.close_delay) == (
        "scripted", 1024, 700, "after-fin", 0.0,
    )


@pytest.mark.parametrize(
    "kw",
    [
        {"window": 70000}, {"window": 0}, {"delayed_ack": 0.5}, {"mss": 0}, {"isn": 1 << 32},
        {"port": 0}, {"mss_option": 70000}, {"rto": 0}, {"max_retransmits": -1},
    ],
)
def test_config_rejects_bad_values(kw: dict) -> None:
    with pytest.raises(ValueError):
        ResponderConfig(**kw)


def test_app_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="mode"):
        AppConfig(mode="robot")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="close"):
        AppConfig(close="sometimes")  # type: ignore[arg-type]


def test_faults_accepts_any_iterable_and_is_frozen() -> None:
    cfg = ResponderConfig(isn=100, faults=["fixed-isn"])  # type: ignore[arg-type]
    assert cfg.faults == frozenset({"fixed-isn"})
    assert set(FAULTS) >= cfg.faults


def test_key_for_is_the_reversed_peer_key() -> None:
    p = Peer(Responder(ResponderConfig(isn=100)))
    syn = p.segment(F.SYN, seq=0)
    assert Responder.key_for(syn) == FourTuple(IP, PORT, PEER_IP, 40000) == p.key
    assert p.send(syn)[0].key == Responder.key_for(syn)


def test_state_listen_closed_and_after_the_connection_is_gone() -> None:
    r = Responder(ResponderConfig(isn=100))
    assert r.state(FourTuple(IP, PORT, PEER_IP, 1)) is State.LISTEN  # port listens, no connection
    assert r.state(FourTuple(IP, 9999, PEER_IP, 1)) is State.CLOSED  # nothing listens there
    assert r.state(listen_key(IP, PORT)) is State.LISTEN
    p = to_last_ack()
    p.send(p.segment(F.ACK))
    assert p.r.state(p.key) is State.CLOSED  # the connection and its socket are gone
    assert p.r.connections() == []
    # A new SYN on the same 4-tuple makes a new connection.
    assert show(p.send(p.segment(F.SYN, seq=5000))) == ["S. 100 5001"]
    assert p.r.state(p.key) is State.SYN_RCVD


def test_state_listen_after_passive_open_reset() -> None:
    p = to_syn_rcvd()
    p.send(p.segment(F.RST))
    assert p.r.state(p.key) is State.LISTEN
    assert p.states()[-1] == (State.SYN_RCVD, State.LISTEN)


def test_connections_lists_live_keys_in_order() -> None:
    r = Responder(ResponderConfig(isn=100))
    a, b = Peer(r, port=1000), Peer(r, port=2000)
    a.send(a.segment(F.SYN, seq=0))
    b.send(b.segment(F.SYN, seq=0))
    assert r.connections() == [a.key, b.key]


def test_reset_forgets_silently_and_starts_over() -> None:
    r = Responder(ResponderConfig(isn=100))
    p = Peer(r)
    p.send(p.segment(F.SYN, seq=0))
    r.handle_segment(p.segment(F.SYN, seq=0, ack=0).with_(sport=1234), 0.0)
    r.reset(5.0)
    assert r.segments_to_send() == []
    assert r.connections() == [] and r.get_timer() is None
    assert r.next_events() == [
        StateChanged(listen_key(IP, PORT), State.CLOSED, State.LISTEN, 5.0, "scripted application listens")
    ]
    assert r.state(p.key) is State.LISTEN


def test_forget_drops_one_connection_silently() -> None:
    r = Responder(ResponderConfig(isn=100))
    a, b = Peer(r, port=1000), Peer(r, port=2000)
    a.send(a.segment(F.SYN, seq=0))
    b.send(b.segment(F.SYN, seq=0))
    r.forget(a.key)
    r.forget(FourTuple(IP, PORT, PEER_IP, 3000))  # unknown: nothing to do
    assert r.connections() == [b.key]
    assert r.state(a.key) is State.CLOSED
    fired = a.run_timers_until(1.0)
    assert [(t, s.dport) for t, s in fired] == [(1.0, 2000)]  # only b's SYN-ACK is retransmitted
    assert r.listening == frozenset({PORT})


def test_reset_in_agent_mode_stops_listening() -> None:
    r = Responder(agent_config())
    r.app_listen(PORT, 0.0)
    r.reset(1.0)
    assert r.listening == frozenset() and r.next_events() == []


def test_app_listen_is_idempotent_and_reported_once() -> None:
    r = Responder(agent_config())
    r.app_listen(PORT, 0.0)
    r.app_listen(PORT, 1.0)
    events = r.next_events()
    assert [type(e) for e in events] == [AppAction, StateChanged]  # the action, then its consequence


def test_app_calls_on_unknown_connection_raise() -> None:
    r = Responder(agent_config())
    key = FourTuple(IP, PORT, PEER_IP, 1)
    for call in (lambda: r.app_read(key, 1, 0.0), lambda: r.app_write(key, b"x", 0.0),
                 lambda: r.app_shutdown(key, 0.0), lambda: r.app_close(key, 0.0)):
        with pytest.raises(ResponderError, match="no connection"):
            call()


def test_write_after_shutdown_raises() -> None:
    p = to_established()
    p.r.app_shutdown(p.key, 0.0)
    with pytest.raises(ResponderError, match="connection closing"):
        p.r.app_write(p.key, b"late", 0.0)


def test_shutdown_keeps_receiving() -> None:
    p = to_established()
    p.r.app_shutdown(p.key, 0.0)
    p.drain()
    p.ack = 102
    p.send(p.segment(F.ACK | F.PSH, payload=b"hello"))
    assert p.r.app_read(p.key, 100, 0.0) == b"hello"


def test_close_in_syn_rcvd_waits_for_establishment() -> None:
    p = to_syn_rcvd()
    p.r.app_close(p.key, 0.0)
    assert p.drain() == [] and p.r.state(p.key) is State.SYN_RCVD
    assert show(p.send(p.segment(F.ACK))) == ["F. 101 1"]
    assert p.states()[-2:] == [(State.SYN_RCVD, State.ESTABLISHED), (State.ESTABLISHED, State.FIN_WAIT_1)]


def test_write_in_syn_rcvd_is_sent_once_established() -> None:
    p = to_syn_rcvd()
    p.r.app_write(p.key, b"early", 0.0)
    assert p.drain() == []
    assert show(p.send(p.segment(F.ACK))) == ["P. 101 1 len=5"]


def test_time_wait_lasts_two_msl_and_restarts_on_fin() -> None:
    p = to_time_wait()
    assert p.r.get_timer() == pytest.approx(60.0)
    p.send(p.segment(F.FIN | F.ACK, seq=1), at=30.0)  # retransmitted FIN: ACKed, timer restarted
    assert p.r.get_timer() == pytest.approx(90.0)
    p.run_timers_until(89.0)
    assert p.r.state(p.key) is State.TIME_WAIT
    p.run_timers_until(90.0)
    assert p.r.state(p.key) is State.CLOSED


def test_events_are_ordered_and_drained() -> None:
    r = Responder(ResponderConfig(isn=100))
    assert [type(e) for e in r.next_events()] == [StateChanged]
    assert r.next_events() == []


def test_scripted_after_fin_close_never_before_fin() -> None:
    app = AppConfig(close="never")
    p = Peer(Responder(ResponderConfig(isn=100, app=app)))
    p.send(p.segment(F.SYN, seq=0))
    p.seq, p.ack = 1, 101
    p.send(p.segment(F.ACK))
    p.send(p.segment(F.FIN | F.ACK))
    p.run_timers_until(100.0)
    assert p.r.state(p.key) is State.CLOSE_WAIT
