"""Connection states and THE transition table of the reference responder (RFC 9293 section 3.3.2).

Every state change the responder makes is a lookup in :data:`TRANSITIONS`, plain data in this one
module, so the state diagram can be read (and tested) in one place.  The connection code only decides
*which* trigger a segment, a timer or an application call amounts to (RFC 9293 section 3.10.7, event
processing) and asks :func:`next_state` where that leads; a move the table does not hold is a bug in
the responder, reported as :class:`IllegalTransition` rather than silently taken.

Faults (see :mod:`.faults`) that are about skipping states do it by overlaying
:data:`FAULT_TRANSITIONS` on the table, so even the deliberate misbehaviour is data.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from tcpconform.tcp.states import State


class Trigger(StrEnum):
    """What moves a connection; the value is the human-readable cause reported in events."""

    APP_LISTEN = "application listens"
    APP_CONNECT = "application connects"
    APP_CLOSE = "application closes"
    RCV_SYN = "received SYN"
    RCV_SYN_ACK = "received SYN-ACK"
    RCV_ACK_OF_SYN = "received ACK of SYN"
    RCV_FIN = "received FIN"
    RCV_ACK_OF_FIN = "received ACK of FIN"
    RCV_RST = "received RST"
    TIMEOUT_2MSL = "2*MSL timeout"
    TIMEOUT_RETRANSMIT = "retransmission limit reached"
    TIMEOUT_KEEPALIVE = "keep-alive probes unanswered"
    ICMP_ABORT = "ICMP error aborts the connection"
    APP_ABORT = "data lost to the application's close: RST"
    PEER_WINDOW_SHRUNK = "the peer's window shrank (fault shrink-crash)"


S, T = State, Trigger

TRANSITIONS: dict[tuple[State, Trigger], State] = {
    # Opening.
    (S.CLOSED, T.APP_LISTEN): S.LISTEN,
    (S.LISTEN, T.RCV_SYN): S.SYN_RCVD,
    (S.LISTEN, T.APP_CLOSE): S.CLOSED,
    # Active open, as in RFC 9293's diagram.  The responder itself only ever opens passively, which is
    # why SYN_RCVD below returns to LISTEN on a RST or an in-window SYN (the passive-open branch of
    # RFC 9293 3.10.7.4, second and fourth checks).
    (S.CLOSED, T.APP_CONNECT): S.SYN_SENT,
    (S.LISTEN, T.APP_CONNECT): S.SYN_SENT,
    (S.SYN_SENT, T.RCV_SYN_ACK): S.ESTABLISHED,
    (S.SYN_SENT, T.RCV_SYN): S.SYN_RCVD,
    (S.SYN_SENT, T.RCV_RST): S.CLOSED,
    (S.SYN_SENT, T.APP_CLOSE): S.CLOSED,
    (S.SYN_SENT, T.TIMEOUT_RETRANSMIT): S.CLOSED,
    (S.SYN_RCVD, T.RCV_ACK_OF_SYN): S.ESTABLISHED,
    (S.SYN_RCVD, T.RCV_RST): S.LISTEN,
    (S.SYN_RCVD, T.RCV_SYN): S.LISTEN,
    (S.SYN_RCVD, T.APP_CLOSE): S.FIN_WAIT_1,
    (S.SYN_RCVD, T.TIMEOUT_RETRANSMIT): S.CLOSED,
    # RFC 1122 4.2.3.9 / RFC 5927 5.2: a hard error about the SYN-ACK may abort the passive open.
    (S.SYN_RCVD, T.ICMP_ABORT): S.LISTEN,
    # RFC 9293 3.9.2.2 (SHLD-26): a hard error about the SYN ends the active open, refused.
    (S.SYN_SENT, T.ICMP_ABORT): S.CLOSED,
    # Data transfer.
    (S.ESTABLISHED, T.RCV_FIN): S.CLOSE_WAIT,
    (S.ESTABLISHED, T.APP_CLOSE): S.FIN_WAIT_1,
    (S.ESTABLISHED, T.RCV_RST): S.CLOSED,
    (S.ESTABLISHED, T.TIMEOUT_RETRANSMIT): S.CLOSED,
    (S.ESTABLISHED, T.TIMEOUT_KEEPALIVE): S.CLOSED,
    # Active close.
    (S.FIN_WAIT_1, T.RCV_ACK_OF_FIN): S.FIN_WAIT_2,
    (S.FIN_WAIT_1, T.RCV_FIN): S.CLOSING,
    (S.FIN_WAIT_1, T.RCV_RST): S.CLOSED,
    (S.FIN_WAIT_1, T.TIMEOUT_RETRANSMIT): S.CLOSED,
    (S.FIN_WAIT_2, T.RCV_FIN): S.TIME_WAIT,
    (S.FIN_WAIT_2, T.RCV_RST): S.CLOSED,
    (S.CLOSING, T.RCV_ACK_OF_FIN): S.TIME_WAIT,
    (S.CLOSING, T.RCV_RST): S.CLOSED,
    (S.CLOSING, T.TIMEOUT_RETRANSMIT): S.CLOSED,
    (S.TIME_WAIT, T.TIMEOUT_2MSL): S.CLOSED,
    (S.TIME_WAIT, T.RCV_RST): S.CLOSED,
    # Passive close.
    (S.CLOSE_WAIT, T.APP_CLOSE): S.LAST_ACK,
    (S.CLOSE_WAIT, T.RCV_RST): S.CLOSED,
    (S.CLOSE_WAIT, T.TIMEOUT_RETRANSMIT): S.CLOSED,
    (S.CLOSE_WAIT, T.TIMEOUT_KEEPALIVE): S.CLOSED,
    (S.LAST_ACK, T.RCV_ACK_OF_FIN): S.CLOSED,
    (S.LAST_ACK, T.RCV_RST): S.CLOSED,
    (S.LAST_ACK, T.TIMEOUT_RETRANSMIT): S.CLOSED,
    # RFC 9293 3.6.1 (SHLD-3): a close with data unread, or data arriving after it, resets the connection.
    **{(s, T.APP_ABORT): S.CLOSED for s in (S.ESTABLISHED, S.CLOSE_WAIT, S.FIN_WAIT_1, S.FIN_WAIT_2, S.CLOSING, S.LAST_ACK)},
}
"""(state, trigger) -> next state.  A pair that is absent is a move RFC 9293 does not allow."""

FAULT_TRANSITIONS: dict[str, dict[tuple[State, Trigger], State]] = {
    # The FIN is answered with ACK+FIN at once: CLOSE_WAIT (waiting for the application) is skipped.
    "fin-without-app": {(S.ESTABLISHED, T.RCV_FIN): S.LAST_ACK},
    # RFC 793's old rule, which RFC 5961 4.2 replaced with a challenge ACK: a SYN resets the connection.
    "syn-resets": {
        (s, T.RCV_SYN): S.CLOSED
        for s in (S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2, S.CLOSE_WAIT, S.CLOSING, S.LAST_ACK, S.TIME_WAIT)
    },
    # The same reset, on a SYN outside the window too (the SYN bit checked before the sequence number).
    "syn-any-seq-resets": {
        (s, T.RCV_SYN): S.CLOSED
        for s in (S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2, S.CLOSE_WAIT, S.CLOSING, S.LAST_ACK, S.TIME_WAIT)
    },
    # Any ICMP error about a connection taken as fatal, soft ones (MUST-56) included.
    "soft-error-aborts": {
        (s, T.ICMP_ABORT): S.CLOSED
        for s in (S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2, S.CLOSE_WAIT, S.CLOSING, S.LAST_ACK)
    },
    # A right edge of the peer's window that moved left taken for a corrupt peer: the connection aborted.
    "shrink-crash": {
        (s, T.PEER_WINDOW_SHRUNK): S.CLOSED for s in (S.ESTABLISHED, S.FIN_WAIT_1, S.CLOSE_WAIT, S.LAST_ACK, S.CLOSING)
    },
    # Crossing FINs taken as if the own FIN had been acknowledged too.
    "skip-closing": {(S.FIN_WAIT_1, T.RCV_FIN): S.TIME_WAIT},
    # An ACK-less FIN taken in SYN_RCVD, as RFC 9293's eighth check would once the ACK had been processed.
    "process-without-ack": {(S.SYN_RCVD, T.RCV_FIN): S.CLOSE_WAIT},
}
"""Per fault: entries that replace the table's while the fault is switched on."""

del S, T


class IllegalTransition(RuntimeError):
    """The responder tried a move its transition table does not hold: a bug in the responder itself."""

    def __init__(self, state: State, trigger: Trigger) -> None:
        allowed = sorted(t.name for (s, t) in TRANSITIONS if s is state)
        super().__init__(
            f"no transition from {state} on {trigger.name} ({trigger}); "
            f"from {state} the table allows: {', '.join(allowed) or 'nothing'}"
        )
        self.state = state
        self.trigger = trigger


def next_state(state: State, trigger: Trigger, faults: Iterable[str] = ()) -> State:
    """Where ``trigger`` takes a connection in ``state``; :class:`IllegalTransition` if nowhere."""
    for fault in faults:
        override = FAULT_TRANSITIONS.get(fault, {}).get((state, trigger))
        if override is not None:
            return override
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise IllegalTransition(state, trigger) from None
