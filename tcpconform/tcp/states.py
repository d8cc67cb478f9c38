"""The TCP connection states of RFC 9293 section 3.3.2: the one list every part of tcpconform names.

The reference responder moves between them (:mod:`tcpconform.responder.states`), a case's ``state``
step asserts one, a matrix table has a row per state, and ``case.schema.json`` lists them as the
values a ``state`` step accepts (a test holds the schema's list equal to this enum, in this order).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["State"]


class State(StrEnum):
    """RFC 9293 connection states, in the diagram's order; the value is the name, so
    ``str(State.CLOSE_WAIT) == "CLOSE_WAIT"``."""

    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN_SENT"
    SYN_RCVD = "SYN_RCVD"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN_WAIT_1"
    FIN_WAIT_2 = "FIN_WAIT_2"
    CLOSE_WAIT = "CLOSE_WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST_ACK"
    TIME_WAIT = "TIME_WAIT"

    @property
    def synchronized(self) -> bool:
        """Both ISNs are known (RFC 9293 3.5.2): ESTABLISHED and every state after it."""
        return self not in (State.CLOSED, State.LISTEN, State.SYN_SENT, State.SYN_RCVD)
