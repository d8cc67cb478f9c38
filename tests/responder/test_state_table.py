"""Every state the responder can be driven into x every kind of incoming segment (RFC 9293 3.10.7).

Each row: the state, the segment kind, what the responder must send (``"<flags> <seq> <ack>"``, ack
only with the ACK bit), and the state it must end in.  Segment fields come from the state's driver
(see ``responder_kit``): ``seq`` is the responder's RCV.NXT, ``ack`` its SND.NXT, and a FIN after the
peer already sent one is a retransmission of that FIN.  The peer's ISN is 0, the responder's 100.
"""

from __future__ import annotations

import pytest
from support.responder import DRIVERS, F, Peer, show

from tcpconform.responder import IllegalTransition, Trigger, next_state
from tcpconform.responder.states import TRANSITIONS
from tcpconform.tcp.segment import Segment
from tcpconform.tcp.states import State

KINDS = {
    "SYN": F.SYN,
    "SYN-ACK": F.SYN | F.ACK,
    "SYN-FIN": F.SYN | F.FIN,
    "ACK": F.ACK,
    "FIN": F.FIN,
    "FIN-ACK": F.FIN | F.ACK,
    "RST": F.RST,
    "RST-ACK": F.RST | F.ACK,
    "data": F.PSH | F.ACK,
}


def build(p: Peer, kind: str) -> Segment:
    flags = KINDS[kind]
    seq = p.fin if flags & F.FIN and not flags & F.SYN and p.fin is not None else p.seq
    return p.segment(flags, seq=seq, payload=b"x" * 10 if kind == "data" else b"")


C, L, SR, E = State.CLOSED, State.LISTEN, State.SYN_RCVD, State.ESTABLISHED
CW, LA, F1, F2 = State.CLOSE_WAIT, State.LAST_ACK, State.FIN_WAIT_1, State.FIN_WAIT_2
CL, TW = State.CLOSING, State.TIME_WAIT

