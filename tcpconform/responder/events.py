"""What the responder reports besides the segments it sends.

The engine cannot see inside a real stack, but with the reference responder it can: these events let
a test case check the *states* a connection went through (CLOSE_WAIT then LAST_ACK, never a skipped
one) and what its application saw.  They are small frozen dataclasses, drained in order with
:meth:`Responder.next_events`.

``key`` is always the connection as seen from the responder: ``(responder ip, port, peer ip, port)``,
equal to the ``.key`` of the segments it sends.  A listening socket has no peer; its key is
:func:`listen_key` (peer ``0.0.0.0:0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tcpconform.tcp.segment import FourTuple
from tcpconform.tcp.states import State

ANY_PEER_IP = "0.0.0.0"


def listen_key(ip: str, port: int) -> FourTuple:
    """The key under which a listening socket's own state changes are reported."""
    return FourTuple(ip, port, ANY_PEER_IP, 0)


@dataclass(frozen=True, slots=True)
class StateChanged:
    """A connection (or listening socket) moved from ``old`` to ``new``; ``cause`` says why."""

    key: FourTuple
    old: State
    new: State
    at: float
    cause: str


@dataclass(frozen=True, slots=True)
class DataReceived:
    """``nbytes`` new bytes were delivered, in order, to the application's receive buffer.

    After the application's full close they are still reported (TCP took them and acknowledged them)
    but discarded on arrival, since nobody will read them.
    """

    key: FourTuple
    nbytes: int
    at: float


@dataclass(frozen=True, slots=True)
class ConnectionReset:
    """The peer reset the connection (an acceptable RST in a synchronized state)."""

    key: FourTuple
    at: float


AppActionName = Literal["listen", "unlisten", "connect", "read", "write", "shutdown", "close"]


@dataclass(frozen=True, slots=True)
class AppAction:
    """The application did something: the scripted one on its own, or the engine playing it (agent mode)."""

    key: FourTuple
    action: AppActionName
    nbytes: int
    at: float


Event = StateChanged | DataReceived | ConnectionReset | AppAction