# fmt: off
MATRIX = [
    # No socket (RFC 9293 3.10.7.1): RST, shaped by the ACK bit; never a RST for a RST.
    (C, "SYN", ["R. 0 1"], C),
    (C, "SYN-ACK", ["R 5000"], C),
    (C, "SYN-FIN", ["R. 0 2"], C),
    (C, "ACK", ["R 5000"], C),
    (C, "FIN", ["R. 0 1"], C),
    (C, "FIN-ACK", ["R 5000"], C),
    (C, "RST", [], C),
    (C, "RST-ACK", [], C),
    (C, "data", ["R 5000"], C),
    # LISTEN (3.10.7.2): RST ignored, any ACK reset, SYN answered, the rest dropped.
    (L, "SYN", ["S. 100 1"], SR),
    (L, "SYN-ACK", ["R 5000"], L),
    (L, "SYN-FIN", ["S. 100 1"], SR),
    (L, "ACK", ["R 5000"], L),
    (L, "FIN", [], L),
    (L, "FIN-ACK", ["R 5000"], L),
    (L, "RST", [], L),
    (L, "RST-ACK", [], L),
    (L, "data", ["R 5000"], L),
    # SYN_RCVD (3.10.7.4): an in-window SYN or an exact RST returns a passive open to LISTEN.
    (SR, "SYN", [], L),
    (SR, "SYN-ACK", [], L),
    (SR, "SYN-FIN", [], L),
    (SR, "ACK", [], E),
    (SR, "FIN", [], SR),
    (SR, "FIN-ACK", [". 101 2"], CW),
    (SR, "RST", [], L),
    (SR, "RST-ACK", [], L),
    (SR, "data", [], E),
    # ESTABLISHED: SYN -> challenge ACK (RFC 5961 4), data -> delayed ACK, FIN -> ACK at once.
    (E, "SYN", [". 101 1"], E),
    (E, "SYN-ACK", [". 101 1"], E),
    (E, "SYN-FIN", [". 101 1"], E),
    (E, "ACK", [], E),
    (E, "FIN", [], E),
    (E, "FIN-ACK", [". 101 2"], CW),
    (E, "RST", [], C),
    (E, "RST-ACK", [], C),
    (E, "data", [], E),
    # CLOSE_WAIT: a retransmitted FIN is unacceptable and re-acknowledged; text after the FIN ignored.
    (CW, "SYN", [". 101 2"], CW),
    (CW, "SYN-ACK", [". 101 2"], CW),
    (CW, "SYN-FIN", [". 101 2"], CW),
    (CW, "ACK", [], CW),
    (CW, "FIN", [". 101 2"], CW),
    (CW, "FIN-ACK", [". 101 2"], CW),
    (CW, "RST", [], C),
    (CW, "RST-ACK", [], C),
    (CW, "data", [], CW),
    # LAST_ACK: the ACK of our FIN closes; a retransmitted FIN is re-acknowledged.
    (LA, "SYN", [". 102 2"], LA),
    (LA, "SYN-ACK", [". 102 2"], LA),
    (LA, "SYN-FIN", [". 102 2"], LA),
    (LA, "ACK", [], C),
    (LA, "FIN", [". 102 2"], LA),
    (LA, "FIN-ACK", [". 102 2"], LA),
    (LA, "RST", [], C),
    (LA, "RST-ACK", [], C),
    (LA, "data", [], C),
    # FIN_WAIT_1: the ACK of our FIN -> FIN_WAIT_2; their FIN acking ours -> TIME_WAIT.
    (F1, "SYN", [". 102 1"], F1),
    (F1, "SYN-ACK", [". 102 1"], F1),
    (F1, "SYN-FIN", [". 102 1"], F1),
    (F1, "ACK", [], F2),
    (F1, "FIN", [], F1),
    (F1, "FIN-ACK", [". 102 2"], TW),
    (F1, "RST", [], C),
    (F1, "RST-ACK", [], C),
    (F1, "data", ["R 102"], C),  # the application closed: data it can never read resets (SHLD-3)
    # FIN_WAIT_2: waiting for their FIN; data after the application's close resets (SHLD-3).
    (F2, "SYN", [". 102 1"], F2),
    (F2, "SYN-ACK", [". 102 1"], F2),
    (F2, "SYN-FIN", [". 102 1"], F2),
    (F2, "ACK", [], F2),
    (F2, "FIN", [], F2),
    (F2, "FIN-ACK", [". 102 2"], TW),
    (F2, "RST", [], C),
    (F2, "RST-ACK", [], C),
    (F2, "data", ["R 102"], C),
    # CLOSING: the ACK of our FIN -> TIME_WAIT.
    (CL, "SYN", [". 102 2"], CL),
    (CL, "SYN-ACK", [". 102 2"], CL),
    (CL, "SYN-FIN", [". 102 2"], CL),
    (CL, "ACK", [], TW),
    (CL, "FIN", [". 102 2"], CL),
    (CL, "FIN-ACK", [". 102 2"], CL),
    (CL, "RST", [], C),
    (CL, "RST-ACK", [], C),
    (CL, "data", [], TW),
    # TIME_WAIT: a retransmitted FIN is acknowledged (and the 2*MSL timer restarted).
    (TW, "SYN", [". 102 2"], TW),
    (TW, "SYN-ACK", [". 102 2"], TW),
    (TW, "SYN-FIN", [". 102 2"], TW),
    (TW, "ACK", [], TW),
    (TW, "FIN", [". 102 2"], TW),
    (TW, "FIN-ACK", [". 102 2"], TW),
    (TW, "RST", [], C),
    (TW, "RST-ACK", [], C),
    (TW, "data", [], TW),
]
# fmt: on


@pytest.mark.parametrize(
    ("state", "kind", "response", "after"), MATRIX, ids=[f"{s}-{k}" for s, k, _, _ in MATRIX]
)
def test_state_x_segment(state: State, kind: str, response: list[str], after: State) -> None:
    p = DRIVERS[state]()
    assert p.r.state(p.key) is state
    assert show(p.send(build(p, kind))) == response
    assert p.r.state(p.key) is after


def test_matrix_covers_every_state_and_kind() -> None:
    assert {(s, k) for s, k, _, _ in MATRIX} == {(s, k) for s in DRIVERS for k in KINDS}


# Rows that need a segment other than the state's natural one.
# fmt: off
SPECIAL = [
    # (state, description, flags, seq, ack, response, after)
    (SR, "duplicate SYN: SYN-ACK again", F.SYN, 0, 0, ["S. 100 1"], SR),
    (SR, "ACK of something else: RST", F.ACK, 1, 200, ["R 200"], SR),
    (SR, "RST in window, not exact: challenge ACK", F.RST, 5, 0, [". 101 1"], SR),
    (E, "RST in window, not exact: challenge ACK", F.RST, 101, 0, [". 101 1"], E),
    (E, "RST out of window: ignored", F.RST, 70000, 0, [], E),
    (E, "ACK of data never sent: ACK, drop", F.ACK, 1, 500, [". 101 1"], E),
    (E, "ACK older than the window allows: ACK, drop", F.ACK, 1, 101 - 6000, [". 101 1"], E),
    (E, "duplicate ACK: nothing", F.ACK, 1, 100, [], E),
    (E, "data beyond the window: ACK, drop", F.ACK | F.PSH, 70000, 101, [". 101 1"], E),
    (E, "old duplicate data: ACK, drop", F.ACK | F.PSH, 1 - 20, 101, [". 101 1"], E),
    (E, "partly old data: the new part delayed-ACKed", F.ACK | F.PSH, 0, 101, [], E),
    (E, "FIN out of order: duplicate ACK, wait for the gap", F.ACK | F.FIN, 50, 101, [". 101 1"], E),
    (F1, "crossed FINs (ours not acked): CLOSING", F.ACK | F.FIN, 1, 101, [". 102 2"], CL),
    (F1, "ACK not covering our FIN: stays", F.ACK, 1, 101, [], F1),
    (LA, "ACK not covering our FIN: stays", F.ACK, 2, 101, [], LA),
    (CL, "ACK not covering our FIN: stays", F.ACK, 2, 101, [], CL),
    (TW, "RST in window, not exact: challenge ACK", F.RST, 50, 0, [". 102 2"], TW),
]
# fmt: on


@pytest.mark.parametrize(
    ("state", "what", "flags", "seq", "ack", "response", "after"), SPECIAL,
    ids=[f"{row[0]}-{row[1]}" for row in SPECIAL],
)
def test_special_segments(
    state: State, what: str, flags: F, seq: int, ack: int, response: list[str], after: State
) -> None:
    p = DRIVERS[state]()
    payload = b"y" * 10 if flags & F.PSH else b""
    assert show(p.send(p.segment(flags, seq=seq, ack=ack, payload=payload))) == response
    assert p.r.state(p.key) is after


@pytest.mark.parametrize("state", [SR, E, CW, LA, F1, F2, CL, TW])
def test_reset_reported_only_from_states_rfc_names(state: State) -> None:
    """RFC 9293 3.10.7.4: the user hears "connection reset" in ESTABLISHED, FIN_WAIT_*, CLOSE_WAIT."""
    from tcpconform.responder import ConnectionReset

    p = DRIVERS[state]()
    p.send(p.segment(F.RST))
    reported = any(isinstance(e, ConnectionReset) for e in p.events)
    assert reported == (state in (E, F1, F2, CW))


def test_events_follow_passive_close_path() -> None:
    p = DRIVERS[LA]()
    p.send(p.segment(F.ACK))
    assert p.states() == [(L, SR), (SR, E), (E, CW), (CW, LA), (LA, C)]


def test_events_follow_active_close_path() -> None:
    p = DRIVERS[TW]()
    p.run_timers_until(1000.0)
    assert p.states() == [(L, SR), (SR, E), (E, F1), (F1, F2), (F2, TW), (TW, C)]
    assert p.r.state(p.key) is C


def test_simultaneous_close_path() -> None:
    p = DRIVERS[CL]()
    p.send(p.segment(F.ACK))
    assert p.states()[-3:] == [(E, F1), (F1, CL), (CL, TW)]


# ----------------------------------------------------------------------------- the table itself


def test_table_is_data_and_illegal_moves_raise() -> None:
    assert next_state(State.CLOSE_WAIT, Trigger.APP_CLOSE) is State.LAST_ACK
    with pytest.raises(IllegalTransition, match=r"no transition from CLOSE_WAIT on RCV_SYN_ACK"):
        next_state(State.CLOSE_WAIT, Trigger.RCV_SYN_ACK)
    with pytest.raises(IllegalTransition, match="from LISTEN the table allows"):
        next_state(State.LISTEN, Trigger.RCV_FIN)


def test_fault_overlay_only_when_switched_on() -> None:
    assert next_state(State.ESTABLISHED, Trigger.RCV_FIN) is State.CLOSE_WAIT
    assert next_state(State.ESTABLISHED, Trigger.RCV_FIN, {"fin-without-app"}) is State.LAST_ACK


def test_every_state_but_closed_can_be_left_and_every_target_is_a_state() -> None:
    sources = {s for s, _ in TRANSITIONS}
    assert sources == set(State)  # CLOSED is left by APP_LISTEN / APP_CONNECT
    assert all(isinstance(t, State) for t in TRANSITIONS.values())


def test_state_is_a_str_enum_named_after_rfc() -> None:
    assert str(State.CLOSE_WAIT) == "CLOSE_WAIT"
    assert State("TIME_WAIT") is State.TIME_WAIT
    assert f"{State.LAST_ACK}" == "LAST_ACK"
    assert State.ESTABLISHED == "ESTABLISHED"
